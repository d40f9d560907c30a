// The router actor: serves the public subjects for clients that do not know the cluster's layout. It maps
// a key to its partition and forwards to whoever leads it (the leader subscribes to its partition's lead
// subject), retrying with backoff while there is no leader. Every forwarded write carries a request id
// that the state machine applies at most once, so retrying a write whose attempt went unanswered (its
// leader died) cannot apply it twice; when the deadline passes, the answer is TIMEOUT or UNAVAILABLE,
// both indeterminate. The key ring follows the controller (bus/ringFollower.ts): a partition that answers
// WRONG_PARTITION applied nothing, so the router asks for the new ring and sends the request on.

import { randomBytes } from 'node:crypto';
import { connect, ErrorCode as NatsErrorCode, Msg, MsgHdrs, NatsConnection, Subscription } from 'nats';
import { CLOCK_SKEW_ALLOWANCE_MS, deadlineHeaders, deadlineOf, isExpired } from '../../bus/deadline';
import { encodeError, parseRequest, Operation } from '../../bus/protocol';
import { ROUTER_QUEUE_GROUP, Subjects, subjects } from '../../bus/subjects';
import { PartitionMap } from './layout';
import { gatherClusterStatus } from './clusterStatus';
import { RingFollower } from '../../bus/ringFollower';

export interface RouterOptions {
  nodeId: string;
  natsUrl: string;
  prefix: string;
  partitions: number;
  replicas: number;
  /** Time a request may spend in the router before it answers UNAVAILABLE / TIMEOUT. */
  deadlineMs?: number;
}

const NOT_LEADER_PREFIX = Buffer.from('{"error":{"code":"NOT_LEADER"');
/** A leader that lost leadership with the request pending, or refused it under backpressure: retry (same request id). */
const UNAVAILABLE_PREFIX = Buffer.from('{"error":{"code":"UNAVAILABLE"');
/** The key is another partition's now: nothing was applied; refresh the ring and send it on. */
const WRONG_PARTITION_PREFIX = Buffer.from('{"error":{"code":"WRONG_PARTITION"');
const BACKOFF_MS_MIN = 5;
const BACKOFF_MS_MAX = 100;
/** An attempt that got no answer within this is retried (the leader may have died holding it). */
const ATTEMPT_MS_MAX = 1_000;
/**
 * Requests waiting for a leader (or for a moving key) are bounded in time by the deadline and in count
 * by this: past it a request that must wait is answered UNAVAILABLE at once, not queued without end.
 */
export const ROUTER_WAITING_MAX = 10_000;

type Attempt = { kind: 'reply'; data: Uint8Array } | { kind: 'retry'; refreshRing?: boolean } | { kind: 'timeout' };

export class Router {
  private readonly subjects: Subjects;
  private readonly ring: RingFollower;
  private readonly deadlineMs: number;
  handled = 0;
  failures = 0;
  /** Requests now waiting to retry. */
  private waiting = 0;
  /** Unique per router start: request ids must never repeat across routers or restarts. */
  private readonly idPrefix = randomBytes(9).toString('base64url');
  private requestCount = 0;
  private readonly subscriptions: Subscription[] = [];
  /** Requests being routed: a clean stop answers them before it closes the connection. */
  private readonly inflight = new Set<Promise<void>>();

  private constructor(options: RouterOptions, private readonly nc: NatsConnection) {
    this.subjects = subjects(options.prefix);
    this.ring = new RingFollower(nc, this.subjects, new PartitionMap(options.partitions)).follow();
    this.deadlineMs = options.deadlineMs ?? 3_000;
  }

  static async start(options: RouterOptions): Promise<Router> {
    const nc = await connect({ servers: options.natsUrl.split(','), name: `cairn ${options.nodeId} router`, maxReconnectAttempts: -1, noAsyncTraces: true });
    const router = new Router(options, nc);
    router.listen();
    void router.ring.refresh();
    return router;
  }

  private listen(): void {
    const s = this.subjects;
    const routes: [string, Operation][] = [[s.kvPut, 'put'], [s.kvGet, 'get'], [s.kvDel, 'del'], [s.kvCas, 'cas']];
    for (const [subject, op] of routes) {
      this.subscriptions.push(this.nc.subscribe(subject, { queue: ROUTER_QUEUE_GROUP, callback: (_, message) => this.track(this.guard(message, () => this.route(op, message))) }));
    }
    this.subscriptions.push(this.nc.subscribe(s.clusterStatus, {
      queue: ROUTER_QUEUE_GROUP,
      callback: (_, message) => this.track(this.guard(message, async () => {
        const status = await gatherClusterStatus(this.nc, this.subjects);
        this.reply(message, Buffer.from(JSON.stringify(status)));
      })),
    }));
  }

  private track(handling: Promise<void>): void {
    this.inflight.add(handling);
    void handling.finally(() => this.inflight.delete(handling));
  }

  /** A handler must never throw: an exception can end a NATS subscription silently. */
  private async guard(message: Msg, handle: () => Promise<void>): Promise<void> {
    try {
      await handle();
    } catch (error) {
      this.failures++;
      this.reply(message, encodeError('INTERNAL', `router: ${String(error)}`));
    }
  }

  private reply(message: Msg, data: Uint8Array): void {
    if (message.reply) message.respond(data);
  }

  private async route(op: Operation, message: Msg): Promise<void> {
    this.handled++;
    if (op === 'status') return;
    const parsed = parseRequest(op, message.data);
    if (!parsed.ok) return this.reply(message, encodeError(parsed.error.code, parsed.error.message));
    const clientDeadline = op === 'get' ? undefined : deadlineOf(message);
    if (isExpired(clientDeadline)) return this.reply(message, encodeError('DEADLINE_EXCEEDED', 'the request arrived after its Cairn-Deadline; it was not applied'));
    const request = parsed.request as { key: string; consistency?: string };
    const stale = op === 'get' && request.consistency === 'stale';
    // A write gets a request id: the state machine applies an id once, so a timed-out attempt can be retried.
    const suffix = op === 'get' ? '' : `.${this.nextRequestId()}`;
    // The ring may change between attempts: the subject is worked out for each.
    const subjectOf = () => {
      const partition = this.ring.partitionOf(request.key);
      return stale ? `${this.subjects.partitionRead(partition)}.get` : `${this.subjects.partitionLead(partition)}.${op}${suffix}`;
    };
    this.reply(message, await this.forward(subjectOf, message.data, clientDeadline));
  }

  private nextRequestId(): string {
    return `${this.idPrefix}${(this.requestCount++).toString(36)}`;
  }

  /**
   * Forwards until a leader answers or the deadline passes. Reads are idempotent and writes carry a
   * request id, so a silent attempt (the leader died with the request) is retried like a refusal.
   */
  private async forward(subjectOf: () => string, data: Uint8Array, clientDeadline: number | undefined): Promise<Uint8Array> {
    // No point going on after the client stopped waiting; the leader refuses what arrives too late.
    const deadline = Math.min(Date.now() + this.deadlineMs, clientDeadline === undefined ? Infinity : clientDeadline + CLOCK_SKEW_ALLOWANCE_MS);
    const headers = clientDeadline === undefined ? undefined : deadlineHeaders(clientDeadline);
    let backoffMs = BACKOFF_MS_MIN;
    let last: Attempt = { kind: 'retry' };
    while (Date.now() < deadline) {
      last = await this.attempt(subjectOf(), data, Math.min(deadline - Date.now(), ATTEMPT_MS_MAX), headers);
      if (last.kind === 'reply') return last.data;
      if (this.waiting >= ROUTER_WAITING_MAX) return encodeError('UNAVAILABLE', `${ROUTER_WAITING_MAX} requests already wait in this router for a leader; try again`);
      this.waiting++;
      try {
        if (last.kind === 'retry' && last.refreshRing) await this.ring.refresh();
        await new Promise((resolve) => setTimeout(resolve, Math.min(backoffMs, Math.max(0, deadline - Date.now()))));
      } finally {
        this.waiting--;
      }
      backoffMs = Math.min(backoffMs * 2, BACKOFF_MS_MAX);
    }
    if (last.kind === 'timeout') return encodeError('TIMEOUT', 'the partition leader did not answer in time (a write may or may not have been applied)');
    const moving = last.kind === 'retry' && last.refreshRing === true;
    return encodeError('UNAVAILABLE', moving ? 'the key\'s partition did not serve it within the deadline (no leader, or the key is moving between partitions)' : 'no leader for the partition within the deadline');
  }

  private async attempt(subject: string, data: Uint8Array, timeoutMs: number, headers: MsgHdrs | undefined): Promise<Attempt> {
    try {
      const reply = await this.nc.request(subject, data, { timeout: Math.max(1, timeoutMs), ...(headers ? { headers } : {}) });
      if (startsWith(reply.data, NOT_LEADER_PREFIX) || startsWith(reply.data, UNAVAILABLE_PREFIX)) return { kind: 'retry' };
      if (startsWith(reply.data, WRONG_PARTITION_PREFIX)) return { kind: 'retry', refreshRing: true };
      return { kind: 'reply', data: reply.data };
    } catch (error) {
      // Nobody serves the partition: an election, or the partition was deleted.
      if ((error as { code?: string }).code === NatsErrorCode.NoResponders) return { kind: 'retry', refreshRing: true };
      return { kind: 'timeout' };
    }
  }

  /** Clean stop: take no new requests (the queue group's other routers get them), finish the ones in hand. */
  async stop(): Promise<void> {
    await Promise.all(this.subscriptions.map((subscription) => subscription.drain().catch(() => undefined)));
    await Promise.all([...this.inflight]);
    this.ring.close();
    await this.nc.drain().catch(() => undefined);
  }
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.byteLength < prefix.byteLength) return false;
  for (let i = 0; i < prefix.byteLength; i++) if (data[i] !== prefix[i]) return false;
  return true;
}
