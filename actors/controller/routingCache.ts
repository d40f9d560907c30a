// The router side of the routing table, as pure rules: which table to keep, when a reply says it is
// stale, which replica serves a read, and how long requests may wait for a partition to elect a leader.
// The router owns the mutable cache and the clock; these functions only decide.

import { RoutingPartition, RoutingReplica, RoutingTable, RoutingVersion, compareRoutingVersions } from './routingTable';

/** Keep the offered table only if it is newer: tables arrive out of order over NATS, and after restarts. */
export function shouldAcceptTable(current: RoutingVersion | undefined, offered: RoutingVersion): boolean {
  return current === undefined || compareRoutingVersions(offered, current) > 0;
}

/**
 * A reply stamped with a newer metadata epoch than the cached table means the table is stale: the
 * router should fetch a fresh one (and may retry with the reply's leader hint meanwhile).
 */
export function isStale(table: RoutingVersion | undefined, replyEpoch: number): boolean {
  return table === undefined || replyEpoch > table.epoch;
}

export function findPartition(table: RoutingTable, partitionId: number): RoutingPartition | undefined {
  // Partitions are sorted by id (the codec guarantees it): binary search.
  let low = 0;
  let high = table.partitions.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (table.partitions[middle].id < partitionId) low = middle + 1;
    else high = middle;
  }
  return table.partitions[low]?.id === partitionId ? table.partitions[low] : undefined;
}

/**
 * Round-robin over the healthy replicas (voters and learners: both apply the log) for reads that accept
 * follower staleness. `cursor` is the caller's counter for this partition; the next one is returned.
 * Undefined when no replica is healthy: the caller falls back to the leader subject.
 */
export function pickReadReplica(partition: RoutingPartition, cursor: number): { replica: RoutingReplica; nextCursor: number } | undefined {
  const healthy = partition.replicas.filter((replica) => replica.healthy);
  if (healthy.length === 0) return undefined;
  const index = ((cursor % healthy.length) + healthy.length) % healthy.length;
  return { replica: healthy[index], nextCursor: (index + 1) % healthy.length };
}

/** Bounds for requests held while a partition has no leader (STYLE.md habit 10: bound everything). */
export interface WaitQueueSpec {
  /** Requests held per partition; one more is refused at once with UNAVAILABLE. */
  readonly countMax: number;
  /** Longest a request is held; then it is answered UNAVAILABLE (it was never forwarded: nothing applied). */
  readonly ageMsMax: number;
}

/** 1,000 requests, 1 s: an election takes 200-400 ms; longer means something is wrong, so fail fast. */
export const WAIT_QUEUE_DEFAULTS: WaitQueueSpec = Object.freeze({ countMax: 1_000, ageMsMax: 1_000 });

export interface WaitingRequest {
  readonly enqueuedAtMs: number;
}

/** May one more request wait? */
export function admitToWaitQueue(queued: readonly WaitingRequest[], spec: WaitQueueSpec): boolean {
  return queued.length < spec.countMax;
}

/** Split the queue into requests still within their age and those to answer UNAVAILABLE now. */
export function expireWaiting<T extends WaitingRequest>(queued: readonly T[], nowMs: number, spec: WaitQueueSpec): { kept: T[]; expired: T[] } {
  const kept: T[] = [];
  const expired: T[] = [];
  for (const request of queued) (nowMs - request.enqueuedAtMs >= spec.ageMsMax ? expired : kept).push(request);
  return { kept, expired };
}
