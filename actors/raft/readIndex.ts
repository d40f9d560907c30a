// Linearizable reads by ReadIndex (Raft dissertation §6.4). A read records the leader's commit index and a
// heartbeat round; once a quorum of voters has answered a heartbeat of that round (or a later one), the
// leader knows it was still leader when the read arrived, so serving at that commit index is linearizable.
// Reads that arrive between two heartbeat broadcasts share one round: one round trip confirms them all.

import { ReadState } from './types';

interface PendingRead {
  context: number;
  index: number;
  round: number;
}

export class ReadIndexTracker {
  /** Latest round number handed to a read. */
  private round = 0;
  /** A round was handed out that no heartbeat broadcast has carried yet. */
  private roundUnsent = false;
  private pending: PendingRead[] = [];
  private pendingHead = 0;
  /** Reads that arrived before this leader committed an entry of its own term (§6.4 step 1). */
  private waitingForTermCommit: number[] = [];

  waitForTermCommit(context: number): void {
    this.waitingForTermCommit.push(context);
  }

  /** Moves reads parked until the term's first commit into a round at `commit`. */
  releaseTermCommitWaiters(commit: number): void {
    for (const context of this.waitingForTermCommit) this.add(context, commit);
    this.waitingForTermCommit = [];
  }

  add(context: number, commit: number): void {
    if (!this.roundUnsent) {
      this.round++;
      this.roundUnsent = true;
    }
    this.pending.push({ context, index: commit, round: this.round });
  }

  needsBroadcast(): boolean {
    return this.roundUnsent;
  }

  /** Round to put on the next heartbeat broadcast. */
  takeRoundToBroadcast(): number {
    this.roundUnsent = false;
    return this.round;
  }

  currentRound(): number {
    return this.round;
  }

  /** Releases every read whose round a quorum has confirmed. */
  confirm(confirmedRound: number, into: ReadState[]): void {
    while (this.pendingHead < this.pending.length && this.pending[this.pendingHead].round <= confirmedRound) {
      const read = this.pending[this.pendingHead++];
      into.push({ context: read.context, index: read.index });
    }
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  pendingCount(): number {
    return this.pending.length - this.pendingHead + this.waitingForTermCommit.length;
  }

  /** Contexts of every read not yet served (the caller fails them when leadership is lost). */
  drain(): number[] {
    const contexts = this.waitingForTermCommit.slice();
    for (let i = this.pendingHead; i < this.pending.length; i++) contexts.push(this.pending[i].context);
    this.pending = [];
    this.pendingHead = 0;
    this.waitingForTermCommit = [];
    this.roundUnsent = false;
    return contexts;
  }
}
