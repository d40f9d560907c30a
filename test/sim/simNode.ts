// The simulator's driver for one replica: the very same Raft core as production, with memory storage that
// survives a crash, volatile state that does not, and a persistence step that takes virtual time (a crash
// before it completes loses the Ready). Injected bugs live here, in the driver, never in the core.

import { ConfState, Entry, EntryType, Message, NONE, Raft, Ready, Role, Snapshot, applyConfChange, decodeConfChange } from '../../actors/raft';
import { MemoryStorage } from '../../actors/raft/memoryStorage';
import { SeededRandom } from '../../actors/raft/random';
import { EventQueue } from './eventQueue';
import { ReadLease, leaseDurationMs, leaseStateOf } from '../../actors/replica/readLease';
import { sendableBeforePersist } from '../../actors/replica/persistPolicy';
import { decodeWrite, decodeSnapshot, encodeSnapshot } from './kvCommands';

export interface InjectedBugs {
  /** The driver persists hard state without the vote: a restarted node may vote twice in one term. */
  forgetVote?: boolean;
  /** A leader serves reads from its local state without ReadIndex: stale reads after a partition. */
  readWithoutReadIndex?: boolean;
  /** With lease reads: a lease three election timeouts long, outliving the followers' vote refusal. */
  leaseTooLong?: boolean;
}

export interface NodeHooks {
  send(message: Message): void;
  applied(node: SimNode, entry: Entry): void;
  snapshotInstalled(node: SimNode, snapshot: Snapshot, kv: Map<string, string>): void;
  stepped(node: SimNode): void;
  /** A vote was just made durable (the nemesis likes to crash nodes right after voting). */
  votePersisted(node: SimNode): void;
}

interface WriteWaiter {
  term: number;
  done: (ok: boolean) => void;
}

interface ReadWaiter {
  key: string;
  index: number;
  done: (result: { value: string | undefined; servedIndex: number } | undefined) => void;
}

const COMPACT_EVERY_ENTRIES = 48;
const TICK = 10;
const ELECTION_TICKS = 10;


export class SimNode {
  raft: Raft | undefined;
  kv = new Map<string, string>();
  applied = 0;
  appliedConf: ConfState;
  private incarnation = 0;
  private readyInFlight = false;
  private writes = new Map<number, WriteWaiter>();
  private reads = new Map<number, ReadWaiter>();
  private readsReady: ReadWaiter[] = [];
  private readonly tickPhase: number;
  /** Lease reads (actors/replica/readLease.ts) on the simulated clock, when the run uses them. */
  private lease: ReadLease | undefined;

  constructor(
    readonly id: number,
    readonly storage: MemoryStorage,
    private readonly queue: EventQueue,
    private readonly random: SeededRandom,
    private readonly hooks: NodeHooks,
    private readonly bugs: InjectedBugs,
    private readonly leaseReads = false,
  ) {
    this.appliedConf = storage.snapshot().meta.confState;
    this.tickPhase = random.nextInt(10);
  }

  get alive(): boolean {
    return this.raft !== undefined;
  }

  start(): void {
    const snapshot = this.storage.snapshot();
    this.kv = snapshot.data ? decodeSnapshot(snapshot.data) : new Map();
    this.applied = snapshot.meta.index;
    this.appliedConf = snapshot.meta.confState;
    this.raft = new Raft(
      {
        id: this.id, electionTicks: ELECTION_TICKS, heartbeatTicks: 2, random: this.random, applied: this.applied,
        inflightMessagesMax: 8, appendEntriesMax: 16, quietAtStart: this.leaseReads,
      },
      this.storage,
    );
    const leaseMs = this.bugs.leaseTooLong ? 3 * ELECTION_TICKS * TICK : leaseDurationMs(TICK, ELECTION_TICKS);
    this.lease = this.leaseReads ? new ReadLease(leaseMs) : undefined;
    this.incarnation++;
    const incarnation = this.incarnation;
    const tick = () => {
      if (this.incarnation !== incarnation || !this.raft) return;
      this.raft.tick();
      this.afterStimulus();
      this.queue.schedule(TICK, tick);
    };
    this.queue.schedule(1 + this.tickPhase, tick);
  }

  /** kill -9: everything not yet persisted is gone, waiters learn nothing (indeterminate). */
  crash(): void {
    this.raft = undefined;
    this.incarnation++;
    this.readyInFlight = false;
    this.writes.clear();
    this.reads.clear();
    this.readsReady = [];
  }

  receive(message: Message): void {
    if (!this.raft) return;
    this.raft.step(message);
    this.afterStimulus();
  }

  isLeader(): boolean {
    return this.raft?.role === Role.Leader;
  }

  propose(data: Uint8Array, done: (ok: boolean) => void): boolean {
    const result = this.raft?.propose(data);
    if (!result || !result.ok) return false;
    this.writes.set(result.index, { term: result.term, done });
    this.afterStimulus();
    return true;
  }

  read(key: string, context: number, done: ReadWaiter['done']): boolean {
    if (!this.raft || this.raft.role !== Role.Leader) return false;
    if (this.bugs.readWithoutReadIndex) {
      done({ value: this.kv.get(key), servedIndex: this.applied });
      return true;
    }
    const now = this.queue.now;
    if (this.lease?.holds(now, leaseStateOf(this.raft))) {
      this.readsReady.push({ key, index: this.raft.log.committed, done });
      this.serveReads();
    } else {
      if (!this.raft.readIndex(context).ok) return false;
      this.reads.set(context, { key, index: 0, done });
    }
    this.probeLease(now);
    this.afterStimulus();
    return true;
  }

  private probeLease(now: number): void {
    const raft = this.raft!;
    if (!this.lease?.wantsProbe(now, leaseStateOf(raft))) return;
    // Negative contexts: the simulation's client reads use positive ones.
    const context = -(++this.probes);
    if (raft.readIndex(context).ok) this.lease.probeIssued(context, now, raft.term);
  }

  private probes = 0;

  afterStimulus(): void {
    const raft = this.raft;
    if (!raft) return;
    this.hooks.stepped(this);
    if (this.readyInFlight || !raft.hasReady()) return;
    const ready = raft.ready();
    this.readyInFlight = true;
    // As in production: a leader's appends and heartbeats leave before its own persist completes.
    for (const message of ready.messages) if (sendableBeforePersist(message)) this.hooks.send(message);
    const incarnation = this.incarnation;
    this.queue.schedule(this.random.nextInt(4), () => {
      if (this.incarnation !== incarnation) return;
      this.readyInFlight = false;
      this.handleReady(raft, ready);
      this.afterStimulus();
    });
  }

  private handleReady(raft: Raft, ready: Ready): void {
    if (ready.snapshot) this.installSnapshot(ready.snapshot);
    this.storage.append(ready.entries);
    if (ready.hardState) {
      const vote = this.bugs.forgetVote ? NONE : ready.hardState.vote;
      const votedNow = ready.hardState.vote !== NONE && ready.hardState.vote !== this.storage.hardState.vote;
      this.storage.setHardState({ ...ready.hardState, vote });
      if (votedNow) this.hooks.votePersisted(this);
    }
    for (const message of ready.messages) if (!sendableBeforePersist(message)) this.hooks.send(message);
    for (const entry of ready.committedEntries) this.apply(entry);
    if (ready.softState) this.lease?.revoke();
    for (const context of ready.readsDropped) this.lease?.dropped(context);
    for (const state of ready.readStates) this.lease?.confirmed(state.context, leaseStateOf(raft));
    for (const context of ready.readsDropped) this.finishRead(context, undefined);
    for (const state of ready.readStates) {
      const waiter = this.reads.get(state.context);
      if (!waiter) continue;
      waiter.index = state.index;
      this.reads.delete(state.context);
      this.readsReady.push(waiter);
    }
    this.serveReads();
    if (ready.softState && ready.softState.role !== Role.Leader) this.failAllWaiters();
    raft.advance(ready);
    this.maybeCompact();
  }

  private installSnapshot(snapshot: Snapshot): void {
    this.kv = decodeSnapshot(snapshot.data!);
    this.applied = snapshot.meta.index;
    this.appliedConf = snapshot.meta.confState;
    this.storage.applySnapshot(snapshot);
    this.hooks.snapshotInstalled(this, snapshot, this.kv);
    for (const [index, waiter] of this.writes) {
      if (index <= this.applied) {
        this.writes.delete(index);
        waiter.done(false);
      }
    }
  }

  private apply(entry: Entry): void {
    if (entry.index <= this.applied) throw new Error(`node ${this.id} applies ${entry.index} twice (applied ${this.applied})`);
    if (entry.index !== this.applied + 1) throw new Error(`node ${this.id} skips from ${this.applied} to ${entry.index}`);
    this.hooks.applied(this, entry);
    if (entry.type === EntryType.ConfChange) {
      this.lease?.revoke();
      this.appliedConf = applyConfChange(this.appliedConf, decodeConfChange(entry.data));
    } else if (entry.data.byteLength > 0) {
      const write = decodeWrite(entry.data);
      this.kv.set(write.key, write.value);
    }
    this.applied = entry.index;
    const waiter = this.writes.get(entry.index);
    if (waiter) {
      this.writes.delete(entry.index);
      waiter.done(waiter.term === entry.term);
    }
  }

  private serveReads(): void {
    const waiting: ReadWaiter[] = [];
    for (const waiter of this.readsReady) {
      if (waiter.index <= this.applied) waiter.done({ value: this.kv.get(waiter.key), servedIndex: this.applied });
      else waiting.push(waiter);
    }
    this.readsReady = waiting;
  }

  private finishRead(context: number, result: undefined): void {
    const waiter = this.reads.get(context);
    if (!waiter) return;
    this.reads.delete(context);
    waiter.done(result);
  }

  /** Lost leadership: outstanding writes are indeterminate, outstanding reads fail. */
  private failAllWaiters(): void {
    for (const waiter of this.reads.values()) waiter.done(undefined);
    this.reads.clear();
  }

  private maybeCompact(): void {
    if (this.applied - this.storage.firstIndex() < COMPACT_EVERY_ENTRIES) return;
    if (this.applied > this.storage.lastIndex()) return;
    this.storage.compact(this.applied, this.appliedConf, encodeSnapshot(this.kv));
  }
}
