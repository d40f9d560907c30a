// Small records of the `meta` and `conf` dbs: hard state, snapshot metadata, applied index, the active
// state-machine copy, and ConfState (membership). Each is msgpack (plain arrays, no msgpackr records
// extension, so any msgpack reader can inspect a data directory) sealed with a checksum, and its shape
// is validated on every read.

import { Packr } from 'msgpackr';
import { ConfState, HardState, SnapshotMeta } from '../actors/raft/types';
import { openRecord, sealRecord } from './checksum';
import { StorageCorruptionError } from './errors';

/** Keys of the `meta` db. */
export const META_KEY = {
  /** Layout version of the environment; present once bootstrapped. */
  format: 'format',
  hardState: 'hardState',
  /** SnapshotMeta of the compaction point / installed snapshot: firstIndex = index + 1. */
  snapshot: 'snapshot',
  /** Raft index of the last entry applied to the state machine, written with the data it produced. */
  applied: 'applied',
  /** Which kv copy ('a' or 'b') is the state machine; the other one is scratch space for InstallSnapshot. */
  active: 'active',
} as const;

export const META_STORE_NAME = 'meta';
export const CONF_STORE_NAME = 'conf';
export const ENV_FORMAT_VERSION = 1;

export type KvCopyName = 'a' | 'b';

const packr = new Packr({ useRecords: false, mapsAsObjects: false, moreTypes: false });

export function encodeHardState(hardState: HardState): Buffer {
  return seal([hardState.term, hardState.vote, hardState.commit]);
}

export function decodeHardState(record: Uint8Array): HardState {
  const fields = unseal(record, META_STORE_NAME, 3);
  return {
    term: countAt(fields, 0, META_STORE_NAME),
    vote: countAt(fields, 1, META_STORE_NAME),
    commit: countAt(fields, 2, META_STORE_NAME),
  };
}

export function encodeSnapshotMeta(meta: SnapshotMeta): Buffer {
  return seal([meta.index, meta.term, meta.confState.voters, meta.confState.learners]);
}

export function decodeSnapshotMeta(record: Uint8Array): SnapshotMeta {
  const fields = unseal(record, META_STORE_NAME, 4);
  return {
    index: countAt(fields, 0, META_STORE_NAME),
    term: countAt(fields, 1, META_STORE_NAME),
    confState: confStateFrom(fields[2], fields[3], META_STORE_NAME),
  };
}

export function encodeConfState(confState: ConfState): Buffer {
  return seal([confState.voters, confState.learners]);
}

export function decodeConfState(record: Uint8Array, index?: number): ConfState {
  const fields = unseal(record, CONF_STORE_NAME, 2, index);
  return confStateFrom(fields[0], fields[1], CONF_STORE_NAME, index);
}

/** For single counters (applied index, format version). */
export function encodeCount(value: number): Buffer {
  return seal([value]);
}

export function decodeCount(record: Uint8Array): number {
  return countAt(unseal(record, META_STORE_NAME, 1), 0, META_STORE_NAME);
}

export function encodeCopyName(name: KvCopyName): Buffer {
  return seal([name]);
}

export function decodeCopyName(record: Uint8Array): KvCopyName {
  const name = unseal(record, META_STORE_NAME, 1)[0];
  if (name !== 'a' && name !== 'b') throw new StorageCorruptionError(META_STORE_NAME, undefined, `bad active copy ${String(name)}`);
  return name;
}

export function copyConfState(confState: ConfState): ConfState {
  return { voters: [...confState.voters], learners: [...confState.learners] };
}

function seal(fields: unknown[]): Buffer {
  return sealRecord(packr.pack(fields));
}

function unseal(record: Uint8Array, store: string, length: number, index?: number): unknown[] {
  const body = openRecord(record, store, index);
  let fields: unknown;
  try {
    fields = packr.unpack(body);
  } catch (error) {
    throw new StorageCorruptionError(store, index, 'record body is not msgpack', { cause: error });
  }
  if (!Array.isArray(fields) || fields.length !== length) {
    throw new StorageCorruptionError(store, index, `expected an array of ${length} fields`);
  }
  return fields;
}

function countAt(fields: unknown[], position: number, store: string): number {
  const value = fields[position];
  if (!isCount(value)) throw new StorageCorruptionError(store, undefined, `field ${position} is not a count`);
  return value;
}

function confStateFrom(voters: unknown, learners: unknown, store: string, index?: number): ConfState {
  if (!isReplicaIdList(voters) || !isReplicaIdList(learners)) {
    throw new StorageCorruptionError(store, index, 'membership is not two lists of replica ids');
  }
  return { voters, learners };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isReplicaIdList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((id) => isCount(id) && id > 0);
}
