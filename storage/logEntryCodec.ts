// The on-disk form of one Raft log entry (value of the `log` db; the key is indexKey(index)):
//   [crc32 u32][format u8][type u8][term u64][index u64][data ...]
// The checksum covers format|type|term|index|data. The index is stored in the value too, so an entry
// that ends up under the wrong key (a misdirected write) fails verification like a flipped bit does.

import { Entry, EntryType } from '../actors/raft/types';
import { SEAL_BYTES, openRecord, sealInPlace } from './checksum';
import { StorageCorruptionError } from './errors';
import { readUint53, writeUint53 } from './uint53';

const FORMAT_VERSION = 1;
const OFFSET_FORMAT = SEAL_BYTES;
const OFFSET_TYPE = OFFSET_FORMAT + 1;
const OFFSET_TERM = OFFSET_TYPE + 1;
const OFFSET_INDEX = OFFSET_TERM + 8;
const OFFSET_DATA = OFFSET_INDEX + 8;

export const LOG_STORE_NAME = 'log';

export function encodeEntry(entry: Entry): Buffer {
  const record = Buffer.allocUnsafe(OFFSET_DATA + entry.data.byteLength);
  record.writeUInt8(FORMAT_VERSION, OFFSET_FORMAT);
  record.writeUInt8(entry.type, OFFSET_TYPE);
  writeUint53(record, OFFSET_TERM, entry.term);
  writeUint53(record, OFFSET_INDEX, entry.index);
  record.set(entry.data, OFFSET_DATA);
  return sealInPlace(record);
}

/** Decodes and verifies the record stored under `index`. Throws StorageCorruptionError, never returns garbage. */
export function decodeEntry(record: Uint8Array, index: number): Entry {
  openRecord(record, LOG_STORE_NAME, index);
  const buffer = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  if (buffer.byteLength < OFFSET_DATA) corrupt(index, `record of ${buffer.byteLength} bytes has no full header`);
  const format = buffer.readUInt8(OFFSET_FORMAT);
  if (format !== FORMAT_VERSION) corrupt(index, `unknown format version ${format}`);
  const type = buffer.readUInt8(OFFSET_TYPE);
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) corrupt(index, `unknown entry type ${type}`);
  const term = readUint53(buffer, OFFSET_TERM);
  if (term === undefined) corrupt(index, 'term out of range');
  const storedIndex = readUint53(buffer, OFFSET_INDEX);
  if (storedIndex !== index) corrupt(index, `record carries index ${storedIndex}`);
  return { term, index, type, data: buffer.subarray(OFFSET_DATA) };
}

function corrupt(index: number, detail: string): never {
  throw new StorageCorruptionError(LOG_STORE_NAME, index, detail);
}
