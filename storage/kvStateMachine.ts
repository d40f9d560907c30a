// The key-value state machine of one replica. Every batch of committed entries is applied in ONE LMDB
// transaction together with the new applied index (and membership), so after a crash the data and
// `applied` always agree: an entry is either fully applied or replayed.
//
// revision = the Raft index of the entry that wrote a key: per partition, monotonic, and equal on every
// replica because every replica applies the same entries at the same indexes.

import { assert } from '../actors/raft/assert';
import { ConfState, Entry, EntryType } from '../actors/raft/types';
import { StorageCorruptionError } from './errors';
import { KvCommand, KvCommandError, checkKey, decodeKvCommand } from './kvCommand';
import { KvRecord, decodeKvRecord, encodeKvRecord, kvKey } from './kvRecord';
import { readActiveCopy, readApplied, readConfStateAt, writeApplied, writeConfState } from './metaAccess';
import { LOG_STORE_NAME } from './logEntryCodec';
import { KvCopyName, copyConfState } from './metaRecords';
import { BinaryDb, ReplicaEnv } from './replicaEnv';
import {
  EXPIRED_PER_BATCH_MAX, EXPIRY_PREFIX, REQUEST_IDS_KEPT, changedTheStore, expiryKey, expiryKeyBefore, idOfExpiryKey, recordOf, resultKey, resultOf,
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
  | { op: 'cas'; ok: false; value: string | null; revision: number };

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
  private confStateDurable: ConfState;
  private activeCopy: KvCopyName;
  /** True while a SnapshotReceiver writes into the inactive copy. */
  private staging = false;

  constructor(env: ReplicaEnv) {
    this.env = env;
    this.appliedDurable = readApplied(env);
    this.appliedQueued = this.appliedDurable;
    this.confStateDurable = readConfStateAt(env, this.appliedDurable);
    this.activeCopy = readActiveCopy(env);
  }

  /** The key's current record as of the latest durable apply; undefined when absent. */
  get(key: string): KvRecord | undefined {
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
   * Applies committed entries applied()+1, applied()+2, ... in one transaction; resolves with the
   * results once committed (not necessarily flushed: the entries are durable in the log, and a crash
   * replays them from there; the next durable write flushes this one too). `onComputed` receives
   * the same results as soon as the transaction has computed them, before its commit.
   * `confStateAfter` is the membership after the batch's ConfChange entry (the core computes it); a batch may hold at most one ConfChange entry when it is given, so that the
   * membership at every index stays known for compaction (split batches after each ConfChange).
   */
  async applyBatch(entries: Entry[], confStateAfter?: ConfState, onComputed?: (results: KvResult[]) => void): Promise<KvResult[]> {
    if (entries.length === 0) {
      assert(confStateAfter === undefined, 'confStateAfter without entries');
      return [];
    }
    assertContiguous(entries);
    assert(entries[0].index === this.appliedQueued + 1, `apply of index ${entries[0].index} after ${this.appliedQueued}`);
    const confIndex = confChangeIndex(entries, confStateAfter);
    const commands = entries.map(commandOf);
    this.appliedQueued = entries[entries.length - 1].index;
    const results = await this.env.write(() => {
      const computed = this.applyInTransaction(entries, commands, confIndex, confStateAfter);
      // The results are final once computed (the entries are committed and durable in the log): a caller
      // may answer clients before this transaction's own fsync.
      onComputed?.(computed);
      return computed;
    }, { flush: false });
    this.appliedDurable = entries[entries.length - 1].index;
    if (confStateAfter !== undefined) this.confStateDurable = copyConfState(confStateAfter);
    return results;
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
    this.staging = false;
    this.appliedDurable = index;
    this.appliedQueued = index;
    this.confStateDurable = copyConfState(confState);
    this.activeCopy = active;
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

  private applyInTransaction(
    entries: Entry[],
    commands: (KvCommand | undefined)[],
    confIndex: number | undefined,
    confStateAfter: ConfState | undefined,
  ): KvResult[] {
    const applied = readApplied(this.env);
    assert(entries[0].index === applied + 1, `apply of index ${entries[0].index} after applied ${applied}`);
    const active = readActiveCopy(this.env);
    const db = this.env.kv(active);
    // Reads first (they may throw on corruption), writes last: a throw must leave nothing written.
    const pending = new Map<string, KvRecord | null>();
    const current = (key: string): KvRecord | undefined => {
      const overlay = pending.get(key);
      if (overlay !== undefined) return overlay ?? undefined;
      const stored = db.get(kvKey(key));
      return stored === undefined ? undefined : decodeKvRecord(stored, `kv-${active}`);
    };
    const results = entries.map((entry, position): KvResult => {
      const command = commands[position];
      if (command === undefined) return { op: 'none' };
      const seen = command.id === undefined ? undefined : current(resultKey(command.id));
      if (seen !== undefined) return resultOf(seen);
      const effect = applyCommand(command, entry.index, current(command.key));
      if (effect.next !== undefined) pending.set(command.key, effect.next);
      if (command.id !== undefined && changedTheStore(effect.result)) {
        pending.set(resultKey(command.id), recordOf(effect.result, entry.index));
        pending.set(expiryKey(entry.index, command.id), { value: '', revision: entry.index, createRevision: entry.index });
      }
      return effect.result;
    });
    this.expireRequestIds(db, pending, entries[entries.length - 1].index - REQUEST_IDS_KEPT);
    for (const [key, record] of pending) {
      if (record === null) db.removeSync(kvKey(key));
      else db.putSync(kvKey(key), encodeKvRecord(record));
    }
    writeApplied(this.env, entries[entries.length - 1].index);
    if (confIndex !== undefined && confStateAfter !== undefined) writeConfState(this.env, confIndex, confStateAfter);
    return results;
  }
}

/** The semantics of one command at Raft index `index` against the key's current record. Pure. */
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
function commandOf(entry: Entry): KvCommand | undefined {
  if (entry.type !== EntryType.Normal || entry.data.byteLength === 0) return undefined;
  try {
    return decodeKvCommand(entry.data);
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
