// RaftStorage in memory: the simulator's and the benchmark's storage, and the reference the LMDB storage
// is checked against by the shared contract suite.

import { assert } from './assert';
import { cloneConfState } from './confChange';
import { ConfState, Entry, HardState, RaftStorage, Snapshot, entryBytes } from './types';

export class MemoryStorage implements RaftStorage {
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snapshotValue: Snapshot;
  /** entries[0] is a sentinel standing for the snapshot point (its index and term). */
  private log: Entry[];

  constructor(confState: ConfState) {
    this.snapshotValue = { meta: { index: 0, term: 0, confState: cloneConfState(confState) } };
    this.log = [{ index: 0, term: 0, type: 0, data: new Uint8Array(0) }];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snapshotValue.meta.confState) };
  }

  firstIndex(): number {
    return this.log[0].index + 1;
  }

  lastIndex(): number {
    return this.log[0].index + this.log.length - 1;
  }

  term(index: number): number | undefined {
    const offset = index - this.log[0].index;
    if (offset < 0 || offset >= this.log.length) return undefined;
    return this.log[offset].term;
  }

  entries(low: number, high: number, bytesMax: number): Entry[] {
    assert(low >= this.firstIndex() && high <= this.lastIndex() + 1, `entries [${low}, ${high}) out of range`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = low; index < high; index++) {
      const entry = this.log[index - this.log[0].index];
      bytes += entryBytes(entry);
      if (result.length > 0 && bytes > bytesMax) break;
      result.push(entry);
    }
    return result;
  }

  snapshot(): Snapshot {
    return this.snapshotValue;
  }

  /** Appends entries; an entry at index i replaces every stored entry from i on. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    assert(first > this.log[0].index, `append at ${first} is behind the snapshot ${this.log[0].index}`);
    assert(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
    this.log.length = first - this.log[0].index;
    for (const entry of entries) this.log.push(entry);
  }

  setHardState(hardState: HardState): void {
    this.hardState = { ...hardState };
  }

  /** Replaces the log by a snapshot (a follower installing one). */
  applySnapshot(snapshot: Snapshot): void {
    this.snapshotValue = snapshot;
    this.log = [{ index: snapshot.meta.index, term: snapshot.meta.term, type: 0, data: new Uint8Array(0) }];
  }

  /** Records a snapshot taken at `index` of the state machine and drops the log up to it. */
  compact(index: number, confState: ConfState, data?: Uint8Array): void {
    const offset = index - this.log[0].index;
    if (offset <= 0) return;
    assert(index <= this.lastIndex(), `compact ${index} beyond last index ${this.lastIndex()}`);
    const term = this.log[offset].term;
    this.snapshotValue = { meta: { index, term, confState: cloneConfState(confState) }, data };
    this.log = [{ index, term, type: 0, data: new Uint8Array(0) }, ...this.log.slice(offset + 1)];
  }
}
