import { expect } from 'chai';
import { Entry, EntryType } from '../../../actors/raft/types';
import { EntryCache } from '../../../storage/entryCache';

const entry = (index: number, term = 1, bytes = 10): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(bytes) });
const run = (from: number, to: number, term = 1) => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
const indexes = (entries: Entry[] | undefined) => entries?.map((e) => `${e.index}@${e.term}`);

describe('storage/entryCache', () => {
  it('serves a range it holds and refuses one it does not', () => {
    const cache = new EntryCache();
    cache.persisted(run(5, 9));
    expect(indexes(cache.slice(6, 9, Infinity))).to.deep.equal(['6@1', '7@1', '8@1']);
    expect(cache.slice(4, 7, Infinity), 'below the cache').to.equal(undefined);
    expect(cache.slice(8, 11, Infinity), 'beyond the last entry').to.equal(undefined);
  });

  it('replaces an overwritten suffix, as a new leader overwrites a follower', () => {
    const cache = new EntryCache();
    cache.persisted(run(1, 6, 1));
    cache.persisted(run(4, 5, 2));
    expect(indexes(cache.slice(1, 6, Infinity))).to.deep.equal(['1@1', '2@1', '3@1', '4@2', '5@2']);
    expect(cache.slice(1, 7, Infinity), 'index 6 of the old term is gone').to.equal(undefined);
  });

  it('starts over when an append does not touch what it holds', () => {
    const cache = new EntryCache();
    cache.persisted(run(1, 3));
    cache.persisted(run(10, 11));
    expect(cache.firstIndex).to.equal(10);
    expect(cache.slice(1, 2, Infinity)).to.equal(undefined);
  });

  it('stops at the byte limit but returns at least one entry', () => {
    const cache = new EntryCache();
    cache.persisted(run(1, 5));
    const one = cache.slice(1, 6, 1)!;
    expect(one).to.have.length(1);
    expect(cache.slice(1, 6, 2 * one.length * (one[0].data.byteLength + 1000))!.length).to.be.greaterThan(1);
  });

  it('keeps at most its entry budget, dropping the oldest, and forgets compacted entries', () => {
    const cache = new EntryCache(4);
    cache.persisted(run(1, 10));
    expect(cache.firstIndex).to.equal(7);
    cache.compactTo(8);
    expect(cache.firstIndex).to.equal(9);
    expect(indexes(cache.slice(9, 11, Infinity))).to.deep.equal(['9@1', '10@1']);
    cache.clear();
    expect(cache.firstIndex).to.equal(undefined);
  });
});
