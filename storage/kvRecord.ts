// The stored form of one key of the state machine (value of a `kv-a`/`kv-b` db; the key is the user key
// in UTF-8): [crc32 u32][revision u64][createRevision u64][value UTF-8].
// revision = Raft index of the entry that last wrote the key; createRevision = index of the entry that
// created it (since it was last absent). Both are > 0 and createRevision <= revision.

import { SEAL_BYTES, openRecord, sealInPlace } from './checksum';
import { StorageCorruptionError } from './errors';
import { readUint53, writeUint53 } from './uint53';

export interface KvRecord {
  value: string;
  revision: number;
  createRevision: number;
}

const OFFSET_REVISION = SEAL_BYTES;
const OFFSET_CREATE_REVISION = OFFSET_REVISION + 8;
const OFFSET_VALUE = OFFSET_CREATE_REVISION + 8;

export function encodeKvRecord(record: KvRecord): Buffer {
  const valueBytes = Buffer.byteLength(record.value, 'utf8');
  const stored = Buffer.allocUnsafe(OFFSET_VALUE + valueBytes);
  writeUint53(stored, OFFSET_REVISION, record.revision);
  writeUint53(stored, OFFSET_CREATE_REVISION, record.createRevision);
  stored.write(record.value, OFFSET_VALUE, valueBytes, 'utf8');
  return sealInPlace(stored);
}

/** Verifies and decodes; `store` names the db for the error message. */
export function decodeKvRecord(stored: Uint8Array, store: string): KvRecord {
  openRecord(stored, store);
  const buffer = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  if (buffer.byteLength < OFFSET_VALUE) throw new StorageCorruptionError(store, undefined, 'kv record too short');
  const revision = readUint53(buffer, OFFSET_REVISION);
  const createRevision = readUint53(buffer, OFFSET_CREATE_REVISION);
  if (revision === undefined || createRevision === undefined || !isValidRevisionPair(revision, createRevision)) {
    throw new StorageCorruptionError(store, revision, `bad revisions ${revision}/${createRevision}`);
  }
  return { value: buffer.toString('utf8', OFFSET_VALUE), revision, createRevision };
}

export function isValidRevisionPair(revision: unknown, createRevision: unknown): revision is number {
  return (
    typeof revision === 'number' &&
    typeof createRevision === 'number' &&
    Number.isSafeInteger(revision) &&
    Number.isSafeInteger(createRevision) &&
    createRevision > 0 &&
    createRevision <= revision
  );
}

/** User keys are LMDB keys as UTF-8 bytes, never object properties. */
export function kvKey(key: string): Buffer {
  return Buffer.from(key, 'utf8');
}
