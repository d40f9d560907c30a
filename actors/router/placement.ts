/**
 * Partition replicas -> nodes, by walking a weighted node ring.
 *
 * Pure and deterministic: the same partitions, nodes and replica count give
 * the same placement whatever order they are listed in.
 *
 * A partition's preference list is the sequence of distinct nodes met
 * walking the node ring (HashRing over nodes, weight = node weight)
 * clockwise from hashString(partitionId). Its replicas are the first
 * `replicaCount` entries. Consequences:
 *  - Adding a node only inserts it into preference lists, so every replica
 *    that moves, moves TO the new node, and about its fair share moves.
 *  - Removing a node only deletes it, so the replacement for a lost replica
 *    is the next node of the same list (see pickReplacement), and
 *    placeReplicas on the remaining nodes agrees with it.
 *  - A node holds at most one replica of a partition. Walking for distinct
 *    nodes behaves like weighted sampling without replacement, which gives
 *    heavy nodes somewhat less than a strictly proportional share when
 *    replicaCount > 1; docs/hashing.md has the measured and modelled shares.
 */
import { HashRing, RingError, RingMember, RingOptions, hashString } from './hashRing';

export interface NodeSpec extends RingMember {}

export interface Placement {
  /** Replicas asked for per partition. */
  readonly replicaCountRequested: number;
  /** Replicas each partition got: min(requested, number of nodes). */
  readonly replicaCountPlaced: number;
  /** True when fewer nodes exist than replicas were asked for. */
  readonly underReplicated: boolean;
  /** Partition id -> node ids in preference order (first is the preferred leader). Keys sorted by id. */
  readonly assignments: ReadonlyMap<string, readonly string[]>;
}

export type ReplacementResult =
  | { readonly ok: true; readonly nodeId: string }
  | { readonly ok: false; readonly error: { readonly code: 'NO_CANDIDATE'; readonly message: string } };

/** Build the node ring once and pass it to placement calls to avoid rebuilding. */
export function buildNodeRing(nodes: readonly NodeSpec[], options?: RingOptions): HashRing {
  return HashRing.build(nodes, options);
}

function asRing(nodes: readonly NodeSpec[] | HashRing, options?: RingOptions): HashRing {
  return nodes instanceof HashRing ? nodes : HashRing.build(nodes, options);
}

function validatePartitionIds(partitionIds: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const partitionId of partitionIds) {
    if (typeof partitionId !== 'string' || partitionId.length === 0) {
      throw new RingError('INVALID_PARTITION_ID', `partition id must be a non-empty string, got ${JSON.stringify(partitionId)}`);
    }
    if (seen.has(partitionId)) throw new RingError('DUPLICATE_PARTITION', `partition ${JSON.stringify(partitionId)} appears twice`);
    seen.add(partitionId);
  }
  return [...seen].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0));
}

function validateReplicaCount(replicaCount: number): void {
  if (!Number.isInteger(replicaCount) || replicaCount <= 0) {
    throw new RingError('INVALID_COUNT', `replicaCount must be a positive integer, got ${String(replicaCount)}`);
  }
}

/**
 * The full preference list of a partition: every node, in the order the
 * walk meets them.
 */
export function preferenceList(partitionId: string, nodes: readonly NodeSpec[] | HashRing, options?: RingOptions): string[] {
  const ring = asRing(nodes, options);
  return ring.walk(hashString(partitionId), ring.memberCount, () => true);
}

/**
 * Place `replicaCount` replicas of each partition on distinct nodes.
 * Throws RingError for an empty node list, a bad node id/weight, a bad or
 * duplicate partition id, or a replicaCount that is not a positive integer.
 * With fewer nodes than replicaCount every partition gets every node and
 * `underReplicated` is true.
 */
export function placeReplicas(
  partitionIds: readonly string[],
  nodes: readonly NodeSpec[] | HashRing,
  replicaCount: number,
  options?: RingOptions,
): Placement {
  validateReplicaCount(replicaCount);
  const sortedPartitionIds = validatePartitionIds(partitionIds);
  const ring = asRing(nodes, options);
  const replicaCountPlaced = Math.min(replicaCount, ring.memberCount);
  const assignments = new Map<string, readonly string[]>();
  for (const partitionId of sortedPartitionIds) {
    const replicas = ring.walk(hashString(partitionId), replicaCountPlaced, () => true);
    if (replicas.length !== replicaCountPlaced || new Set(replicas).size !== replicas.length) {
      throw new Error(`placeReplicas: walk returned ${replicas.length} replicas for ${partitionId} (assertion)`);
    }
    assignments.set(partitionId, Object.freeze(replicas));
  }
  return Object.freeze({
    replicaCountRequested: replicaCount,
    replicaCountPlaced,
    underReplicated: replicaCountPlaced < replicaCount,
    assignments,
  });
}

/**
 * Choose a node to take over a lost replica of `partitionId`: the first node
 * of the partition's preference list that neither holds the partition nor is
 * down. `nodes` should include the down nodes (their ring points keep the
 * walk stable); they are skipped, never chosen. Deterministic.
 */
export function pickReplacement(
  partitionId: string,
  nodes: readonly NodeSpec[] | HashRing,
  holderNodeIds: readonly string[],
  downNodeIds: readonly string[],
  options?: RingOptions,
): ReplacementResult {
  validatePartitionIds([partitionId]);
  const ring = asRing(nodes, options);
  const excluded = new Set<string>([...holderNodeIds, ...downNodeIds]);
  const found = ring.walk(hashString(partitionId), 1, (nodeId) => !excluded.has(nodeId));
  if (found.length === 1) return { ok: true, nodeId: found[0] };
  return {
    ok: false,
    error: {
      code: 'NO_CANDIDATE',
      message: `no node for ${partitionId}: all ${ring.memberCount} nodes hold it or are down`,
    },
  };
}

/**
 * The first `count` nodes of `partitionId`'s preference list that `accept`
 * admits, in preference order (fewer if not enough are admitted). The
 * controller uses it to compute a partition's target nodes when some nodes
 * are down, full or draining: the rejected nodes keep their ring points, so
 * the walk, and therefore the answer for the others, stays stable
 * (pickReplacement is the special case "skip holders and down nodes").
 */
export function preferredNodes(
  partitionId: string,
  nodes: readonly NodeSpec[] | HashRing,
  count: number,
  accept: (nodeId: string) => boolean,
  options?: RingOptions,
): string[] {
  validatePartitionIds([partitionId]);
  validateReplicaCount(count);
  return asRing(nodes, options).walk(hashString(partitionId), count, accept);
}

/** Replicas held per node, keyed in node id order (every node appears, possibly with 0). */
export function replicaCountsByNode(placement: Placement, nodes: readonly NodeSpec[] | HashRing): Map<string, number> {
  const nodeList = nodes instanceof HashRing ? nodes.members() : nodes;
  const counts = new Map<string, number>();
  for (const node of [...nodeList].sort((left, right) => (left.id < right.id ? -1 : left.id > right.id ? 1 : 0))) counts.set(node.id, 0);
  for (const replicas of placement.assignments.values()) {
    for (const nodeId of replicas) counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
  }
  return counts;
}
