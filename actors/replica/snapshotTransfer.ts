// InstallSnapshot over NATS. The leader streams the state machine (one consistent LMDB read view) in
// chunks as request/reply, one frame in flight at a time: the reply is the flow control and tells the
// sender whether to go on. Each frame carries the sender's replica id and term so a receiver can refuse
// a deposed leader.

import { NatsConnection, Msg, Subscription } from 'nats';
import { SnapshotMeta } from '../../actors/raft';
import { ReplicaStore, SnapshotReceiver, decodeSnapshotFrame, encodeSnapshotFrame } from '../../storage';
import { respond, respondError } from './clientRequests';

const HEADER_BYTES = 12;
const FRAME_TIMEOUT_MS = 10_000;

export enum TransferAnswer {
  /** Go on with the next frame. */
  Continue = 0,
  /** Installed (after the trailer), or not needed at all (the receiver already holds that point). */
  Done = 1,
  Refused = 2,
}

function wrap(from: number, term: number, frame: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + frame.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, from);
  view.setFloat64(4, term);
  bytes.set(frame, HEADER_BYTES);
  return bytes;
}

function unwrap(bytes: Uint8Array): { from: number; term: number; frame: Uint8Array } {
  if (bytes.byteLength < HEADER_BYTES) throw new Error('snapshot frame too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { from: view.getUint32(0), term: view.getFloat64(4), frame: bytes.subarray(HEADER_BYTES) };
}

/** Streams this replica's state machine to `subject`; resolves true when the receiver installed it. */
export async function sendSnapshot(nc: NatsConnection, store: ReplicaStore, subject: string, from: number, term: number): Promise<boolean> {
  for await (const frame of store.streamSnapshot()) {
    const reply = await nc.request(subject, wrap(from, term, encodeSnapshotFrame(frame)), { timeout: FRAME_TIMEOUT_MS });
    const answer = reply.data[0] as TransferAnswer;
    if (answer === TransferAnswer.Done) return true;
    if (answer !== TransferAnswer.Continue) return false;
  }
  return false;
}

/** The snapshot trailer's digest of this replica's state machine, read in one consistent view. */
export async function stateDigest(store: ReplicaStore): Promise<{ applied: number; digest: string; pairs: number }> {
  let applied = 0;
  for await (const frame of store.streamSnapshot()) {
    if (frame.kind === 'header') applied = frame.meta.index;
    if (frame.kind === 'trailer') return { applied, digest: Buffer.from(frame.digest).toString('hex'), pairs: frame.pairCount };
  }
  throw new Error('snapshot stream ended without a trailer');
}

/** What the receiving replica decides, with access to its Raft core. */
export interface SnapshotHost {
  /** Whether a transfer of `meta` from a leader in `term` is wanted; 'skip' when the log already has it. */
  admit(meta: SnapshotMeta, from: number, term: number): 'accept' | 'skip' | 'refuse';
  /** Runs the install with the Ready loop paused, then rebuilds the core from storage. */
  install(receive: () => Promise<SnapshotMeta | undefined>, from: number, term: number): Promise<void>;
  log(line: string): void;
}

/** Receives transfers addressed to one replica, one at a time. */
export class SnapshotInbox {
  private receiver: SnapshotReceiver | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly subscription: Subscription;

  constructor(nc: NatsConnection, subject: string, private readonly store: ReplicaStore, private readonly host: SnapshotHost) {
    this.subscription = nc.subscribe(subject, { callback: (error, message) => void this.handle(error, message) });
  }

  private async handle(error: Error | null, message: Msg): Promise<void> {
    if (error) return;
    let answer = TransferAnswer.Refused;
    try {
      answer = await this.receive(message.data);
    } catch (failure) {
      this.host.log(`snapshot receive failed: ${String(failure)}`);
      await this.abort();
    }
    if (message.reply) message.respond(new Uint8Array([answer]));
  }

  private async receive(bytes: Uint8Array): Promise<TransferAnswer> {
    const { from, term, frame: frameBytes } = unwrap(bytes);
    const frame = decodeSnapshotFrame(frameBytes);
    this.touch();
    if (frame.kind === 'header') {
      await this.abort();
      const decision = this.host.admit(frame.meta, from, term);
      if (decision !== 'accept') return decision === 'skip' ? TransferAnswer.Done : TransferAnswer.Refused;
      this.receiver = this.store.receiveSnapshot();
      await this.receiver.receive(frame);
      return TransferAnswer.Continue;
    }
    const receiver = this.receiver;
    if (!receiver) return TransferAnswer.Refused;
    if (frame.kind === 'chunk') {
      await receiver.receive(frame);
      return TransferAnswer.Continue;
    }
    this.receiver = undefined;
    this.clearTimer();
    await this.host.install(() => receiver.receive(frame), from, term);
    return TransferAnswer.Done;
  }

  /** A sender that went quiet (it died or lost leadership) must not pin the staging copy forever. */
  private touch(): void {
    this.clearTimer();
    this.idleTimer = setTimeout(() => void this.abort(), FRAME_TIMEOUT_MS * 2);
    this.idleTimer.unref();
  }

  private clearTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private async abort(): Promise<void> {
    const receiver = this.receiver;
    this.receiver = undefined;
    this.clearTimer();
    if (receiver) await receiver.abort();
  }

  async close(): Promise<void> {
    this.subscription.unsubscribe();
    await this.abort();
  }
}

/** Answers a consistency check with the digest of the state machine as of its applied index. */
export async function answerDigest(message: Msg, store: ReplicaStore, identity: { partition: number; replica: number; node: string }): Promise<void> {
  try {
    const digest = await stateDigest(store);
    respond(message, Buffer.from(JSON.stringify({ ...identity, ...digest })));
  } catch (error) {
    respondError(message, 'INTERNAL', `digest failed: ${String(error)}`);
  }
}
