// The metadata partition: the controller's own Raft group. It is an ordinary replica group (same actor,
// same LMDB layout, same membership changes) whose key space is not the clients': the router never maps a
// key to it, and its only key is the controller's state document (metadataStore.ts). Its leader is the
// active controller. Pure.

import { placeReplicas } from '../router/placement';
import type { PartitionLayout } from '../router/layout';
import type { ClusterCommand } from './commands';
import { CAPACITY_REPLICAS_MAX } from './commands';
import { partitionRingKey } from './partitionView';

/** Far above any client partition id, so the two never meet. */
export const METADATA_PARTITION = 65535;
/** Voters of the metadata group: any one machine may die. */
export const METADATA_REPLICAS = 3;

export function isMetadataPartition(partition: number): boolean {
  return partition === METADATA_PARTITION;
}

/** Voters on (up to) three nodes of the initial cluster, by the same ring walk as every partition. */
export function metadataLayout(initialCluster: readonly string[]): PartitionLayout {
  const key = partitionRingKey(METADATA_PARTITION);
  const holders = placeReplicas([key], initialCluster.map((id) => ({ id, weight: 1 })), METADATA_REPLICAS).assignments.get(key) ?? [];
  return { partition: METADATA_PARTITION, nodeOfReplica: new Map(holders.map((node, position) => [position + 1, node])) };
}

/**
 * The commands that describe a cluster started with --initial-cluster, as the first controller writes
 * them: every initial node, and every partition (the metadata one included) with the replica ids and
 * nodes the layout gave it, so the metadata matches what the supervisors started.
 */
export function bootstrapCommands(initialCluster: readonly string[], layouts: readonly PartitionLayout[], weightOf: (node: string) => number): ClusterCommand[] {
  const commands: ClusterCommand[] = initialCluster.map((nodeId) => ({
    type: 'registerNode', nodeId, address: nodeId, weight: weightOf(nodeId), capacityReplicas: CAPACITY_REPLICAS_MAX,
  }));
  for (const layout of layouts) {
    const nodeIds = [...layout.nodeOfReplica].sort(([left], [right]) => left - right).map(([, node]) => node);
    commands.push({ type: 'createPartition', partitionId: layout.partition, replicaCount: nodeIds.length, nodeIds });
  }
  return commands;
}
