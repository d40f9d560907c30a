// The Raft log and hard state of one replica, in LMDB. Reads are synchronous (RaftStorage); writes are
// asynchronous and resolve only once durable.
//
// What the core reads is an in-memory view (hard state, snapshot metadata, the term of every stored
// index) that changes only after a write is durable, in the order writes were issued. So the core never
// sees an entry that a crash could still take away. Entry bodies are read from LMDB and verified.
//
// Ordering contract with the driver: writes may be issued without awaiting the previous one (lmdb-js
// commits them in call order). Persists are queued with ReplicaEnv.writeBatch (no JavaScript runs inside
// their transaction), so the checks that depend on earlier writes run when a persist is queued, against
// the queued view: what the disk will hold once every write issued so far has committed. Compaction
// and snapshot install are rare and keep their checks inside the write transaction.

import { assert } from '../actors/raft/assert';
import { ConfState, Entry, HardState, RaftStorage, Snapshot, SnapshotMeta, entryBytes } from '../actors/raft/types';
import { StorageCorruptionError } from './errors';
import { LOG_STORE_NAME, decodeEntry, encodeEntry } from './logEntryCodec';
import {
  pruneConfHistory,
  queueHardState,
  readApplied,
  readConfStateAt,
  readHardState,
  readSnapshotMeta,
  writeHardState,
  writeSnapshotMeta,
} from './metaAccess';
import { copyConfState } from './metaRecords';
import { ReplicaEnv } from './replicaEnv';
import { TermRuns } from './termRuns';
import { EntryCache } from './entryCache';
import { indexKey, keyIndex } from './uint53';

/** One durable write of a Ready: entries and hard state land in the same transaction. */
export interface PersistRequest {
  /** The new hard state, if it changed. Term never decreases, commit never decreases, one vote per term. */
  hardState?: HardState;
  /**
   * Contiguous entries. entries[0].index may be at most lastIndex + 1 (of everything persisted before);
   * any stored entry at or after entries[0].index is deleted first (a leader overwrote our suffix).
   */
  entries: Entry[];
}

export class LogStore implements RaftStorage {
  private readonly env: ReplicaEnv;
  private hardStateDurable: HardState;
  private snapshotMetaDurable: SnapshotMeta;
  /** Term of every index in [snapshot index, lastIndex]. */
  private terms: TermRuns;
  /** The queued view: hard state and terms once every persist issued so far is durable. */
  private hardStateQueued: HardState;
  private termsQueued: TermRuns;

  /** Loads the durable view of a bootstrapped env, verifying every stored entry once. */
  constructor(env: ReplicaEnv, private readonly cache = new EntryCache()) {
    this.env = env;
    this.hardStateDurable = readHardState(env);
    this.snapshotMetaDurable = readSnapshotMeta(env);
    this.terms = loadTerms(env, this.snapshotMetaDurable);
    assertHardStateFits(this.hardStateDurable, this.terms.indexLast);
    this.hardStateQueued = { ...this.hardStateDurable };
    this.termsQueued = this.terms.clone();
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardStateDurable }, confState: copyConfState(this.snapshotMetaDurable.confState) };
  }

  hardState(): HardState {
    return { ...this.hardStateDurable };
  }

  firstIndex(): number {
    return this.snapshotMetaDurable.index + 1;
  }

  lastIndex(): number {
    return this.terms.indexLast;
  }

  term(index: number): number | undefined {
    return this.terms.termAt(index);
  }

  snapshot(): Snapshot {
    const meta = this.snapshotMetaDurable;
    return { meta: { index: meta.index, term: meta.term, confState: copyConfState(meta.confState) } };
  }

  /** Entries in [low, high); stops before exceeding bytesMax but returns at least one entry. */
  entries(low: number, high: number, bytesMax: number): Entry[] {
    assert(low >= this.firstIndex(), `entries from ${low} below firstIndex ${this.firstIndex()} (compacted)`);
    assert(high <= this.lastIndex() + 1, `entries up to ${high} beyond lastIndex ${this.lastIndex()}`);
    assert(low <= high, `entries range [${low}, ${high}) is reversed`);
    const cached = this.cache.slice(low, high, bytesMax);
    if (cached !== undefined) return cached;
    const result: Entry[] = [];
    let bytes = 0;
    for (const { key, value } of this.env.log.getRange({ start: indexKey(low), end: indexKey(high) })) {
      const expected = low + result.length;
      if (keyIndex(key) !== expected) throw new StorageCorruptionError(LOG_STORE_NAME, expected, 'entry missing');
      const entry = decodeEntry(value, expected);
      bytes += entryBytes(entry);
      if (result.length > 0 && bytes > bytesMax) return result;
      result.push(entry);
    }
    if (low + result.length !== high) throw new StorageCorruptionError(LOG_STORE_NAME, low + result.length, 'entry missing');
    return result;
  }

  /** Saves entries (overwriting a stored suffix) and hard state in one transaction; resolves when durable. */
  async persist(request: PersistRequest): Promise<void> {
    const { entries, hardState } = request;
    assertContiguous(entries);
    if (entries.length === 0 && hardState === undefined) return;
    const records = entries.map(encodeEntry);
    await this.env.writeBatch(() => this.queuePersist(entries, records, hardState));
    if (hardState !== undefined) this.hardStateDurable = { ...hardState };
    if (entries.length === 0) return;
    this.terms.truncateAfter(entries[0].index - 1);
    for (const entry of entries) this.terms.append(entry.index, entry.term);
    this.cache.persisted(entries);
  }

  /**
   * Drops the entries <= index, which the state machine must already have applied, and records the
   * snapshot metadata (term and membership at index). A no-op when index is already compacted.
   * Two transactions: the new snapshot point first (the point of no return), the deletion after it is
   * published.
   */
  async compact(index: number): Promise<void> {
    const meta = await this.env.write(() => this.compactInTransaction(index));
    if (meta === undefined) return;
    this.snapshotMetaDurable = meta;
    this.terms.compactTo(index);
    this.termsQueued.compactTo(index);
    this.cache.compactTo(index);
    assert(this.terms.termAt(index) === meta.term, `term cache disagrees with the log at ${index}`);
    // Delete only now that no reader's view includes these entries any more: a reader whose read
    // transaction started after the first commit but before we published must still find them.
    // A crash in between leaves entries <= index behind; they are invisible and go at the next compact.
    await this.env.write(() => deleteThrough(this.env, index));
  }

  /**
   * For snapshot install, inside its write transaction: deletes the whole log and makes `meta` the
   * snapshot point; commit becomes at least meta.index. Returns the new hard state for publishSnapshot.
   */
  resetToSnapshotInTransaction(meta: SnapshotMeta): HardState {
    const stored = readHardState(this.env);
    const hardState = { ...stored, commit: Math.max(stored.commit, meta.index) };
    this.env.log.clearSync();
    writeSnapshotMeta(this.env, meta);
    writeHardState(this.env, hardState);
    return hardState;
  }

  /** After the install transaction is durable: the log is empty and starts at meta.index + 1. */
  publishSnapshot(meta: SnapshotMeta, hardState: HardState): void {
    this.snapshotMetaDurable = { index: meta.index, term: meta.term, confState: copyConfState(meta.confState) };
    this.hardStateDurable = { ...hardState };
    this.terms = new TermRuns(meta.index, meta.term);
    this.termsQueued = this.terms.clone();
    this.hardStateQueued = { ...hardState };
    this.cache.clear();
  }

  /** Checks a persist against the queued view, queues its writes, and moves the queued view on. */
  private queuePersist(entries: Entry[], records: Buffer[], hardState: HardState | undefined): void {
    const queued = this.hardStateQueued;
    const snapshotIndex = this.termsQueued.indexBase;
    const lastQueued = this.termsQueued.indexLast;
    if (hardState !== undefined) assertHardStateTransition(queued, hardState);
    const indexLastAfter = entries.length === 0 ? lastQueued : entries[entries.length - 1].index;
    assertHardStateFits(hardState ?? queued, indexLastAfter);
    if (entries.length > 0) this.checkAppend(entries[0], snapshotIndex, lastQueued, queued.commit);
    // Validation is over; from here on nothing throws short of an I/O failure.
    if (entries.length > 0) {
      for (let index = entries[0].index; index <= lastQueued; index++) void this.env.log.remove(indexKey(index));
      records.forEach((record, position) => void this.env.log.put(indexKey(entries[position].index), record));
      this.termsQueued.truncateAfter(entries[0].index - 1);
      for (const entry of entries) this.termsQueued.append(entry.index, entry.term);
    }
    if (hardState !== undefined) {
      queueHardState(this.env, hardState);
      this.hardStateQueued = { ...hardState };
    }
  }

  private checkAppend(first: Entry, snapshotIndex: number, lastQueued: number, commit: number): void {
    assert(first.index > snapshotIndex, `append at ${first.index} into the compacted prefix (<= ${snapshotIndex})`);
    assert(first.index <= lastQueued + 1, `append at ${first.index} leaves a gap after ${lastQueued}`);
    assert(first.index > commit, `append at ${first.index} would overwrite committed entries (commit ${commit})`);
    const previousTerm = this.termsQueued.termAt(first.index - 1)!;
    assert(first.term >= previousTerm, `term ${first.term} at ${first.index} below previous term ${previousTerm}`);
  }

  private termInTransaction(index: number, snapshotIndex: number): number {
    if (index === snapshotIndex) return readSnapshotMeta(this.env).term;
    const record = this.env.log.get(indexKey(index));
    if (record === undefined) throw new StorageCorruptionError(LOG_STORE_NAME, index, 'entry missing');
    return decodeEntry(record, index).term;
  }

  private compactInTransaction(index: number): SnapshotMeta | undefined {
    const previous = readSnapshotMeta(this.env);
    if (index <= previous.index) return undefined;
    const applied = readApplied(this.env);
    assert(index <= applied, `compact to ${index} beyond applied ${applied}`);
    const meta: SnapshotMeta = {
      index,
      term: this.termInTransaction(index, previous.index),
      confState: readConfStateAt(this.env, index),
    };
    pruneConfHistory(this.env, index);
    writeSnapshotMeta(this.env, meta);
    return meta;
  }
}

/** Removes every stored entry <= index (the compacted prefix, including leftovers of earlier crashes). */
function deleteThrough(env: ReplicaEnv, index: number): void {
  const keys: Buffer[] = [];
  for (const key of env.log.getKeys({ end: indexKey(index + 1) })) keys.push(Buffer.from(key));
  for (const key of keys) env.log.removeSync(key);
}

/**
 * Reads (and verifies) the stored log once at open to learn the term of every index. Entries <= the
 * snapshot point are compacted leftovers of a crash between compact's two transactions: skipped.
 */
function loadTerms(env: ReplicaEnv, snapshot: SnapshotMeta): TermRuns {
  const terms = new TermRuns(snapshot.index, snapshot.term);
  for (const { key, value } of env.log.getRange({ start: indexKey(snapshot.index + 1) })) {
    const expected = terms.indexLast + 1;
    const index = keyIndex(key);
    if (index !== expected) {
      throw new StorageCorruptionError(LOG_STORE_NAME, index, `found index ${index} where ${expected} was expected`);
    }
    const entry = decodeEntry(value, index);
    if (entry.term < (terms.termAt(terms.indexLast) ?? 0)) {
      throw new StorageCorruptionError(LOG_STORE_NAME, index, `term ${entry.term} decreases`);
    }
    terms.append(index, entry.term);
  }
  return terms;
}

function assertContiguous(entries: Entry[]): void {
  for (let position = 1; position < entries.length; position++) {
    const previous = entries[position - 1];
    const entry = entries[position];
    assert(entry.index === previous.index + 1, `entries not contiguous: ${entry.index} after ${previous.index}`);
    assert(entry.term >= previous.term, `entry term ${entry.term} at ${entry.index} below ${previous.term}`);
  }
}

/** Raft's rules for hard state on disk: term only grows, one vote per term, commit only grows. */
function assertHardStateTransition(stored: HardState, next: HardState): void {
  assert(next.term >= stored.term, `hard state term goes back from ${stored.term} to ${next.term}`);
  const sameTermVoteChanged = next.term === stored.term && stored.vote !== 0 && next.vote !== stored.vote;
  assert(!sameTermVoteChanged, `vote changes from ${stored.vote} to ${next.vote} within term ${next.term}`);
  assert(next.commit >= stored.commit, `commit goes back from ${stored.commit} to ${next.commit}`);
}

function assertHardStateFits(hardState: HardState, indexLast: number): void {
  assert(hardState.commit <= indexLast, `commit ${hardState.commit} beyond the last stored index ${indexLast}`);
}
