// A leader handing its leadership to another voter (operator transfer, drain, clean shutdown): to the
// named one, or else to the most caught-up, so that the new leader needs the least catching up.

import { Raft, Role } from '../raft';

export interface HandoverSource {
  /** The current core (a snapshot install replaces it). */
  raft(): Raft;
  voters(): readonly number[];
  /** Runs a Ready so that the TimeoutNow goes out. */
  wake(): void;
}

/** Resolves true once leadership moved (or was not held), false after `timeoutMs` or with no candidate. */
export async function handLeadershipOver(source: HandoverSource, timeoutMs: number, target?: number): Promise<boolean> {
  const raft = source.raft();
  if (raft.role !== Role.Leader) return true;
  const voters = source.voters();
  const candidates = raft.status().progress.filter((p) => voters.includes(p.id) && (target === undefined || p.id === target));
  candidates.sort((a, b) => b.match - a.match);
  if (candidates.length === 0) return false;
  raft.transferLeader(candidates[0].id);
  source.wake();
  const deadline = Date.now() + timeoutMs;
  while (source.raft().role === Role.Leader && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return source.raft().role !== Role.Leader;
}
