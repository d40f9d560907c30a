// Reads and writes of the meta and conf records through an env. Reads take an optional read transaction
// (a consistent view for snapshot streaming); inside a write transaction they see that transaction's
// own writes. Writers must only be called inside ReplicaEnv.write(); the queue* writers inside
// ReplicaEnv.writeBatch().

import { Transaction } from 'lmdb';
import { ConfState, HardState, SnapshotMeta } from '../actors/raft/types';
import { StorageCorruptionError } from './errors';
import {
  CONF_STORE_NAME,
  KvCopyName,
  META_KEY,
  META_STORE_NAME,
  decodeConfState,
  decodeCopyName,
  decodeCount,
  decodeHardState,
  decodeSnapshotMeta,
  encodeConfState,
  encodeCopyName,
  encodeCount,
  encodeHardState,
  encodeSnapshotMeta,
} from './metaRecords';
import { ReplicaEnv } from './replicaEnv';
import { indexKey, keyIndex } from './uint53';

type MetaKey = (typeof META_KEY)[keyof typeof META_KEY];

export function isBootstrapped(env: ReplicaEnv): boolean {
  return env.meta.get(META_KEY.format) !== undefined;
}

export function readFormat(env: ReplicaEnv): number {
  return decodeCount(required(env, META_KEY.format));
}

export function readHardState(env: ReplicaEnv, transaction?: Transaction): HardState {
  return decodeHardState(required(env, META_KEY.hardState, transaction));
}

export function readSnapshotMeta(env: ReplicaEnv, transaction?: Transaction): SnapshotMeta {
  return decodeSnapshotMeta(required(env, META_KEY.snapshot, transaction));
}

export function readApplied(env: ReplicaEnv, transaction?: Transaction): number {
  return decodeCount(required(env, META_KEY.applied, transaction));
}

export function readActiveCopy(env: ReplicaEnv, transaction?: Transaction): KvCopyName {
  return decodeCopyName(required(env, META_KEY.active, transaction));
}

/** The membership in effect at `index`: the latest ConfState recorded at or before it. */
export function readConfStateAt(env: ReplicaEnv, index: number, transaction?: Transaction): ConfState {
  return confRecordAt(env, index, transaction).confState;
}

export function writeFormat(env: ReplicaEnv, version: number): void {
  env.meta.putSync(META_KEY.format, encodeCount(version));
}

export function writeHardState(env: ReplicaEnv, hardState: HardState): void {
  env.meta.putSync(META_KEY.hardState, encodeHardState(hardState));
}

export function writeSnapshotMeta(env: ReplicaEnv, meta: SnapshotMeta): void {
  env.meta.putSync(META_KEY.snapshot, encodeSnapshotMeta(meta));
}

export function writeApplied(env: ReplicaEnv, applied: number): void {
  env.meta.putSync(META_KEY.applied, encodeCount(applied));
}

export function writeActiveCopy(env: ReplicaEnv, name: KvCopyName): void {
  env.meta.putSync(META_KEY.active, encodeCopyName(name));
}

/** Records the membership produced by the ConfChange entry at `index`. */
export function writeConfState(env: ReplicaEnv, index: number, confState: ConfState): void {
  env.conf.putSync(indexKey(index), encodeConfState(confState));
}

// Queued writers: inside ReplicaEnv.writeBatch() only (they queue, they do not write at once).

export function queueHardState(env: ReplicaEnv, hardState: HardState): void {
  void env.meta.put(META_KEY.hardState, encodeHardState(hardState));
}

export function queueApplied(env: ReplicaEnv, applied: number): void {
  void env.meta.put(META_KEY.applied, encodeCount(applied));
}

export function queueConfState(env: ReplicaEnv, index: number, confState: ConfState): void {
  void env.conf.put(indexKey(index), encodeConfState(confState));
}

/** Drops membership records older than the one in effect at `index` (they can never be asked for again). */
export function pruneConfHistory(env: ReplicaEnv, index: number): void {
  const effectiveIndex = confRecordAt(env, index).index;
  const stale: Buffer[] = [];
  for (const key of env.conf.getKeys({ end: indexKey(effectiveIndex) })) stale.push(Buffer.from(key));
  for (const key of stale) env.conf.removeSync(key);
}

/** Replaces the whole membership history by one record (bootstrap, snapshot install). */
export function resetConfHistory(env: ReplicaEnv, index: number, confState: ConfState): void {
  env.conf.clearSync();
  writeConfState(env, index, confState);
}

function confRecordAt(env: ReplicaEnv, index: number, transaction?: Transaction): { index: number; confState: ConfState } {
  for (const { key, value } of env.conf.getRange({ start: indexKey(index), reverse: true, limit: 1, transaction })) {
    const recordIndex = keyIndex(key);
    if (recordIndex === undefined) throw new StorageCorruptionError(CONF_STORE_NAME, undefined, 'key is not an index');
    return { index: recordIndex, confState: decodeConfState(value, recordIndex) };
  }
  throw new StorageCorruptionError(CONF_STORE_NAME, index, 'no membership recorded at or before this index');
}

function required(env: ReplicaEnv, key: MetaKey, transaction?: Transaction): Buffer {
  const record = env.meta.get(key, transaction === undefined ? undefined : { transaction });
  if (record === undefined) throw new StorageCorruptionError(META_STORE_NAME, undefined, `missing ${key} record`);
  return record;
}
