// The replica host: one worker thread that runs every replica actor of this node. Each replica keeps its
// own Raft core, LMDB dbs, timers and subscriptions; they share the thread's NATS connection, the
// node-level Raft batcher (bus/raftMux.ts) and the node's LMDB environment (storage/nodeEnv.ts), where
// the writes of one event-loop turn commit together.
//
// Why one thread, not one per replica: measured on 2 cores, 8 partitions x 3 replicas as 24 threads (24
// connections, 24 isolates) burned most of the CPU on per-message overhead (socket writes, wake-ups,
// GC of many heaps), and idle heartbeats alone took 0.75 core. docs/architecture.md has the numbers.
//
// Supervision stays one-for-one: a replica that fails (an assertion, a corrupt read) is aborted and
// restarted from disk inside the host with exponential backoff, without disturbing its neighbours; a
// corrupt store (StorageCorruptionError) is not restarted. If the thread itself dies, the supervisor
// restarts the whole host (supervisor/actorHost.ts).

import { rmSync } from 'node:fs';
import { connect, NatsConnection } from 'nats';
import { NodeEnv } from '../../storage/nodeEnv';
import { hasEnvironment } from '../../storage/replicaEnv';
import { RaftMux } from '../../bus/raftMux';
import { RoutedReplies } from '../../bus/routedReplies';
import { defaultFaultInjector, serveFaultControl } from '../../bus/faultInjection';
import { ReplicaStatus } from '../../supervisor/statusTypes';
import { decodeHeartbeat } from '../controller/heartbeat';
import { subjects } from '../../bus/subjects';
import { peerUpdates } from './peerMap';
import { Replica, ReplicaContext, ReplicaOptions } from './replica';

export interface ReplicaHostOptions {
  nodeId: string;
  natsUrl: string;
  prefix: string;
  replicas: ReplicaOptions[];
  /** The node's LMDB environment, `<data>/<node>/store` (storage/nodeEnv.ts). */
  storePath: string;
  /** Obey fault-injection commands on `<prefix>.ctl.fault` (tests and drills). */
  faultInjection?: boolean;
  /** Start drained (`cairn nodes drain` survives restarts of the node and of this thread). */
  drained?: boolean;
}

export type ReplicaSlotState = 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';

export interface ReplicaSlotInfo {
  /** `p<partition>/r<replica>` */
  actor: string;
  state: ReplicaSlotState;
  restarts: number;
  lastError?: string;
}

const BACKOFF_MS_MIN = 100;
const BACKOFF_MS_MAX = 10_000;
/** A replica that stayed up this long gets its backoff reset. */
const STABLE_MS = 30_000;
/** Restarting cannot fix these: the replica waits for repair or a rebuild. */
const PERMANENT_ERRORS = ['StorageCorruptionError'];

export function actorName(options: Pick<ReplicaOptions, 'partition' | 'replica'>): string {
  return `p${options.partition}/r${options.replica}`;
}

/** One replica under one-for-one supervision inside the host. */
class ReplicaSlot {
  state: ReplicaSlotState = 'starting';
  restarts = 0;
  lastError: string | undefined;
  replica: Replica | undefined;
  private backoffMs = BACKOFF_MS_MIN;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private generation = 0;

  constructor(
    readonly options: ReplicaOptions,
    private readonly context: ReplicaContext,
    private readonly log: (line: string) => void,
  ) {}

  get name(): string {
    return actorName(this.options);
  }

  async start(): Promise<void> {
    const generation = ++this.generation;
    this.startedAt = Date.now();
    this.state = 'starting';
    try {
      const replica = await Replica.start(this.options, this.context, (error) => this.fail(error, generation));
      if (generation !== this.generation) return void (await replica.stop());
      this.replica = replica;
      this.state = 'running';
    } catch (error) {
      this.fail(error, generation);
    }
  }

  /** The replica hit a bug or corruption: abort it and restart from durable state, unless restarting cannot help. */
  fail(error: unknown, generation = this.generation): void {
    if (generation !== this.generation || this.state === 'stopped' || this.state === 'failed') return;
    this.generation++;
    const err = error instanceof Error ? error : new Error(String(error));
    this.lastError = `${err.name}: ${err.message}`;
    this.log(`${this.name} crashed: ${this.lastError}`);
    const replica = this.replica;
    this.replica = undefined;
    void replica?.abort().catch((abortError) => this.log(`${this.name} abort failed: ${String(abortError)}`));
    if (PERMANENT_ERRORS.includes(err.name)) {
      this.state = 'failed';
      this.log(`${this.name} will not be restarted (${err.name}); repair or rebuild it`);
      return;
    }
    if (Date.now() - this.startedAt > STABLE_MS) this.backoffMs = BACKOFF_MS_MIN;
    this.state = 'restarting';
    this.restarts++;
    this.log(`${this.name} restarting in ${this.backoffMs} ms`);
    this.restartTimer = setTimeout(() => void this.start(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MS_MAX);
  }

  async stop(): Promise<void> {
    this.generation++;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const replica = this.replica;
    this.replica = undefined;
    if (this.state !== 'failed') this.state = 'stopped';
    await replica?.stop();
  }

  info(): ReplicaSlotInfo {
    return { actor: this.name, state: this.state, restarts: this.restarts, lastError: this.lastError };
  }
}

/** Answers of the operator commands (`cairn partitions stop|start`, `cairn leader transfer`, `cairn nodes drain`). */
export type AdminResult = { ok: true; message: string } | { ok: false; error: { code: AdminErrorCode; message: string } };
export type AdminErrorCode = 'NOT_FOUND' | 'NOT_LEADER' | 'CONFLICT' | 'TIMEOUT';

/** How often a drained host looks for leaders to hand away (a replica may win an election meanwhile). */
const DRAIN_CHECK_MS = 500;
const TRANSFER_TIMEOUT_MS = 3_000;

export class ReplicaHost {
  private readonly slots = new Map<string, ReplicaSlot>();
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly log: (line: string) => void;

  private readonly context: ReplicaContext;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly mux: RaftMux,
    private readonly store: NodeEnv,
    nodeId: string,
  ) {
    this.log = (line) => console.error(`[${nodeId}] ${line}`);
    this.context = { nc, mux, store, replies: new RoutedReplies(nc) };
  }

  static async start(options: ReplicaHostOptions): Promise<ReplicaHost> {
    const nc = await connect({ servers: options.natsUrl.split(','), name: `cairn ${options.nodeId} replicas`, maxReconnectAttempts: -1, noAsyncTraces: true });
    const log = (line: string) => console.error(`[${options.nodeId}] ${line}`);
    const mux = new RaftMux(nc, { prefix: options.prefix, nodeId: options.nodeId, log });
    if (options.faultInjection) serveFaultControl(nc, options.prefix, defaultFaultInjector, `${options.nodeId}-replicas`);
    const host = new ReplicaHost(nc, mux, NodeEnv.open({ path: options.storePath }), options.nodeId);
    for (const replica of options.replicas) host.slots.set(actorName(replica), new ReplicaSlot(replica, host.context, log));
    await Promise.all([...host.slots.values()].map((slot) => slot.start()));
    if (options.drained) void host.setDrained(true);
    nc.subscribe(subjects(options.prefix).control('heartbeat'), { callback: (_, message) => host.learnPeers(message.data, options.nodeId) });
    return host;
  }

  /** Updates the node maps of this node's replicas from another node's heartbeat (peerMap.ts). */
  private learnPeers(data: Uint8Array, localNode: string): void {
    const heartbeat = decodeHeartbeat(data);
    if (!heartbeat) return;
    const nodeOf = (partition: number, replica: number) => this.slotOf(partition)?.options.nodeOfReplica[String(replica)] ?? (this.slotOf(partition) ? undefined : null);
    for (const update of peerUpdates(heartbeat, localNode, nodeOf)) this.slotOf(update.partition)!.options.nodeOfReplica[String(update.replica)] = update.node;
  }

  infos(): ReplicaSlotInfo[] {
    return [...this.slots.values()].map((slot) => slot.info());
  }

  statuses(): ReplicaStatus[] {
    const statuses: ReplicaStatus[] = [];
    for (const slot of this.slots.values()) if (slot.replica) statuses.push(slot.replica.status());
    return statuses;
  }

  has(actor: string): boolean {
    return this.slots.has(actor);
  }

  /** Leadership of one replica (or of every replica, with no name) handed to another voter. */
  async transferLeadership(timeoutMs: number, actor?: string, target?: number): Promise<boolean> {
    const slots = actor === undefined ? [...this.slots.values()] : [this.slots.get(actor)].filter((slot) => slot !== undefined);
    const moved = await Promise.all(slots.map((slot) => slot!.replica?.transferLeadership(timeoutMs, target) ?? true));
    return moved.every(Boolean);
  }

  /** Fault drill: the replica fails as a bug would, and is restarted like one. */
  crash(actor: string): boolean {
    const slot = this.slots.get(actor);
    if (!slot) return false;
    slot.fail(new Error('crash requested by the supervisor (fault drill)'));
    return true;
  }

  private slotOf(partition: number): ReplicaSlot | undefined {
    for (const slot of this.slots.values()) if (slot.options.partition === partition) return slot;
    return undefined;
  }

  /** A new replica of a partition this node does not host yet (it joins as a learner; see `cairn partitions move`). */
  async addReplica(options: ReplicaOptions): Promise<AdminResult> {
    if (this.slotOf(options.partition)) return { ok: false, error: { code: 'CONFLICT', message: `this node already hosts a replica of partition ${options.partition}` } };
    const slot = new ReplicaSlot(options, this.context, this.log);
    this.slots.set(slot.name, slot);
    await slot.start();
    if ((slot.state as ReplicaSlotState) !== 'running') return { ok: false, error: { code: 'CONFLICT', message: `${slot.name} did not start: ${slot.lastError}` } };
    return { ok: true, message: `started ${slot.name} (empty; it catches up once the leader adds it)` };
  }

  /** Stops this node's replica of a partition for good and deletes its data (after the group removed it). */
  async removeReplica(partition: number): Promise<AdminResult> {
    const slot = this.slotOf(partition);
    if (!slot) return { ok: false, error: { code: 'NOT_FOUND', message: `no replica of partition ${partition} on this node` } };
    await slot.stop();
    this.slots.delete(slot.name);
    if (hasEnvironment(slot.options.path)) rmSync(slot.options.path, { recursive: true, force: true });
    else await this.store.dropReplica(partition);
    return { ok: true, message: `removed ${slot.name} and deleted its data` };
  }

  /** Maintenance: stop one replica cleanly (leadership handed over, writes flushed); the group keeps its other replicas. */
  async stopReplica(partition: number): Promise<AdminResult> {
    const slot = this.slotOf(partition);
    if (!slot) return { ok: false, error: { code: 'NOT_FOUND', message: `no replica of partition ${partition} on this node` } };
    if (slot.state === 'stopped') return { ok: false, error: { code: 'CONFLICT', message: `${slot.name} is already stopped` } };
    if (slot.state === 'failed') return { ok: false, error: { code: 'CONFLICT', message: `${slot.name} failed for good (${slot.lastError}); repair it first` } };
    await slot.stop();
    return { ok: true, message: `stopped ${slot.name}` };
  }

  async startReplica(partition: number): Promise<AdminResult> {
    const slot = this.slotOf(partition);
    if (!slot) return { ok: false, error: { code: 'NOT_FOUND', message: `no replica of partition ${partition} on this node` } };
    if (slot.state !== 'stopped') return { ok: false, error: { code: 'CONFLICT', message: `${slot.name} is ${slot.state}, not stopped` } };
    await slot.start();
    if ((slot.state as ReplicaSlotState) !== 'running') return { ok: false, error: { code: 'CONFLICT', message: `${slot.name} did not start: ${slot.lastError}` } };
    return { ok: true, message: `started ${slot.name}` };
  }

  /** Hands the leadership of `partition`, led here, to its replica on `targetNode`. */
  async transferTo(partition: number, targetNode: string, targetReplica?: number): Promise<AdminResult> {
    const slot = this.slotOf(partition);
    const replica = slot?.replica;
    if (!slot || !replica) return { ok: false, error: { code: 'NOT_FOUND', message: `no running replica of partition ${partition} on this node` } };
    // The caller names the replica when it knows it (replicas added since this one started are not in its map).
    const entry = Object.entries(slot.options.nodeOfReplica).find(([, node]) => node === targetNode);
    const target = targetReplica ?? (entry ? Number(entry[0]) : undefined);
    if (target === undefined) return { ok: false, error: { code: 'NOT_FOUND', message: `partition ${partition} has no replica on node ${targetNode}` } };
    if (target === slot.options.replica) return { ok: true, message: `partition ${partition} is already led by ${targetNode}` };
    if (replica.status().role !== 'leader') return { ok: false, error: { code: 'NOT_LEADER', message: `${slot.name} does not lead partition ${partition}` } };
    const moved = await replica.transferLeadership(TRANSFER_TIMEOUT_MS, target);
    if (!moved) return { ok: false, error: { code: 'TIMEOUT', message: `r${target}@${targetNode} did not take over within ${TRANSFER_TIMEOUT_MS} ms (is it caught up and healthy?)` } };
    return { ok: true, message: `partition ${partition}: leadership moved to r${target}@${targetNode}` };
  }

  /**
   * Drain: this node hands every leadership it holds to another voter and keeps doing so (a replica can
   * win a later election), while its replicas keep voting and replicating. Leadership stays here only
   * where no other voter can take it, so a drained node never makes a partition unavailable.
   */
  async setDrained(drained: boolean): Promise<AdminResult> {
    if (!drained) {
      if (this.drainTimer) clearInterval(this.drainTimer);
      this.drainTimer = undefined;
      return { ok: true, message: 'undrained: replicas here may lead again' };
    }
    if (!this.drainTimer) this.drainTimer = setInterval(() => void this.handLeadershipAway(), DRAIN_CHECK_MS);
    const kept = await this.handLeadershipAway();
    return { ok: true, message: kept.length === 0 ? 'drained: no partition is led here' : `drained, still leading ${kept.join(' ')} (no other voter could take over yet; retrying)` };
  }

  private handing = false;

  private async handLeadershipAway(): Promise<string[]> {
    if (this.handing) return [];
    this.handing = true;
    try {
      const leading = [...this.slots.values()].filter((slot) => slot.replica?.status().role === 'leader');
      const moved = await Promise.all(leading.map((slot) => slot.replica!.transferLeadership(TRANSFER_TIMEOUT_MS)));
      return leading.filter((_, i) => !moved[i]).map((slot) => slot.name);
    } finally {
      this.handing = false;
    }
  }

  get drained(): boolean {
    return this.drainTimer !== undefined;
  }

  /** Clean shutdown: every replica hands over leadership and flushes, then the connection drains. */
  async stop(): Promise<void> {
    if (this.drainTimer) clearInterval(this.drainTimer);
    await Promise.all([...this.slots.values()].map((slot) => slot.stop()));
    this.mux.flush();
    this.context.replies.flush();
    this.mux.close();
    await this.store.close();
    await this.nc.drain().catch(() => undefined);
  }
}
