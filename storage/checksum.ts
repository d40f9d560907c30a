// Every record we write is sealed with a CRC-32 over its body, checked right after it is read back, so a
// flipped bit on disk surfaces as a StorageCorruptionError instead of a wrong answer.
// zlib.crc32 (IEEE polynomial, native since Node 20.15) is used rather than a JS CRC32C: it is built in,
// fast, and detects all single-bit and burst errors up to 32 bits, which is what we check for here.

import { crc32 } from 'zlib';
import { StorageCorruptionError } from './errors';

/** Bytes of the checksum in front of every sealed record. */
export const SEAL_BYTES = 4;

/** Returns a new buffer [crc32(body) u32 BE][body]. */
export function sealRecord(body: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(SEAL_BYTES + body.byteLength);
  record.set(body, SEAL_BYTES);
  record.writeUInt32BE(crc32(body), 0);
  return record;
}

/** Writes the checksum of record[SEAL_BYTES..] into record[0..SEAL_BYTES) (for callers that build in place). */
export function sealInPlace(record: Buffer): Buffer {
  record.writeUInt32BE(crc32(record.subarray(SEAL_BYTES)), 0);
  return record;
}

/** Verifies a sealed record and returns a view of its body. Throws StorageCorruptionError on mismatch. */
export function openRecord(record: Uint8Array, store: string, index?: number): Buffer {
  const buffer = Buffer.isBuffer(record) ? record : Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  if (buffer.byteLength < SEAL_BYTES) {
    throw new StorageCorruptionError(store, index, `record of ${buffer.byteLength} bytes is shorter than its checksum`);
  }
  const body = buffer.subarray(SEAL_BYTES);
  const expected = buffer.readUInt32BE(0);
  const actual = crc32(body);
  if (actual !== expected) {
    throw new StorageCorruptionError(store, index, `checksum ${hex(actual)} != stored ${hex(expected)}`);
  }
  return body;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
