// Multi-Raft batching: all replicas hosted by one thread share one RaftMux, which packs every Raft
// batch bound for the same node into one NATS message per event-loop turn, and dispatches the frames
// that arrive on this node's inbox (`<prefix>.rnode.<node>`) to the local replicas by partition.
//
// Why: each NATS message costs a socket write, a server hop and a thread wake-up, and with one
// connection per replica the message count grew with the number of partitions (8 partitions x 3
// replicas on a 2-core machine spent most of its CPU on heartbeats and acks). With the mux it grows with
// the number of nodes, as in CockroachDB's and TiKV's per-store message batching.
//
// A node frame is [u8 magic][u8 version][u16 groups] then, per group, [u32 partition][u32 bytes][a
// raftCodec batch]. Order is kept: groups are written in enqueue order and frames published in order.

import type { NatsConnection, Subscription } from 'nats';
import { DEFAULT_PREFIX, subjects } from './subjects';

const MAGIC = 0xc7;
const VERSION = 1;
const HEADER_BYTES = 4;
const GROUP_HEADER_BYTES = 8;
const GROUPS_MAX = 0xffff;
const DEFAULT_FRAME_BYTES_MAX = 1024 * 1024;

export class NodeFrameError extends Error {
  override readonly name = 'NodeFrameError';
}

export interface NodeFrameGroup {
  partition: number;
  batch: Uint8Array;
}

export function nodeFrameBytes(groups: readonly NodeFrameGroup[]): number {
  let bytes = HEADER_BYTES;
  for (const group of groups) bytes += GROUP_HEADER_BYTES + group.batch.byteLength;
  return bytes;
}

export function encodeNodeFrame(groups: readonly NodeFrameGroup[]): Uint8Array {
  if (groups.length > GROUPS_MAX) throw new NodeFrameError(`a node frame holds at most ${GROUPS_MAX} groups`);
  const frame = new Uint8Array(nodeFrameBytes(groups));
  const view = new DataView(frame.buffer);
  frame[0] = MAGIC;
  frame[1] = VERSION;
  view.setUint16(2, groups.length);
  let position = HEADER_BYTES;
  for (const { partition, batch } of groups) {
    if (!Number.isInteger(partition) || partition < 0 || partition > 0xffffffff) throw new NodeFrameError(`bad partition ${partition}`);
    view.setUint32(position, partition);
    view.setUint32(position + 4, batch.byteLength);
    frame.set(batch, position + GROUP_HEADER_BYTES);
    position += GROUP_HEADER_BYTES + batch.byteLength;
  }
  return frame;
}

/** Decodes untrusted bytes; throws NodeFrameError on anything malformed. Batches are views into `input`. */
export function decodeNodeFrame(input: Uint8Array): NodeFrameGroup[] {
  if (input.byteLength < HEADER_BYTES || input[0] !== MAGIC) throw new NodeFrameError('not a node frame');
  if (input[1] !== VERSION) throw new NodeFrameError(`unknown node frame version ${input[1]}`);
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const count = view.getUint16(2);
  const groups: NodeFrameGroup[] = [];
  let position = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (position + GROUP_HEADER_BYTES > input.byteLength) throw new NodeFrameError('truncated group header');
    const partition = view.getUint32(position);
    const bytes = view.getUint32(position + 4);
    const start = position + GROUP_HEADER_BYTES;
    if (start + bytes > input.byteLength) throw new NodeFrameError('truncated group');
    groups.push({ partition, batch: input.subarray(start, start + bytes) });
    position = start + bytes;
  }
  if (position !== input.byteLength) throw new NodeFrameError('trailing bytes after the last group');
  return groups;
}

export interface RaftMuxOptions {
  prefix?: string;
  /** This node: the mux subscribes to its inbox. */
  nodeId: string;
  /** Largest frame to publish; default the server's max_payload. */
  frameBytesMax?: number;
  log?: (line: string) => void;
}

interface Pending {
  groups: NodeFrameGroup[];
  bytes: number;
}

export class RaftMux {
  private readonly subjects;
  private readonly receivers = new Map<number, (batch: Uint8Array) => void>();
  private readonly pending = new Map<string, Pending>();
  private readonly subscription: Subscription;
  private readonly log: (line: string) => void;
  private flushScheduled = false;
  private closed = false;
  framesSent = 0;
  framesReceived = 0;
  undeliverable = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: RaftMuxOptions,
  ) {
    this.subjects = subjects(options.prefix ?? DEFAULT_PREFIX);
    this.log = options.log ?? ((line) => console.warn(line));
    this.subscription = nc.subscribe(this.subjects.raftNode(options.nodeId), {
      callback: (error, message) => {
        if (error === null) this.receive(message.data);
      },
    });
  }

  private get frameBytesMax(): number {
    return this.options.frameBytesMax ?? this.nc.info?.max_payload ?? DEFAULT_FRAME_BYTES_MAX;
  }

  /** Routes frames for `partition` to `receive` until the returned function is called. */
  register(partition: number, receive: (batch: Uint8Array) => void): () => void {
    this.receivers.set(partition, receive);
    return () => {
      if (this.receivers.get(partition) === receive) this.receivers.delete(partition);
    };
  }

  /** Queues one encoded Raft batch for `node`; it leaves with the next flush (this turn's end). */
  enqueue(node: string, partition: number, batch: Uint8Array): void {
    if (this.closed) return;
    let pending = this.pending.get(node);
    if (pending === undefined) this.pending.set(node, (pending = { groups: [], bytes: HEADER_BYTES }));
    const groupBytes = GROUP_HEADER_BYTES + batch.byteLength;
    if (pending.groups.length > 0 && (pending.bytes + groupBytes > this.frameBytesMax || pending.groups.length === GROUPS_MAX)) {
      this.publish(node, pending.groups);
      pending.groups = [];
      pending.bytes = HEADER_BYTES;
    }
    pending.groups.push({ partition, batch });
    pending.bytes += groupBytes;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: every replica whose Ready runs in this turn adds to the same frames.
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.flushScheduled = false;
    for (const [node, pending] of this.pending) {
      if (pending.groups.length > 0) this.publish(node, pending.groups);
    }
    this.pending.clear();
  }

  private publish(node: string, groups: NodeFrameGroup[]): void {
    if (this.closed) return;
    try {
      this.nc.publish(this.subjects.raftNode(node), encodeNodeFrame(groups));
      this.framesSent++;
    } catch (error) {
      // Raft retries lost messages; a closed connection is the host's to handle.
      this.log(`[raftMux ${this.options.nodeId}] publish to ${node} failed: ${String(error)}`);
    }
  }

  private receive(data: Uint8Array): void {
    let groups: NodeFrameGroup[];
    try {
      groups = decodeNodeFrame(data);
    } catch (error) {
      this.log(`[raftMux ${this.options.nodeId}] dropped a frame: ${String(error)}`);
      return;
    }
    this.framesReceived++;
    for (const { partition, batch } of groups) {
      const receiver = this.receivers.get(partition);
      // A replica that is restarting or moved away: Raft retries, nothing to do.
      if (receiver === undefined) this.undeliverable++;
      else receiver(batch);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending.clear();
    this.subscription.unsubscribe();
  }
}
