// The frames of an InstallSnapshot transfer and their wire codec. A transfer is
//   header (snapshot metadata) -> chunk 0, chunk 1, ... -> trailer (counts + digest)
// A chunk's payload is msgpack [[key, value, revision, createRevision], ...] with keys in ascending
// UTF-8 byte order. The digest is SHA-256 over the encoded metadata followed by every payload in order,
// so the receiver checks the exact bytes it stored against what the sender read in one consistent view.

import { createHash, Hash } from 'crypto';
import { Packr } from 'msgpackr';
import { SnapshotMeta } from '../actors/raft/types';
import { SnapshotTransferError } from './errors';
import { KEY_BYTES_MAX, KvCommandError, VALUE_BYTES_MAX, checkStoredKey, checkValue } from './kvCommand';
import { KvRecord, isValidRevisionPair } from './kvRecord';
import { decodeSnapshotMeta, encodeSnapshotMeta } from './metaRecords';

export type SnapshotFrame =
  | { kind: 'header'; meta: SnapshotMeta }
  /** sequence counts chunks from 0. */
  | { kind: 'chunk'; sequence: number; payload: Uint8Array }
  | { kind: 'trailer'; chunkCount: number; pairCount: number; digest: Uint8Array };

export interface SnapshotPair extends KvRecord {
  key: string;
}

/** Upper bound of one pair's encoded size: the limits of key and value plus msgpack framing. */
export const PAIR_BYTES_MAX = KEY_BYTES_MAX + VALUE_BYTES_MAX + 32;
/** Default bound of one chunk's payload; any pair fits. */
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 256 * 1024;

const packr = new Packr({ useRecords: false, mapsAsObjects: false, moreTypes: false });
const FRAME_KIND = { header: 1, chunk: 2, trailer: 3 } as const;

/** Upper bound of a pair's share of an encoded payload (array header, two str headers, two uint64). */
export function pairBytesEstimate(keyBytes: number, valueBytes: number): number {
  return keyBytes + valueBytes + 32;
}

export function encodeChunkPayload(pairs: SnapshotPair[]): Uint8Array {
  return packr.pack(pairs.map((pair) => [pair.key, pair.value, pair.revision, pair.createRevision]));
}

/** Decodes and validates a payload; revisions may not exceed the snapshot index. */
export function decodeChunkPayload(payload: Uint8Array, indexSnapshot: number): SnapshotPair[] {
  const rows = unpack(payload);
  if (!Array.isArray(rows)) malformed('chunk payload is not an array');
  return rows.map((row: unknown) => {
    if (!Array.isArray(row) || row.length !== 4) malformed('pair is not [key, value, revision, createRevision]');
    const [key, value, revision, createRevision] = row as unknown[];
    if (!isValidRevisionPair(revision, createRevision) || revision > indexSnapshot) {
      malformed(`pair revisions ${String(revision)}/${String(createRevision)} invalid for index ${indexSnapshot}`);
    }
    try {
      return { key: checkStoredKey(key), value: checkValue(value), revision, createRevision: createRevision as number };
    } catch (error) {
      if (error instanceof KvCommandError) malformed(`pair refused: ${error.message}`);
      throw error;
    }
  });
}

/** Running SHA-256 over the metadata and the payloads, as both ends compute it. */
export class SnapshotDigest {
  private readonly hash: Hash = createHash('sha256');

  constructor(meta: SnapshotMeta) {
    this.hash.update(encodeSnapshotMeta(meta));
  }

  update(payload: Uint8Array): void {
    this.hash.update(payload);
  }

  final(): Buffer {
    return this.hash.digest();
  }
}

/** For the bus: one frame as bytes. */
export function encodeSnapshotFrame(frame: SnapshotFrame): Uint8Array {
  switch (frame.kind) {
    case 'header':
      return packr.pack([FRAME_KIND.header, encodeSnapshotMeta(frame.meta)]);
    case 'chunk':
      return packr.pack([FRAME_KIND.chunk, frame.sequence, frame.payload]);
    case 'trailer':
      return packr.pack([FRAME_KIND.trailer, frame.chunkCount, frame.pairCount, frame.digest]);
  }
}

/** Inverse of encodeSnapshotFrame; throws SnapshotTransferError('SNAPSHOT_MALFORMED'). */
export function decodeSnapshotFrame(bytes: Uint8Array): SnapshotFrame {
  const fields = unpack(bytes);
  if (!Array.isArray(fields)) malformed('frame is not an array');
  const [kind, first, second, third] = fields as unknown[];
  if (kind === FRAME_KIND.header && fields.length === 2 && first instanceof Uint8Array) {
    return { kind: 'header', meta: decodeHeaderMeta(first) };
  }
  if (kind === FRAME_KIND.chunk && fields.length === 3 && isCount(first) && second instanceof Uint8Array) {
    return { kind: 'chunk', sequence: first, payload: second };
  }
  if (kind === FRAME_KIND.trailer && fields.length === 4 && isCount(first) && isCount(second) && third instanceof Uint8Array) {
    return { kind: 'trailer', chunkCount: first, pairCount: second, digest: third };
  }
  malformed(`unrecognized frame of kind ${String(kind)}`);
}

function decodeHeaderMeta(bytes: Uint8Array): SnapshotMeta {
  try {
    return decodeSnapshotMeta(bytes);
  } catch (error) {
    throw new SnapshotTransferError('SNAPSHOT_MALFORMED', 'header metadata does not decode', { cause: error });
  }
}

function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (error) {
    throw new SnapshotTransferError('SNAPSHOT_MALFORMED', 'not msgpack', { cause: error });
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function malformed(detail: string): never {
  throw new SnapshotTransferError('SNAPSHOT_MALFORMED', detail);
}
