// The controller actor. One runs on every node; the one whose node leads the metadata partition is
// active. Every 500 ms the active one reads the metadata (linearizably), registers nodes it hears from,
// judges node health from heartbeats, carries out what the metadata says and the cluster does not yet
// do (reconcile.ts), plans the next changes (planner.ts: repair, drain, rebalance, leader balance),
// records them with compare-and-set, and serves operator requests on `<prefix>.ctl.controller`.
// The others only listen to heartbeats, so a successor starts with a full view.

import { connect, NatsConnection, Subscription } from 'nats';
import { subjects, Subjects } from '../../bus/subjects';
import { clusterLayout } from '../router/layout';
import { ClusterState, EMPTY_CLUSTER_STATE, applyCommand } from './clusterState';
import type { ClusterCommand } from './commands';
import { Heartbeat, decodeHeartbeat } from './heartbeat';
import { METADATA_PARTITION, bootstrapCommands, metadataLayout } from './metadataPartition';
import { MetadataStore, StoredState } from './metadataStore';
import { FAILURE_DETECTOR_DEFAULTS, FailureDetector, FailureDetectorConfig, NodeHealth } from './nodeHealth';
import { Observation } from './observation';
import { Plan, planActions } from './planner';
import { ReconcileStep, reconcile } from './reconcile';
import { ControllerReply, ControllerRequest, ControllerView, parseControllerRequest, requestCommand, stateView } from './controllerRequests';
import { executeStep, executeTransfer, StepExecutor } from './stepExecutor';
import { Resharder } from './resharder';

export interface ControllerOptions {
  nodeId: string;
  natsUrl: string;
  prefix: string;
  initialCluster: string[];
  partitions: number;
  replicas: number;
  failureDetector?: Partial<FailureDetectorConfig>;
  /** How often the active controller plans; default 500 ms. */
  roundMs?: number;
}

/** The same step is not re-issued within this window: heartbeats lag what a step already did. */
const STEP_COOLDOWN_MS = 3_000;
/** A partition's leadership is moved by the balancer at most this often. */
const TRANSFER_COOLDOWN_MS = 10_000;
/** Longest wait for every initial node's heartbeat (its weight) before the metadata is first written. */
const BOOTSTRAP_WAIT_MS = 10_000;

interface Pending {
  request: Exclude<ControllerRequest, { op: 'state' }>;
  answer(reply: ControllerReply): void;
}

/** A change the controller itself asks for (the resharder's next phase), recorded like an operator's. */
interface InternalPending {
  command: ClusterCommand;
  answer(reply: ControllerReply): void;
}

export class Controller {
  private readonly subjects: Subjects;
  private readonly heartbeats = new Map<string, { heartbeat: Heartbeat; at: number }>();
  private readonly detector: FailureDetector;
  private readonly store: MetadataStore;
  private readonly executor: StepExecutor;
  private readonly issued = new Map<string, number>();
  private readonly running = new Set<string>();
  private pending: (Pending | InternalPending)[] = [];
  private readonly resharder: Resharder;
  private requests: Subscription | undefined;
  private view: ControllerView | undefined;
  private stopped = false;
  /** Set on becoming active: start every registered node's clock at the next round. */
  private trackOnActivate = false;
  /** When this controller first found no stored state (bootstrap waits for the initial nodes' heartbeats). */
  private activeSince: number | undefined;
  private publishedRouting = '';
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;

  private constructor(private readonly options: ControllerOptions, private readonly nc: NatsConnection) {
    this.subjects = subjects(options.prefix);
    this.detector = new FailureDetector({ ...FAILURE_DETECTOR_DEFAULTS, ...options.failureDetector });
    this.store = new MetadataStore(nc, options.prefix);
    this.executor = { nc, subjects: this.subjects, timeoutMs: 3_000 };
    this.resharder = new Resharder({
      nc, subjects: this.subjects, log: (line) => this.log(line), active: () => this.isActive && !this.stopped,
      // After the round that recorded the phase has finished and the loop sleeps again.
      wakeRound: () => setImmediate(() => this.wake?.()),
      advance: (command) => new Promise<boolean>((resolve) => {
        if (!this.isActive) return resolve(false);
        this.pending.push({ command, answer: (reply) => resolve(reply.ok) });
        this.wake?.();
      }),
    });
  }

  static async start(options: ControllerOptions): Promise<Controller> {
    const nc = await connect({ servers: options.natsUrl.split(','), name: `cairn ${options.nodeId} controller`, maxReconnectAttempts: -1 });
    const controller = new Controller(options, nc);
    nc.subscribe(controller.subjects.control('heartbeat'), { callback: (_, message) => controller.onHeartbeat(message.data) });
    controller.loopDone = controller.loop();
    return controller;
  }

  get isActive(): boolean {
    return this.requests !== undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loopDone;
    this.deactivate();
    await this.nc.drain().catch(() => undefined);
  }

  private log(line: string): void {
    console.error(`[${this.options.nodeId}] controller: ${line}`);
  }

  private onHeartbeat(data: Uint8Array): void {
    const heartbeat = decodeHeartbeat(data);
    if (!heartbeat) return;
    const now = Date.now();
    this.heartbeats.set(heartbeat.node, { heartbeat, at: now });
    this.detector.recordHeartbeat(heartbeat.node, now);
  }

  private async loop(): Promise<void> {
    const roundMs = this.options.roundMs ?? 500;
    while (!this.stopped) {
      try {
        await this.round();
      } catch (error) {
        this.log(`round failed: ${(error as Error).message}`);
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, roundMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Heartbeats young enough to describe the cluster now. */
  private observe(now: number): Observation {
    const fresh = new Map<string, Heartbeat>();
    for (const [node, { heartbeat, at }] of this.heartbeats) if (now - at <= this.detector.config.suspectAfterMs) fresh.set(node, heartbeat);
    return new Observation(fresh);
  }

  private async round(): Promise<void> {
    const now = Date.now();
    const observed = this.observe(now);
    if (observed.leader(METADATA_PARTITION)?.node !== this.options.nodeId) {
      if (this.isActive) this.log('no longer leads the metadata partition: standing by');
      this.deactivate();
      return;
    }
    if (!this.isActive) this.activate();
    const stored = (await this.store.load()) ?? (await this.bootstrap(observed));
    if (!stored) return;
    const decision = this.decide(stored, observed, now);
    let saved = decision.state === stored.state;
    try {
      saved ||= (await this.store.save(decision.state, stored.revision)) !== false;
    } finally {
      const refused: ControllerReply = { ok: false, error: { code: 'UNAVAILABLE', message: 'the controller changed hands; try again' } };
      for (const { answer, reply } of decision.requests) answer(saved ? reply : refused);
    }
    if (!saved) {
      this.log('another controller wrote the metadata first: re-planning');
      return;
    }
    this.view = this.viewOf(stored.state, decision, observed);
    this.publishRouting(this.view);
    this.execute(decision.reconciliation.steps, decision.plan, decision.state, now);
    this.resharder.poke(decision.state);
  }

  /** This round's new state: registrations, operator requests and the planner's next changes. */
  private decide(stored: StoredState, observed: Observation, now: number) {
    let state = this.registerNewNodes(stored.state, observed, now);
    const health = (node: string): NodeHealth => (state.nodes.get(node)?.state === 'removed' ? 'down' : this.detector.healthOf(node, now));
    this.logTransitions(now);
    const answered = this.takeRequests(state, health);
    state = answered.state;
    const reconciliation = reconcile(stored.state, observed, health);
    const plan = planActions({
      state, health,
      caughtUp: (partition, replica) => observed.caughtUp(partition, replica),
      membershipCommitted: (partition) => reconciliation.settled.has(partition),
      leaderOf: (partition) => observed.leaderOf(partition),
    });
    return { state: this.applyPlan(state, plan), health, requests: answered.requests, reconciliation, plan };
  }

  private viewOf(before: ClusterState, decision: ReturnType<Controller['decide']>, observed: Observation): ControllerView {
    // A partition whose old replica still waits to be deleted somewhere is not done yet; nor is one
    // whose record this round changed (the reconciliation judged the record before the change).
    const done = new Set(decision.reconciliation.settled);
    for (const step of decision.reconciliation.steps) if (step.kind === 'delete') done.delete(step.partition);
    for (const [id, record] of decision.state.partitions) if (before.partitions.get(id) !== record) done.delete(id);
    return stateView(this.options.nodeId, decision.state, decision.health, observed, done, decision.plan);
  }

  /** Routers and clients may follow placement and leaders: the view goes out whenever either changes. */
  private publishRouting(view: ControllerView): void {
    const signature = `${view.epoch}/${view.ring.epoch}/${view.partitions.map((partition) => partition.leader ?? '-').join(',')}`;
    if (signature === this.publishedRouting) return;
    this.publishedRouting = signature;
    this.nc.publish(this.subjects.control('routing'), Buffer.from(JSON.stringify(view)));
  }

  private activate(): void {
    this.log('leads the metadata partition: active');
    // Every registered node gets a full grace period from now: a failover alone never re-replicates.
    this.requests = this.nc.subscribe(this.subjects.control('controller'), { callback: (_, message) => this.onRequest(message.data, (reply) => message.respond(Buffer.from(JSON.stringify(reply)))) });
    this.issued.clear();
    this.publishedRouting = '';
    this.trackOnActivate = true;
  }

  private deactivate(): void {
    this.requests?.unsubscribe();
    this.requests = undefined;
    this.view = undefined;
    for (const { answer } of this.pending) answer({ ok: false, error: { code: 'UNAVAILABLE', message: 'the controller changed hands; try again' } });
    this.pending = [];
  }

  private onRequest(data: Uint8Array, respond: (reply: ControllerReply) => void): void {
    const parsed = parseControllerRequest(data);
    if (!parsed.ok) return respond(parsed);
    if (parsed.request.op === 'state') {
      return respond(this.view ? { ok: true, ...this.view } : { ok: false, error: { code: 'UNAVAILABLE', message: 'the controller is starting; try again' } });
    }
    const request = parsed.request;
    this.pending.push({ request, answer: respond });
    this.wake?.();
  }

  /**
   * A cluster started with --initial-cluster: write down the shape its supervisors started with. The
   * nodes' weights come from their heartbeats, so it waits (up to BOOTSTRAP_WAIT_MS) to hear from all.
   */
  private async bootstrap(observed: Observation): Promise<StoredState | undefined> {
    const { initialCluster, partitions, replicas } = this.options;
    this.activeSince ??= Date.now();
    const heardAll = initialCluster.every((node) => observed.heartbeats.has(node));
    if (!heardAll && Date.now() - this.activeSince < BOOTSTRAP_WAIT_MS) return undefined;
    const layouts = [...clusterLayout(initialCluster, partitions, replicas), metadataLayout(initialCluster)];
    let state: ClusterState = EMPTY_CLUSTER_STATE;
    for (const command of bootstrapCommands(initialCluster, layouts, (node) => observed.heartbeats.get(node)?.weight ?? 1)) state = this.applyOrLog(state, command, 'bootstrap');
    const revision = await this.store.save(state, 0);
    if (revision === false) return undefined;
    this.log(`bootstrapped the metadata: ${initialCluster.length} nodes, ${layouts.length} partitions (the metadata one included)`);
    return { state, revision };
  }

  private registerNewNodes(state: ClusterState, observed: Observation, now: number): ClusterState {
    if (this.trackOnActivate) {
      this.detector.trackNodes([...state.nodes.values()].filter((node) => node.state !== 'removed').map((node) => node.id), now);
      this.trackOnActivate = false;
    }
    for (const heartbeat of observed.heartbeats.values()) {
      if (state.nodes.has(heartbeat.node)) continue;
      state = this.applyOrLog(state, { type: 'registerNode', nodeId: heartbeat.node, address: heartbeat.node, weight: heartbeat.weight, capacityReplicas: 1_000_000 }, 'a new node heartbeats');
    }
    return state;
  }

  private logTransitions(now: number): void {
    for (const transition of this.detector.evaluate(now).transitions) this.log(`node ${transition.nodeId}: ${transition.from} -> ${transition.to}`);
  }

  /** Operator requests that change the metadata, applied in arrival order; answered once saved. */
  private takeRequests(state: ClusterState, health: (node: string) => NodeHealth): { state: ClusterState; requests: { answer: (reply: ControllerReply) => void; reply: ControllerReply }[] } {
    const requests: { answer: (reply: ControllerReply) => void; reply: ControllerReply }[] = [];
    for (const pending of this.pending.splice(0)) {
      const answer = pending.answer;
      const planned = 'command' in pending ? { ok: true as const, command: pending.command, message: describe(pending.command, undefined) } : requestCommand(state, health, pending.request);
      if (!planned.ok) {
        answer(planned);
        continue;
      }
      const applied = applyCommand(state, planned.command);
      if (!applied.ok) {
        answer(applied);
        continue;
      }
      state = applied.state;
      requests.push({ answer, reply: { ok: true, message: planned.message, epoch: state.epoch, ...('partition' in planned && planned.partition !== undefined ? { partition: planned.partition } : {}) } });
    }
    return { state, requests };
  }

  private applyPlan(state: ClusterState, plan: Plan): ClusterState {
    for (const action of plan.actions) if (action.kind === 'command') state = this.applyOrLog(state, action.command, action.reason);
    return state;
  }

  private applyOrLog(state: ClusterState, command: ClusterCommand, reason: string): ClusterState {
    const applied = applyCommand(state, command);
    if (!applied.ok) {
      this.log(`${command.type} refused (${applied.error.code}: ${applied.error.message})`);
      return state;
    }
    if (applied.changed) this.log(`${describe(command, applied.replicaId)}: ${reason}`);
    return applied.state;
  }

  /**
   * Starts the steps and leader transfers without waiting for them (a step towards a node that just
   * died waits out its timeout; the next round must not). The same step is not started again while it
   * runs or within STEP_COOLDOWN_MS; a partition's leadership moves at most once per TRANSFER_COOLDOWN_MS,
   * so heartbeats that lag a transfer cannot make it bounce.
   */
  private execute(steps: readonly ReconcileStep[], plan: Plan, state: ClusterState, now: number): void {
    for (const [key, at] of this.issued) if (now - at > Math.max(STEP_COOLDOWN_MS, TRANSFER_COOLDOWN_MS) && !this.running.has(key)) this.issued.delete(key);
    const start = (key: string, cooldownMs: number, run: () => Promise<string>) => {
      const last = this.issued.get(key);
      if (this.running.has(key) || (last !== undefined && now - last < cooldownMs)) return;
      this.issued.set(key, now);
      this.running.add(key);
      void run().then((outcome) => this.log(outcome)).finally(() => this.running.delete(key));
    };
    for (const step of steps) start(JSON.stringify(step), STEP_COOLDOWN_MS, () => executeStep(this.executor, step));
    for (const action of plan.actions) {
      if (action.kind !== 'transferLeader') continue;
      start(`transfer/${action.partitionId}`, TRANSFER_COOLDOWN_MS, () => executeTransfer(this.executor, state, action));
    }
  }
}

function describe(command: ClusterCommand, replicaId: number | undefined): string {
  switch (command.type) {
    case 'addReplica':
      return `partition ${command.partitionId}: add r${replicaId} on ${command.nodeId}${command.replaces ? ` to replace r${command.replaces}` : ''}`;
    case 'promoteReplica':
    case 'removeReplica':
      return `partition ${command.partitionId}: ${command.type === 'promoteReplica' ? 'promote' : 'remove'} r${command.replicaId}`;
    case 'registerNode':
      return `node ${command.nodeId} registered (weight ${command.weight})`;
    case 'setNodeState':
      return `node ${command.nodeId} is now ${command.state}`;
    case 'removeNode':
      return `node ${command.nodeId} removed`;
    case 'beginReshard':
      return `partition ${command.partitionId}: ${command.kind === 'create' ? `created on ${command.nodeIds?.join(',')}` : 'deleting'}, resharding`;
    case 'advanceReshard':
      return `partition ${command.partitionId}: reshard ${command.phase === 'done' ? 'finished' : `phase ${command.phase}`}`;
    default:
      return command.type;
  }
}
