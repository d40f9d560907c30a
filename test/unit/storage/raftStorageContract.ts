// A contract suite for RaftStorage, runnable against any implementation (the LMDB LogStore here, the
// in-memory storage of the simulator in actors/raft), so the simulator cannot drift from production.
//
// What a subject must provide (the shape of storage/logStore.ts):
//
//   interface ContractStorage extends RaftStorage {
//     // Saves entries and hard state; resolves when durable. entries[0].index <= lastIndex()+1, and any
//     // stored entry >= entries[0].index is replaced. Reads reflect the write once the promise resolved.
//     persist(request: { hardState?: HardState; entries: Entry[] }): Promise<void>;
//     // Drops entries <= index, recording snapshot metadata {index, term(index), membership}; a no-op
//     // when index <= snapshot().meta.index.
//     compact(index: number): Promise<void>;
//   }
//
// and a factory `makeSubject(confState)` returning a fresh storage bootstrapped with that membership
// (hard state {0,0,0}, snapshot point index 0 / term 0), a `markApplied(index)` hook that makes
// compaction through index legal (the LMDB store only compacts what its state machine applied; a
// storage without that rule does nothing), and `dispose()`.

import { expect } from 'chai';
import { ConfState, Entry, EntryType, HardState, RaftStorage, entryBytes } from '../../../actors/raft/types';

export interface ContractStorage extends RaftStorage {
  persist(request: { hardState?: HardState; entries: Entry[] }): Promise<void>;
  compact(index: number): Promise<void>;
}

export interface ContractSubject {
  storage: ContractStorage;
  markApplied(index: number): Promise<void>;
  dispose(): Promise<void>;
}

export type ContractSubjectFactory = (confState: ConfState) => Promise<ContractSubject>;

const MEMBERSHIP: ConfState = { voters: [1, 2, 3], learners: [4] };

export function runRaftStorageContract(name: string, makeSubject: ContractSubjectFactory): void {
  describe(`RaftStorage contract: ${name}`, () => {
    let subject: ContractSubject;
    let storage: ContractStorage;

    beforeEach(async () => {
      subject = await makeSubject(MEMBERSHIP);
      storage = subject.storage;
    });

    afterEach(async () => {
      await subject.dispose();
    });

    /** Appends entries with the given terms after lastIndex(), each with `dataBytes` bytes of data. */
    async function append(terms: number[], dataBytes = 8): Promise<Entry[]> {
      const first = storage.lastIndex() + 1;
      const entries = terms.map((term, offset) => makeEntry(first + offset, term, dataBytes));
      await storage.persist({ entries });
      return entries;
    }

    it('bootstraps empty with the given membership', () => {
      expect(storage.firstIndex()).to.equal(1);
      expect(storage.lastIndex()).to.equal(0);
      expect(storage.term(0)).to.equal(0);
      expect(storage.term(1)).to.equal(undefined);
      expect(storage.initialState()).to.deep.equal({ hardState: { term: 0, vote: 0, commit: 0 }, confState: MEMBERSHIP });
      expect(storage.snapshot().meta).to.deep.equal({ index: 0, term: 0, confState: MEMBERSHIP });
      checkInvariant(storage);
    });

    it('appends entries and answers term() and entries()', async () => {
      const entries = await append([1, 1, 2, 2, 3]);
      expect(storage.firstIndex()).to.equal(1);
      expect(storage.lastIndex()).to.equal(5);
      expect([1, 2, 3, 4, 5].map((index) => storage.term(index))).to.deep.equal([1, 1, 2, 2, 3]);
      expect(plain(storage.entries(1, 6, Infinity))).to.deep.equal(plain(entries));
      expect(plain(storage.entries(2, 4, Infinity))).to.deep.equal(plain(entries.slice(1, 3)));
      await append([3, 4]);
      expect(storage.lastIndex()).to.equal(7);
      expect(storage.term(7)).to.equal(4);
      checkInvariant(storage);
    });

    it('keeps entry types and empty data', async () => {
      const entries = [makeEntry(1, 1, 0), { ...makeEntry(2, 1, 5), type: EntryType.ConfChange }];
      await storage.persist({ entries });
      expect(plain(storage.entries(1, 3, Infinity))).to.deep.equal(plain(entries));
    });

    it('saves hard state with or without entries', async () => {
      await storage.persist({ hardState: { term: 2, vote: 3, commit: 0 }, entries: [] });
      expect(storage.initialState().hardState).to.deep.equal({ term: 2, vote: 3, commit: 0 });
      await storage.persist({ hardState: { term: 2, vote: 3, commit: 2 }, entries: [makeEntry(1, 2, 4), makeEntry(2, 2, 4)] });
      expect(storage.initialState().hardState).to.deep.equal({ term: 2, vote: 3, commit: 2 });
      expect(storage.lastIndex()).to.equal(2);
    });

    it('overwrites a stored suffix: an entry at i replaces every stored entry >= i', async () => {
      await append([1, 1, 1, 1, 1]);
      const replacement = [makeEntry(3, 2, 8, 0x77), makeEntry(4, 2, 8, 0x78)];
      await storage.persist({ entries: replacement });
      expect(storage.lastIndex()).to.equal(4);
      expect([1, 2, 3, 4, 5].map((index) => storage.term(index))).to.deep.equal([1, 1, 2, 2, undefined]);
      expect(plain(storage.entries(3, 5, Infinity))).to.deep.equal(plain(replacement));
      const longer = [makeEntry(2, 3, 8), makeEntry(3, 3, 8), makeEntry(4, 3, 8), makeEntry(5, 3, 8), makeEntry(6, 3, 8)];
      await storage.persist({ entries: longer });
      expect(storage.lastIndex()).to.equal(6);
      expect(plain(storage.entries(1, 7, Infinity)).map((e) => e.term)).to.deep.equal([1, 3, 3, 3, 3, 3]);
      checkInvariant(storage);
    });

    it('answers term() from firstIndex()-1 to lastIndex() and undefined outside', async () => {
      await append([1, 2, 2, 3, 3, 3]);
      await subject.markApplied(3);
      await storage.compact(3);
      expect(storage.firstIndex()).to.equal(4);
      expect(storage.term(3)).to.equal(2);
      expect(storage.term(2)).to.equal(undefined);
      expect(storage.term(0)).to.equal(undefined);
      expect(storage.term(6)).to.equal(3);
      expect(storage.term(7)).to.equal(undefined);
      expect(storage.term(1_000_000)).to.equal(undefined);
      checkInvariant(storage);
    });

    it('entries() respects bytesMax but returns at least one entry', async () => {
      const entries = await append([1, 1, 1, 1], 100);
      const size = entryBytes(entries[0]);
      expect(plain(storage.entries(1, 5, 0))).to.deep.equal(plain(entries.slice(0, 1)));
      expect(plain(storage.entries(1, 5, size - 1))).to.deep.equal(plain(entries.slice(0, 1)));
      expect(plain(storage.entries(1, 5, size))).to.deep.equal(plain(entries.slice(0, 1)));
      expect(plain(storage.entries(1, 5, 2 * size - 1))).to.deep.equal(plain(entries.slice(0, 1)));
      expect(plain(storage.entries(1, 5, 2 * size))).to.deep.equal(plain(entries.slice(0, 2)));
      expect(plain(storage.entries(2, 5, 3 * size))).to.deep.equal(plain(entries.slice(1, 4)));
      expect(plain(storage.entries(1, 5, Infinity))).to.deep.equal(plain(entries));
    });

    it('compacts: drops entries <= index and records the snapshot point', async () => {
      const entries = await append([1, 1, 2, 2, 2, 3, 3, 3, 3, 3]);
      await subject.markApplied(6);
      await storage.compact(6);
      expect(storage.firstIndex()).to.equal(7);
      expect(storage.lastIndex()).to.equal(10);
      expect(storage.snapshot().meta).to.deep.equal({ index: 6, term: 3, confState: MEMBERSHIP });
      expect(storage.initialState().confState).to.deep.equal(MEMBERSHIP);
      expect(plain(storage.entries(7, 11, Infinity))).to.deep.equal(plain(entries.slice(6)));
      checkInvariant(storage);
    });

    it('ignores a compaction at or below the current snapshot point', async () => {
      await append([1, 1, 1, 1]);
      await subject.markApplied(3);
      await storage.compact(3);
      await storage.compact(2);
      await storage.compact(3);
      expect(storage.firstIndex()).to.equal(4);
      expect(storage.snapshot().meta.index).to.equal(3);
      checkInvariant(storage);
    });

    it('compacts the whole log and keeps appending after it', async () => {
      await append([1, 2, 2]);
      await subject.markApplied(3);
      await storage.compact(3);
      expect(storage.firstIndex()).to.equal(4);
      expect(storage.lastIndex()).to.equal(3);
      expect(storage.term(3)).to.equal(2);
      const next = await append([2, 4]);
      expect(plain(storage.entries(4, 6, Infinity))).to.deep.equal(plain(next));
      expect(storage.term(3)).to.equal(2);
      expect(storage.term(5)).to.equal(4);
      checkInvariant(storage);
    });

    it('overwrites right after the snapshot point', async () => {
      await append([1, 1, 1, 1]);
      await subject.markApplied(2);
      await storage.compact(2);
      await storage.persist({ entries: [makeEntry(3, 5, 8)] });
      expect(storage.lastIndex()).to.equal(3);
      expect(storage.term(3)).to.equal(5);
      expect(storage.term(4)).to.equal(undefined);
      checkInvariant(storage);
    });
  });
}

function makeEntry(index: number, term: number, dataBytes: number, fill = index & 0xff): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(dataBytes).fill(fill) };
}

function plain(entries: Entry[]): { index: number; term: number; type: EntryType; data: number[] }[] {
  return entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Array.from(e.data) }));
}

function checkInvariant(storage: RaftStorage): void {
  expect(storage.snapshot().meta.index).to.equal(storage.firstIndex() - 1);
  expect(storage.term(storage.firstIndex() - 1)).to.equal(storage.snapshot().meta.term);
  expect(storage.lastIndex()).to.be.at.least(storage.firstIndex() - 1);
}
