// The Raft core: a deterministic state machine with no I/O, no timers and no randomness of its own.
// Stimuli come in through tick(), step() and the client calls; effects go out through ready().
// See types.ts (Ready) for the order in which the driver must act on them.

import { assert } from './assert';
import { applyConfChange, cloneConfState, confChangeRefusal, ConfChange, decodeConfChange, encodeConfChange } from './confChange';
import { Progress } from './progress';
import { RandomSource } from './random';
import { RaftLog } from './raftLog';
import { ReadIndexTracker } from './readIndex';
import * as leader from './leader';
import * as follower from './follower';
import * as election from './election';
import {
  ConfState, Entry, EntryType, HardState, Message, NONE, ProposeResult, RaftStorage, Ready,
  ReadState, Role, SoftState, entryBytes,
} from './types';

export interface RaftConfig {
  /** This replica's id within the group (positive). */
  id: number;
  /** Ticks without hearing from a leader before campaigning; the actual timeout is randomized in [n, 2n). */
  electionTicks: number;
  /** Ticks between leader heartbeats; must be well below electionTicks. */
  heartbeatTicks: number;
  /** Source of election jitter. */
  random: RandomSource;
  /** Run a pre-election that does not bump terms, so a partitioned node cannot disrupt on rejoin. */
  preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum within an election timeout. */
  checkQuorum?: boolean;
  /** Byte bound of entries in one Append message. */
  appendBytesMax?: number;
  /** Count bound of entries in one Append message. */
  appendEntriesMax?: number;
  /** Appends in flight per follower in Replicate state (pipelining window). */
  inflightMessagesMax?: number;
  /** Bytes of proposed-but-uncommitted entries a leader accepts before refusing with PROPOSALS_FULL. */
  uncommittedBytesMax?: number;
  /** Byte bound of committed entries handed out in one Ready. */
  applyBytesMax?: number;
  /** Index the driver's state machine has already applied (on restart). */
  applied?: number;
  /**
   * Refuse vote requests for one election timeout after this core is created, as if a leader had just
   * been heard from. A leader serving lease reads counts on every replica that acknowledged its heartbeat
   * refusing votes for that long; a replica that restarted in between has forgotten it heard anything.
   */
  quietAtStart?: boolean;
}

interface ConfEpoch {
  index: number;
  conf: ConfState;
}

export class Raft {
  readonly id: number;
  readonly log: RaftLog;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly appendBytesMax: number;
  readonly appendEntriesMax: number;
  readonly inflightMessagesMax: number;
  readonly uncommittedBytesMax: number;
  readonly applyBytesMax: number;
  private readonly random: RandomSource;

  term = 0;
  vote = NONE;
  leader = NONE;
  role = Role.Follower;
  /** Membership in effect: the latest configuration entry in the log (§4.1). */
  conf: ConfState;
  /** Configurations by the index that introduced them; [0] is the one in force at the log's start. */
  private confHistory: ConfEpoch[];
  /** Leader only: what we know of every other member. */
  progress = new Map<number, Progress>();
  votes = new Map<number, boolean>();
  messages: Message[] = [];
  readStates: ReadState[] = [];
  readsDropped: number[] = [];
  reads = new ReadIndexTracker();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee = NONE;
  /** The last term in which this leader sent TimeoutNow: voters may grant that forced vote inside their lease. */
  timeoutNowTerm = 0;
  /** Ticks left of the quiet period after start (see RaftConfig.quietAtStart). */
  quietTicksLeft = 0;
  /** Leader: index of the latest conf change proposed; another may be proposed only once it is committed. */
  pendingConfIndex = 0;
  uncommittedBytes = 0;
  /** Leader: index of the empty entry that opened this term. */
  termStartIndex = 0;
  private previousHardState: HardState;
  private previousSoftState: SoftState;
  private readyOutstanding = false;
  /** Leader: entries were appended that no Append has carried yet. */
  private appendsPending = false;

  constructor(config: RaftConfig, storage: RaftStorage) {
    assert(config.id > 0, 'replica id must be positive');
    assert(config.heartbeatTicks > 0 && config.heartbeatTicks < config.electionTicks, 'need 0 < heartbeatTicks < electionTicks');
    this.id = config.id;
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.random = config.random;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.appendBytesMax = config.appendBytesMax ?? 1024 * 1024;
    this.appendEntriesMax = config.appendEntriesMax ?? 4096;
    this.inflightMessagesMax = config.inflightMessagesMax ?? 256;
    this.uncommittedBytesMax = config.uncommittedBytesMax ?? 64 * 1024 * 1024;
    this.applyBytesMax = config.applyBytesMax ?? 16 * 1024 * 1024;
    const { hardState, confState } = storage.initialState();
    this.log = new RaftLog(storage, hardState.commit, config.applied ?? 0);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.confHistory = [{ index: this.log.firstIndex() - 1, conf: cloneConfState(confState) }];
    this.conf = this.confHistory[0].conf;
    this.scanConfChanges(this.log.firstIndex());
    this.previousHardState = { ...hardState, commit: this.log.committed };
    this.previousSoftState = { leader: NONE, role: Role.Follower };
    this.becomeFollower(this.term, NONE);
    if (config.quietAtStart) this.quietTicksLeft = this.electionTicks;
  }

  // ---- client-facing calls -------------------------------------------------------------------------

  /** Appends a command to the log if this replica leads; it is committed (or lost) later. */
  propose(data: Uint8Array): ProposeResult {
    const refusal = this.proposalRefusal(data.byteLength + 24);
    if (refusal) return refusal;
    return this.appendLocal(EntryType.Normal, data);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    const refusal = this.proposalRefusal(29);
    if (refusal) return refusal;
    if (this.pendingConfIndex > this.log.committed || this.log.committed < this.termStartIndex) {
      return { ok: false, code: 'CONF_CHANGE_PENDING', leader: this.leader };
    }
    if (confChangeRefusal(this.conf, change) !== undefined) return { ok: false, code: 'BAD_CONF_CHANGE', leader: this.leader };
    const result = this.appendLocal(EntryType.ConfChange, encodeConfChange(change));
    if (result.ok) this.pendingConfIndex = result.index;
    return result;
  }

  /** Asks for a linearizable read point; it comes back in Ready.readStates with the same context. */
  readIndex(context: number): { ok: true } | { ok: false; code: 'NOT_LEADER'; leader: number } {
    if (this.role !== Role.Leader) return { ok: false, code: 'NOT_LEADER', leader: this.leader };
    if (this.log.committed < this.termStartIndex) this.reads.waitForTermCommit(context);
    else this.reads.add(context, this.log.committed);
    if (this.voterQuorum() === 1 && this.isVoter(this.id)) this.reads.confirm(this.reads.currentRound(), this.readStates);
    return { ok: true };
  }

  /** Hands leadership to `target` once its log is caught up (dissertation §3.10). */
  transferLeader(target: number): { ok: true } | { ok: false; code: 'NOT_LEADER' | 'BAD_TARGET'; leader: number } {
    if (this.role !== Role.Leader) return { ok: false, code: 'NOT_LEADER', leader: this.leader };
    if (target === this.id) return { ok: true };
    if (!this.isVoter(target)) return { ok: false, code: 'BAD_TARGET', leader: this.leader };
    if (this.leadTransferee === target) return { ok: true };
    this.leadTransferee = target;
    this.electionElapsed = 0;
    const progress = this.progress.get(target)!;
    if (progress.match === this.log.lastIndex()) leader.sendTimeoutNow(this, target);
    else leader.sendAppend(this, target, true);
    return { ok: true };
  }

  /** The driver's report on a snapshot it streamed to `target`. */
  reportSnapshot(target: number, succeeded: boolean): void {
    if (this.role === Role.Leader) leader.snapshotReported(this, target, succeeded);
  }

  /** Starts an election now, as if the election timeout had passed (tests and leader transfer). */
  campaign(): void {
    if (this.role !== Role.Leader) election.campaign(this, false);
  }

  // ---- time and messages ---------------------------------------------------------------------------

  tick(): void {
    if (this.quietTicksLeft > 0) this.quietTicksLeft--;
    if (this.role === Role.Leader) leader.tick(this);
    else election.tickFollower(this);
    this.checkInvariants();
  }

  step(message: Message): void {
    assert(message.to === this.id, `message for ${message.to} stepped into ${this.id}`);
    if (election.filterByTerm(this, message)) {
      switch (this.role) {
        case Role.Leader:
          leader.step(this, message);
          break;
        case Role.Candidate:
        case Role.PreCandidate:
          election.stepCandidate(this, message);
          break;
        case Role.Follower:
          follower.step(this, message);
          break;
      }
    }
    this.checkInvariants();
  }

  // ---- Ready / advance -----------------------------------------------------------------------------

  hasReady(): boolean {
    return (
      this.messages.length > 0 ||
      this.log.hasUnstable() ||
      this.log.hasNextCommittedEntries() ||
      this.readStates.length > 0 ||
      this.readsDropped.length > 0 ||
      this.reads.needsBroadcast() ||
      this.appendsPending ||
      this.hardStateChanged() ||
      this.softStateChanged()
    );
  }

  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called again before advance()');
    if (this.role === Role.Leader && this.reads.needsBroadcast()) leader.broadcastHeartbeat(this);
    if (this.role === Role.Leader && this.appendsPending) leader.broadcastAppend(this);
    this.appendsPending = false;
    const unstable = this.log.unstable();
    const ready: Ready = {
      entries: unstable.entries.slice(),
      snapshot: unstable.snapshot,
      messages: this.messages,
      committedEntries: this.log.nextCommittedEntries(this.applyBytesMax),
      readStates: this.readStates,
      readsDropped: this.readsDropped,
    };
    if (this.hardStateChanged()) ready.hardState = this.hardState();
    if (this.softStateChanged()) ready.softState = this.softState();
    this.messages = [];
    this.readStates = [];
    this.readsDropped = [];
    this.readyOutstanding = true;
    if (this.role === Role.Leader) {
      for (const entry of ready.committedEntries) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entryBytes(entry));
    }
    return ready;
  }

  /** The driver finished acting on `ready` (persisted, sent, applied). */
  advance(ready: Ready): void {
    assert(this.readyOutstanding, 'advance() without ready()');
    this.readyOutstanding = false;
    if (ready.hardState) this.previousHardState = ready.hardState;
    if (ready.softState) this.previousSoftState = ready.softState;
    if (ready.snapshot) this.log.stableSnapshotTo(ready.snapshot.meta.index);
    if (ready.entries.length > 0) {
      const last = ready.entries[ready.entries.length - 1];
      this.log.stableTo(last.index, last.term);
      if (this.role === Role.Leader) leader.selfPersisted(this);
    }
    if (ready.committedEntries.length > 0) {
      this.log.appliedTo(ready.committedEntries[ready.committedEntries.length - 1].index);
    }
    this.checkInvariants();
  }

  // ---- role transitions ----------------------------------------------------------------------------

  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.leader = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.nextInt(this.electionTicks);
    this.votes.clear();
    this.leadTransferee = NONE;
    this.progress.clear();
    for (const context of this.reads.drain()) this.readsDropped.push(context);
  }

  becomeFollower(term: number, leaderId: number): void {
    this.reset(term);
    this.role = Role.Follower;
    this.leader = leaderId;
  }

  becomeLeader(): void {
    assert(this.role === Role.Candidate, 'only a candidate becomes leader');
    this.reset(this.term);
    this.role = Role.Leader;
    this.leader = this.id;
    this.uncommittedBytes = 0;
    const next = this.log.lastIndex() + 1;
    for (const id of this.members()) {
      if (id === this.id) continue;
      this.progress.set(id, new Progress(next, this.inflightMessagesMax, this.conf.learners.includes(id)));
    }
    // Conf changes wait for the term's first entry to commit (the fix to the single-server change bug).
    this.pendingConfIndex = this.log.lastIndex();
    const opened = this.appendLocal(EntryType.Normal, new Uint8Array(0));
    assert(opened.ok, 'a new leader must accept its empty entry');
    this.termStartIndex = opened.index;
  }

  // ---- helpers used by the role modules ------------------------------------------------------------

  send(message: Message): void {
    assert(message.to !== this.id, 'a replica never sends to itself');
    this.messages.push(message);
  }

  members(): number[] {
    return [...this.conf.voters, ...this.conf.learners];
  }

  isVoter(id: number): boolean {
    return this.conf.voters.includes(id);
  }

  voterQuorum(): number {
    return Math.floor(this.conf.voters.length / 2) + 1;
  }

  /** After entries from `fromIndex` on were (re)written: recompute the membership from the log. */
  logRewrittenFrom(fromIndex: number): void {
    while (this.confHistory.length > 1 && this.confHistory[this.confHistory.length - 1].index >= fromIndex) {
      this.confHistory.pop();
    }
    this.scanConfChanges(fromIndex);
  }

  /** Index of the entry that introduced the membership in effect. */
  lastConfIndex(): number {
    return this.confHistory[this.confHistory.length - 1].index;
  }

  /** After a snapshot replaced the log: the membership is the snapshot's. */
  logRestored(conf: ConfState, index: number): void {
    this.confHistory = [{ index, conf: cloneConfState(conf) }];
    this.setConf(this.confHistory[0].conf);
  }

  private scanConfChanges(fromIndex: number): void {
    const last = this.log.lastIndex();
    let conf = this.confHistory[this.confHistory.length - 1].conf;
    for (let low = fromIndex; low <= last; ) {
      const entries = this.log.entries(low, last + 1, 4 * 1024 * 1024, 4096);
      assert(entries !== undefined && entries.length > 0, `log entries from ${low} unreadable`);
      for (const entry of entries) {
        if (entry.type !== EntryType.ConfChange) continue;
        conf = applyConfChange(conf, decodeConfChange(entry.data));
        this.confHistory.push({ index: entry.index, conf });
      }
      low = entries[entries.length - 1].index + 1;
    }
    this.setConf(conf);
  }

  private setConf(conf: ConfState): void {
    this.conf = conf;
    if (this.role !== Role.Leader) return;
    leader.membershipChanged(this);
  }

  private proposalRefusal(bytes: number): ProposeResult | undefined {
    if (this.role !== Role.Leader) return { ok: false, code: 'NOT_LEADER', leader: this.leader };
    if (this.leadTransferee !== NONE) return { ok: false, code: 'TRANSFERRING', leader: this.leader };
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.uncommittedBytesMax) {
      return { ok: false, code: 'PROPOSALS_FULL', leader: this.leader };
    }
    return undefined;
  }

  private appendLocal(type: EntryType, data: Uint8Array): ProposeResult {
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.append([entry]);
    this.uncommittedBytes += entryBytes(entry);
    if (type === EntryType.ConfChange) this.logRewrittenFrom(entry.index);
    // Sent at the next ready(): every proposal of one event-loop turn rides one Append per follower.
    this.appendsPending = true;
    return { ok: true, index: entry.index, term: entry.term };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private hardStateChanged(): boolean {
    const previous = this.previousHardState;
    return previous.term !== this.term || previous.vote !== this.vote || previous.commit !== this.log.committed;
  }

  softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  private softStateChanged(): boolean {
    return this.previousSoftState.leader !== this.leader || this.previousSoftState.role !== this.role;
  }

  status() {
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      role: this.role,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      conf: cloneConfState(this.conf),
      progress: [...this.progress].map(([id, p]) => ({ id, match: p.match, next: p.next, state: p.state })),
    };
  }

  private checkInvariants(): void {
    const log = this.log;
    assert(log.applied <= log.applying && log.applying <= log.committed, 'applied <= applying <= committed');
    assert(log.committed <= log.lastIndex(), 'committed <= lastIndex');
    assert(this.role !== Role.Leader || this.leader === this.id, 'a leader leads itself');
  }
}
