// The static shape of a cluster started with --initial-cluster: which partition a key belongs to and
// which node hosts each replica of each partition. Pure: every node computes the same answer.

import { HashRing, partitionMembers } from './hashRing';
import { placeReplicas } from './placement';

export interface PartitionLayout {
  partition: number;
  /** replica id (1-based position in the placement) -> node id */
  nodeOfReplica: Map<number, string>;
}

/** Maps keys to partition numbers 0..count-1 by consistent hashing. */
export class PartitionMap {
  private readonly ring: HashRing;

  constructor(readonly count: number) {
    this.ring = HashRing.build(partitionMembers(count));
  }

  partitionOf(key: string): number {
    return Number(this.ring.lookup(key).slice(1));
  }
}

export function clusterLayout(nodes: string[], partitions: number, replicas: number): PartitionLayout[] {
  const ids = Array.from({ length: partitions }, (_, partition) => `p${partition}`);
  const placement = placeReplicas(ids, nodes.map((id) => ({ id, weight: 1 })), replicas);
  return ids.map((id, partition) => {
    const holders = placement.assignments.get(id) ?? [];
    return { partition, nodeOfReplica: new Map(holders.map((node, position) => [position + 1, node])) };
  });
}
