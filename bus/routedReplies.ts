// Replies to requests that a router forwarded. A router sends a client's request on to the partition
// leader with the client's own reply subject in a header, so the leader answers the client directly: one
// NATS message per request instead of two (leader -> router -> client). The router still has to hear
// what it must act on, on its own inbox (`<router inbox>.<seq>`, the forwarded message's reply subject):
// - refusals it retries elsewhere (NOT_LEADER, UNAVAILABLE, WRONG_PARTITION), sent there instead of to
//   the client, and NATS's own no-responders status when nobody leads the partition;
// - which requests were answered, so it can retry the ones a dying leader took with it: one message per
//   router and event-loop turn, `<router inbox>.ack`, a list of sequence numbers (uint32, big-endian).

import type { Msg, MsgHdrs, NatsConnection, Payload, ReviverFn } from 'nats';
import type { ErrorCode } from './protocol';

/** Header of a forwarded request: where the answer goes (the client's reply subject). */
export const CLIENT_REPLY_HEADER = 'Cairn-Reply-To';
/** Suffix of a router inbox's acknowledgement subject. */
export const ACK_TOKEN = 'ack';

/** Codes after which the router sends the request on: nothing was applied, or the write applies at most once. */
export function isRetryable(code: ErrorCode): boolean {
  return code === 'NOT_LEADER' || code === 'UNAVAILABLE' || code === 'WRONG_PARTITION';
}

/** A forwarded request: `respond` answers the client, `refuse` tells the router. */
export interface RoutedMsg extends Msg {
  refuse(data: Uint8Array): void;
}

export function isRouted(message: Msg): message is RoutedMsg {
  return typeof (message as Partial<RoutedMsg>).refuse === 'function';
}

/** Router inbox and sequence number of a forwarded request's reply subject, or undefined. */
export function parseRouterReply(reply: string): { inbox: string; seq: number } | undefined {
  const dot = reply.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const seq = Number(reply.slice(dot + 1));
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) return undefined;
  return { inbox: reply.slice(0, dot), seq };
}

export function encodeAcks(seqs: number[]): Uint8Array {
  const bytes = Buffer.allocUnsafe(seqs.length * 4);
  for (let i = 0; i < seqs.length; i++) bytes.writeUInt32BE(seqs[i], i * 4);
  return bytes;
}

export function decodeAcks(data: Uint8Array): number[] {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const seqs: number[] = [];
  for (let offset = 0; offset + 4 <= view.byteLength; offset += 4) seqs.push(view.readUInt32BE(offset));
  return seqs;
}

/** The replica side: wraps forwarded requests and sends the acknowledgements of a turn in one message per router. */
export class RoutedReplies {
  private readonly acks = new Map<string, number[]>();
  private flushScheduled = false;

  constructor(private readonly nc: NatsConnection) {}

  /** `message` itself unless a router forwarded it (it carries CLIENT_REPLY_HEADER and a router reply subject). */
  wrap(message: Msg): Msg {
    const client = message.headers?.get(CLIENT_REPLY_HEADER);
    if (!client || !message.reply) return message;
    const router = parseRouterReply(message.reply);
    if (!router) return message;
    return new RoutedMessage(message, client, router.inbox, router.seq, this);
  }

  /** A forwarded request was answered: the router hears of it with this turn's other answers. */
  acknowledge(inbox: string, seq: number): void {
    const list = this.acks.get(inbox);
    if (list) list.push(seq);
    else this.acks.set(inbox, [seq]);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: every answer of this turn, from every replica of the host, shares it.
    setImmediate(() => this.flush());
  }

  publish(subject: string, data?: Payload): void {
    this.nc.publish(subject, data);
  }

  flush(): void {
    this.flushScheduled = false;
    for (const [inbox, seqs] of this.acks) this.nc.publish(`${inbox}.${ACK_TOKEN}`, encodeAcks(seqs));
    this.acks.clear();
  }
}

/** A forwarded request: its reply subject is the client's; a refusal goes to the router's. Answered once. */
class RoutedMessage implements RoutedMsg {
  private answered = false;

  constructor(
    private readonly inner: Msg,
    readonly reply: string,
    private readonly routerInbox: string,
    private readonly seq: number,
    private readonly replies: RoutedReplies,
  ) {}

  get subject(): string {
    return this.inner.subject;
  }

  get sid(): number {
    return this.inner.sid;
  }

  get data(): Uint8Array {
    return this.inner.data;
  }

  get headers(): MsgHdrs | undefined {
    return this.inner.headers;
  }

  respond(payload?: Payload): boolean {
    if (this.answered) return false;
    this.answered = true;
    this.replies.publish(this.reply, payload);
    this.replies.acknowledge(this.routerInbox, this.seq);
    return true;
  }

  refuse(data: Uint8Array): void {
    if (this.answered) return;
    this.answered = true;
    this.replies.publish(`${this.routerInbox}.${this.seq}`, data);
  }

  json<T>(reviver?: ReviverFn): T {
    return this.inner.json<T>(reviver);
  }

  string(): string {
    return this.inner.string();
  }
}
