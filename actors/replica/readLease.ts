// The leader's read lease (Raft dissertation §6.4.1): for a while after a quorum acknowledged a heartbeat
// round, no other replica can become leader, so a linearizable read can be served at the leader's commit
// index at once, without a ReadIndex round trip of its own.
//
// Why it holds: a replica that heard from the leader refuses (pre-)votes for electionTicks ticks
// (actors/raft/election.ts, inLease), which is at least (electionTicks - 1) ticks of real time, and a
// replica that restarted refuses them as long after its start (RaftConfig.quietAtStart). A round issued
// at time T was received by each acknowledging replica after T, so until T + that time every majority
// holds a replica that refuses to vote. The lease is measured on this process's monotonic clock from when
// the round was issued (before it was sent), and it is shortened by a margin for clock rate error between
// machines. Pauses are harmless: a paused leader's monotonic clock keeps running, so its lease has run
// out when it wakes up.
//
// The lease does not survive what lets a replica vote early: leader transfer (TimeoutNow forces a vote
// past the lease, so no lease in a term that sent one), a membership change (a new configuration's
// majorities are counted afresh), or any change of role or term. Pure: the caller passes the time.

import { Role, type Raft } from '../raft';

export interface LeaseState {
  /** The core's current term and whether it leads. */
  term: number;
  leader: boolean;
  /** The leader has committed an entry of its own term, so its commit index covers every acknowledged write. */
  termCommitted: boolean;
  /** TimeoutNow was sent in this term. */
  transferred: boolean;
  /** A membership change is appended but not yet applied. */
  confPending: boolean;
}

/** What the read lease needs to know of the core. */
export function leaseStateOf(raft: Raft): LeaseState {
  return {
    term: raft.term,
    leader: raft.role === Role.Leader,
    termCommitted: raft.log.committed >= raft.termStartIndex,
    transferred: raft.timeoutNowTerm === raft.term,
    confPending: raft.pendingConfIndex > raft.log.applied,
  };
}

interface Probe {
  context: number;
  issuedAt: number;
  term: number;
}

export class ReadLease {
  private term = 0;
  private until = -Infinity;
  private probe: Probe | undefined;

  /** @param durationMs how long after a confirmed round's issue the lease holds; 0 disables leases. */
  constructor(readonly durationMs: number) {}

  /** Whether a read arriving now may be served at the commit index without a round of its own. */
  holds(now: number, state: LeaseState): boolean {
    if (!this.usable(state)) {
      this.revoke();
      return false;
    }
    return state.term === this.term && now < this.until;
  }

  /** Whether to start a new heartbeat round to extend the lease (none in flight and half of it used). */
  wantsProbe(now: number, state: LeaseState): boolean {
    if (this.durationMs <= 0 || this.probe !== undefined || !this.usable(state)) return false;
    return state.term !== this.term || this.until - now < this.durationMs / 2;
  }

  /** A ReadIndex round was requested for `context` at `now`; its confirmation extends the lease. */
  probeIssued(context: number, now: number, term: number): void {
    if (this.durationMs > 0 && this.probe === undefined) this.probe = { context, issuedAt: now, term };
  }

  /** The core confirmed the read with `context` in `state.term`. */
  confirmed(context: number, state: LeaseState): void {
    const probe = this.probe;
    if (probe === undefined || probe.context !== context) return;
    this.probe = undefined;
    if (probe.term !== state.term || !this.usable(state)) return;
    if (this.term !== state.term) this.until = -Infinity;
    this.term = state.term;
    this.until = Math.max(this.until, probe.issuedAt + this.durationMs);
  }

  /** The read with `context` was dropped (leadership lost). */
  dropped(context: number): void {
    if (this.probe?.context === context) this.probe = undefined;
  }

  /** Forgets the lease and any round in flight (role change, membership change). */
  revoke(): void {
    this.until = -Infinity;
    this.probe = undefined;
  }

  private usable(state: LeaseState): boolean {
    return this.durationMs > 0 && state.leader && state.termCommitted && !state.transferred && !state.confPending;
  }
}

/**
 * The lease for a tick length and election timeout: the shortest real time a replica refuses votes after
 * hearing from the leader ((electionTicks - 1) ticks), less `driftRatio` of it for clock rate error, less
 * one tick for timer rounding.
 */
export function leaseDurationMs(tickMs: number, electionTicks: number, driftRatio = 0.1): number {
  const refusing = (electionTicks - 1) * tickMs;
  return Math.max(0, Math.floor(refusing * (1 - driftRatio) - tickMs));
}
