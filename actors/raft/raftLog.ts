// The core's view of the log: a stable prefix in storage, an unstable suffix (and maybe a snapshot) that the
// driver has not yet confirmed durable, and the commit / apply cursors.
// Invariants: firstIndex - 1 <= applied <= applying <= committed <= lastIndex.
// An unstable entry at index i supersedes any stored entry >= i (the driver truncates on persist).

import { assert } from './assert';
import { Entry, RaftStorage, Snapshot, entryBytes } from './types';

export class RaftLog {
  committed: number;
  /** Highest index handed to the driver to apply. */
  applying: number;
  /** Highest index the driver confirmed applied. */
  applied: number;
  private unstableSnapshot: Snapshot | undefined;
  private unstableEntries: Entry[] = [];
  /** Index of unstableEntries[0], or the index the next unstable entry would take. */
  private unstableOffset: number;

  constructor(
    private readonly storage: RaftStorage,
    committed: number,
    applied: number,
  ) {
    this.unstableOffset = storage.lastIndex() + 1;
    const first = storage.firstIndex();
    this.applied = Math.max(applied, first - 1);
    // Whatever was applied was committed, even if the commit index on disk lags (drivers may persist it lazily).
    this.committed = Math.max(committed, this.applied);
    this.applying = this.applied;
    assert(this.applied <= this.committed, `applied ${this.applied} > committed ${this.committed}`);
    assert(this.committed <= this.lastIndex(), `committed ${this.committed} > last index ${this.lastIndex()}`);
  }

  firstIndex(): number {
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstableEntries.length > 0) return this.unstableOffset + this.unstableEntries.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** Term at `index`, or undefined when the index is compacted away or beyond the log. */
  term(index: number): number | undefined {
    if (this.unstableSnapshot && index === this.unstableSnapshot.meta.index) return this.unstableSnapshot.meta.term;
    if (index >= this.unstableOffset) {
      const entry = this.unstableEntries[index - this.unstableOffset];
      return entry === undefined ? undefined : entry.term;
    }
    if (this.unstableSnapshot) return undefined;
    return this.storage.term(index);
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, 'term of the last index must be known');
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [low, high), bounded by bytes and count (at least one), or undefined when low is compacted. */
  entries(low: number, high: number, bytesMax: number, countMax: number): Entry[] | undefined {
    if (low < this.firstIndex()) return undefined;
    high = Math.min(high, this.lastIndex() + 1, low + countMax);
    if (low >= high) return [];
    const result: Entry[] = [];
    if (low < this.unstableOffset) {
      const stored = this.storage.entries(low, Math.min(high, this.unstableOffset), bytesMax);
      for (const entry of stored) result.push(entry);
      if (result.length < Math.min(high, this.unstableOffset) - low) return result;
    }
    let bytes = 0;
    for (const entry of result) bytes += entryBytes(entry);
    for (let index = Math.max(low, this.unstableOffset); index < high; index++) {
      const entry = this.unstableEntries[index - this.unstableOffset];
      bytes += entryBytes(entry);
      if (result.length > 0 && bytes > bytesMax) break;
      result.push(entry);
    }
    return result;
  }

  /** Appends entries that follow the log or replace a suffix of it (uncommitted only). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    assert(first > this.committed, `append at ${first} would overwrite committed ${this.committed}`);
    assert(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
    if (first === this.unstableOffset + this.unstableEntries.length) {
      for (const entry of entries) this.unstableEntries.push(entry);
    } else if (first <= this.unstableOffset) {
      // The new entries replace everything from `first`, including stored entries the driver will truncate.
      this.unstableOffset = first;
      this.unstableEntries = entries.slice();
    } else {
      this.unstableEntries = this.unstableEntries.slice(0, first - this.unstableOffset);
      for (const entry of entries) this.unstableEntries.push(entry);
    }
  }

  /**
   * Follower side of AppendEntries. Returns the index of the last new entry and the first index that was
   * (re)written, or undefined when the entry before the new ones does not match.
   */
  maybeAppend(index: number, logTerm: number, commit: number, entries: Entry[]):
    { lastNewIndex: number; writtenFrom: number } | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNewIndex = index + entries.length;
    const conflict = this.findConflict(entries);
    let writtenFrom = lastNewIndex + 1;
    if (conflict !== 0) {
      assert(conflict > this.committed, `conflict at ${conflict} is within committed ${this.committed}`);
      this.append(entries.slice(conflict - index - 1));
      writtenFrom = conflict;
    }
    this.commitTo(Math.min(commit, lastNewIndex));
    return { lastNewIndex, writtenFrom };
  }

  /** First index whose entry is new or differs in term from ours; 0 when all are already present. */
  private findConflict(entries: Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`: where a leader and follower may agree. Lets a
   * rejected probe skip a whole divergent term at once instead of one entry per round trip.
   */
  findConflictByTerm(index: number, term: number): number {
    for (; index > 0; index--) {
      const ourTerm = this.term(index);
      if (ourTerm === undefined || ourTerm <= term) return index;
    }
    return 0;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Leader commit rule (Raft §5.4.2): only an entry of the current term commits by counting replicas. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > this.applying && !this.unstableSnapshot;
  }

  nextCommittedEntries(bytesMax: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const entries = this.entries(this.applying + 1, this.committed + 1, bytesMax, Number.MAX_SAFE_INTEGER);
    assert(entries !== undefined, `committed entries from ${this.applying + 1} are compacted before being applied`);
    if (entries.length > 0) this.applying = entries[entries.length - 1].index;
    return entries;
  }

  appliedTo(index: number): void {
    assert(index <= this.applying, `applied ${index} beyond handed out ${this.applying}`);
    if (index > this.applied) this.applied = index;
  }

  /** Replaces the whole log with a snapshot (follower installing a leader's snapshot). */
  restore(snapshot: Snapshot): void {
    this.unstableSnapshot = snapshot;
    this.unstableEntries = [];
    this.unstableOffset = snapshot.meta.index + 1;
    this.committed = snapshot.meta.index;
    this.applying = snapshot.meta.index;
    this.applied = snapshot.meta.index;
  }

  snapshot(): Snapshot {
    return this.unstableSnapshot ?? this.storage.snapshot();
  }

  unstable(): { snapshot: Snapshot | undefined; entries: Entry[] } {
    return { snapshot: this.unstableSnapshot, entries: this.unstableEntries };
  }

  hasUnstable(): boolean {
    return this.unstableSnapshot !== undefined || this.unstableEntries.length > 0;
  }

  /** The driver made entries up to `index` (of `term`) durable; ignore if they were replaced meanwhile. */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset) return;
    if (this.term(index) !== term) return;
    this.unstableEntries = this.unstableEntries.slice(index + 1 - this.unstableOffset);
    this.unstableOffset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot && this.unstableSnapshot.meta.index === index) this.unstableSnapshot = undefined;
  }

  /** Highest index known durable locally. */
  stableLastIndex(): number {
    return this.unstableOffset - 1;
  }
}
