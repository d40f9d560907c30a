// In a brand-new partition, whoever wins the first election hands leadership to the preferred replica,
// which the supervisor picks so that every node leads its share (supervisor/leaderPlan.ts), instead of
// wherever random election timeouts put leaders (measured: 4/0/4 of 8 partitions over 3 nodes). Only at
// birth: later leadership moves are the operators' (`cairn leader transfer`, `nodes drain`) or the
// controller's.

import { Raft, Role } from '../raft';

/** A partition whose log is this short has just been created (its first leader's empty entry and little more). */
const BIRTH_INDEX_MAX = 2;
/** How many times to wait for the preferred replica to catch up before giving up. */
const ATTEMPTS = 20;

export interface BirthHandover {
  raft: Raft;
  self: number;
  preferred: number;
  tickMs: number;
  /** False once the replica stopped, rebuilt its core, or the preferred replica left the voters. */
  stillApplies(): boolean;
  /** Called after the transfer was started (the driver runs a Ready). */
  started(): void;
}

/** Called when `raft` just became leader. */
export function handOverAtBirth(handover: BirthHandover): void {
  const { raft, self, preferred, tickMs } = handover;
  if (preferred === self || raft.status().lastIndex > BIRTH_INDEX_MAX) return;
  const attempt = (triesLeft: number) => {
    if (!handover.stillApplies() || raft.role !== Role.Leader) return;
    const status = raft.status();
    const target = status.progress.find((progress) => progress.id === preferred);
    if (target && target.match === status.lastIndex) {
      raft.transferLeader(preferred);
      handover.started();
    } else if (triesLeft > 0) {
      setTimeout(() => attempt(triesLeft - 1), tickMs * 4).unref();
    }
  };
  setTimeout(() => attempt(ATTEMPTS), tickMs * 4).unref();
}
