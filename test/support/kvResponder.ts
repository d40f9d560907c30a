// A tiny in-memory server of the public protocol, for testing clients (kvClient, CLI, HTTP gateway)
// without Raft. One process, one map, revisions per key from one global counter (like cairn's).
// Not a model of cairn's consistency: it only answers in the protocol's shapes.

import type { Msg, NatsConnection, Subscription } from 'nats';
import { encodeError, encodeReply, parseRequest } from '../../bus/protocol';
import type { ErrorCode, KvRequest, Operation } from '../../bus/protocol';
import { subjects } from '../../bus/subjects';

export interface KvResponderOptions {
  prefix?: string;
  /** Called before answering; return an error to answer with it instead, or 'silent' to not answer. */
  intercept?: (request: KvRequest) => { code: ErrorCode; message: string; leader?: number } | 'silent' | undefined;
}

export interface KvResponder {
  /** Requests received per operation (including refused ones). */
  readonly received: Record<Operation, number>;
  readonly store: Map<string, { value: string; revision: number }>;
  stop(): void;
}

export function startKvResponder(nc: NatsConnection, options: KvResponderOptions = {}): KvResponder {
  const names = subjects(options.prefix);
  const store = new Map<string, { value: string; revision: number }>();
  const received: Record<Operation, number> = { put: 0, get: 0, del: 0, cas: 0, status: 0 };
  let revision = 0;
  const answer = (op: Operation, msg: Msg): void => {
    received[op]++;
    try {
      const parsed = parseRequest(op, msg.data);
      if (!parsed.ok) return void msg.respond(encodeError(parsed.error.code, parsed.error.message));
      const intercepted = options.intercept?.(parsed.request);
      if (intercepted === 'silent') return;
      if (intercepted !== undefined) return void msg.respond(encodeError(intercepted.code, intercepted.message, intercepted.leader));
      msg.respond(apply(parsed.request));
    } catch (error) {
      msg.respond(encodeError('INTERNAL', String(error)));
    }
  };
  const apply = (request: KvRequest): Uint8Array => {
    switch (request.op) {
      case 'put':
        store.set(request.key, { value: request.value, revision: ++revision });
        return encodeReply('put', { revision });
      case 'get': {
        const entry = store.get(request.key);
        return encodeReply('get', { value: entry?.value ?? null, revision: entry?.revision ?? 0 });
      }
      case 'del': {
        const deleted = store.delete(request.key);
        return encodeReply('del', { deleted, revision: deleted ? ++revision : revision });
      }
      case 'cas': {
        const entry = store.get(request.key);
        const matches = 'revision' in request.expected ? (entry?.revision ?? 0) === request.expected.revision : (entry?.value ?? null) === request.expected.value;
        if (!matches) return encodeReply('cas', { ok: false, value: entry?.value ?? null, revision: entry?.revision ?? 0 });
        store.set(request.key, { value: request.value, revision: ++revision });
        return encodeReply('cas', { ok: true, revision });
      }
      case 'status':
        return encodeReply('status', { keys: store.size, revision });
    }
  };
  const subscriptions: Subscription[] = (
    [
      ['put', names.kvPut],
      ['get', names.kvGet],
      ['del', names.kvDel],
      ['cas', names.kvCas],
      ['status', names.clusterStatus],
    ] as const
  ).map(([op, subject]) => nc.subscribe(subject, { callback: (error, msg) => error === null && answer(op, msg) }));
  return { received, store, stop: () => subscriptions.forEach((subscription) => subscription.unsubscribe()) };
}
