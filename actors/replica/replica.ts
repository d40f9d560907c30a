// One partition replica: the Raft core and its LMDB environment, sharing its host thread's NATS connection
// and node-level Raft batcher (actors/replica/host.ts) with the node's other replicas. The driver obeys
// the core's Ready contract: persist (durable) -> send -> apply -> advance. Everything that arrives in one
// event-loop turn (client requests, Raft messages, ticks) is handled by one Ready, so many proposals share
// one fsync and one AppendEntries per follower.

import { randomInt } from 'node:crypto';
import { Msg, Subscription } from 'nats';
import { ConfState, Entry, EntryType, Message, MessageType, Raft, Ready, Role, applyConfChange, decodeConfChange } from '../raft';
import { assert } from '../raft/assert';
import { RaftTransport } from '../../bus/raftTransport';
import { Subjects, subjects } from '../../bus/subjects';
import { KvResult, ReplicaStore, replicaPlace } from '../../storage';
import { firstLayoutOwnership } from '../../storage/shardState';
import { KvCommandError } from '../../storage/kvCommand';
import { isMetadataPartition } from '../controller/metadataPartition';
import { ReplicaStatus } from '../../supervisor/statusTypes';
import { ClientRequests, respond, respondError } from './clientRequests';
import { MembershipRequests } from './membershipRequests';
import { handOverAtBirth } from './birthLeader';
import { handLeadershipOver } from './leaderHandover';
import { replicaStatus } from './replicaStatus';
import { handleShardRequest } from './shardRequests';
import { LeadHost, StaleReads, proposeShardEntry, serveKvRequest, serveStaleRead } from './leadRequests';
import { ReadLease, leaseDurationMs, leaseStateOf } from './readLease';
import { SnapshotInbox, answerDigest, sendSnapshot } from './snapshotTransfer';
import { APPLY_FLUSH_DELAY_MS, hardStateToPersist, sendableBeforePersist } from './persistPolicy';
import type { ReplicaContext, ReplicaOptions } from './replicaOptions';

export type { ReplicaContext, ReplicaOptions } from './replicaOptions';

const cryptoRandom = { nextInt: (bound: number) => randomInt(bound) };

export class Replica {
  private raft: Raft;
  private readonly subjects: Subjects;
  private readonly leadSubjectPrefix: string;
  private readonly requests = new ClientRequests();
  private readonly host: LeadHost;
  private readonly snapshotsSending = new Set<number>();
  private leadSubscription: Subscription | undefined;
  /** Leaderships this replica has started and ended (see onLeadRequest). */
  private leadTerms = 0;
  private readonly subscriptions: Subscription[] = [];
  private conf: ConfState;
  private tickTimer: NodeJS.Timeout | undefined;
  private wakeScheduled = false;
  private processing = false;
  private exclusive = false;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private snapshotsInstalled = 0;
  private applyFlushTimer: NodeJS.Timeout | undefined;
  /** The latest apply in flight; snapshot installs and shutdown wait for it. */
  private applyTail: Promise<void> = Promise.resolve();
  private snapshotInbox: SnapshotInbox | undefined;
  private readonly membership = new MembershipRequests();

  private constructor(
    private readonly options: ReplicaOptions,
    private readonly store: ReplicaStore,
    private readonly context: ReplicaContext,
    private readonly onFatal: (error: unknown) => void,
  ) {
    this.subjects = subjects(options.prefix);
    this.leadSubjectPrefix = `${this.subjects.partitionLead(options.partition)}.`;
    this.conf = store.stateMachine.confState();
    this.host = this.makeHost();
    this.raft = this.makeRaft();
  }

  static async start(options: ReplicaOptions, context: ReplicaContext, onFatal: (error: unknown) => void): Promise<Replica> {
    const ownership = isMetadataPartition(options.partition) ? undefined : firstLayoutOwnership(options.partition, options.partitions);
    const place = replicaPlace(context.store, options.partition, options.path);
    const store = await ReplicaStore.open({ ...place, bootstrapConfState: { voters: options.voters, learners: [] }, ownership });
    const replica = new Replica(options, store, context, onFatal);
    replica.listen();
    return replica;
  }

  private makeRaft(): Raft {
    const { replica, electionTicks, heartbeatTicks } = this.options;
    const quietAtStart = this.host.lease.durationMs > 0;
    return new Raft(
      { id: replica, electionTicks, heartbeatTicks, random: cryptoRandom, applied: this.store.stateMachine.applied(), appendBytesMax: 512 * 1024, quietAtStart },
      this.store.log,
    );
  }

  private listen(): void {
    const { partition, replica } = this.options;
    const transport = new RaftTransport(this.context.nc, {
      prefix: this.options.prefix, partition, replica,
      onMessage: (message) => this.onRaftMessage(message),
      mux: this.context.mux,
      nodeOf: (replica) => this.options.nodeOfReplica[String(replica)],
    });
    this.transport = transport;
    this.snapshotInbox = new SnapshotInbox(this.context.nc, this.subjects.snapshot(partition, replica), this.store, {
      admit: (meta, from, term) => this.admitSnapshot(meta.index, meta.term, from, term),
      install: (receive, from, term) => this.installSnapshot(receive, from, term),
      log: (line) => this.log(line),
    });
    this.subscriptions.push(
      this.context.nc.subscribe(this.subjects.control('status'), { callback: (_, m) => this.guard(m, () => respond(m, Buffer.from(JSON.stringify(this.status())))) }),
      this.context.nc.subscribe(this.subjects.control('digest'), { callback: (_, m) => void answerDigest(m, this.store, { partition, replica, node: this.options.nodeId }) }),
    );
    const refuse = (m: Msg) => respondError(this.context.replies.wrap(m), 'NOT_LEADER', 'this replica left the partition\'s read group; retry', 0);
    this.staleReads = new StaleReads(this.context.nc, `${this.subjects.partitionRead(partition)}.get`, (m) => this.guard(m, () => serveStaleRead(this.host, this.context.replies.wrap(m))), refuse);
    this.staleReads.sync(this.conf.voters.includes(replica));
    this.tickTimer = setInterval(() => this.onTick(), this.options.tickMs);
  }

  private staleReads!: StaleReads;

  private transport!: RaftTransport;

  /** What the request handlers need (leadRequests.ts, shardRequests.ts). */
  private makeHost(): LeadHost {
    return {
      partition: this.options.partition,
      requests: this.requests,
      stateMachine: this.store.stateMachine,
      raft: () => this.raft,
      wake: () => this.wake(),
      lease: new ReadLease(this.options.readLeaseMs ?? leaseDurationMs(this.options.tickMs, this.options.electionTicks)),
      serveReads: () => this.serveReads(),
      propose: (data, message, encode) => proposeShardEntry(this.host, data, message, encode),
      flushed: async () => {
        this.store.stateMachine.flushApplies();
        await this.applyTail;
      },
    };
  }

  // ---- stimuli -------------------------------------------------------------------------------------

  private onRaftMessage(message: Message): void {
    if (this.stopped) return;
    try {
      this.raft.step(message);
    } catch (error) {
      // An assertion or a corrupt read inside the core: stop the actor, restart from durable state.
      return this.onFatal(error);
    }
    this.wake();
  }

  private onTick(): void {
    try {
      this.raft.tick();
      this.wake();
    } catch (error) {
      this.onFatal(error);
    }
  }

  /**
   * A NATS handler must never throw: an exception can silently end its subscription. A refused command
   * is an answer; anything else is a bug or corruption and stops the actor (it restarts from disk).
   */
  private guard(message: Msg, handle: () => void): void {
    try {
      handle();
    } catch (error) {
      if (error instanceof KvCommandError) return respondError(message, error.code, error.message);
      this.log(`request failed: ${String(error)}`);
      respondError(message, 'INTERNAL', 'internal error');
      this.onFatal(error);
    }
  }

  /**
   * Subjects are `<lead>.<op>`, or `<lead>.<op>.<requestId>` for a router's retryable write. `term` counts
   * this replica's leaderships: a request that a drained subscription of an earlier one delivers is refused.
   */
  private onLeadRequest(message: Msg, term: number): void {
    if (term !== this.leadTerms) return respondError(message, 'NOT_LEADER', 'not the leader any more', this.raft.leader);
    const [op, token, extra] = message.subject.slice(this.leadSubjectPrefix.length).split('.');
    if (extra !== undefined) return respondError(message, 'BAD_REQUEST', `malformed subject ${message.subject}`);
    if (op === 'conf' && token === undefined) {
      if (this.membership.handle(message, (change) => this.raft.proposeConfChange(change))) this.wake();
      return;
    }
    if (op === 'shard') return void handleShardRequest(this.host, token, message);
    serveKvRequest(this.host, op, token, message);
  }

  // ---- the Ready loop ------------------------------------------------------------------------------

  private wake(): void {
    if (this.wakeScheduled || this.stopped) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      void this.runReadyLoop();
    });
  }

  private async runReadyLoop(): Promise<void> {
    if (this.processing || this.exclusive) return;
    this.processing = true;
    try {
      while (!this.exclusive && !this.stopped && this.raft.hasReady()) {
        const raft = this.raft;
        const ready = raft.ready();
        await this.handleReady(raft, ready);
        raft.advance(ready);
      }
    } catch (error) {
      this.onFatal(error);
    } finally {
      this.processing = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    if (!this.exclusive && this.raft.hasReady()) this.wake();
  }

  private async handleReady(raft: Raft, ready: Ready): Promise<void> {
    if (ready.softState) this.onRoleChange(ready.softState.role, ready.softState.leader);
    assert(ready.snapshot === undefined, 'snapshots are installed out of band, never through Ready');
    // Persist and apply are queued in one event turn: lmdb-js commits them in one transaction.
    const hardState = hardStateToPersist(ready, raft.hardState(), this.store.log.hardState());
    const persisted = this.store.log.persist({ hardState, entries: ready.entries });
    const applied = this.apply(ready.committedEntries, (entries, results) => {
      // Committed entries' results are final: answer clients now, not after the apply's commit.
      for (let i = 0; i < results.length; i++) this.requests.applied(entries[i].index, entries[i].term, results[i]);
    });
    // The apply's writes ride the next log persist's transaction (one commit per Ready, not two); with
    // nothing to persist they are flushed a moment later. The next Ready need not wait for them.
    this.applyTail = applied.catch((error) => this.onFatal(error));
    if (ready.entries.length > 0 || hardState) this.store.stateMachine.flushApplies();
    else this.scheduleApplyFlush();
    this.settleReads(raft, ready);
    // A leader's appends go out while its own fsync runs (see Ready); votes and acks wait for the disk.
    const early = ready.messages.filter(sendableBeforePersist);
    if (early.length > 0) this.send(raft, early);
    await persisted;
    this.send(raft, early.length > 0 ? ready.messages.filter((m) => !sendableBeforePersist(m)) : ready.messages);
    await this.maybeCompact();
  }

  private settleReads(raft: Raft, ready: Ready): void {
    const lease = this.host.lease;
    for (const context of ready.readsDropped) {
      lease.dropped(context);
      this.requests.readDropped(context, raft.leader);
    }
    const leaseState = ready.readStates.length > 0 ? leaseStateOf(raft) : undefined;
    for (const state of ready.readStates) {
      lease.confirmed(state.context, leaseState!);
      this.requests.readConfirmed(state.context, state.index);
    }
    this.serveReads();
  }

  /** Reads see every computed apply: those entries are committed, whether or not their writes reached LMDB. */
  private serveReads(): void {
    const stateMachine = this.store.stateMachine;
    this.requests.serveReads(stateMachine.appliedInMemory(), (key) => stateMachine.get(key), (key) => stateMachine.owns(key));
  }

  private scheduleApplyFlush(): void {
    if (this.applyFlushTimer || this.store.stateMachine.deferredCount === 0) return;
    this.applyFlushTimer = setTimeout(() => {
      this.applyFlushTimer = undefined;
      this.store.stateMachine.flushApplies();
    }, APPLY_FLUSH_DELAY_MS);
  }

  /** Applies committed entries in batches that end after each ConfChange (storage records each membership). */
  private async apply(entries: Entry[], onComputed: (entries: Entry[], results: KvResult[]) => void): Promise<void> {
    const batches: Promise<KvResult[]>[] = [];
    const applyBatch = (batch: Entry[], conf?: ConfState) =>
      batches.push(this.store.stateMachine.applyBatch(batch, conf, (results) => onComputed(batch, results), { deferWrite: true }));
    let start = 0;
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].type !== EntryType.ConfChange) continue;
      this.conf = applyConfChange(this.conf, decodeConfChange(entries[i].data));
      this.host.lease.revoke();
      this.staleReads.sync(this.conf.voters.includes(this.options.replica));
      this.membership.applied(entries[i], this.conf);
      applyBatch(entries.slice(start, i + 1), this.conf);
      start = i + 1;
    }
    if (start < entries.length) applyBatch(entries.slice(start));
    await Promise.all(batches);
  }

  private send(raft: Raft, messages: Message[]): void {
    for (const message of messages) {
      if (message.type === MessageType.Snapshot) this.streamSnapshot(raft, message.to);
      else this.transport.enqueue(message);
    }
    this.transport.flush();
  }

  private streamSnapshot(raft: Raft, target: number): void {
    if (this.snapshotsSending.has(target)) return;
    this.snapshotsSending.add(target);
    const subject = this.subjects.snapshot(this.options.partition, target);
    sendSnapshot(this.context.nc, this.store, subject, this.options.replica, raft.term)
      .catch((error) => {
        this.log(`snapshot to r${target} failed: ${String(error)}`);
        return false;
      })
      .then((installed) => {
        this.snapshotsSending.delete(target);
        if (this.raft === raft) raft.reportSnapshot(target, installed);
        this.wake();
      });
  }

  private async maybeCompact(): Promise<void> {
    const compactEntries = this.options.compactEntries ?? 20_000;
    const keep = this.options.compactKeep ?? 5_000;
    const applied = this.store.stateMachine.applied();
    if (applied - this.store.log.firstIndex() < compactEntries) return;
    await this.store.log.compact(applied - keep);
  }

  // ---- leadership ----------------------------------------------------------------------------------

  private onRoleChange(role: Role, leader: number): void {
    this.host.lease.revoke();
    if (role === Role.Leader && !this.leadSubscription) {
      const subject = `${this.subjects.partitionLead(this.options.partition)}.>`;
      const term = ++this.leadTerms;
      this.leadSubscription = this.context.nc.subscribe(subject, { callback: (_, m) => this.guard(m, () => this.onLeadRequest(this.context.replies.wrap(m), term)) });
      const raft = this.raft;
      const preferred = this.options.preferredLeader ?? Math.min(...this.options.voters);
      handOverAtBirth({
        raft, self: this.options.replica, preferred, tickMs: this.options.tickMs,
        stillApplies: () => !this.stopped && this.raft === raft && this.conf.voters.includes(preferred),
        started: () => this.wake(),
      });
    } else if (role !== Role.Leader && this.leadSubscription) {
      // Drain, not unsubscribe: requests already on their way here still reach the handler, which
      // answers NOT_LEADER (a retry elsewhere) instead of dropping them unanswered.
      void this.leadSubscription.drain().catch(() => undefined);
      this.leadSubscription = undefined;
      this.leadTerms++;
      this.requests.failReads(leader);
      // Our unreplicated proposals may sit in the log until a later leader overwrites those indexes,
      // which can take long on a quiet partition: answer now, indeterminately (retrying is safe).
      this.requests.failWrites();
      this.membership.leadershipLost(leader);
    }
  }

  // ---- snapshots received --------------------------------------------------------------------------

  private admitSnapshot(index: number, term: number, from: number, leaderTerm: number): 'accept' | 'skip' | 'refuse' {
    if (leaderTerm < this.raft.term) return 'refuse';
    if (index <= this.raft.log.committed || this.raft.log.matchTerm(index, term)) {
      // Our log already reaches that point: tell the core, which answers the leader with our position.
      this.onRaftMessage({ type: MessageType.Snapshot, from, to: this.options.replica, term: leaderTerm, snapshot: { meta: { index, term, confState: this.conf } } });
      return 'skip';
    }
    return 'accept';
  }

  private async installSnapshot(receive: () => Promise<unknown>, from: number, term: number): Promise<void> {
    await this.runExclusive(async () => {
      await receive();
      // The log and state machine were replaced underneath the core: rebuild it from storage.
      this.conf = this.store.stateMachine.confState();
      this.staleReads.sync(this.conf.voters.includes(this.options.replica));
      this.requests.forgetWritesThrough(this.store.stateMachine.applied());
      this.raft = this.makeRaft();
      this.snapshotsInstalled++;
    });
    const meta = this.store.log.snapshot().meta;
    this.onRaftMessage({ type: MessageType.Snapshot, from, to: this.options.replica, term, snapshot: { meta } });
  }

  private async runExclusive(action: () => Promise<void>): Promise<void> {
    this.exclusive = true;
    try {
      while (this.processing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      this.store.stateMachine.flushApplies();
      await this.applyTail;
      await action();
    } finally {
      this.exclusive = false;
      this.wake();
    }
  }

  // ---- control ---------------------------------------------------------------------------------------

  /** A consistency check: the digest of the state machine as of its applied index (equal on every replica at one index). */
  status(): ReplicaStatus {
    const { partition, replica, nodeId } = this.options;
    const local = { applied: this.store.stateMachine.applied(), snapshotsInstalled: this.snapshotsInstalled, stopped: this.stopped, readsServed: this.requests.readsServed };
    return replicaStatus(this.raft, { partition, replica, node: nodeId }, local);
  }


  /** Hands leadership to the most caught-up other voter; resolves when it moved or after `timeoutMs`. */
  transferLeadership(timeoutMs: number, target?: number): Promise<boolean> {
    return handLeadershipOver({ raft: () => this.raft, voters: () => this.conf.voters, wake: () => this.wake() }, timeoutMs, target);
  }

  /** Clean shutdown: leadership handed over, queued writes durable, connection drained. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.transferLeadership(1_000).catch(() => false);
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.leadSubscription?.unsubscribe();
    this.requests.failReads(0);
    while (this.processing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (this.applyFlushTimer) clearTimeout(this.applyFlushTimer);
    this.store.stateMachine.flushApplies();
    await this.applyTail;
    this.closeSubscriptions();
    await this.store.close();
  }

  /**
   * After a fatal error: stop at once, without handing over leadership or flushing computed applies
   * (a bug or a corrupt read may have produced them). Everything acknowledged is already durable; the
   * host restarts the replica from disk.
   */
  async abort(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.applyFlushTimer) clearTimeout(this.applyFlushTimer);
    this.leadSubscription?.unsubscribe();
    this.closeSubscriptions();
    this.requests.failReads(0);
    while (this.processing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.store.close().catch(() => undefined);
  }

  private closeSubscriptions(): void {
    this.transport.close();
    void this.snapshotInbox?.close();
    this.staleReads?.close();
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  private log(line: string): void {
    console.error(`[${this.options.nodeId} p${this.options.partition}/r${this.options.replica}] ${line}`);
  }
}

