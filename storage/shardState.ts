// Which keys a partition owns, and the base of its revisions. Part of the state machine (a reserved key,
// so snapshots carry it), changed only by committed entries, so every replica of a partition decides
// alike whether a command's key is its own.
//
// The key ring is the list of partitions that serve keys; a key belongs to the partition the ring maps it
// to (actors/router/layout.ts). A partition adopts a new ring by a `ring` entry (storage/shardCommand.ts):
// a partition that gives keys away adopts it first (from that entry on it refuses them), one that
// receives keys adopts it after they were copied in. Until a partition adopts a ring it has its initial
// one: the cluster's first partitions for a partition of the first layout, which a partition created
// later is not in, so it owns nothing until resharding hands it its keys (docs/resharding.md).
//
// Revisions are revisionBase + the entry's index. The base is 0 until keys are copied in with revisions
// from another partition's history; then it rises so that every later write gets a higher revision than
// any key copied in: a key's revision never goes backwards across a move.

import { PartitionMap, partitionMapOf } from '../actors/router/layout';
import { StorageCorruptionError } from './errors';
import { RESERVED_KEY_PREFIX } from './kvCommand';

export const SHARD_KEY = `${RESERVED_KEY_PREFIX}shard`;

export interface ShardState {
  /** The epoch of the ring adopted; 0 = the initial ring. */
  readonly epoch: number;
  /** Partition ids of the ring, ascending. */
  readonly partitions: readonly number[];
  readonly revisionBase: number;
}

/** Whose keys these are: absent for the metadata partition, which holds every key it is given. */
export interface Ownership {
  readonly partition: number;
  /** The ring before any `ring` entry: the partitions of the cluster's first layout. */
  readonly initialPartitions: readonly number[];
}

/** A partition's ownership in a cluster whose first layout had `partitions` partitions (0..partitions-1). */
export function firstLayoutOwnership(partition: number, partitions: number): Ownership {
  return { partition, initialPartitions: Array.from({ length: partitions }, (_, index) => index) };
}

export function initialShardState(ownership: Ownership | undefined): ShardState {
  return { epoch: 0, partitions: ownership?.initialPartitions ?? [], revisionBase: 0 };
}

/** Every command and read asks: the ring's map is found once per (immutable) shard state. */
const maps = new WeakMap<ShardState, PartitionMap>();

export function ownsKey(ownership: Ownership | undefined, shard: ShardState, key: string): boolean {
  if (ownership === undefined) return true;
  let map = maps.get(shard);
  if (map === undefined) maps.set(shard, (map = partitionMapOf(shard.partitions)));
  return map.partitionOf(key) === ownership.partition;
}

export function encodeShardState(shard: ShardState): string {
  return JSON.stringify({ epoch: shard.epoch, partitions: shard.partitions, revisionBase: shard.revisionBase });
}

export function decodeShardState(value: string): ShardState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new StorageCorruptionError('kv', undefined, 'shard record is not JSON', { cause: error });
  }
  const { epoch, partitions, revisionBase } = (parsed ?? {}) as Record<string, unknown>;
  const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!isCount(epoch) || !isCount(revisionBase) || !Array.isArray(partitions) || !partitions.every(isCount)) {
    throw new StorageCorruptionError('kv', undefined, `bad shard record ${value.slice(0, 200)}`);
  }
  return { epoch, partitions: [...partitions].sort((a, b) => a - b), revisionBase };
}
