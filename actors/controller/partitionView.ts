// What the planner sees of one partition: where its replicas should be (the placement ring, skipping
// nodes that cannot take or keep a replica), which of its voters are lost, draining or misplaced, and
// which target nodes still lack a replica. Pure; the placement logic itself is actors/router/placement.ts.

import { HashRing } from '../router/hashRing';
import { buildNodeRing, preferredNodes } from '../router/placement';
import { ClusterState, NodeRecord, PartitionRecord, ReplicaRecord, replicaCountOnNode, sortedNodes, votersOf } from './clusterState';
import { NodeHealth } from './nodeHealth';

/** Ring key of a partition: the same `p<id>` ids actors/router/layout.ts places, so both agree. */
export function partitionRingKey(partitionId: number): string {
  return `p${partitionId}`;
}

/** Everything a plan reads, computed once per plan. */
export interface PlanContext {
  readonly state: ClusterState;
  readonly health: (nodeId: string) => NodeHealth;
  /** Ring of the active nodes; undefined when there are none. Draining and removed nodes are off it. */
  readonly ring: HashRing | undefined;
  /** Replicas per node (all partitions), kept current as the plan adds replicas. */
  readonly replicaCounts: Map<string, number>;
}

export function buildPlanContext(state: ClusterState, health: (nodeId: string) => NodeHealth, vnodesPerUnitWeight?: number): PlanContext {
  const active = sortedNodes(state).filter((node) => node.state === 'active');
  const options = vnodesPerUnitWeight === undefined ? undefined : { vnodesPerUnitWeight };
  const ring = active.length === 0 ? undefined : buildNodeRing(active.map(({ id, weight }) => ({ id, weight })), options);
  const replicaCounts = new Map<string, number>();
  for (const node of state.nodes.values()) replicaCounts.set(node.id, replicaCountOnNode(state, node.id));
  return { state, health, ring, replicaCounts };
}

function nodeOf(context: PlanContext, nodeId: string): NodeRecord | undefined {
  return context.state.nodes.get(nodeId);
}

/** A node that may receive a new replica: active, alive (not merely not-down) and below capacity. */
export function canTakeReplica(context: PlanContext, nodeId: string): boolean {
  const node = nodeOf(context, nodeId);
  if (node === undefined || node.state !== 'active' || context.health(nodeId) !== 'alive') return false;
  return (context.replicaCounts.get(nodeId) ?? 0) < node.capacityReplicas;
}

/** A replica is lost when its node is removed or down: it will not come back in time to count. */
export function isLost(context: PlanContext, replica: ReplicaRecord): boolean {
  const node = nodeOf(context, replica.node);
  return node === undefined || node.state === 'removed' || context.health(replica.node) === 'down';
}

export interface PartitionView {
  readonly partition: PartitionRecord;
  /** Target nodes in preference order: holders that may keep their replica, then nodes that may take one. */
  readonly desired: readonly string[];
  readonly voters: readonly ReplicaRecord[];
  readonly lost: readonly ReplicaRecord[];
  /** Voters on draining nodes that are still up. */
  readonly draining: readonly ReplicaRecord[];
  /** Live voters on active nodes that the placement no longer wants there (an operator's pinned ones excepted). */
  readonly misplaced: readonly ReplicaRecord[];
  /** Desired nodes without a replica, in preference order: where new replicas go. */
  readonly missing: readonly string[];
}

export function viewPartition(context: PlanContext, partition: PartitionRecord): PartitionView {
  const holders = new Set(partition.replicas.map((replica) => replica.node));
  // A holder keeps its place unless down (suspect is not enough to move data); a newcomer must be usable.
  const accept = (nodeId: string) => (holders.has(nodeId) ? context.health(nodeId) !== 'down' : canTakeReplica(context, nodeId));
  const desired = context.ring === undefined ? [] : preferredNodes(partitionRingKey(partition.id), context.ring, partition.replicaCount, accept);
  const voters = votersOf(partition);
  const lost = voters.filter((replica) => isLost(context, replica));
  const draining = voters.filter((replica) => !isLost(context, replica) && nodeOf(context, replica.node)?.state === 'draining');
  const misplaced = voters.filter(
    (replica) => !isLost(context, replica) && nodeOf(context, replica.node)?.state === 'active' && !desired.includes(replica.node) && !replica.pinned,
  );
  const missing = desired.filter((nodeId) => !holders.has(nodeId));
  return { partition, desired, voters, lost, draining, misplaced, missing };
}

/** Voters needed for a quorum. */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}
