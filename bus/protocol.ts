// The public client protocol: JSON bodies over NATS request/reply, usable from any language with no
// cairn library. Pure: no I/O. Parsing never throws on bad input; it returns a result with a stable
// error code, so a handler can answer every request (an exception in a NATS handler can end the
// subscription silently).
//
// | subject        | request                                              | reply                                  |
// | <p>.kv.put     | {"key":K,"value":V}                                  | {"revision":N}                         |
// | <p>.kv.get     | {"key":K,"consistency"?:"linearizable"|"stale"}     | {"value":V|null,"revision":N}          |
// | <p>.kv.del     | {"key":K}                                            | {"deleted":bool,"revision":N}          |
// | <p>.kv.cas     | {"key":K,"value":V,"expectedRevision":N}             | {"ok":true,"revision":N}               |
// |                | {"key":K,"value":V,"expectedValue":V|null}           | {"ok":false,"value":V|null,"revision":N}|
// | <p>.cluster.status | {} or empty body                                 | a JSON object (shape owned by the controller) |
// Failure: {"error":{"code":C,"message":M}} (NOT_LEADER also carries "leader": the hint, 0 if unknown).
// A missing key is not an error: get answers {"value":null,"revision":0}.

/** Keys are 1..1024 bytes of UTF-8. */
export const KEY_BYTES_MAX = 1024;
/** Values are 0..128 KiB of UTF-8. */
// Bounded (like storage/kvCommand's limit, which must agree) so that a value, its JSON escaping and a
// Raft append carrying it fit nats-server's default max_payload of 1 MiB, and any pair fits one
// snapshot chunk.
export const VALUE_BYTES_MAX = 128 * 1024;
/**
 * Largest request body parsed. A cas by value carries two values, and JSON escaping inflates them,
 * so the bound is two values plus room for the key, field names and some escapes; sizes of the
 * decoded strings are then checked exactly against KEY_BYTES_MAX and VALUE_BYTES_MAX. A body over this
 * bound (e.g. a value of mostly control characters, 6 bytes each as "\u0001") is refused with
 * VALUE_TOO_LARGE. The NATS server's max_payload must be at least this (natsServerProcess sets it).
 */
export const REQUEST_BYTES_MAX = 2 * VALUE_BYTES_MAX + 64 * 1024;
/** Largest reply a client parses: a 1 MiB value can take up to 6 MiB as escaped JSON ("\u0001"). */
export const REPLY_BYTES_MAX = 6 * VALUE_BYTES_MAX + 64 * 1024;

export const ERROR_CODES = [
  'BAD_REQUEST',
  'KEY_TOO_LARGE',
  'VALUE_TOO_LARGE',
  'NOT_LEADER',
  'WRONG_PARTITION',
  'DEADLINE_EXCEEDED',
  'UNAVAILABLE',
  'TIMEOUT',
  'INTERNAL',
] as const;

/**
 * Stable error codes. Definite (nothing was applied): BAD_REQUEST, KEY_TOO_LARGE, VALUE_TOO_LARGE,
 * NOT_LEADER, WRONG_PARTITION (the key is another partition's: a cluster-aware client's key ring is stale, or
 * the key is being moved; refresh the ring and retry), DEADLINE_EXCEEDED (the request reached a router or
 * leader after its Cairn-Deadline). Indeterminate (the write may or may not have been applied): UNAVAILABLE, TIMEOUT, INTERNAL.
 */
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ProtocolError {
  code: ErrorCode;
  message: string;
  /** Only with NOT_LEADER: the replica id believed to lead, 0 when unknown. */
  leader?: number;
}

export type Consistency = 'linearizable' | 'stale';

/** What a cas compares against: the key's revision (0 = absent) or its value (null = absent). */
export type CasExpectation = { revision: number } | { value: string | null };

export type KvRequest =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string; consistency: Consistency }
  | { op: 'del'; key: string }
  | { op: 'cas'; key: string; value: string; expected: CasExpectation }
  | { op: 'status' };

export type Operation = KvRequest['op'];

export type ParseResult<T> = { ok: true; request: T } | { ok: false; error: ProtocolError };

export interface PutReply {
  revision: number;
}
export interface GetReply {
  value: string | null;
  revision: number;
}
export interface DelReply {
  deleted: boolean;
  revision: number;
}
export type CasReply = { ok: true; revision: number } | { ok: false; value: string | null; revision: number };
export type StatusReply = Record<string, unknown>;

export interface ReplyByOperation {
  put: PutReply;
  get: GetReply;
  del: DelReply;
  cas: CasReply;
  status: StatusReply;
}

// Unknown fields are refused rather than ignored: a misspelt "expectedRevison" silently ignored would
// turn a compare-and-set into a blind put. JSON.parse keeps the last of duplicate fields; that is the
// JSON default and no field can be smuggled past these lists by duplicating it.
const FIELDS: Record<Operation, readonly string[]> = {
  put: ['key', 'value'],
  get: ['key', 'consistency'],
  del: ['key'],
  cas: ['key', 'value', 'expectedRevision', 'expectedValue'],
  status: [],
};

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// fatal: invalid UTF-8 is refused, never replaced by U+FFFD (that would store bytes the client never sent).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

type Validation<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

/** Parses a request body (bytes off the wire) for `op`. Never throws. */
export function parseRequest<O extends Operation>(op: O, body: Uint8Array): ParseResult<Extract<KvRequest, { op: O }>>;
export function parseRequest(op: Operation, body: Uint8Array): ParseResult<KvRequest> {
  const object = parseBodyObject(body, REQUEST_BYTES_MAX, op === 'status');
  if (!object.ok) return object;
  const fields = checkFields(object.value, FIELDS[op]);
  if (fields !== undefined) return { ok: false, error: fields };
  switch (op) {
    case 'put':
      return parsePut(object.value);
    case 'get':
      return parseGet(object.value);
    case 'del':
      return parseDel(object.value);
    case 'cas':
      return parseCas(object.value);
    case 'status':
      return { ok: true, request: { op: 'status' } };
  }
}

/** Checks a key against the protocol's rules; shared with clients so they fail before sending. */
export function validateKey(key: unknown): ProtocolError | undefined {
  if (typeof key !== 'string') return badRequest('"key" must be a string');
  if (key.length === 0) return badRequest('"key" must not be empty');
  // The store keeps its own records under keys starting with U+0000 (storage/kvCommand.ts).
  if (key.charCodeAt(0) === 0) return badRequest('"key" must not start with U+0000 (reserved)');
  if (UNPAIRED_SURROGATE.test(key)) return badRequest('"key" contains an unpaired UTF-16 surrogate (not valid UTF-8)');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > KEY_BYTES_MAX) return { code: 'KEY_TOO_LARGE', message: `key is ${bytes} bytes, limit ${KEY_BYTES_MAX}` };
  return undefined;
}

/** Checks a value (or an expected value) against the protocol's rules. */
export function validateValue(value: unknown, field = 'value'): ProtocolError | undefined {
  if (typeof value !== 'string') return badRequest(`"${field}" must be a string`);
  if (UNPAIRED_SURROGATE.test(value)) return badRequest(`"${field}" contains an unpaired UTF-16 surrogate (not valid UTF-8)`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > VALUE_BYTES_MAX) return { code: 'VALUE_TOO_LARGE', message: `${field} is ${bytes} bytes, limit ${VALUE_BYTES_MAX}` };
  return undefined;
}

function parsePut(body: Record<string, unknown>): ParseResult<KvRequest> {
  const error = validateKey(body.key) ?? required(body, 'value') ?? validateValue(body.value);
  if (error !== undefined) return { ok: false, error };
  return { ok: true, request: { op: 'put', key: body.key as string, value: body.value as string } };
}

function parseGet(body: Record<string, unknown>): ParseResult<KvRequest> {
  const error = validateKey(body.key);
  if (error !== undefined) return { ok: false, error };
  const consistency = body.consistency ?? 'linearizable';
  if (consistency !== 'linearizable' && consistency !== 'stale') {
    return { ok: false, error: badRequest('"consistency" must be "linearizable" or "stale"') };
  }
  return { ok: true, request: { op: 'get', key: body.key as string, consistency } };
}

function parseDel(body: Record<string, unknown>): ParseResult<KvRequest> {
  const error = validateKey(body.key);
  if (error !== undefined) return { ok: false, error };
  return { ok: true, request: { op: 'del', key: body.key as string } };
}

function parseCas(body: Record<string, unknown>): ParseResult<KvRequest> {
  const error = validateKey(body.key) ?? required(body, 'value') ?? validateValue(body.value);
  if (error !== undefined) return { ok: false, error };
  const expected = parseCasExpectation(body);
  if (!expected.ok) return expected;
  return { ok: true, request: { op: 'cas', key: body.key as string, value: body.value as string, expected: expected.value } };
}

function parseCasExpectation(body: Record<string, unknown>): Validation<CasExpectation> {
  const hasRevision = hasOwn(body, 'expectedRevision');
  const hasValue = hasOwn(body, 'expectedValue');
  if (hasRevision === hasValue) {
    return { ok: false, error: badRequest('cas needs exactly one of "expectedRevision" and "expectedValue"') };
  }
  if (hasRevision) {
    const revision = body.expectedRevision;
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
      return { ok: false, error: badRequest('"expectedRevision" must be a non-negative safe integer') };
    }
    return { ok: true, value: { revision: revision === 0 ? 0 : revision } }; // -0 parses; store +0
  }
  if (body.expectedValue === null) return { ok: true, value: { value: null } };
  const error = validateValue(body.expectedValue, 'expectedValue');
  if (error !== undefined) return { ok: false, error };
  return { ok: true, value: { value: body.expectedValue as string } };
}

/**
 * Bytes -> a plain JSON object, in the order that bounds the work: size, then UTF-8 validity, then
 * JSON.parse, then "is a plain object". An empty body is accepted only where no field is needed.
 */
function parseBodyObject(body: Uint8Array, bytesMax: number, emptyAllowed: boolean): Validation<Record<string, unknown>> {
  if (!(body instanceof Uint8Array)) return { ok: false, error: badRequest('request body must be bytes') };
  if (body.byteLength > bytesMax) {
    return { ok: false, error: { code: 'VALUE_TOO_LARGE', message: `body is ${body.byteLength} bytes, limit ${bytesMax}` } };
  }
  if (body.byteLength === 0 && emptyAllowed) return { ok: true, value: Object.create(null) as Record<string, unknown> };
  let text: string;
  try {
    text = utf8Decoder.decode(body);
  } catch {
    return { ok: false, error: badRequest('request body is not valid UTF-8') };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // SyntaxError for bad JSON; RangeError should nesting ever exhaust the stack.
    return { ok: false, error: badRequest(`request body is not valid JSON: ${(error as Error).message}`) };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, error: badRequest('request body must be a JSON object') };
  }
  return { ok: true, value: parsed as Record<string, unknown> };
}

function checkFields(body: Record<string, unknown>, allowed: readonly string[]): ProtocolError | undefined {
  // Object.keys lists an own "__proto__" field too (JSON.parse defines it as a plain own property).
  for (const field of Object.keys(body)) {
    if (!allowed.includes(field)) {
      return badRequest(`unknown field ${JSON.stringify(field.slice(0, 64))}; allowed: ${allowed.join(', ') || 'none'}`);
    }
  }
  return undefined;
}

function required(body: Record<string, unknown>, field: string): ProtocolError | undefined {
  return hasOwn(body, field) ? undefined : badRequest(`"${field}" is required`);
}

function hasOwn(body: Record<string, unknown>, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(body, field);
}

function badRequest(message: string): ProtocolError {
  return { code: 'BAD_REQUEST', message };
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

/** Encodes a successful reply. */
export function encodeReply<O extends Operation>(op: O, reply: ReplyByOperation[O]): Uint8Array {
  void op; // the operation only selects the reply type at compile time
  return utf8Encoder.encode(JSON.stringify(reply));
}

/** Encodes a failure as {"error":{"code","message"[,"leader"]}}. */
export function encodeError(code: ErrorCode, message: string, leader?: number): Uint8Array {
  const error: ProtocolError = { code, message };
  if (code === 'NOT_LEADER') error.leader = leader ?? 0;
  return utf8Encoder.encode(JSON.stringify({ error }));
}

/** Encodes a request body, for clients (and tests) of the protocol. */
export function encodeRequest(request: KvRequest): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(requestBody(request)));
}

function requestBody(request: KvRequest): Record<string, unknown> {
  switch (request.op) {
    case 'put':
      return { key: request.key, value: request.value };
    case 'get':
      return { key: request.key, consistency: request.consistency };
    case 'del':
      return { key: request.key };
    case 'cas':
      return 'revision' in request.expected
        ? { key: request.key, value: request.value, expectedRevision: request.expected.revision }
        : { key: request.key, value: request.value, expectedValue: request.expected.value };
    case 'status':
      return {};
  }
}

export type ReplyResult<T> = { ok: true; reply: T } | { ok: false; error: ProtocolError };

/**
 * Parses a reply (for clients): either the operation's reply shape or an error object. Replies come
 * from cairn itself, but a client still checks them so a bug cannot hand garbage to an application.
 */
export function parseReply<O extends Operation>(op: O, body: Uint8Array): ReplyResult<ReplyByOperation[O]>;
export function parseReply(op: Operation, body: Uint8Array): ReplyResult<unknown> {
  const object = parseBodyObject(body, REPLY_BYTES_MAX, false);
  if (!object.ok) return { ok: false, error: { code: 'INTERNAL', message: `bad reply: ${object.error.message}` } };
  const value = object.value;
  if (hasOwn(value, 'error')) return { ok: false, error: parseErrorObject(value.error) };
  if (isReplyShape(op, value)) return { ok: true, reply: value };
  return { ok: false, error: { code: 'INTERNAL', message: `reply to ${op} has an unexpected shape` } };
}

function parseErrorObject(error: unknown): ProtocolError {
  if (typeof error !== 'object' || error === null) return { code: 'INTERNAL', message: 'reply error is not an object' };
  const { code, message, leader } = error as Record<string, unknown>;
  const text = typeof message === 'string' ? message : '';
  // An unknown code from a newer server is reported as INTERNAL (indeterminate): never guess "definite".
  if (!isErrorCode(code)) return { code: 'INTERNAL', message: `unknown error code ${JSON.stringify(code)}: ${text}` };
  const parsed: ProtocolError = { code, message: text };
  if (code === 'NOT_LEADER') parsed.leader = isRevision(leader) ? leader : 0;
  return parsed;
}

function isReplyShape(op: Operation, value: Record<string, unknown>): boolean {
  switch (op) {
    case 'put':
      return isRevision(value.revision);
    case 'get':
      return isRevision(value.revision) && (value.value === null || typeof value.value === 'string');
    case 'del':
      return isRevision(value.revision) && typeof value.deleted === 'boolean';
    case 'cas':
      if (value.ok === true) return isRevision(value.revision);
      return value.ok === false && isRevision(value.revision) && (value.value === null || typeof value.value === 'string');
    case 'status':
      return true;
  }
}

function isRevision(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
