// Builders shared by the controller wiring tests (heartbeat, observation, reconcile, controllerRequests):
// replica statuses and heartbeats as a node's supervisor would publish them, and small metadata states.

import { ClusterCommand, ClusterState, EMPTY_CLUSTER_STATE } from '../../../actors/controller';
import type { Heartbeat, HostedReplicaRef } from '../../../actors/controller/heartbeat';
import { Observation } from '../../../actors/controller/observation';
import type { ReplicaStatus } from '../../../supervisor/statusTypes';
import { apply } from './harness';

/** A follower's status; override any field. */
export function status(partition: number, replica: number, node: string, fields: Partial<ReplicaStatus> = {}): ReplicaStatus {
  return {
    partition, replica, node, role: 'follower', term: 1, leader: 0, commit: 10, applied: 10, lastIndex: 10, firstIndex: 1, snapshotsInstalled: 0,
    ...fields,
  };
}

/** A leader's status reporting its committed (by default) membership and follower lags. */
export function leaderStatus(
  partition: number,
  replica: number,
  node: string,
  members: { voters: number[]; learners: number[] },
  fields: Partial<ReplicaStatus> = {},
): ReplicaStatus {
  const followerLag: Record<string, number> = {};
  for (const member of [...members.voters, ...members.learners]) followerLag[String(member)] = 0;
  return status(partition, replica, node, { role: 'leader', leader: replica, members, confCommitted: true, followerLag, ...fields });
}

export function heartbeat(node: string, fields: Partial<Heartbeat> = {}): Heartbeat {
  return { node, weight: 1, drained: false, hosted: [], replicas: [], ...fields };
}

export function hosted(...refs: [partition: number, replica: number][]): HostedReplicaRef[] {
  return refs.map(([partition, replica]) => ({ partition, replica }));
}

export function observe(...heartbeats: Heartbeat[]): Observation {
  return new Observation(new Map(heartbeats.map((beat) => [beat.node, beat])));
}

export function stateOf(commands: ClusterCommand[], from: ClusterState = EMPTY_CLUSTER_STATE): ClusterState {
  return commands.reduce(apply, from);
}

export const registerNode = (nodeId: string, weight = 1): ClusterCommand => ({ type: 'registerNode', nodeId, address: nodeId, weight, capacityReplicas: 100 });
