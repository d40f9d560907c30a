// Binary codec for Raft messages on internal NATS subjects.
//
// A hand-laid layout rather than msgpack: a Raft message is a flat record of small integers plus
// entry payloads, so a fixed layout needs no field names on the wire, costs one allocation to encode,
// and validates every field while it reads (msgpack would decode any shape first and need a second
// validating pass). Measured against msgpackr's Packr with records: see test/support/raftCodecBench.ts.
//
// Frame (all integers big-endian):
//   u8 magic 0xCB, u8 version 1, u32 messageCount, then messageCount messages.
// Message:
//   u8 type, u8 flags, u8 flags2, u32 from, u32 to, u53 term,
//   [u53 logTerm] [u53 index] [u53 commit] [u53 rejectHint] [u53 context]   (when their flag is set)
//   [u32 entryCount, entries...]                                            (FLAG_ENTRIES)
//   [snapshot]                                                              (FLAG2_SNAPSHOT)
// Entry:     u53 term, u53 index, u8 type, u32 length, length bytes.
// Snapshot:  u53 index, u53 term, u32 voterCount, u32 voters..., u32 learnerCount, u32 learners...,
//            u8 hasData, [u32 length, length bytes].
// u53 is a u32 high word (< 2^21) then a u32 low word: exact for every safe integer, no BigInt.
//
// Optional fields keep their absence: a message decodes to the same set of own properties it was
// encoded from, so `deepEqual(decode(encode(m)), m)` holds.

import { EntryType, MessageType } from '../actors/raft/types';
import type { ConfState, Entry, Message, Snapshot } from '../actors/raft/types';

export type CodecErrorCode =
  | 'TRUNCATED'
  | 'BAD_MAGIC'
  | 'BAD_VERSION'
  | 'BAD_FIELD'
  | 'TRAILING_BYTES'
  | 'BAD_COUNT'
  | 'ENCODE_INVALID'
  | 'INTERNAL';

/** The only error the codec throws, on bad input to either direction. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    readonly code: CodecErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const MAGIC = 0xcb;
const VERSION = 1;
const HEADER_BYTES = 6;
const TWO_POW_32 = 0x1_0000_0000;
const U53_HIGH_LIMIT = 0x20_0000; // 2^21: high word of Number.MAX_SAFE_INTEGER is 2^21 - 1.
const UINT32_MAX = 0xffff_ffff;

const FLAG_LOG_TERM = 1 << 0;
const FLAG_INDEX = 1 << 1;
const FLAG_COMMIT = 1 << 2;
const FLAG_ENTRIES = 1 << 3;
const FLAG_REJECT_PRESENT = 1 << 4;
const FLAG_REJECT_VALUE = 1 << 5;
const FLAG_REJECT_HINT = 1 << 6;
const FLAG_CONTEXT = 1 << 7;
const FLAG2_SNAPSHOT = 1 << 0;

// type, flags, flags2, from, to, term
const MESSAGE_FIXED_BYTES = 3 + 4 + 4 + 8;
// term, index, type, length
const ENTRY_FIXED_BYTES = 8 + 8 + 1 + 4;

const MESSAGE_TYPE_MIN = MessageType.Vote;
const MESSAGE_TYPE_MAX = MessageType.TransferLeader;

/** Bytes `message` takes inside a frame; lets the transport split batches under NATS max_payload. */
export function messageEncodedBytes(message: Message): number {
  let bytes = MESSAGE_FIXED_BYTES;
  if (message.logTerm !== undefined) bytes += 8;
  if (message.index !== undefined) bytes += 8;
  if (message.commit !== undefined) bytes += 8;
  if (message.rejectHint !== undefined) bytes += 8;
  if (message.context !== undefined) bytes += 8;
  if (message.entries !== undefined) {
    bytes += 4;
    for (const entry of message.entries) bytes += ENTRY_FIXED_BYTES + dataLength(entry.data);
  }
  if (message.snapshot !== undefined) bytes += snapshotEncodedBytes(message.snapshot);
  return bytes;
}

/** Bytes of a frame that holds messages of the given encoded sizes. */
export function frameEncodedBytes(messagesBytes: number): number {
  return HEADER_BYTES + messagesBytes;
}

/** Encodes many messages (usually all to one peer) into one frame. Throws CodecError on invalid input. */
export function encodeBatch(messages: readonly Message[]): Uint8Array {
  try {
    return encodeFrame(messages);
  } catch (error) {
    if (error instanceof CodecError) throw error;
    // e.g. a null entry: still the caller's bad input, reported as the codec's typed error.
    throw new CodecError('ENCODE_INVALID', `cannot encode: ${String(error)}`, { cause: error });
  }
}

function encodeFrame(messages: readonly Message[]): Uint8Array {
  if (!Array.isArray(messages)) throw new CodecError('ENCODE_INVALID', 'messages must be an array');
  let bytes = HEADER_BYTES;
  for (const message of messages) bytes += messageEncodedBytes(message);
  const writer = new Writer(bytes);
  writer.u8(MAGIC);
  writer.u8(VERSION);
  writer.u32(messages.length, 'messageCount');
  for (const message of messages) writeMessage(writer, message);
  if (writer.position !== bytes) throw new CodecError('INTERNAL', `encoded ${writer.position} bytes, sized ${bytes}`);
  return writer.bytes;
}

export function encodeMessage(message: Message): Uint8Array {
  return encodeBatch([message]);
}

/**
 * Decodes a frame from untrusted bytes. Never throws anything but CodecError; every field is
 * range-checked before it is returned. Entry data are views into one private copy of the frame, so
 * they neither pin the caller's (possibly larger, possibly reused) buffer nor change with it.
 */
export function decodeBatch(input: Uint8Array): Message[] {
  try {
    if (!(input instanceof Uint8Array)) throw new CodecError('BAD_FIELD', 'input must be a Uint8Array');
    const reader = new Reader(new Uint8Array(input));
    return readFrame(reader);
  } catch (error) {
    if (error instanceof CodecError) throw error;
    throw new CodecError('INTERNAL', `unexpected decode failure: ${String(error)}`, { cause: error });
  }
}

/** Decodes a frame that must hold exactly one message. */
export function decodeMessage(input: Uint8Array): Message {
  const messages = decodeBatch(input);
  if (messages.length !== 1) throw new CodecError('BAD_COUNT', `expected 1 message, frame holds ${messages.length}`);
  return messages[0]!;
}

function readFrame(reader: Reader): Message[] {
  const magic = reader.u8();
  if (magic !== MAGIC) throw new CodecError('BAD_MAGIC', `bad magic byte 0x${magic.toString(16)}`);
  const version = reader.u8();
  if (version !== VERSION) throw new CodecError('BAD_VERSION', `unsupported codec version ${version}`);
  const count = reader.u32();
  // Bound the count by the bytes left before allocating anything per message.
  if (count > reader.remaining() / MESSAGE_FIXED_BYTES) {
    throw new CodecError('BAD_COUNT', `frame claims ${count} messages in ${reader.remaining()} bytes`);
  }
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) messages.push(readMessage(reader));
  if (reader.remaining() !== 0) throw new CodecError('TRAILING_BYTES', `${reader.remaining()} bytes after the last message`);
  return messages;
}

function writeMessage(writer: Writer, message: Message): void {
  if (typeof message !== 'object' || message === null) throw new CodecError('ENCODE_INVALID', 'message must be an object');
  if (!isMessageType(message.type)) throw new CodecError('ENCODE_INVALID', `bad message type ${String(message.type)}`);
  if (message.reject !== undefined && typeof message.reject !== 'boolean') {
    throw new CodecError('ENCODE_INVALID', 'reject must be a boolean');
  }
  writer.u8(message.type);
  writer.u8(messageFlags(message));
  writer.u8(message.snapshot !== undefined ? FLAG2_SNAPSHOT : 0);
  writer.u32(message.from, 'from');
  writer.u32(message.to, 'to');
  writer.u53(message.term, 'term');
  if (message.logTerm !== undefined) writer.u53(message.logTerm, 'logTerm');
  if (message.index !== undefined) writer.u53(message.index, 'index');
  if (message.commit !== undefined) writer.u53(message.commit, 'commit');
  if (message.rejectHint !== undefined) writer.u53(message.rejectHint, 'rejectHint');
  if (message.context !== undefined) writer.u53(message.context, 'context');
  if (message.entries !== undefined) writeEntries(writer, message.entries);
  if (message.snapshot !== undefined) writeSnapshot(writer, message.snapshot);
}

function messageFlags(message: Message): number {
  let flags = 0;
  if (message.logTerm !== undefined) flags |= FLAG_LOG_TERM;
  if (message.index !== undefined) flags |= FLAG_INDEX;
  if (message.commit !== undefined) flags |= FLAG_COMMIT;
  if (message.entries !== undefined) flags |= FLAG_ENTRIES;
  if (message.reject !== undefined) flags |= FLAG_REJECT_PRESENT | (message.reject ? FLAG_REJECT_VALUE : 0);
  if (message.rejectHint !== undefined) flags |= FLAG_REJECT_HINT;
  if (message.context !== undefined) flags |= FLAG_CONTEXT;
  return flags;
}

function readMessage(reader: Reader): Message {
  const type = reader.u8();
  if (!isMessageType(type)) throw new CodecError('BAD_FIELD', `bad message type ${type}`);
  const flags = reader.u8();
  if ((flags & FLAG_REJECT_VALUE) !== 0 && (flags & FLAG_REJECT_PRESENT) === 0) {
    throw new CodecError('BAD_FIELD', 'reject value set without reject present');
  }
  const flags2 = reader.u8();
  if ((flags2 & ~FLAG2_SNAPSHOT) !== 0) throw new CodecError('BAD_FIELD', `unknown flags2 bits 0x${flags2.toString(16)}`);
  const message: Message = { type, from: reader.u32(), to: reader.u32(), term: reader.u53() };
  if ((flags & FLAG_LOG_TERM) !== 0) message.logTerm = reader.u53();
  if ((flags & FLAG_INDEX) !== 0) message.index = reader.u53();
  if ((flags & FLAG_COMMIT) !== 0) message.commit = reader.u53();
  if ((flags & FLAG_REJECT_HINT) !== 0) message.rejectHint = reader.u53();
  if ((flags & FLAG_CONTEXT) !== 0) message.context = reader.u53();
  if ((flags & FLAG_ENTRIES) !== 0) message.entries = readEntries(reader);
  if ((flags & FLAG_REJECT_PRESENT) !== 0) message.reject = (flags & FLAG_REJECT_VALUE) !== 0;
  if ((flags2 & FLAG2_SNAPSHOT) !== 0) message.snapshot = readSnapshot(reader);
  return message;
}

function writeEntries(writer: Writer, entries: readonly Entry[]): void {
  if (!Array.isArray(entries)) throw new CodecError('ENCODE_INVALID', 'entries must be an array');
  writer.u32(entries.length, 'entryCount');
  for (const entry of entries) {
    if (entry.type !== EntryType.Normal && entry.type !== EntryType.ConfChange) {
      throw new CodecError('ENCODE_INVALID', `bad entry type ${String(entry.type)}`);
    }
    writer.u53(entry.term, 'entry.term');
    writer.u53(entry.index, 'entry.index');
    writer.u8(entry.type);
    writer.blob(entry.data, 'entry.data');
  }
}

function readEntries(reader: Reader): Entry[] {
  const count = reader.u32();
  if (count > reader.remaining() / ENTRY_FIXED_BYTES) {
    throw new CodecError('BAD_COUNT', `message claims ${count} entries in ${reader.remaining()} bytes`);
  }
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const term = reader.u53();
    const index = reader.u53();
    const type = reader.u8();
    if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw new CodecError('BAD_FIELD', `bad entry type ${type}`);
    entries.push({ term, index, type, data: reader.blob() });
  }
  return entries;
}

function snapshotEncodedBytes(snapshot: Snapshot): number {
  const confState = snapshot?.meta?.confState;
  const members = (confState?.voters?.length ?? 0) + (confState?.learners?.length ?? 0);
  const data = snapshot?.data === undefined ? 0 : 4 + dataLength(snapshot.data);
  return 8 + 8 + 4 + 4 + 4 * members + 1 + data;
}

function writeSnapshot(writer: Writer, snapshot: Snapshot): void {
  if (typeof snapshot?.meta?.confState !== 'object' || snapshot.meta.confState === null) {
    throw new CodecError('ENCODE_INVALID', 'snapshot.meta.confState missing');
  }
  writer.u53(snapshot.meta.index, 'snapshot.index');
  writer.u53(snapshot.meta.term, 'snapshot.term');
  writeIds(writer, snapshot.meta.confState.voters, 'voters');
  writeIds(writer, snapshot.meta.confState.learners, 'learners');
  writer.u8(snapshot.data === undefined ? 0 : 1);
  if (snapshot.data !== undefined) writer.blob(snapshot.data, 'snapshot.data');
}

function readSnapshot(reader: Reader): Snapshot {
  const index = reader.u53();
  const term = reader.u53();
  const confState: ConfState = { voters: readIds(reader), learners: readIds(reader) };
  const hasData = reader.u8();
  if (hasData > 1) throw new CodecError('BAD_FIELD', `bad snapshot hasData byte ${hasData}`);
  const snapshot: Snapshot = { meta: { index, term, confState } };
  if (hasData === 1) snapshot.data = reader.blob();
  return snapshot;
}

function writeIds(writer: Writer, ids: readonly number[], field: string): void {
  if (!Array.isArray(ids)) throw new CodecError('ENCODE_INVALID', `${field} must be an array`);
  writer.u32(ids.length, `${field}.length`);
  for (const id of ids) writer.u32(id, field);
}

function readIds(reader: Reader): number[] {
  const count = reader.u32();
  if (count > reader.remaining() / 4) throw new CodecError('BAD_COUNT', `claims ${count} ids in ${reader.remaining()} bytes`);
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(reader.u32());
  return ids;
}

function isMessageType(type: unknown): type is MessageType {
  return typeof type === 'number' && Number.isInteger(type) && type >= MESSAGE_TYPE_MIN && type <= MESSAGE_TYPE_MAX;
}

function dataLength(data: unknown): number {
  // Sizing runs before validation; a non-Uint8Array is refused by Writer.blob with a clear error.
  return data instanceof Uint8Array ? data.byteLength : 0;
}

/** Sequential big-endian writer into one exactly-sized buffer. */
class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  position = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(value: number): void {
    this.view.setUint8(this.position, value);
    this.position += 1;
  }

  u32(value: number, field: string): void {
    if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
      throw new CodecError('ENCODE_INVALID', `${field} must be an integer in [0, 2^32), got ${String(value)}`);
    }
    this.view.setUint32(this.position, value);
    this.position += 4;
  }

  u53(value: number, field: string): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new CodecError('ENCODE_INVALID', `${field} must be a non-negative safe integer, got ${String(value)}`);
    }
    this.view.setUint32(this.position, Math.floor(value / TWO_POW_32));
    this.view.setUint32(this.position + 4, value >>> 0);
    this.position += 8;
  }

  blob(data: Uint8Array, field: string): void {
    if (!(data instanceof Uint8Array)) throw new CodecError('ENCODE_INVALID', `${field} must be a Uint8Array`);
    this.u32(data.byteLength, `${field}.length`);
    this.bytes.set(data, this.position);
    this.position += data.byteLength;
  }
}

/** Sequential big-endian reader that checks every read against the bytes left. */
class Reader {
  private readonly view: DataView;
  private position = 0;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  remaining(): number {
    return this.bytes.byteLength - this.position;
  }

  private need(count: number): void {
    if (count > this.remaining()) {
      throw new CodecError('TRUNCATED', `need ${count} bytes at offset ${this.position}, have ${this.remaining()}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.position++);
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.position);
    this.position += 4;
    return value;
  }

  u53(): number {
    this.need(8);
    const high = this.view.getUint32(this.position);
    if (high >= U53_HIGH_LIMIT) throw new CodecError('BAD_FIELD', `integer at offset ${this.position} exceeds 2^53 - 1`);
    const low = this.view.getUint32(this.position + 4);
    this.position += 8;
    return high * TWO_POW_32 + low;
  }

  blob(): Uint8Array {
    const length = this.u32();
    this.need(length);
    const data = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return data;
  }
}
