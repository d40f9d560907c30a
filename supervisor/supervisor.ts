// One machine of the cluster: spawns a worker-thread actor per replica placed on this node plus a router,
// restarts them when they die, answers node status, and serves the HTTP gateway.

import path from 'node:path';
import { connect, NatsConnection } from 'nats';
import { KvClient } from '../bus/kvClient';
import { subjects } from '../bus/subjects';
import { clusterLayout } from '../actors/router/layout';
import { ReplicaOptions } from '../actors/replica/replica';
import { RouterOptions } from '../actors/router/router';
import { ActorHost } from './actorHost';
import { startHttpGateway } from './httpGateway';
import { defaultRegistry } from './metrics';
import { SupervisorOptions } from './options';
import { ClusterStatus, NodeStatus, ReplicaStatus } from './statusTypes';

export interface SupervisorHandle {
  readonly replicas: Map<string, ActorHost>;
  readonly router: ActorHost;
  httpPort?: number;
  stop(): Promise<void>;
}

const ACTORS_DIR = path.join(__dirname, '..', 'actors');

export async function startSupervisor(options: SupervisorOptions): Promise<SupervisorHandle> {
  const startedAt = Date.now();
  const log = (line: string) => console.error(`[${options.nodeId}] ${line}`);
  const replicas = new Map<string, ActorHost>();
  for (const layout of clusterLayout(options.initialCluster, options.partitions, options.replicas)) {
    const voters = [...layout.nodeOfReplica.keys()];
    for (const [replica, node] of layout.nodeOfReplica) {
      if (node !== options.nodeId) continue;
      const workerData: ReplicaOptions = {
        partition: layout.partition,
        partitions: options.partitions,
        replica,
        nodeId: options.nodeId,
        path: path.join(options.dataDir, options.nodeId, `p${layout.partition}`),
        natsUrl: options.natsUrl,
        prefix: options.prefix,
        voters,
        nodeOfReplica: Object.fromEntries([...layout.nodeOfReplica].map(([id, host]) => [String(id), host])),
        tickMs: options.tickMs,
        electionTicks: options.electionTicks,
        heartbeatTicks: options.heartbeatTicks,
        compactEntries: options.compactEntries,
        compactKeep: options.compactKeep,
        faultInjection: options.faultInjection,
      };
      const name = `p${layout.partition}/r${replica}`;
      const host = new ActorHost({ name, entry: path.join(ACTORS_DIR, 'replica', 'worker.js'), workerData, log, permanentErrors: ['StorageCorruptionError'] });
      replicas.set(name, host);
    }
  }
  const routerOptions: RouterOptions = {
    nodeId: options.nodeId, natsUrl: options.natsUrl, prefix: options.prefix, partitions: options.partitions, replicas: options.replicas,
  };
  const router = new ActorHost({ name: 'router', entry: path.join(ACTORS_DIR, 'router', 'worker.js'), workerData: routerOptions, log });
  for (const host of replicas.values()) host.start();
  router.start();

  const nc = await connect({ servers: options.natsUrl.split(','), name: `cairn ${options.nodeId} supervisor`, maxReconnectAttempts: -1 });
  const handle: SupervisorHandle = { replicas, router, stop: async () => undefined };
  const nodeStatus = (): NodeStatus => ({
    id: options.nodeId,
    pid: process.pid,
    httpPort: handle.httpPort,
    uptimeMs: Date.now() - startedAt,
    replicas: [...replicas.values()].filter((host) => host.state !== 'failed').length,
    restarts: [...replicas.values(), router].reduce((sum, host) => sum + host.restarts, 0),
    failed: [...replicas].filter(([, host]) => host.state === 'failed').map(([actor, host]) => ({ actor, error: host.lastError ?? 'unknown' })),
  });
  serveNodeStatus(nc, options.prefix, nodeStatus);
  serveDrills(nc, options, replicas, log);
  const refreshMetrics = registerMetrics(replicas, router);
  const http = options.httpPort === undefined ? undefined : await startGateway(nc, options, refreshMetrics);
  handle.httpPort = http?.port;
  handle.stop = async () => {
    log('stopping: handing over leadership, flushing replicas');
    await Promise.all([...replicas.values()].map((host) => host.stop()));
    await router.stop();
    await http?.close();
    await nc.drain().catch(() => undefined);
  };
  log(`up: ${replicas.size} replicas (${[...replicas.keys()].join(' ')}), router${http ? `, http on ${http.port}` : ''}`);
  return handle;
}

function serveNodeStatus(nc: NatsConnection, prefix: string, status: () => NodeStatus): void {
  nc.subscribe(subjects(prefix).control('nodes'), {
    callback: (_, message) => {
      try {
        if (message.reply) message.respond(Buffer.from(JSON.stringify(status())));
      } catch {
        // The status answer is best effort; a missing node shows up as missing.
      }
    },
  });
}

/** Gauges refreshed on every scrape from the actors themselves. */
/**
 * Fault drills on `<prefix>.ctl.node-<nodeId>`: {"command":"crash","actor":"p0/r1"} makes that actor throw,
 * as a bug would, so operators and tests can watch the supervisor restart it.
 */
function serveDrills(nc: NatsConnection, options: SupervisorOptions, replicas: Map<string, ActorHost>, log: (line: string) => void): void {
  nc.subscribe(subjects(options.prefix).control(`node-${options.nodeId}`), {
    callback: (_, message) => {
      let answer: object;
      try {
        const request = JSON.parse(Buffer.from(message.data).toString()) as { command?: unknown; actor?: unknown };
        const host = typeof request.actor === 'string' ? replicas.get(request.actor) : undefined;
        if (request.command !== 'crash' || !host) answer = { error: { code: 'BAD_REQUEST', message: 'expected {"command":"crash","actor":"p<P>/r<R>"} for an actor of this node' } };
        else {
          log(`drill: crashing ${request.actor}`);
          void host.call('crash');
          answer = { ok: true };
        }
      } catch {
        answer = { error: { code: 'BAD_REQUEST', message: 'body must be JSON' } };
      }
      if (message.reply) message.respond(Buffer.from(JSON.stringify(answer)));
    },
  });
}

function registerMetrics(replicas: Map<string, ActorHost>, router: ActorHost): () => Promise<void> {
  const restarts = defaultRegistry.gauge('cairn_actor_restarts', 'Worker restarts since the supervisor started', ['actor']);
  const up = defaultRegistry.gauge('cairn_actor_up', '1 when the actor is running', ['actor']);
  const commit = defaultRegistry.gauge('cairn_replica_commit_index', 'Raft commit index', ['partition', 'replica']);
  const applied = defaultRegistry.gauge('cairn_replica_applied_index', 'Index applied to the state machine', ['partition', 'replica']);
  const term = defaultRegistry.gauge('cairn_replica_term', 'Raft term', ['partition', 'replica']);
  const leader = defaultRegistry.gauge('cairn_replica_is_leader', '1 when the replica leads its partition', ['partition', 'replica']);
  return async () => {
    for (const [name, host] of [...replicas, ['router', router] as const]) {
      restarts.set(host.restarts, { actor: name });
      up.set(host.state === 'running' ? 1 : 0, { actor: name });
    }
    const statuses = await Promise.all([...replicas.values()].map((host) => host.call<{ ok: boolean; status: ReplicaStatus }>('status')));
    for (const answer of statuses) {
      if (!answer?.ok) continue;
      const labels = { partition: String(answer.status.partition), replica: String(answer.status.replica) };
      commit.set(answer.status.commit, labels);
      applied.set(answer.status.applied, labels);
      term.set(answer.status.term, labels);
      leader.set(answer.status.role === 'leader' ? 1 : 0, labels);
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
