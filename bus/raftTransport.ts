// Sends and receives one replica's Raft messages over NATS.
//
// Outgoing messages are queued per destination and each flush publishes one frame per destination
// (raftCodec batch), split only when a frame would exceed the server's max_payload: one Ready with an
// Append and a Heartbeat to the same peer costs one publish, not two. Every publish goes through the
// fault layer. Incoming frames arrive on this replica's inbox, `<p>.raft.<partition>.<replica>`, or,
// when the replica's host thread has a node mux (bus/raftMux.ts), inside the node's shared frames.
//
// Raft tolerates lost messages (it retries on the next heartbeat or probe), so the transport never
// throws at its caller for a message it could not deliver: it counts, logs the first occurrence of
// each kind of failure, and goes on.

import type { NatsConnection, Subscription } from 'nats';
import type { Message } from '../actors/raft/types';
import { CodecError, decodeBatch, encodeBatch, frameEncodedBytes, messageEncodedBytes } from './raftCodec';
import { defaultFaultInjector } from './faultInjection';
import type { EndpointId, FaultLayer } from './faultInjection';
import { DEFAULT_PREFIX, subjects } from './subjects';
import type { RaftMux } from './raftMux';
import type { PartitionId, Subjects } from './subjects';

export interface RaftTransportOptions {
  /** Subject prefix; default `cairn`. */
  prefix?: string;
  /** The Raft group this replica belongs to. */
  partition: PartitionId;
  /** This replica's id (positive); its inbox is `<prefix>.raft.<partition>.<replica>`. */
  replica: number;
  /** Called once per received message, in arrival order. A throw is caught, counted and logged once. */
  onMessage: (message: Message) => void;
  /** Where sends are routed for fault injection; default the thread's `defaultFaultInjector`. */
  faults?: FaultLayer;
  /** Largest frame to publish, in bytes; default the server's max_payload. */
  frameBytesMax?: number;
  /** Sink for the first occurrence of each failure kind; default console.warn. */
  log?: (line: string) => void;
  /**
   * The host thread's node-level batcher. With it, messages to a replica whose node `nodeOf` knows go
   * in the node's shared frame; the replica's own inbox stays open for senders without a mux.
   */
  mux?: RaftMux;
  nodeOf?: (replica: number) => string | undefined;
}

export interface RaftTransportStats {
  framesSent: number;
  messagesSent: number;
  bytesSent: number;
  framesReceived: number;
  messagesReceived: number;
  /** Frames that were not a valid batch (CodecError), dropped whole. */
  decodeErrors: number;
  /** Messages whose onMessage callback threw. */
  handlerErrors: number;
  /** Messages addressed to another replica, dropped. */
  misrouted: number;
  /** Messages larger than one frame can hold, dropped. */
  oversized: number;
  /** Publishes that failed (e.g. connection closed). */
  publishErrors: number;
}

/** The fault-injection name of a replica: `p<partition>/r<replica>`. */
export function raftEndpoint(partition: PartitionId, replica: number): EndpointId {
  return `p${partition}/r${replica}`;
}

const DEFAULT_FRAME_BYTES_MAX = 1024 * 1024; // nats-server's default max_payload

interface Frame {
  subject: string;
  payload: Uint8Array;
  messageCount: number;
  /** Set when the frame rides the node mux instead of its own publish. */
  node?: string;
}

export class RaftTransport {
  readonly endpoint: EndpointId;
  private readonly subjects: Subjects;
  private readonly faults: FaultLayer;
  private readonly log: (line: string) => void;
  private readonly logged = new Set<string>();
  private readonly outbox = new Map<number, Message[]>();
  private readonly subscription: Subscription;
  private readonly unregisterMux: (() => void) | undefined;
  private readonly counters: RaftTransportStats = {
    framesSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    messagesReceived: 0,
    decodeErrors: 0,
    handlerErrors: 0,
    misrouted: 0,
    oversized: 0,
    publishErrors: 0,
  };
  private closed = false;
  // Bound once: the fault layer calls it per frame, with no closure allocated per send.
  private readonly publishFrame = (frame: Frame): void => this.publish(frame);

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: RaftTransportOptions,
  ) {
    this.subjects = subjects(options.prefix ?? DEFAULT_PREFIX);
    this.endpoint = raftEndpoint(options.partition, options.replica);
    this.faults = options.faults ?? defaultFaultInjector;
    this.log = options.log ?? ((line) => console.warn(line));
    this.subscription = nc.subscribe(this.subjects.raft(options.partition, options.replica), {
      callback: (error, msg) => {
        if (error !== null) this.failOnce('subscription', `subscription error: ${error.message}`);
        else this.receive(msg.data);
      },
    });
    this.unregisterMux = options.mux?.register(Number(options.partition), (batch) => this.receive(batch));
  }

  /** The largest frame this transport publishes; the Raft core's append byte limit must stay below it. */
  get frameBytesMax(): number {
    return this.options.frameBytesMax ?? this.nc.info?.max_payload ?? DEFAULT_FRAME_BYTES_MAX;
  }

  /** Queues a message for the next flush. */
  enqueue(message: Message): void {
    if (this.closed) return;
    let queue = this.outbox.get(message.to);
    if (queue === undefined) this.outbox.set(message.to, (queue = []));
    queue.push(message);
  }

  /** Publishes everything queued: one frame per destination (more only if max_payload forces it). */
  flush(): void {
    for (const [to, messages] of this.outbox) {
      this.outbox.delete(to);
      this.sendTo(to, messages);
    }
  }

  /** Queues `messages` and flushes: the usual call, once per Ready. */
  send(messages: readonly Message[]): void {
    for (const message of messages) this.enqueue(message);
    this.flush();
  }

  stats(): RaftTransportStats {
    return { ...this.counters };
  }

  /** Stops receiving and drops anything queued. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox.clear();
    this.subscription.unsubscribe();
    this.unregisterMux?.();
  }

  private sendTo(to: number, messages: Message[]): void {
    let subject: string;
    try {
      subject = this.subjects.raft(this.options.partition, to);
    } catch (error) {
      this.failOnce('destination', `cannot address replica ${to}: ${String(error)}`);
      return;
    }
    const toEndpoint = raftEndpoint(this.options.partition, to);
    const node = this.options.mux ? this.options.nodeOf?.(to) : undefined;
    for (const batch of this.splitIntoFrames(messages)) {
      let payload: Uint8Array;
      try {
        payload = encodeBatch(batch);
      } catch (error) {
        // Only a bug in the Raft core produces an unencodable message; say so loudly, once.
        this.failOnce('encode', `cannot encode messages to ${toEndpoint}: ${String(error)}`);
        continue;
      }
      this.faults.route(this.endpoint, toEndpoint, { subject, payload, messageCount: batch.length, node }, this.publishFrame);
    }
  }

  /** Greedy packing in send order; order within a destination is preserved across frames. */
  private splitIntoFrames(messages: Message[]): Message[][] {
    const frameBytesMax = this.frameBytesMax;
    const frames: Message[][] = [];
    let current: Message[] = [];
    let currentBytes = 0;
    for (const message of messages) {
      const bytes = messageEncodedBytes(message);
      if (frameEncodedBytes(bytes) > frameBytesMax) {
        this.counters.oversized++;
        this.failOnce('oversized', `dropped a ${bytes}-byte message (type ${message.type}) over the ${frameBytesMax}-byte frame limit`);
        continue;
      }
      if (current.length > 0 && frameEncodedBytes(currentBytes + bytes) > frameBytesMax) {
        frames.push(current);
        current = [];
        currentBytes = 0;
      }
      current.push(message);
      currentBytes += bytes;
    }
    if (current.length > 0) frames.push(current);
    return frames;
  }

  private publish(frame: Frame): void {
    // May run later from a delay timer: it must never throw.
    if (this.closed) return;
    try {
      if (frame.node !== undefined) this.options.mux!.enqueue(frame.node, Number(this.options.partition), frame.payload);
      else this.nc.publish(frame.subject, frame.payload);
      this.counters.framesSent++;
      this.counters.bytesSent += frame.payload.byteLength;
      this.counters.messagesSent += frame.messageCount;
    } catch (error) {
      this.counters.publishErrors++;
      this.failOnce('publish', `publish to ${frame.subject} failed: ${String(error)}`);
    }
  }

  private receive(data: Uint8Array): void {
    let messages: Message[];
    try {
      messages = decodeBatch(data);
    } catch (error) {
      this.counters.decodeErrors++;
      const detail = error instanceof CodecError ? `${error.code}: ${error.message}` : String(error);
      this.failOnce('decode', `dropped an undecodable frame on ${this.endpoint}: ${detail}`);
      return;
    }
    this.counters.framesReceived++;
    for (const message of messages) this.deliver(message);
  }

  private deliver(message: Message): void {
    if (message.to !== this.options.replica) {
      this.counters.misrouted++;
      this.failOnce('misrouted', `${this.endpoint} dropped a message addressed to replica ${message.to}`);
      return;
    }
    this.counters.messagesReceived++;
    try {
      this.options.onMessage(message);
    } catch (error) {
      this.counters.handlerErrors++;
      this.failOnce('handler', `onMessage threw on ${this.endpoint} (counted, later throws not logged): ${String(error)}`);
    }
  }

  private failOnce(kind: string, line: string): void {
    if (this.logged.has(kind)) return;
    this.logged.add(kind);
    try {
      this.log(`[raftTransport ${this.endpoint}] ${line}`);
    } catch {
      // A broken logger must not break the transport.
    }
  }
}
