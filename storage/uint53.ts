// Raft indexes, terms and revisions are JS numbers (safe integers, < 2^53) stored as 8-byte big-endian
// unsigned integers, so that byte order equals numeric order for LMDB keys. Two 32-bit halves avoid BigInt.

import { assert } from '../actors/raft/assert';

const TWO_POW_32 = 0x1_0000_0000;

export function writeUint53(target: Buffer, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `cannot store ${value}: not a non-negative safe integer`);
  target.writeUInt32BE(Math.floor(value / TWO_POW_32), offset);
  target.writeUInt32BE(value >>> 0, offset + 4);
}

/** Reads what writeUint53 wrote; returns undefined when the high bits exceed 2^53 (caller reports corruption). */
export function readUint53(source: Buffer, offset: number): number | undefined {
  const high = source.readUInt32BE(offset);
  const low = source.readUInt32BE(offset + 4);
  if (high >= 0x20_0000) return undefined;
  return high * TWO_POW_32 + low;
}

/** The 8-byte big-endian LMDB key of a Raft index: keys sort in index order. */
export function indexKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(8);
  writeUint53(key, 0, index);
  return key;
}

/** Inverse of indexKey; undefined when the key is not 8 bytes or out of range. */
export function keyIndex(key: Uint8Array): number | undefined {
  if (key.byteLength !== 8) return undefined;
  return readUint53(Buffer.from(key.buffer, key.byteOffset, key.byteLength), 0);
}
