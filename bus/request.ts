// Request/reply over NATS with a deadline and a typed error, so callers branch on
// `isNoResponders()` / `isTimeout()` instead of matching nats.js error strings.
//
// The two outcomes differ in what they say about effects: NO_RESPONDERS means the server found no
// subscriber, so nobody received the request (safe to retry); TIMEOUT means someone may have received
// and applied it (not safe to blindly retry a write).

import { ErrorCode as NatsErrorCode, NatsError } from 'nats';
import type { NatsConnection } from 'nats';
import { parseReply } from './protocol';
import { deadlineHeaders } from './deadline';
import type { Operation, ReplyResult, ReplyByOperation } from './protocol';

export type BusRequestErrorCode = 'NO_RESPONDERS' | 'TIMEOUT' | 'CONNECTION_CLOSED' | 'REQUEST_FAILED';

export class BusRequestError extends Error {
  override readonly name = 'BusRequestError';
  constructor(
    readonly code: BusRequestErrorCode,
    readonly subject: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Nobody was subscribed: the request was not delivered to anyone. */
  isNoResponders(): boolean {
    return this.code === 'NO_RESPONDERS';
  }

  /** The deadline passed: the request may or may not have been handled. */
  isTimeout(): boolean {
    return this.code === 'TIMEOUT';
  }
}

export interface RequestOptions {
  /** How long to wait for the reply, in milliseconds; must be positive. */
  timeoutMs: number;
  /** Sent as the Cairn-Deadline header (bus/deadline.ts): past it, the cluster refuses the request. */
  deadlineMs?: number;
}

/** Sends `payload` to `subject` and resolves with the reply's bytes, or rejects with BusRequestError. */
export async function request(
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array,
  options: RequestOptions,
): Promise<Uint8Array> {
  if (!(options.timeoutMs > 0) || !Number.isFinite(options.timeoutMs)) {
    throw new BusRequestError('REQUEST_FAILED', subject, `timeoutMs must be a positive finite number, got ${options.timeoutMs}`);
  }
  try {
    const reply = await nc.request(subject, payload, {
      timeout: Math.ceil(options.timeoutMs),
      ...(options.deadlineMs === undefined ? {} : { headers: deadlineHeaders(options.deadlineMs) }),
    });
    return reply.data;
  } catch (error) {
    throw toBusRequestError(subject, error, options.timeoutMs);
  }
}

/** Maps a nats.js failure onto our codes; the original stays available as `cause`. */
export function toBusRequestError(subject: string, error: unknown, timeoutMs: number): BusRequestError {
  if (error instanceof BusRequestError) return error;
  if (error instanceof NatsError) {
    switch (error.code) {
      case NatsErrorCode.NoResponders:
        return new BusRequestError('NO_RESPONDERS', subject, `no responders on ${subject}`, { cause: error });
      case NatsErrorCode.Timeout:
        return new BusRequestError('TIMEOUT', subject, `no reply on ${subject} within ${timeoutMs} ms`, { cause: error });
      case NatsErrorCode.ConnectionClosed:
      case NatsErrorCode.ConnectionDraining:
        return new BusRequestError('CONNECTION_CLOSED', subject, `connection closed: ${error.message}`, { cause: error });
    }
  }
  return new BusRequestError('REQUEST_FAILED', subject, `request on ${subject} failed: ${String(error)}`, { cause: error });
}

/**
 * One public-protocol exchange: sends the JSON body, parses the reply for `op`. Transport failures
 * reject with BusRequestError; protocol errors (including a malformed reply) resolve as `{ok:false}`.
 */
export async function requestJson<O extends Operation>(
  nc: NatsConnection,
  subject: string,
  op: O,
  body: Uint8Array,
  options: RequestOptions,
): Promise<ReplyResult<ReplyByOperation[O]>> {
  const reply = await request(nc, subject, body, options);
  return parseReply(op, reply);
}
