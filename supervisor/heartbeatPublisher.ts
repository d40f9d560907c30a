// Publishes this node's heartbeat (actors/controller/heartbeat.ts) every 500 ms: what it hosts and what
// each running replica reports, gathered from the replica host thread. A heartbeat the host cannot
// answer for in time is skipped; the controller reads silence as suspicion, not as a verdict.

import type { NatsConnection } from 'nats';
import { subjects } from '../bus/subjects';
import { HEARTBEAT_INTERVAL_MS, HostedReplicaRef, encodeHeartbeat } from '../actors/controller/heartbeat';
import type { ActorHost } from './actorHost';
import type { ReplicaStatus } from './statusTypes';

export interface HeartbeatSource {
  nodeId: string;
  weight: number;
  replicas: ActorHost;
  hosted(): readonly HostedReplicaRef[];
}

export function startHeartbeats(nc: NatsConnection, prefix: string, source: HeartbeatSource): () => void {
  const subject = subjects(prefix).control('heartbeat');
  let busy = false;
  const beat = async () => {
    if (busy) return;
    busy = true;
    try {
      const statuses = await source.replicas.call<{ ok: boolean; statuses: ReplicaStatus[] }>('status');
      const drained = await source.replicas.call<{ ok: boolean; drained: boolean }>('drained');
      if (!statuses || !drained || nc.isClosed()) return;
      const hosted = source.hosted().map(({ partition, replica }) => ({ partition, replica }));
      nc.publish(subject, encodeHeartbeat({ node: source.nodeId, weight: source.weight, drained: drained.drained, hosted, replicas: statuses.statuses }));
    } catch {
      // The host is restarting: no heartbeat this time.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void beat(), HEARTBEAT_INTERVAL_MS);
  void beat();
  return () => clearInterval(timer);
}
