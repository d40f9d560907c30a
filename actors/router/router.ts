// The router actor: serves the public subjects for clients that do not know the cluster's layout. It maps
// a key to its partition and forwards to whoever leads it (the leader subscribes to its partition's lead
// subject), which answers the client directly; the router retries with backoff while there is no leader
// (actors/router/forwarder.ts). Every forwarded write carries a request id
// that the state machine applies at most once, so retrying a write whose attempt went unanswered (its
// leader died) cannot apply it twice; when the deadline passes, the answer is TIMEOUT or UNAVAILABLE,
// both indeterminate. The key ring follows the controller (bus/ringFollower.ts): a partition that answers
// WRONG_PARTITION applied nothing, so the router asks for the new ring and sends the request on.

import { connect, Msg, NatsConnection, Subscription } from 'nats';
import { CLOCK_SKEW_ALLOWANCE_MS, deadlineHeaders, deadlineOf, isExpired } from '../../bus/deadline';
import { Forwarder } from './forwarder';
import { encodeError, parseRequest, Operation } from '../../bus/protocol';
import { ROUTER_QUEUE_GROUP, Subjects, subjects } from '../../bus/subjects';
import { PartitionMap } from './layout';
import { gatherClusterStatus } from './clusterStatus';
import { RingFollower } from '../../bus/ringFollower';
import { RequestIdSource } from '../../bus/requestIdSource';

export interface RouterOptions {
  nodeId: string;
  natsUrl: string;
  prefix: string;
  partitions: number;
  replicas: number;
  /** Time a request may spend in the router before it answers UNAVAILABLE / TIMEOUT. */
  deadlineMs?: number;
}

export { ROUTER_WAITING_MAX } from './forwarder';

export class Router {
  private readonly subjects: Subjects;
  private readonly ring: RingFollower;
  private readonly deadlineMs: number;
  handled = 0;
  private internalFailures = 0;
  private readonly forwarder: Forwarder;
  /** Unique per router start: request ids must never repeat across routers or restarts. */
  private readonly requestIds = new RequestIdSource();
  private readonly subscriptions: Subscription[] = [];
  /** Requests being routed: a clean stop answers them before it closes the connection. */
  private readonly inflight = new Set<Promise<void>>();

  private constructor(options: RouterOptions, private readonly nc: NatsConnection) {
    this.subjects = subjects(options.prefix);
    this.ring = new RingFollower(nc, this.subjects, new PartitionMap(options.partitions)).follow();
    this.deadlineMs = options.deadlineMs ?? 3_000;
    this.forwarder = new Forwarder(nc, this.subjects.routerInbox(this.requestIds.sourceId), this.ring, this.deadlineMs);
  }

  /** Requests answered with an error by the router itself (no leader in time, or a bug). */
  get failures(): number {
    return this.internalFailures + this.forwarder.failures;
  }

  static async start(options: RouterOptions): Promise<Router> {
    const nc = await connect({ servers: options.natsUrl.split(','), name: `cairn ${options.nodeId} router`, maxReconnectAttempts: -1, noAsyncTraces: true });
    const router = new Router(options, nc);
    router.forwarder.start();
    router.listen();
    void router.ring.refresh();
    return router;
  }

  private listen(): void {
    const s = this.subjects;
    const routes: [string, Operation][] = [[s.kvPut, 'put'], [s.kvGet, 'get'], [s.kvDel, 'del'], [s.kvCas, 'cas']];
    for (const [subject, op] of routes) {
      this.subscriptions.push(this.nc.subscribe(subject, { queue: ROUTER_QUEUE_GROUP, callback: (_, message) => this.routeGuarded(op, message) }));
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

  private async guard(message: Msg, handle: () => Promise<void>): Promise<void> {
    try {
      await handle();
    } catch (error) {
      this.internalFailures++;
      this.reply(message, encodeError('INTERNAL', `router: ${String(error)}`));
    }
  }

  private reply(message: Msg, data: Uint8Array): void {
    if (message.reply) message.respond(data);
  }

  /** A handler must never throw: an exception can end a NATS subscription silently. */
  private routeGuarded(op: Operation, message: Msg): void {
    try {
      this.route(op, message);
    } catch (error) {
      this.internalFailures++;
      this.reply(message, encodeError('INTERNAL', `router: ${String(error)}`));
    }
  }

  private route(op: Operation, message: Msg): void {
    this.handled++;
    if (op === 'status') return;
    const parsed = parseRequest(op, message.data);
    if (!parsed.ok) return this.reply(message, encodeError(parsed.error.code, parsed.error.message));
    const clientDeadline = op === 'get' ? undefined : deadlineOf(message);
    if (isExpired(clientDeadline)) return this.reply(message, encodeError('DEADLINE_EXCEEDED', 'the request arrived after its Cairn-Deadline; it was not applied'));
    const request = parsed.request as { key: string; consistency?: string };
    const stale = op === 'get' && request.consistency === 'stale';
    // A write gets a request id: the state machine applies an id once, so a timed-out attempt can be retried.
    const suffix = op === 'get' ? '' : `.${this.requestIds.next()}`;
    // The ring may change between attempts: the subject is worked out for each.
    const subjectOf = () => {
      const partition = this.ring.partitionOf(request.key);
      return stale ? `${this.subjects.partitionRead(partition)}.get` : `${this.subjects.partitionLead(partition)}.${op}${suffix}`;
    };
    // A client that wants no answer (a plain publish) still gets its write applied, once.
    if (!message.reply) return void this.nc.publish(subjectOf(), message.data, clientDeadline === undefined ? {} : { headers: deadlineHeaders(clientDeadline) });
    this.forwarder.forward(message.reply, subjectOf, message.data, clientDeadline, CLOCK_SKEW_ALLOWANCE_MS);
  }

  /** Clean stop: take no new requests (the queue group's other routers get them), finish the ones in hand. */
  async stop(): Promise<void> {
    await Promise.all(this.subscriptions.map((subscription) => subscription.drain().catch(() => undefined)));
    await Promise.all([...this.inflight]);
    await this.forwarder.stop(this.deadlineMs);
    this.ring.close();
    await this.nc.drain().catch(() => undefined);
  }
}
