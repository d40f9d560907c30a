// The term of every stored log position, kept in memory as runs of equal terms. The core asks term(i)
// on every message; terms only change at elections, so a whole log fits in a handful of runs and
// term(i) never touches LMDB.
//
// Invariants: runs[0].indexFirst === indexBase (the snapshot point, whose term the log no longer holds);
// runs are sorted by indexFirst and strictly increasing in term; indexLast >= indexBase.

import { assert } from '../actors/raft/assert';

interface TermRun {
  /** First index that has `term`; the run extends to the next run's indexFirst - 1 (or indexLast). */
  indexFirst: number;
  term: number;
}

export class TermRuns {
  private runs: TermRun[];
  private indexLastValue: number;

  /** A log holding nothing after the snapshot point (indexBase, termBase). */
  constructor(indexBase: number, termBase: number) {
    this.runs = [{ indexFirst: indexBase, term: termBase }];
    this.indexLastValue = indexBase;
  }

  get indexBase(): number {
    return this.runs[0].indexFirst;
  }

  get indexLast(): number {
    return this.indexLastValue;
  }

  /** Term at index for indexBase <= index <= indexLast, else undefined. */
  termAt(index: number): number | undefined {
    if (index < this.indexBase || index > this.indexLastValue) return undefined;
    let low = 0;
    let high = this.runs.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.runs[middle].indexFirst <= index) low = middle;
      else high = middle - 1;
    }
    return this.runs[low].term;
  }

  /** Forgets every index > index (an overwritten suffix). */
  truncateAfter(index: number): void {
    assert(index >= this.indexBase, `truncate to ${index} below the snapshot point ${this.indexBase}`);
    if (index >= this.indexLastValue) return;
    while (this.runs.length > 1 && this.runs[this.runs.length - 1].indexFirst > index) this.runs.pop();
    this.indexLastValue = index;
  }

  /** Records the term of index === indexLast + 1. Log terms never decrease. */
  append(index: number, term: number): void {
    assert(index === this.indexLastValue + 1, `append of index ${index} after ${this.indexLastValue}`);
    const last = this.runs[this.runs.length - 1];
    assert(term >= last.term, `term ${term} at index ${index} is below the previous term ${last.term}`);
    if (term > last.term) this.runs.push({ indexFirst: index, term });
    this.indexLastValue = index;
  }

  clone(): TermRuns {
    const copy = new TermRuns(this.indexBase, this.runs[0].term);
    copy.runs = this.runs.map((run) => ({ ...run }));
    copy.indexLastValue = this.indexLastValue;
    return copy;
  }

  /** Moves the snapshot point forward to index (log compaction); index must be stored. */
  compactTo(index: number): void {
    const term = this.termAt(index);
    assert(term !== undefined, `compact to ${index} outside [${this.indexBase}, ${this.indexLastValue}]`);
    while (this.runs.length > 1 && this.runs[1].indexFirst <= index) this.runs.shift();
    this.runs[0] = { indexFirst: index, term };
  }
}
