// The key-value state machine of one replica. Every batch of committed entries is applied in ONE LMDB
// transaction together with the new applied index (and membership), so after a crash the data and
// `applied` always agree: an entry is either fully applied or replayed.
//
// revision = the Raft index of the entry that wrote a key, plus the partition's revision base (0 unless
// keys were copied in by resharding, storage/shardState.ts): per partition, monotonic, and equal on every
// replica because every replica applies the same entries at the same indexes.
// A client command whose key the partition does not own (storage/shardState.ts) is refused at apply with
// WRONG_PARTITION and changes nothing, whatever the leader believed when it proposed it.

import { assert } from '../actors/raft/assert';
import { ConfState, Entry, EntryType } from '../actors/raft/types';
import { StorageCorruptionError } from './errors';
import { KvCommandError, checkKey } from './kvCommand';
import { EntryCommand, decodeEntryCommand, isShardCommand } from './shardCommand';
import { ShardResult, applyShardCommand, subjectKey } from './shardApply';
import { Ownership, SHARD_KEY, ShardState, decodeShardState, encodeShardState, initialShardState, ownsKey } from './shardState';
import type { KvCommand } from './kvCommand';
import { KvRecord, decodeKvRecord, encodeKvRecord, kvKey } from './kvRecord';
import { queueApplied, queueConfState, readActiveCopy, readApplied, readConfStateAt } from './metaAccess';
import { LOG_STORE_NAME } from './logEntryCodec';
import { KvCopyName, copyConfState } from './metaRecords';
import { BinaryDb, ReplicaEnv } from './replicaEnv';
import {
  EXPIRED_PER_BATCH_MAX, EXPIRY_PREFIX, REQUEST_IDS_KEPT, RESULT_PREFIX, RESULT_PREFIX_END, expiryKey, expiryKeyBefore, idOfExpiryKey, isResultKey,
  recordOf, resultKey, resultOf,
} from './requestIds';

/** The outcome of one applied entry, in the order of the batch. */
export type KvResult =
  /** An empty entry (a new leader's no-op) or a ConfChange entry: nothing in the key space changed. */
  | { op: 'none' }
  | { op: 'put'; revision: number }
  /** revision is the deleting entry's index, or 0 when the key did not exist. */
  | { op: 'del'; deleted: boolean; revision: number }
  | { op: 'cas'; ok: true; revision: number }
  /** The condition failed: the key's current value and revision (null / 0 when absent). Nothing changed. */
  | { op: 'cas'; ok: false; value: string | null; revision: number }
  /** The key belongs to another partition (resharding moved it, or the sender's ring is stale). Nothing changed. */
  | { op: 'refused'; code: 'WRONG_PARTITION' }
  | ShardResult;

/** What one command does to one key: its result and the key's new record (null = deleted). */
export interface KvEffect {
  result: KvResult;
  /** undefined: the key is unchanged. */
  next: KvRecord | null | undefined;
}

export class KvStateMachine {
  private readonly env: ReplicaEnv;
  private appliedDurable: number;
  /** Last index handed to applyBatch (durable or not): catches a misordered batch before it reaches disk. */
  private appliedQueued: number;
  /** Last index whose writes were queued to the disk (flushApplies); the applied record will say so. */
  private appliedWritten: number;
  private confStateDurable: ConfState;
  private activeCopy: KvCopyName;
  /** True while a SnapshotReceiver writes into the inactive copy. */
  private staging = false;
  /** Records of batches handed to the disk but not yet committed, with the batch that wrote them last. */
  private readonly inFlight = new Map<string, { record: KvRecord | null; batch: number }>();
  private batchesQueued = 0;
  /** Computed batches waiting for flushApplies(), in order. */
  private deferred: {
    entries: Entry[];
    writes: Map<string, KvRecord | null>;
    confIndex: number | undefined;
    confStateAfter: ConfState | undefined;
    resolve: () => void;
    reject: (error: unknown) => void;
  }[] = [];

  /** The key ring and revision base as of appliedInMemory(). */
  private shard: ShardState;

  constructor(env: ReplicaEnv, private readonly ownership?: Ownership) {
    this.env = env;
    this.appliedDurable = readApplied(env);
    this.appliedQueued = this.appliedDurable;
    this.appliedWritten = this.appliedDurable;
    this.confStateDurable = readConfStateAt(env, this.appliedDurable);
    this.activeCopy = readActiveCopy(env);
    this.shard = this.readShard();
  }

  private readShard(): ShardState {
    const stored = this.env.kv(this.activeCopy).get(kvKey(SHARD_KEY));
    return stored === undefined ? initialShardState(this.ownership) : decodeShardState(decodeKvRecord(stored, `kv-${this.activeCopy}`).value);
  }

  /** True when `key` is this partition's under the ring as of appliedInMemory(). */
  owns(key: string): boolean {
    return ownsKey(this.ownership, this.shard, key);
  }

  /** The key ring and revision base as of appliedInMemory(). */
  shardState(): ShardState {
    return this.shard;
  }

  /**
   * Up to `limit` stored keys after `after` (exclusive; undefined = from the first) that this partition
   * does not own, with the request-id records of writes to them, read from the durable state (callers
   * flush first), scanning at most `scanMax` keys. `next` is where to continue, undefined at the end.
   */
  scanUnowned(after: string | undefined, limit: number, bytesMax: number, scanMax = 50_000): { records: [string, string, number, number][]; next: string | undefined } {
    const records: [string, string, number, number][] = [];
    let bytes = 0;
    let scanned = 0;
    for (const { name, value } of this.movableKeys(after)) {
      if (name === after) continue;
      if (++scanned > scanMax || records.length >= limit || bytes >= bytesMax) return { records, next: after };
      after = name;
      if (!isResultKey(name) && this.owns(name)) continue;
      const record = decodeKvRecord(value, `kv-${this.activeCopy}`);
      const subject = subjectKey(name, record);
      if (subject === undefined || this.owns(subject)) continue;
      records.push([name, record.value, record.revision, record.createRevision]);
      bytes += Buffer.byteLength(name) + Buffer.byteLength(record.value) + 32;
    }
    return { records, next: undefined };
  }

  /** Request-id records, then client keys (which never start with U+0000), from `after` on. */
  private *movableKeys(after: string | undefined): Generator<{ name: string; value: Uint8Array }> {
    const db = this.env.kv(this.activeCopy);
    const inResults = after === undefined || after < RESULT_PREFIX_END;
    const ranges = [
      ...(inResults ? [{ start: kvKey(after ?? RESULT_PREFIX), end: kvKey(RESULT_PREFIX_END) }] : []),
      { start: inResults ? Buffer.from([1]) : kvKey(after!) },
    ];
    for (const range of ranges) {
      for (const { key, value } of db.getRange(range)) yield { name: Buffer.from(key).toString('utf8'), value };
    }
  }

  /** The key's record as of appliedInMemory() (computed batches included); undefined when absent. */
  get(key: string): KvRecord | undefined {
    // Batches computed but not yet committed are part of the state: their entries are committed in Raft.
    const pending = this.inFlight.get(checkKey(key));
    if (pending !== undefined) return pending.record ?? undefined;
    const db = this.env.kv(this.activeCopy);
    const stored = db.get(kvKey(checkKey(key)));
    return stored === undefined ? undefined : decodeKvRecord(stored, `kv-${this.activeCopy}`);
  }

  /** Index of the last entry whose effects are durable. */
  applied(): number {
    return this.appliedDurable;
  }

  /** Membership as of applied(). */
  confState(): ConfState {
    return copyConfState(this.confStateDurable);
  }

  /**
   * Applies committed entries applied()+1, applied()+2, ... Their results are computed at once, against
   * the committed state plus the batches still being written (an in-memory overlay), and handed to
   * `onComputed` before anything touches the disk: the entries are committed and durable in the log, so
   * the results are final and a caller may answer clients now. The writes then go into one transaction
   * together with the new applied index (and membership); the promise resolves once it is committed (not
   * necessarily flushed: a crash replays the entries from the log; the next log flush carries it).
   * `confStateAfter` is the membership after the batch's ConfChange entry (the core computes it); a batch
   * may hold at most one ConfChange entry when it is given, so that the membership at every index stays
   * known for compaction (split batches after each ConfChange).
   */
  async applyBatch(
    entries: Entry[],
    confStateAfter?: ConfState,
    onComputed?: (results: KvResult[]) => void,
    options: { deferWrite?: boolean } = {},
  ): Promise<KvResult[]> {
    if (entries.length === 0) {
      assert(confStateAfter === undefined, 'confStateAfter without entries');
      return [];
    }
    assertContiguous(entries);
    assert(entries[0].index === this.appliedQueued + 1, `apply of index ${entries[0].index} after ${this.appliedQueued}`);
    const confIndex = confChangeIndex(entries, confStateAfter);
    const commands = entries.map(commandOf);
    // Reads first (they may throw on corruption), writes last: a throw must leave nothing written.
    const { results, writes } = this.compute(entries, commands);
    this.appliedQueued = entries[entries.length - 1].index;
    const batch = ++this.batchesQueued;
    for (const [key, record] of writes) this.inFlight.set(key, { record, batch });
    onComputed?.(results);
    const written = new Promise<void>((resolve, reject) => this.deferred.push({ entries, writes, confIndex, confStateAfter, resolve, reject }));
    if (!options.deferWrite) this.flushApplies();
    try {
      await written;
    } finally {
      for (const key of writes.keys()) if (this.inFlight.get(key)?.batch === batch) this.inFlight.delete(key);
    }
    this.appliedDurable = entries[entries.length - 1].index;
    if (confStateAfter !== undefined) this.confStateDurable = copyConfState(confStateAfter);
    return results;
  }

  /**
   * Writes every deferred batch in one transaction. A replica calls it in the same event turn as its log
   * persist, so lmdb-js commits both together: one commit (and one fsync) per Ready instead of two.
   */
  flushApplies(): void {
    if (this.deferred.length === 0) return;
    const batches = this.deferred;
    this.deferred = [];
    this.env
      .writeBatch(() => {
        for (const batch of batches) this.queueWrites(batch.entries, batch.writes, batch.confIndex, batch.confStateAfter);
      }, { flush: false })
      .then(
        () => batches.forEach((batch) => batch.resolve()),
        (error) => batches.forEach((batch) => batch.reject(error)),
      );
  }

  /** Batches computed (and answered) but not yet handed to the disk. */
  get deferredCount(): number {
    return this.deferred.length;
  }

  /** Index of the last entry whose results were computed: what reads through get() reflect. */
  appliedInMemory(): number {
    return this.appliedQueued;
  }

  /** @internal SnapshotReceiver: claims the inactive copy as staging space. */
  beginStaging(): KvCopyName {
    assert(!this.staging, 'a snapshot is already being received');
    this.staging = true;
    return this.activeCopy === 'a' ? 'b' : 'a';
  }

  /** @internal SnapshotReceiver: the transfer ended without install. */
  endStaging(): void {
    this.staging = false;
  }

  /** @internal SnapshotReceiver: the install transaction made `active` the state machine as of `index`. */
  publishSnapshot(index: number, confState: ConfState, active: KvCopyName): void {
    assert(this.staging, 'snapshot published without staging');
    assert(this.inFlight.size === 0, 'snapshot published while applies are still being written');
    this.staging = false;
    this.appliedDurable = index;
    this.appliedQueued = index;
    this.appliedWritten = index;
    this.confStateDurable = copyConfState(confState);
    this.activeCopy = active;
    this.shard = this.readShard();
  }

  /** Forgets the request ids recorded before `before` (a bounded number per batch). */
  private expireRequestIds(db: BinaryDb, pending: Map<string, KvRecord | null>, before: number): void {
    if (before <= 0) return;
    const range = db.getRange({ start: kvKey(EXPIRY_PREFIX), end: kvKey(expiryKeyBefore(before)), limit: EXPIRED_PER_BATCH_MAX });
    for (const { key } of range) {
      const expiry = Buffer.from(key).toString('utf8');
      pending.set(expiry, null);
      pending.set(resultKey(idOfExpiryKey(expiry)), null);
    }
  }

  /** The results of a batch and the records it changes (null = deleted), read against committed + in-flight state. */
  private compute(entries: Entry[], commands: (EntryCommand | undefined)[]): { results: KvResult[]; writes: Map<string, KvRecord | null> } {
    const db = this.env.kv(this.activeCopy);
    const writes = new Map<string, KvRecord | null>();
    const current = (key: string): KvRecord | undefined => {
      const overlay = writes.has(key) ? writes.get(key) : this.inFlight.get(key)?.record;
      if (overlay !== undefined) return overlay ?? undefined;
      const stored = db.get(kvKey(key));
      return stored === undefined ? undefined : decodeKvRecord(stored, `kv-${this.activeCopy}`);
    };
    let shard = this.shard;
    const results = entries.map((entry, position): KvResult => {
      const command = commands[position];
      if (command === undefined) return { op: 'none' };
      if (isShardCommand(command)) {
        const applied = applyShardCommand(command, entry.index, shard, this.ownership, current, (key, record) => writes.set(key, record));
        if (applied.shard !== shard) writes.set(SHARD_KEY, { value: encodeShardState(applied.shard), revision: entry.index, createRevision: entry.index });
        shard = applied.shard;
        return applied.result;
      }
      // A retried write that was applied before its key moved answers its first result, wherever it went.
      const seen = command.id === undefined ? undefined : current(resultKey(command.id));
      if (seen !== undefined) return resultOf(seen);
      if (!ownsKey(this.ownership, shard, command.key)) return { op: 'refused', code: 'WRONG_PARTITION' };
      const effect = applyCommand(command, shard.revisionBase + entry.index, current(command.key));
      if (effect.next !== undefined) writes.set(command.key, effect.next);
      if (command.id !== undefined) {
        writes.set(resultKey(command.id), recordOf(effect.result, entry.index, command.key));
        writes.set(expiryKey(entry.index, command.id), { value: '', revision: entry.index, createRevision: entry.index });
      }
      return effect.result;
    });
    this.expireRequestIds(db, writes, entries[entries.length - 1].index - REQUEST_IDS_KEPT);
    this.shard = shard;
    return { results, writes };
  }

  /** Queues a computed batch's writes with its applied index (inside ReplicaEnv.writeBatch). */
  private queueWrites(entries: Entry[], writes: Map<string, KvRecord | null>, confIndex: number | undefined, confStateAfter: ConfState | undefined): void {
    assert(entries[0].index === this.appliedWritten + 1, `apply of index ${entries[0].index} after applied ${this.appliedWritten}`);
    const db = this.env.kv(this.activeCopy);
    for (const [key, record] of writes) {
      if (record === null) void db.remove(kvKey(key));
      else void db.put(kvKey(key), encodeKvRecord(record));
    }
    this.appliedWritten = entries[entries.length - 1].index;
    queueApplied(this.env, this.appliedWritten);
    if (confIndex !== undefined && confStateAfter !== undefined) queueConfState(this.env, confIndex, confStateAfter);
  }
}

/** The semantics of one command writing at revision `index` against the key's current record. Pure. */
export function applyCommand(command: KvCommand, index: number, current: KvRecord | undefined): KvEffect {
  switch (command.op) {
    case 'put':
      return { result: { op: 'put', revision: index }, next: written(command.value, index, current) };
    case 'del':
      if (current === undefined) return { result: { op: 'del', deleted: false, revision: 0 }, next: undefined };
      return { result: { op: 'del', deleted: true, revision: index }, next: null };
    case 'cas': {
      const matches =
        'expectedRevision' in command
          ? (current?.revision ?? 0) === command.expectedRevision
          : (current?.value ?? null) === command.expectedValue;
      if (!matches) {
        const result = { op: 'cas', ok: false, value: current?.value ?? null, revision: current?.revision ?? 0 } as const;
        return { result, next: undefined };
      }
      return { result: { op: 'cas', ok: true, revision: index }, next: written(command.value, index, current) };
    }
  }
}

function written(value: string, index: number, current: KvRecord | undefined): KvRecord {
  return { value, revision: index, createRevision: current?.createRevision ?? index };
}

/** The command of a Normal entry; undefined for no-op and ConfChange entries. Undecodable = corruption. */
function commandOf(entry: Entry): EntryCommand | undefined {
  if (entry.type !== EntryType.Normal || entry.data.byteLength === 0) return undefined;
  try {
    return decodeEntryCommand(entry.data);
  } catch (error) {
    if (!(error instanceof KvCommandError)) throw error;
    throw new StorageCorruptionError(LOG_STORE_NAME, entry.index, `committed entry is not a valid command: ${error.message}`, {
      cause: error,
    });
  }
}

function confChangeIndex(entries: Entry[], confStateAfter: ConfState | undefined): number | undefined {
  if (confStateAfter === undefined) return undefined;
  const confEntries = entries.filter((entry) => entry.type === EntryType.ConfChange);
  assert(confEntries.length === 1, `confStateAfter given for a batch with ${confEntries.length} ConfChange entries`);
  return confEntries[0].index;
}

function assertContiguous(entries: Entry[]): void {
  for (let position = 1; position < entries.length; position++) {
    const index = entries[position].index;
    assert(index === entries[position - 1].index + 1, `apply batch not contiguous: ${index} after ${entries[position - 1].index}`);
  }
}
