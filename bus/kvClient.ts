// A small typed client of the public protocol (bus/protocol.ts) over a NATS connection, for the CLI,
// the HTTP gateway and tests. Other languages need no such library; this one only saves TypeScript
// callers from hand-writing JSON.

import type { NatsConnection } from 'nats';
import { PartitionMap } from '../actors/router/layout';
import { encodeRequest, validateKey, validateValue } from './protocol';
import { RequestIdSource } from './requestIdSource';
import type {
  CasExpectation,
  CasReply,
  Consistency,
  DelReply,
  ErrorCode,
  GetReply,
  KvRequest,
  Operation,
  ProtocolError,
  PutReply,
  ReplyByOperation,
  ReplyResult,
  StatusReply,
} from './protocol';
import { BusRequestError, requestJson } from './request';
import { DEFAULT_PREFIX, subjects } from './subjects';
import { RingFollower } from './ringFollower';
import type { Subjects } from './subjects';

/**
 * Wire codes, plus NO_RESPONDERS: nobody subscribed to the subject until the deadline, so nothing was
 * applied (definite). TIMEOUT and UNAVAILABLE are indeterminate: a write may have been applied.
 */
export type KvErrorCode = ErrorCode | 'NO_RESPONDERS';

export class KvError extends Error {
  override readonly name = 'KvError';
  /** With NOT_LEADER: the replica believed to lead (0 when unknown). */
  readonly leader?: number;
  constructor(
    readonly code: KvErrorCode,
    message: string,
    options?: { cause?: unknown; leader?: number },
  ) {
    super(message, { cause: options?.cause });
    this.leader = options?.leader;
  }
}

export interface KvClientOptions {
  /** Subject prefix of the cluster; default `cairn`. */
  prefix?: string;
  /** Deadline of each call in milliseconds, retries included; default 5000. */
  timeoutMs?: number;
  /** First pause before retrying after no-responders, doubled each retry up to 250 ms; default 10. */
  retryBackoffMs?: number;
  /**
   * Cluster-aware routing: with the cluster's partition count, the client hashes keys itself and talks
   * to each partition's leader directly, skipping the router hop (like a Redis Cluster client). It then
   * also retries NOT_LEADER and WRONG_PARTITION, which prove nothing was applied, and follows the key ring
   * the controller publishes (bus/ringFollower.ts). Like a router, it gives every write a request id,
   * which the state machine applies once, so it also retries UNAVAILABLE (a leader that lost its
   * leadership with the write pending) without any risk of applying it twice. Leave unset to go through
   * the routers.
   */
  partitions?: number;
}

export interface CallOptions {
  /** Overrides the client's deadline for this call. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_RETRY_BACKOFF_MS = 10;
const RETRY_BACKOFF_MS_MAX = 250;

export class KvClient {
  private readonly subjects: Subjects;
  private readonly timeoutMs: number;
  private readonly retryBackoffMs: number;
  private readonly ring: RingFollower | undefined;
  /** Unique per client: request ids must never repeat across clients or restarts (as a router's). */
  private readonly requestIds = new RequestIdSource();

  constructor(
    private readonly nc: NatsConnection,
    options: KvClientOptions = {},
  ) {
    this.subjects = subjects(options.prefix ?? DEFAULT_PREFIX);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retryBackoffMs = options.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS;
    this.ring = options.partitions === undefined ? undefined : new RingFollower(nc, this.subjects, new PartitionMap(options.partitions));
  }

  /**
   * A cluster-aware client for the cluster behind `nc`: takes the key ring from the active controller
   * (or, while none answers, the partitions the status lists) and follows its changes. Call close() after.
   */
  static async direct(nc: NatsConnection, options: Omit<KvClientOptions, 'partitions'> = {}): Promise<KvClient> {
    const status = (await new KvClient(nc, options).status()) as { partitions?: unknown[] };
    const partitions = Array.isArray(status.partitions) ? status.partitions.length : 0;
    if (partitions === 0) throw new KvError('UNAVAILABLE', 'the cluster reported no partitions');
    const client = new KvClient(nc, { ...options, partitions });
    client.ring!.follow();
    await client.ring!.refresh();
    return client;
  }

  /** Stops following the key ring (cluster-aware clients); the connection is the caller's. */
  close(): void {
    this.ring?.close();
  }

  put(key: string, value: string, options?: CallOptions): Promise<PutReply> {
    return this.call('put', { op: 'put', key, value }, options);
  }

  get(key: string, options?: CallOptions & { consistency?: Consistency }): Promise<GetReply> {
    return this.call('get', { op: 'get', key, consistency: options?.consistency ?? 'linearizable' }, options);
  }

  del(key: string, options?: CallOptions): Promise<DelReply> {
    return this.call('del', { op: 'del', key }, options);
  }

  /** Sets `key` to `value` only if it currently matches `expected` (revision 0 / value null = absent). */
  cas(key: string, value: string, expected: CasExpectation, options?: CallOptions): Promise<CasReply> {
    return this.call('cas', { op: 'cas', key, value, expected }, options);
  }

  status(options?: CallOptions): Promise<StatusReply> {
    return this.call('status', { op: 'status' }, options);
  }

  private async call<O extends Operation>(op: O, request: KvRequest & { op: O }, options?: CallOptions): Promise<ReplyByOperation[O]> {
    const invalid = validateRequest(request);
    if (invalid !== undefined) throw new KvError(invalid.code, invalid.message);
    const id = this.ring !== undefined && isWrite(op) ? this.requestIds.next() : undefined;
    const result = await this.exchange(op, () => this.subjectFor(request, id), encodeRequest(request), options?.timeoutMs ?? this.timeoutMs);
    if (!result.ok) throw new KvError(result.error.code, result.error.message, { leader: result.error.leader });
    return result.reply;
  }

  /**
   * Sends until a reply or the deadline. Through the routers only NO_RESPONDERS is retried: it proves
   * nobody received the request (e.g. a router restarting). A timeout or an error reply is not retried
   * there, because a write carries no request id of the client's and may already have been applied;
   * re-sending could apply it twice (a cas could even refuse its own first success); the router retries
   * what it can with its own id. Direct to the leaders, a write carries the client's request id, so the
   * refusals named below are retried too. A timeout never is: the deadline is spent.
   */
  private async exchange<O extends Operation>(op: O, subjectOf: () => string, body: Uint8Array, timeoutMs: number): Promise<ReplyResult<ReplyByOperation[O]>> {
    const deadline = Date.now() + timeoutMs;
    let backoffMs = this.retryBackoffMs;
    for (;;) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new KvError('TIMEOUT', `${op}: no reply within ${timeoutMs} ms`);
      const subject = subjectOf();
      try {
        // Only a write can do harm by arriving late (bus/deadline.ts); reads skip the header's cost.
        const result = await requestJson(this.nc, subject, op, body, op === 'get' || op === 'status' ? { timeoutMs: remainingMs } : { timeoutMs: remainingMs, deadlineMs: deadline });
        // Direct to a partition: NOT_LEADER means an election is under way, WRONG_PARTITION that the key
        // moved (or is moving); either way nothing was applied. UNAVAILABLE may follow an applied write,
        // but a direct write carries a request id, so sending it again cannot apply it twice.
        const code = result.ok ? undefined : result.error.code;
        const retry = this.ring !== undefined && (code === 'NOT_LEADER' || code === 'WRONG_PARTITION' || code === 'UNAVAILABLE');
        if (!retry || deadline - Date.now() <= backoffMs) return result;
        if (code === 'WRONG_PARTITION') await this.ring!.refresh();
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, RETRY_BACKOFF_MS_MAX);
        continue;
      } catch (error) {
        if (!(error instanceof BusRequestError)) throw error;
        if (!error.isNoResponders()) throw toKvError(op, error);
        // Direct: nobody leads the partition, or it was deleted.
        if (this.ring !== undefined) await this.ring.refresh();
        if (deadline - Date.now() <= backoffMs) {
          throw new KvError('NO_RESPONDERS', `${op}: no responders on ${error.subject} within ${timeoutMs} ms`, { cause: error });
        }
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, RETRY_BACKOFF_MS_MAX);
      }
    }
  }

  /** Direct writes go to `<lead>.<op>.<requestId>`, the subject a router forwards them on. */
  private subjectFor(request: KvRequest, requestId: string | undefined): string {
    if (this.ring === undefined || request.op === 'status') return this.subjectOf(request.op);
    const partition = this.ring.partitionOf(request.key);
    if (request.op === 'get' && request.consistency === 'stale') return `${this.subjects.partitionRead(partition)}.get`;
    const lead = `${this.subjects.partitionLead(partition)}.${request.op}`;
    return requestId === undefined ? lead : `${lead}.${requestId}`;
  }


  private subjectOf(op: Operation): string {
    switch (op) {
      case 'put':
        return this.subjects.kvPut;
      case 'get':
        return this.subjects.kvGet;
      case 'del':
        return this.subjects.kvDel;
      case 'cas':
        return this.subjects.kvCas;
      case 'status':
        return this.subjects.clusterStatus;
    }
  }
}

function isWrite(op: Operation): boolean {
  return op === 'put' || op === 'del' || op === 'cas';
}

/** The same checks the server makes, so an invalid call fails fast and identically. */
function validateRequest(request: KvRequest): ProtocolError | undefined {
  if (request.op === 'status') return undefined;
  const keyError = validateKey(request.key);
  if (keyError !== undefined) return keyError;
  if (request.op === 'put' || request.op === 'cas') {
    const valueError = validateValue(request.value);
    if (valueError !== undefined) return valueError;
  }
  if (request.op === 'cas') return validateExpectation(request.expected);
  return undefined;
}

function validateExpectation(expected: CasExpectation): ProtocolError | undefined {
  if ('revision' in expected) {
    const ok = Number.isSafeInteger(expected.revision) && expected.revision >= 0;
    return ok ? undefined : { code: 'BAD_REQUEST', message: 'expected revision must be a non-negative safe integer' };
  }
  if (!('value' in expected)) return { code: 'BAD_REQUEST', message: 'cas needs an expected revision or value' };
  return expected.value === null ? undefined : validateValue(expected.value, 'expectedValue');
}

function toKvError(op: Operation, error: BusRequestError): KvError {
  // A closed connection or other transport failure: the request may have left; indeterminate.
  const code: KvErrorCode = error.isTimeout() ? 'TIMEOUT' : 'UNAVAILABLE';
  return new KvError(code, `${op}: ${error.message}`, { cause: error });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
