import { expect } from 'chai';
import { AssertionError } from '../../../actors/raft/assert';
import { TermRuns } from '../../../storage/termRuns';

describe('TermRuns', () => {
  function runsOf(terms: number[], indexBase = 0, termBase = 0): TermRuns {
    const runs = new TermRuns(indexBase, termBase);
    terms.forEach((term, offset) => runs.append(indexBase + 1 + offset, term));
    return runs;
  }

  it('answers the term of every index from the base to the last', () => {
    const runs = runsOf([1, 1, 2, 5, 5, 5]);
    expect([0, 1, 2, 3, 4, 5, 6].map((index) => runs.termAt(index))).to.deep.equal([0, 1, 1, 2, 5, 5, 5]);
    expect(runs.termAt(7)).to.equal(undefined);
    expect(runs.termAt(-1)).to.equal(undefined);
  });

  it('truncates a suffix and appends other terms', () => {
    const runs = runsOf([1, 1, 2, 2, 3]);
    runs.truncateAfter(2);
    runs.append(3, 4);
    expect([1, 2, 3, 4].map((index) => runs.termAt(index))).to.deep.equal([1, 1, 4, undefined]);
    runs.truncateAfter(0);
    expect(runs.indexLast).to.equal(0);
    runs.append(1, 7);
    expect(runs.termAt(1)).to.equal(7);
  });

  it('compacts to any stored index and keeps the term there', () => {
    const runs = runsOf([1, 1, 2, 2, 3]);
    runs.compactTo(3);
    expect(runs.indexBase).to.equal(3);
    expect([2, 3, 4, 5].map((index) => runs.termAt(index))).to.deep.equal([undefined, 2, 2, 3]);
    runs.compactTo(5);
    expect(runs.termAt(5)).to.equal(3);
    expect(runs.indexLast).to.equal(5);
  });

  it('clones into a copy that changes independently of the original', () => {
    const runs = runsOf([1, 2, 2]);
    const copy = runs.clone();
    copy.truncateAfter(1);
    copy.append(2, 3);
    copy.compactTo(1);
    expect([1, 2, 3].map((index) => runs.termAt(index))).to.deep.equal([1, 2, 2]);
    expect(runs.indexBase).to.equal(0);
    expect([1, 2, 3].map((index) => copy.termAt(index))).to.deep.equal([1, 3, undefined]);
  });

  it('refuses gaps, decreasing terms and compaction outside the log', () => {
    const runs = runsOf([2, 2]);
    expect(() => runs.append(4, 2)).to.throw(AssertionError);
    expect(() => runs.append(3, 1)).to.throw(AssertionError);
    expect(() => runs.compactTo(3)).to.throw(AssertionError);
    expect(() => runs.truncateAfter(-1)).to.throw(AssertionError);
  });
});
