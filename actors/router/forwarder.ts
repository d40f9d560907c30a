// How a router forwards a client's request: to the partition leader, which answers the client itself
// (bus/routedReplies.ts), so the answer costs one NATS message, not two. The router keeps each request
// until it hears it was answered (acknowledgements come batched, one message per leader host and turn)
// and sends it on again when
// - the leader refused it: NOT_LEADER or UNAVAILABLE (an election, leadership lost with it pending), or
//   WRONG_PARTITION (the key moved: the ring is refreshed first);
// - nobody serves the partition (NATS answers no-responders);
// - nothing was heard within ATTEMPT_MS_MAX (the leader may have died holding it).
// Reads are idempotent and every write carries a request id that the state machine applies once, so
// sending again is safe; a client that gets two answers keeps the first. Past the deadline the client
// gets TIMEOUT or UNAVAILABLE, both indeterminate.

import { headers } from 'nats';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from 'nats';
import { DEADLINE_HEADER } from '../../bus/deadline';
import { encodeError } from '../../bus/protocol';
import { ACK_TOKEN, CLIENT_REPLY_HEADER, decodeAcks } from '../../bus/routedReplies';
import type { RingFollower } from '../../bus/ringFollower';

const NOT_LEADER_PREFIX = Buffer.from('{"error":{"code":"NOT_LEADER"');
/** A leader that lost leadership with the request pending, or refused it under backpressure. */
const UNAVAILABLE_PREFIX = Buffer.from('{"error":{"code":"UNAVAILABLE"');
/** The key is another partition's now: nothing was applied. */
const WRONG_PARTITION_PREFIX = Buffer.from('{"error":{"code":"WRONG_PARTITION"');
const BACKOFF_MS_MIN = 5;
const BACKOFF_MS_MAX = 100;
/** An attempt that got no answer within this is sent again (the leader may have died holding it). */
export const ATTEMPT_MS_MAX = 1_000;
/** How often unanswered attempts are looked for. */
const SWEEP_MS = 50;
/**
 * Requests waiting for a leader (or for a moving key) are bounded in time by the deadline and in count
 * by this: past it a request that must wait is answered UNAVAILABLE at once, not queued without end.
 */
export const ROUTER_WAITING_MAX = 10_000;

type Outcome = 'refused' | 'moving' | 'silent';

interface Forward {
  seq: number;
  readonly clientReply: string;
  readonly subjectOf: () => string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs;
  readonly deadline: number;
  attemptExpires: number;
  backoffMs: number;
  last: Outcome;
}

export class Forwarder {
  /** Attempts not yet answered, by sequence number. */
  private readonly pending = new Map<number, Forward>();
  /** Attempts in the order sent, for the sweep (answered ones are skipped). */
  private sent: Forward[] = [];
  private sentHead = 0;
  private seqNext = 0;
  /** Requests now waiting to be sent again. */
  private waiting = 0;
  private subscription: Subscription | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Requests answered UNAVAILABLE or TIMEOUT by the router itself. */
  failures = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly inbox: string,
    private readonly ring: RingFollower,
    private readonly deadlineMs: number,
  ) {}

  start(): this {
    this.subscription = this.nc.subscribe(`${this.inbox}.*`, { callback: (_, message) => this.onInbox(message) });
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    return this;
  }

  /** Sends a client's request on; `clientDeadline` (writes) bounds the retries too. */
  forward(clientReply: string, subjectOf: () => string, data: Uint8Array, clientDeadline: number | undefined, skewMs: number): void {
    const deadline = Math.min(Date.now() + this.deadlineMs, clientDeadline === undefined ? Infinity : clientDeadline + skewMs);
    const hdrs = headers();
    hdrs.set(CLIENT_REPLY_HEADER, clientReply);
    if (clientDeadline !== undefined) hdrs.set(DEADLINE_HEADER, String(Math.ceil(clientDeadline)));
    this.send({ seq: 0, clientReply, subjectOf, data, headers: hdrs, deadline, attemptExpires: 0, backoffMs: BACKOFF_MS_MIN, last: 'silent' });
  }

  private send(forward: Forward): void {
    const now = Date.now();
    forward.seq = this.seqNext;
    this.seqNext = (this.seqNext + 1) >>> 0;
    forward.attemptExpires = now + Math.min(ATTEMPT_MS_MAX, Math.max(1, forward.deadline - now));
    this.pending.set(forward.seq, forward);
    this.sent.push(forward);
    // The ring may change between attempts: the subject is worked out for each.
    this.nc.publish(forward.subjectOf(), forward.data, { reply: `${this.inbox}.${forward.seq}`, headers: forward.headers });
  }

  private onInbox(message: Msg): void {
    const token = message.subject.slice(this.inbox.length + 1);
    if (token === ACK_TOKEN) {
      for (const seq of decodeAcks(message.data)) this.pending.delete(seq);
      return;
    }
    const forward = this.pending.get(Number(token));
    if (!forward) return;
    this.pending.delete(forward.seq);
    const outcome = outcomeOf(message);
    if (outcome === undefined) return this.answer(forward, message.data);
    void this.retry(forward, outcome);
  }

  /** Attempts unanswered past their time are sent again. */
  private sweep(): void {
    const now = Date.now();
    while (this.sentHead < this.sent.length && this.sent[this.sentHead].attemptExpires <= now) {
      const forward = this.sent[this.sentHead++];
      if (this.pending.get(forward.seq) !== forward) continue;
      this.pending.delete(forward.seq);
      void this.retry(forward, 'silent');
    }
    if (this.sentHead > 1024 && this.sentHead * 2 > this.sent.length) {
      this.sent = this.sent.slice(this.sentHead);
      this.sentHead = 0;
    }
  }

  private async retry(forward: Forward, outcome: Outcome): Promise<void> {
    forward.last = outcome;
    if (Date.now() >= forward.deadline) return this.giveUp(forward);
    if (this.waiting >= ROUTER_WAITING_MAX) {
      this.failures++;
      return this.answer(forward, encodeError('UNAVAILABLE', `${ROUTER_WAITING_MAX} requests already wait in this router for a leader; try again`));
    }
    this.waiting++;
    try {
      if (outcome === 'moving') await this.ring.refresh();
      await new Promise((resolve) => setTimeout(resolve, Math.min(forward.backoffMs, Math.max(0, forward.deadline - Date.now()))));
    } finally {
      this.waiting--;
    }
    forward.backoffMs = Math.min(forward.backoffMs * 2, BACKOFF_MS_MAX);
    if (Date.now() >= forward.deadline) return this.giveUp(forward);
    this.send(forward);
  }

  private giveUp(forward: Forward): void {
    this.failures++;
    if (forward.last === 'silent') {
      return this.answer(forward, encodeError('TIMEOUT', 'the partition leader did not answer in time (a write may or may not have been applied)'));
    }
    const moving = forward.last === 'moving';
    this.answer(forward, encodeError('UNAVAILABLE', moving ? 'the key\'s partition did not serve it within the deadline (no leader, or the key is moving between partitions)' : 'no leader for the partition within the deadline'));
  }

  private answer(forward: Forward, data: Uint8Array): void {
    this.nc.publish(forward.clientReply, data);
  }

  /** Requests still in the router's hands (sent and unanswered, or waiting to be sent again). */
  get inHand(): number {
    return this.pending.size + this.waiting;
  }

  /** Waits (at most `timeoutMs`) for the requests in hand to be answered, then stops listening. */
  async stop(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.inHand > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.subscription?.unsubscribe();
  }
}

/** What a message on the router's inbox says: retry (and why), or undefined for an answer to relay. */
function outcomeOf(message: Msg): Outcome | undefined {
  const data = message.data;
  // NATS's no-responders status: nobody subscribes to the lead subject (an election, or a deleted partition).
  if (data.byteLength === 0 && message.headers?.code === 503) return 'moving';
  if (startsWith(data, NOT_LEADER_PREFIX) || startsWith(data, UNAVAILABLE_PREFIX)) return 'refused';
  if (startsWith(data, WRONG_PARTITION_PREFIX)) return 'moving';
  return undefined;
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.byteLength < prefix.byteLength) return false;
  for (let i = 0; i < prefix.byteLength; i++) if (data[i] !== prefix[i]) return false;
  return true;
}
