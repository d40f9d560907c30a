// Client requests a partition leader is serving: writes wait for their entry to apply, linearizable reads
// wait for their ReadIndex to be confirmed and applied. Every reply tells the truth about effects:
// NOT_LEADER means nothing was applied (the router may retry), a missing reply is a timeout upstream.

import { Msg } from 'nats';
import { encodeError, encodeReply, ErrorCode, KvRequest } from '../../bus/protocol';
import { isRetryable, isRouted } from '../../bus/routedReplies';
import { KvResult } from '../../storage';
import { KvRecord } from '../../storage/kvRecord';

interface PendingWrite {
  term: number;
  op: 'put' | 'del' | 'cas' | 'shard';
  message: Msg;
  /** The answer of a shard entry (actors/replica/shardRequests.ts); client writes use encodeResult. */
  encode?: (result: KvResult) => Uint8Array;
}

interface PendingRead {
  key: string;
  index: number;
  message: Msg;
}

export function respond(message: Msg, payload: Uint8Array): void {
  // A client that gave no reply subject gets nothing; publishing would throw.
  if (message.reply) message.respond(payload);
}

/** A refusal a router can act on goes to the router, which retries; anything else to the client. */
export function respondError(message: Msg, code: ErrorCode, text: string, leader?: number): void {
  if (isRouted(message) && isRetryable(code)) return message.refuse(encodeError(code, text, leader));
  respond(message, encodeError(code, text, leader));
}

export function encodeGet(record: KvRecord | undefined): Uint8Array {
  return encodeReply('get', record ? { value: record.value, revision: record.revision } : { value: null, revision: 0 });
}

const WRONG_PARTITION_TEXT = 'the key belongs to another partition (resharded); nothing was applied';

export function encodeResult(op: PendingWrite['op'], result: KvResult): Uint8Array {
  switch (result.op) {
    case 'refused':
      return encodeError('WRONG_PARTITION', WRONG_PARTITION_TEXT);
    case 'put':
      return encodeReply('put', { revision: result.revision });
    case 'del':
      return encodeReply('del', { deleted: result.deleted, revision: result.revision });
    case 'cas':
      return result.ok
        ? encodeReply('cas', { ok: true, revision: result.revision })
        : encodeReply('cas', { ok: false, value: result.value, revision: result.revision });
    default:
      return encodeError('INTERNAL', `entry for a ${op} applied as ${result.op}`);
  }
}

export class ClientRequests {
  private writes = new Map<number, PendingWrite>();
  private reads = new Map<number, PendingRead>();
  /** Reads whose ReadIndex is confirmed, waiting for apply to reach their index. */
  private readsConfirmed: PendingRead[] = [];
  private readContextNext = 1;
  /** Linearizable gets served under the read lease, and by a ReadIndex round, since the replica started. */
  readonly readsServed = { lease: 0, readIndex: 0 };

  get pendingCount(): number {
    return this.writes.size + this.reads.size + this.readsConfirmed.length;
  }

  addWrite(index: number, term: number, request: Extract<KvRequest, { op: 'put' | 'del' | 'cas' }>, message: Msg): void {
    this.writes.set(index, { term, op: request.op, message });
  }

  addShardEntry(index: number, term: number, message: Msg, encode: (result: KvResult) => Uint8Array): void {
    this.writes.set(index, { term, op: 'shard', message, encode });
  }

  newReadContext(): number {
    return this.readContextNext++;
  }

  addRead(context: number, key: string, message: Msg): void {
    this.reads.set(context, { key, index: 0, message });
  }

  /** An entry applied at `index` in `term` with `result`. */
  applied(index: number, term: number, result: KvResult): void {
    const write = this.writes.get(index);
    if (!write) return;
    this.writes.delete(index);
    // Another leader's entry took this index: our proposal was never applied anywhere.
    if (write.term !== term) respondError(write.message, 'NOT_LEADER', 'leadership changed before the write committed');
    else if (result.op === 'refused' && !write.encode) respondError(write.message, 'WRONG_PARTITION', WRONG_PARTITION_TEXT);
    else respond(write.message, write.encode ? write.encode(result) : encodeResult(write.op, result));
  }

  readConfirmed(context: number, index: number): void {
    const read = this.reads.get(context);
    if (!read) return;
    this.reads.delete(context);
    read.index = index;
    this.readsConfirmed.push(read);
  }

  readDropped(context: number, leader: number): void {
    const read = this.reads.get(context);
    if (!read) return;
    this.reads.delete(context);
    respondError(read.message, 'NOT_LEADER', 'leadership lost before the read was confirmed', leader);
  }

  /**
   * Serves every confirmed read whose index the state machine has applied, if the key is still this
   * partition's at that point (resharding may have moved it since the read arrived).
   */
  serveReads(applied: number, get: (key: string) => KvRecord | undefined, owns: (key: string) => boolean): void {
    if (this.readsConfirmed.length === 0) return;
    const waiting: PendingRead[] = [];
    for (const read of this.readsConfirmed) {
      if (read.index > applied) waiting.push(read);
      else if (owns(read.key)) respond(read.message, encodeGet(get(read.key)));
      else respondError(read.message, 'WRONG_PARTITION', 'the key belongs to another partition (resharded)');
    }
    this.readsConfirmed = waiting;
  }

  /**
   * Writes below `index` were replaced by a snapshot we installed: their outcome is unknown here, so
   * they get no answer and time out upstream (indeterminate, as they must be).
   */
  forgetWritesThrough(index: number): void {
    for (const key of [...this.writes.keys()]) if (key <= index) this.writes.delete(key);
  }

  /**
   * Leadership lost: every write still waiting gets UNAVAILABLE (indeterminate: its entry may yet commit
   * under the next leader). A router retries it with the same request id, which applies at most once.
   */
  failWrites(): void {
    for (const write of this.writes.values()) respondError(write.message, 'UNAVAILABLE', 'leadership changed before the write committed; it may or may not be applied');
    this.writes.clear();
  }

  /** Shutting down: reads fail definitely; writes are indeterminate and left to time out. */
  failReads(leader: number): void {
    for (const context of [...this.reads.keys()]) this.readDropped(context, leader);
    for (const read of this.readsConfirmed) respondError(read.message, 'NOT_LEADER', 'replica stopping', leader);
    this.readsConfirmed = [];
  }
}
