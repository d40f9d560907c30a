// The command codec: the data of a Normal log entry is msgpack of
//   {op:'put', key, value} | {op:'del', key} |
//   {op:'cas', key, value, expectedRevision} | {op:'cas', key, value, expectedValue: string | null}
// Keys and values are UTF-8 strings. Validation is the same on both ends: the leader refuses a bad command
// before proposing it (encode), and a committed entry that does not decode is corruption (decode).
// Decoding goes through Map, never object properties, so `__proto__` is just another key.

import { Packr } from 'msgpackr';

/** LMDB's own key limit is 1978 bytes in lmdb-js; we keep well under it. */
export const KEY_BYTES_MAX = 1024;
/** Bounded so that any single pair fits in one snapshot chunk (see SNAPSHOT_CHUNK_BYTES_DEFAULT). */
export const VALUE_BYTES_MAX = 128 * 1024;

/**
 * `id` (optional) names the client request: a command whose id was applied within the last
 * REQUEST_IDS_KEPT entries is not applied again, it answers the first application's result. That makes
 * a router's retry of a write whose first attempt timed out safe (Raft thesis §6.3).
 */
export type KvCommand = (
  | { op: 'put'; key: string; value: string }
  | { op: 'del'; key: string }
  /** Writes value if the key's current revision is expectedRevision (0 = the key must be absent). */
  | { op: 'cas'; key: string; value: string; expectedRevision: number }
  /** Writes value if the key's current value equals expectedValue (null = the key must be absent). */
  | { op: 'cas'; key: string; value: string; expectedValue: string | null }
) & { id?: string };

/** Request ids are one subject token, so a router can carry them in the forwarded subject. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Keys starting with U+0000 are the store's own (request-id records live there, so that snapshots carry
 * them with the data); clients may not use them.
 */
export const RESERVED_KEY_PREFIX = '\u0000';

/** Codes match the public client protocol: a refused command changed nothing. */
export type KvCommandErrorCode = 'BAD_REQUEST' | 'KEY_TOO_LARGE' | 'VALUE_TOO_LARGE';

export class KvCommandError extends Error {
  override readonly name = 'KvCommandError';
  readonly code: KvCommandErrorCode;

  constructor(code: KvCommandErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const packr = new Packr({ useRecords: false, mapsAsObjects: false, moreTypes: false });

const FIELDS_ALLOWED: ReadonlySet<string> = new Set(['op', 'key', 'value', 'expectedRevision', 'expectedValue', 'id']);

/** Validates and encodes; throws KvCommandError for a command no replica may apply. */
export function encodeKvCommand(command: KvCommand): Uint8Array {
  // Fields set to undefined count as absent, as they would after a JSON round trip.
  const fields = new Map<string, unknown>(Object.entries(command).filter(([, value]) => value !== undefined));
  const validated = validateFields(fields);
  return packr.pack(toWireMap(validated));
}

/** Decodes and validates; throws KvCommandError when the bytes are not a valid command. */
export function decodeKvCommand(data: Uint8Array): KvCommand {
  let decoded: unknown;
  try {
    decoded = packr.unpack(data);
  } catch (error) {
    throw new KvCommandError('BAD_REQUEST', 'command is not msgpack', { cause: error });
  }
  if (!(decoded instanceof Map)) throw new KvCommandError('BAD_REQUEST', 'command is not a msgpack map');
  return validateFields(decoded);
}

/** @internal storage/shardCommand.ts: the msgpack both command codecs share. */
export const commandPackr = packr;

/** @internal storage/shardCommand.ts: validation of a decoded client command. */
export function validateKvCommandFields(fields: Map<unknown, unknown>): KvCommand {
  return validateFields(fields);
}

/** The UTF-8 size rules, exported so gateways can answer KEY_TOO_LARGE / VALUE_TOO_LARGE early. */
export function checkKey(key: unknown): string {
  const checked = checkStoredKey(key);
  if (checked.startsWith(RESERVED_KEY_PREFIX)) throw new KvCommandError('BAD_REQUEST', 'keys starting with U+0000 are reserved');
  return checked;
}

/** The rules for any key in the state machine, the store's reserved ones included (snapshot transfer). */
export function checkStoredKey(key: unknown): string {
  if (typeof key !== 'string') throw new KvCommandError('BAD_REQUEST', 'key must be a string');
  if (key.length === 0) throw new KvCommandError('BAD_REQUEST', 'key must not be empty');
  if (!isWellFormed(key)) throw new KvCommandError('BAD_REQUEST', 'key contains a lone surrogate (not valid UTF-8)');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > KEY_BYTES_MAX) throw new KvCommandError('KEY_TOO_LARGE', `key has ${bytes} bytes, max ${KEY_BYTES_MAX}`);
  return key;
}

export function checkValue(value: unknown, field = 'value'): string {
  if (typeof value !== 'string') throw new KvCommandError('BAD_REQUEST', `${field} must be a string`);
  if (!isWellFormed(value)) throw new KvCommandError('BAD_REQUEST', `${field} contains a lone surrogate (not valid UTF-8)`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > VALUE_BYTES_MAX) {
    throw new KvCommandError('VALUE_TOO_LARGE', `${field} has ${bytes} bytes, max ${VALUE_BYTES_MAX}`);
  }
  return value;
}

function validateFields(fields: Map<unknown, unknown>): KvCommand {
  for (const name of fields.keys()) {
    if (typeof name !== 'string' || !FIELDS_ALLOWED.has(name)) {
      throw new KvCommandError('BAD_REQUEST', `unknown command field ${String(name)}`);
    }
  }
  const command = validateOperation(fields);
  if (!fields.has('id')) return command;
  const id = fields.get('id');
  if (typeof id !== 'string' || !REQUEST_ID_PATTERN.test(id)) throw new KvCommandError('BAD_REQUEST', 'id must be 1..64 of [A-Za-z0-9_-]');
  return { ...command, id };
}

function validateOperation(fields: Map<unknown, unknown>): KvCommand {
  const op = fields.get('op');
  const key = checkKey(fields.get('key'));
  switch (op) {
    case 'put':
      refuseFields(fields, op, ['expectedRevision', 'expectedValue']);
      return { op, key, value: checkValue(fields.get('value')) };
    case 'del':
      refuseFields(fields, op, ['value', 'expectedRevision', 'expectedValue']);
      return { op, key };
    case 'cas':
      return validateCas(fields, key);
    default:
      throw new KvCommandError('BAD_REQUEST', `unknown op ${String(op)}`);
  }
}

function validateCas(fields: Map<unknown, unknown>, key: string): KvCommand {
  const value = checkValue(fields.get('value'));
  const hasRevision = fields.has('expectedRevision');
  const hasValue = fields.has('expectedValue');
  if (hasRevision === hasValue) {
    throw new KvCommandError('BAD_REQUEST', 'cas needs exactly one of expectedRevision and expectedValue');
  }
  if (hasRevision) {
    const expectedRevision = fields.get('expectedRevision');
    if (typeof expectedRevision !== 'number' || !Number.isSafeInteger(expectedRevision) || expectedRevision < 0) {
      throw new KvCommandError('BAD_REQUEST', 'expectedRevision must be a non-negative integer');
    }
    return { op: 'cas', key, value, expectedRevision };
  }
  const expectedValue = fields.get('expectedValue');
  return { op: 'cas', key, value, expectedValue: expectedValue === null ? null : checkValue(expectedValue, 'expectedValue') };
}

function refuseFields(fields: Map<unknown, unknown>, op: string, names: string[]): void {
  for (const name of names) {
    if (fields.has(name)) throw new KvCommandError('BAD_REQUEST', `${op} does not take ${name}`);
  }
}

/** Only the fields the op uses, in a fixed order, so equal commands encode to equal bytes. */
function toWireMap(command: KvCommand): Map<string, unknown> {
  const wire = new Map<string, unknown>([['op', command.op], ['key', command.key]]);
  if (command.op !== 'del') wire.set('value', command.value);
  if (command.op === 'cas') {
    if ('expectedRevision' in command) wire.set('expectedRevision', command.expectedRevision);
    else wire.set('expectedValue', command.expectedValue);
  }
  if (command.id !== undefined) wire.set('id', command.id);
  return wire;
}

/** True when the string has no lone surrogate, i.e. survives a round trip through UTF-8. */
function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}
