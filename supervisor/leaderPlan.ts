// Which replica of each partition should lead a brand-new cluster: every node leads its share
// (partitions / nodes, as even as the placement allows). Pure and deterministic, so every supervisor
// computes the same answer from the same --initial-cluster.

import type { PartitionLayout } from '../actors/router/layout';

/** Partition -> replica id. Greedy in partition order: the replica whose node leads least so far (ties: lowest id). */
export function preferredLeaders(layouts: readonly PartitionLayout[]): Map<number, number> {
  const leading = new Map<string, number>();
  const preferred = new Map<number, number>();
  for (const layout of layouts) {
    const candidates = [...layout.nodeOfReplica].sort(([idA, nodeA], [idB, nodeB]) => (leading.get(nodeA) ?? 0) - (leading.get(nodeB) ?? 0) || idA - idB);
    const [replica, node] = candidates[0] ?? [];
    if (replica === undefined || node === undefined) continue;
    preferred.set(layout.partition, replica);
    leading.set(node, (leading.get(node) ?? 0) + 1);
  }
  return preferred;
}
