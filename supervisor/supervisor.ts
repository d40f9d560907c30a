// One machine of the cluster: spawns the replica host (one worker thread running every replica placed on
// this node, actors/replica/host.ts) and a router, restarts them when they die, answers node status, and
// serves the HTTP gateway.

import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect, NatsConnection } from 'nats';
import { KvClient } from '../bus/kvClient';
import { subjects } from '../bus/subjects';
import { clusterLayout, PartitionLayout } from '../actors/router/layout';
import { NODE_STORE_DIR } from '../storage/nodeEnv';
import { isMetadataPartition, metadataLayout } from '../actors/controller/metadataPartition';
import type { ControllerOptions } from '../actors/controller/controller';
import { FAILURE_DETECTOR_DEFAULTS } from '../actors/controller/nodeHealth';
import { startHeartbeats } from './heartbeatPublisher';
import { ReplicaOptions } from '../actors/replica/replica';
import { AdminResult, ReplicaHostOptions, ReplicaSlotInfo } from '../actors/replica/host';
import { HostedReplica, loadOrCreateAssignment, saveAssignment } from './assignment';
import { RouterOptions } from '../actors/router/router';
import { ActorHost } from './actorHost';
import { startHttpGateway } from './httpGateway';
import { serveNodeControl } from './nodeControl';
import { preferredLeaders } from './leaderPlan';
import { defaultRegistry } from './metrics';
import { SupervisorOptions } from './options';
import { ClusterStatus, NodeStatus, ReplicaStatus } from './statusTypes';

export interface SupervisorHandle {
  /** The replica host thread (every replica of this node). */
  readonly replicas: ActorHost;
  readonly router: ActorHost;
  /** The controller actor (active while this node leads the metadata partition). */
  readonly controller: ActorHost;
  httpPort?: number;
  stop(): Promise<void>;
}

const ACTORS_DIR = path.join(__dirname, '..', 'actors');
/** Present in `<data>/<node>/` while the node is drained. */
const DRAIN_MARKER = 'drained';
/** Liveness probes of the actor threads: every 2 s; 10 s without an answer means wedged. */
const WATCHDOG = { intervalMs: 2_000, timeoutMs: 10_000 };
/** Exit code of a supervisor whose actor thread could not be ended (EX_SOFTWARE). */
const EXIT_WEDGED = 70;

const JOIN_TIMEOUT_MS = 30_000;

/** A joining node learns the cluster's shape from any running node. */
async function clusterConfig(options: SupervisorOptions, log: (line: string) => void): Promise<Pick<SupervisorOptions, 'initialCluster' | 'partitions' | 'replicas'>> {
  const nc = await connect({ servers: options.natsUrl.split(','), name: `cairn ${options.nodeId} join`, maxReconnectAttempts: -1 });
  try {
    const deadline = Date.now() + JOIN_TIMEOUT_MS;
    while (Date.now() < deadline) {
      try {
        const reply = await nc.request(subjects(options.prefix).control('nodes'), new Uint8Array(), { timeout: 2_000 });
        const config = (JSON.parse(Buffer.from(reply.data).toString()) as NodeStatus).config;
        if (config && Array.isArray(config.initialCluster)) {
          log(`joining a cluster of ${config.partitions} partitions x ${config.replicas} replicas (initial nodes ${config.initialCluster.join(',')})`);
          return config;
        }
      } catch {
        // No node answers yet: keep asking until the deadline.
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`--join: no running cairn node answered on ${subjects(options.prefix).control('nodes')} within ${JOIN_TIMEOUT_MS} ms`);
  } finally {
    await nc.close();
  }
}

/** The replicas the placement gives this node in a new cluster (the metadata partition's included). */
function initialAssignment(options: SupervisorOptions): HostedReplica[] {
  return [...initialLayouts(options), metadataLayout(options.initialCluster)].flatMap((layout) => {
    const voters = [...layout.nodeOfReplica.keys()];
    const nodeOfReplica = Object.fromEntries([...layout.nodeOfReplica].map(([id, host]) => [String(id), host]));
    return [...layout.nodeOfReplica].filter(([, node]) => node === options.nodeId).map(([replica]) => ({ partition: layout.partition, replica, voters, nodeOfReplica }));
  });
}

const layoutCache = new WeakMap<SupervisorOptions, { layouts: PartitionLayout[]; leaders: Map<number, number> }>();

/** The placement of a new cluster and its balanced first leaders, computed once per options object. */
function initialPlan(options: SupervisorOptions): { layouts: PartitionLayout[]; leaders: Map<number, number> } {
  let plan = layoutCache.get(options);
  if (!plan) {
    const layouts = clusterLayout(options.initialCluster, options.partitions, options.replicas);
    plan = { layouts, leaders: preferredLeaders(layouts) };
    layoutCache.set(options, plan);
  }
  return plan;
}

function initialLayouts(options: SupervisorOptions): PartitionLayout[] {
  return initialPlan(options).layouts;
}

function replicaOptionsOf(hosted: HostedReplica, options: SupervisorOptions): ReplicaOptions {
  return {
    partition: hosted.partition,
    partitions: options.partitions,
    replica: hosted.replica,
    nodeId: options.nodeId,
    path: path.join(options.dataDir, options.nodeId, `p${hosted.partition}`),
    prefix: options.prefix,
    voters: hosted.voters,
    nodeOfReplica: hosted.nodeOfReplica,
    preferredLeader: initialPlan(options).leaders.get(hosted.partition),
    tickMs: options.tickMs,
    electionTicks: options.electionTicks,
    heartbeatTicks: options.heartbeatTicks,
    compactEntries: options.compactEntries,
    compactKeep: options.compactKeep,
    ...(options.readLease === false ? { readLeaseMs: 0 } : {}),
  };
}

export async function startSupervisor(options: SupervisorOptions): Promise<SupervisorHandle> {
  const startedAt = Date.now();
  const log = (line: string) => console.error(`[${options.nodeId}] ${line}`);
  if (options.join) options = { ...options, ...(await clusterConfig(options, log)) };
  let hosted = loadOrCreateAssignment(options.dataDir, options.nodeId, () => (options.join ? [] : initialAssignment(options)));
  const replicaOptions = hosted.map((replica) => replicaOptionsOf(replica, options));
  const drainMarker = path.join(options.dataDir, options.nodeId, DRAIN_MARKER);
  const hostOptions: ReplicaHostOptions = {
    nodeId: options.nodeId, natsUrl: options.natsUrl, prefix: options.prefix, replicas: replicaOptions, faultInjection: options.faultInjection,
    drained: existsSync(drainMarker), storePath: path.join(options.dataDir, options.nodeId, NODE_STORE_DIR),
  };
  const watchdog = {
    ...WATCHDOG,
    onWedged: (name: string) => {
      log(`${name} is wedged and did not end when terminated; exiting so that this node is restarted whole`);
      process.exit(EXIT_WEDGED);
    },
  };
  const replicas = new ActorHost({ name: 'replicas', entry: path.join(ACTORS_DIR, 'replica', 'worker.js'), workerData: hostOptions, log, watchdog });
  const routerOptions: RouterOptions = {
    nodeId: options.nodeId, natsUrl: options.natsUrl, prefix: options.prefix, partitions: options.partitions, replicas: options.replicas,
  };
  const router = new ActorHost({ name: 'router', entry: path.join(ACTORS_DIR, 'router', 'worker.js'), workerData: routerOptions, log, watchdog });
  const controllerOptions: ControllerOptions = {
    nodeId: options.nodeId, natsUrl: options.natsUrl, prefix: options.prefix,
    initialCluster: options.initialCluster, partitions: options.partitions, replicas: options.replicas,
    failureDetector: { downAfterMs: options.nodeDownAfterMs ?? FAILURE_DETECTOR_DEFAULTS.downAfterMs },
  };
  const controller = new ActorHost({ name: 'controller', entry: path.join(ACTORS_DIR, 'controller', 'worker.js'), workerData: controllerOptions, log, watchdog });
  replicas.start();
  router.start();
  controller.start();

  const nc = await connect({ servers: options.natsUrl.split(','), name: `cairn ${options.nodeId} supervisor`, maxReconnectAttempts: -1 });
  const handle: SupervisorHandle = { replicas, router, controller, stop: async () => undefined };
  const nodeStatus = async (): Promise<NodeStatus> => {
    const slots = (await replicas.call<{ ok: boolean; replicas: ReplicaSlotInfo[] }>('replicas'))?.replicas ?? [];
    const drained = (await replicas.call<{ ok: boolean; drained: boolean }>('drained'))?.drained ?? false;
    return {
      id: options.nodeId,
      pid: process.pid,
      httpPort: handle.httpPort,
      uptimeMs: Date.now() - startedAt,
      replicas: slots.filter((slot) => slot.state !== 'failed' && slot.state !== 'stopped').length,
      restarts: replicas.restarts + router.restarts + controller.restarts + slots.reduce((sum, slot) => sum + slot.restarts, 0),
      failed: slots.filter((slot) => slot.state === 'failed').map((slot) => ({ actor: slot.actor, error: slot.lastError ?? 'unknown' })),
      stopped: slots.filter((slot) => slot.state === 'stopped').map((slot) => slot.actor),
      drained,
      weight: options.weight ?? 1,
      config: { initialCluster: options.initialCluster, partitions: options.partitions, replicas: options.replicas },
    };
  };
  serveNodeStatus(nc, options.prefix, nodeStatus);
  serveNodeControl(nc, options.prefix, options.nodeId, {
    replicas,
    hasActor: (actor) => hosted.some((replica) => `p${replica.partition}/r${replica.replica}` === actor),
    add: async (partition, replica, bootstrap) => {
      const initial = partition < options.partitions || isMetadataPartition(partition);
      if (!initial && !bootstrap) return { ok: false, error: { code: 'NOT_FOUND', message: `partition ${partition} is not of the first layout: "voters" and "nodes" are needed` } };
      if (hosted.some((existing) => existing.partition === partition)) return { ok: false, error: { code: 'CONFLICT', message: `${options.nodeId} already hosts a replica of partition ${partition}` } };
      const layout = !initial ? undefined : isMetadataPartition(partition) ? metadataLayout(options.initialCluster) : initialLayouts(options)[partition]!;
      const layoutNodes = layout ? Object.fromEntries([...layout.nodeOfReplica].map(([id, host]) => [String(id), host])) : {};
      const entry: HostedReplica = {
        partition, replica, voters: bootstrap?.voters ?? [...layout!.nodeOfReplica.keys()],
        nodeOfReplica: { ...layoutNodes, ...bootstrap?.nodes, [String(replica)]: options.nodeId },
      };
      const answer = await replicas.call<AdminResult>('addReplica', replicaOptionsOf(entry, options));
      if (answer?.ok) saveAssignment(options.dataDir, options.nodeId, (hosted = [...hosted, entry]));
      return answer;
    },
    setDrained: async (drained) => {
      const answer = await replicas.call<AdminResult>('setDrained', drained);
      if (answer?.ok) {
        // A drained node stays drained across restarts (of the thread: workerData; of the process: the marker).
        hostOptions.drained = drained;
        if (drained) writeFileSync(drainMarker, 'drained by cairn nodes drain\n');
        else rmSync(drainMarker, { force: true });
      }
      return answer;
    },
    remove: async (partition, replica) => {
      const present = hosted.find((existing) => existing.partition === partition);
      if (present && replica !== undefined && present.replica !== replica) {
        return { ok: false, error: { code: 'CONFLICT', message: `${options.nodeId} hosts r${present.replica} of partition ${partition}, not r${replica}` } };
      }
      const answer = await replicas.call<AdminResult>('removeReplica', partition);
      if (answer?.ok) saveAssignment(options.dataDir, options.nodeId, (hosted = hosted.filter((existing) => existing.partition !== partition)));
      return answer;
    },
  }, log);
  const stopHeartbeats = startHeartbeats(nc, options.prefix, { nodeId: options.nodeId, weight: options.weight ?? 1, replicas, hosted: () => hosted });
  const refreshMetrics = registerMetrics(replicas, router);
  const http = options.httpPort === undefined ? undefined : await startGateway(nc, options, refreshMetrics);
  handle.httpPort = http?.port;
  handle.stop = async () => {
    log('stopping: handing over leadership, flushing replicas');
    await controller.stop();
    stopHeartbeats();
    await replicas.stop();
    await router.stop();
    await http?.close();
    await nc.drain().catch(() => undefined);
  };
  const names = replicaOptions.map((replica) => `p${replica.partition}/r${replica.replica}`);
  log(`up: ${names.length} replicas (${names.join(' ')}), router, controller${http ? `, http on ${http.port}` : ''}`);
  return handle;
}

function serveNodeStatus(nc: NatsConnection, prefix: string, status: () => Promise<NodeStatus>): void {
  nc.subscribe(subjects(prefix).control('nodes'), {
    callback: (_, message) => {
      // The status answer is best effort; a missing node shows up as missing.
      status()
        .then((answer) => message.reply && message.respond(Buffer.from(JSON.stringify(answer))))
        .catch(() => undefined);
    },
  });
}

/** Gauges refreshed on every scrape from the actors themselves. */
function registerMetrics(replicas: ActorHost, router: ActorHost): () => Promise<void> {
  const restarts = defaultRegistry.gauge('cairn_actor_restarts', 'Worker restarts since the supervisor started', ['actor']);
  const up = defaultRegistry.gauge('cairn_actor_up', '1 when the actor is running', ['actor']);
  const commit = defaultRegistry.gauge('cairn_replica_commit_index', 'Raft commit index', ['partition', 'replica']);
  const applied = defaultRegistry.gauge('cairn_replica_applied_index', 'Index applied to the state machine', ['partition', 'replica']);
  const term = defaultRegistry.gauge('cairn_replica_term', 'Raft term', ['partition', 'replica']);
  const leader = defaultRegistry.gauge('cairn_replica_is_leader', '1 when the replica leads its partition', ['partition', 'replica']);
  const reads = defaultRegistry.gauge('cairn_replica_linearizable_reads', 'Linearizable gets served as leader since the replica started, under the read lease or after a ReadIndex round', ['partition', 'replica', 'served_by']);
  return async () => {
    const slots = (await replicas.call<{ ok: boolean; replicas: ReplicaSlotInfo[] }>('replicas'))?.replicas ?? [];
    for (const slot of slots) {
      restarts.set(slot.restarts + replicas.restarts, { actor: slot.actor });
      up.set(replicas.state === 'running' && slot.state === 'running' ? 1 : 0, { actor: slot.actor });
    }
    restarts.set(router.restarts, { actor: 'router' });
    up.set(router.state === 'running' ? 1 : 0, { actor: 'router' });
    const statuses = (await replicas.call<{ ok: boolean; statuses: ReplicaStatus[] }>('status'))?.statuses ?? [];
    for (const status of statuses) {
      const labels = { partition: String(status.partition), replica: String(status.replica) };
      commit.set(status.commit, labels);
      applied.set(status.applied, labels);
      term.set(status.term, labels);
      leader.set(status.role === 'leader' ? 1 : 0, labels);
      reads.set(status.readsServed?.lease ?? 0, { ...labels, served_by: 'lease' });
      reads.set(status.readsServed?.readIndex ?? 0, { ...labels, served_by: 'read_index' });
    }
  };
}

async function startGateway(nc: NatsConnection, options: SupervisorOptions, refreshMetrics: () => Promise<void>) {
  const kv = new KvClient(nc, { prefix: options.prefix });
  return startHttpGateway({
    port: options.httpPort!,
    host: options.httpHost,
    kv,
    clusterStatus: () => kv.status() as Promise<unknown> as Promise<ClusterStatus>,
    metricsText: async () => {
      await refreshMetrics();
      return defaultRegistry.render();
    },
  });
}

export type { ReplicaStatus };
