// The static shape of a cluster started with --initial-cluster: which partition a key belongs to and
// which node hosts each replica of each partition. Pure: every node computes the same answer.

import { HashRing, partitionMembers } from './hashRing';
import { placeReplicas } from './placement';

export interface PartitionLayout {
  partition: number;
  /** replica id (1-based position in the placement) -> node id */
  nodeOfReplica: Map<number, string>;
}

/**
 * Maps keys to partitions by consistent hashing over the partitions that serve keys (the key ring).
 * `new PartitionMap(n)` is the ring of a new cluster, partitions 0..n-1; creating or deleting a partition
 * adds or removes one member, so only the keys of that member move (docs/resharding.md).
 */
export class PartitionMap {
  private readonly ring: HashRing | undefined;
  readonly partitions: readonly number[];

  constructor(countOrIds: number | readonly number[]) {
    const ids = typeof countOrIds === 'number' ? Array.from({ length: countOrIds }, (_, index) => index) : [...countOrIds].sort((a, b) => a - b);
    if (typeof countOrIds === 'number') partitionMembers(countOrIds); // validates the count
    this.partitions = Object.freeze(ids);
    this.ring = ids.length === 0 ? undefined : HashRing.build(ids.map((id) => ({ id: `p${id}`, weight: 1 })));
  }

  get count(): number {
    return this.partitions.length;
  }

  /** The owning partition; -1 for an empty ring (a partition created but not yet serving owns nothing). */
  partitionOf(key: string): number {
    return this.ring === undefined ? -1 : Number(this.ring.lookup(key).slice(1));
  }
}

const ringCache = new Map<string, PartitionMap>();

/** A shared map per ring: replicas look keys up on every request, rings change rarely. */
export function partitionMapOf(ids: readonly number[]): PartitionMap {
  const signature = ids.join(',');
  let map = ringCache.get(signature);
  if (map === undefined) {
    if (ringCache.size >= 16) ringCache.delete(ringCache.keys().next().value as string);
    map = new PartitionMap(ids);
    ringCache.set(signature, map);
  }
  return map;
}

export function clusterLayout(nodes: string[], partitions: number, replicas: number): PartitionLayout[] {
  const ids = Array.from({ length: partitions }, (_, partition) => `p${partition}`);
  const placement = placeReplicas(ids, nodes.map((id) => ({ id, weight: 1 })), replicas);
  return ids.map((id, partition) => {
    const holders = placement.assignments.get(id) ?? [];
    return { partition, nodeOfReplica: new Map(holders.map((node, position) => [position + 1, node])) };
  });
}
