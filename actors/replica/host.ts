// The replica host: one worker thread that runs every replica actor of this node. Each replica keeps its
// own Raft core, LMDB environment, timers and subscriptions; they share the thread's NATS connection and
// the node-level Raft batcher (bus/raftMux.ts).
//
// Why one thread, not one per replica: measured on 2 cores, 8 partitions x 3 replicas as 24 threads (24
// connections, 24 isolates) burned most of the CPU on per-message overhead (socket writes, wake-ups,
// GC of many heaps), and idle heartbeats alone took 0.75 core. docs/architecture.md has the numbers.
//
// Supervision stays one-for-one: a replica that fails (an assertion, a corrupt read) is aborted and
// restarted from disk inside the host with exponential backoff, without disturbing its neighbours; a
// corrupt store (StorageCorruptionError) is not restarted. If the thread itself dies, the supervisor
// restarts the whole host (supervisor/actorHost.ts).

import { connect, NatsConnection } from 'nats';
import { RaftMux } from '../../bus/raftMux';
import { defaultFaultInjector, serveFaultControl } from '../../bus/faultInjection';
import { ReplicaStatus } from '../../supervisor/statusTypes';
import { Replica, ReplicaContext, ReplicaOptions } from './replica';

export interface ReplicaHostOptions {
  nodeId: string;
  natsUrl: string;
  prefix: string;
  replicas: ReplicaOptions[];
  /** Obey fault-injection commands on `<prefix>.ctl.fault` (tests and drills). */
  faultInjection?: boolean;
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

export class ReplicaHost {
  private readonly slots = new Map<string, ReplicaSlot>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly mux: RaftMux,
  ) {}

  static async start(options: ReplicaHostOptions): Promise<ReplicaHost> {
    const nc = await connect({ servers: options.natsUrl.split(','), name: `cairn ${options.nodeId} replicas`, maxReconnectAttempts: -1, noAsyncTraces: true });
    const log = (line: string) => console.error(`[${options.nodeId}] ${line}`);
    const mux = new RaftMux(nc, { prefix: options.prefix, nodeId: options.nodeId, log });
    if (options.faultInjection) serveFaultControl(nc, options.prefix, defaultFaultInjector, `${options.nodeId}-replicas`);
    const host = new ReplicaHost(nc, mux);
    for (const replica of options.replicas) host.slots.set(actorName(replica), new ReplicaSlot(replica, { nc, mux }, log));
    await Promise.all([...host.slots.values()].map((slot) => slot.start()));
    return host;
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

  /** Clean shutdown: every replica hands over leadership and flushes, then the connection drains. */
  async stop(): Promise<void> {
    await Promise.all([...this.slots.values()].map((slot) => slot.stop()));
    this.mux.flush();
    this.mux.close();
    await this.nc.drain().catch(() => undefined);
  }
}
