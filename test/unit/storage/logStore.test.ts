import { expect } from 'chai';
import { AssertionError } from '../../../actors/raft/assert';
import { EntryType } from '../../../actors/raft/types';
import { StorageCorruptionError, StorageFailedError } from '../../../storage/errors';
import { ReplicaStore } from '../../../storage/replicaStore';
import { indexKey } from '../../../storage/uint53';
import { runRaftStorageContract } from './raftStorageContract';
import { OpenStores, catchError, entry, expectRejection, plain } from './support';

runRaftStorageContract('LMDB LogStore', async (confState) => {
  const stores = new OpenStores();
  const store = await stores.open({ confState });
  return {
    storage: store.log,
    // The LMDB store compacts only what the state machine applied; the contract's entries carry no
    // commands, so apply them as no-ops.
    async markApplied(index: number) {
      const from = store.stateMachine.applied() + 1;
      if (index < from) return;
      const noOps = store.log.entries(from, index + 1, Infinity).map((e) => ({ ...e, data: new Uint8Array(0) }));
      await store.stateMachine.applyBatch(noOps);
    },
    dispose: () => stores.closeAll(),
  };
});

describe('LogStore on LMDB', () => {
  const stores = new OpenStores();
  let store: ReplicaStore;

  beforeEach(async () => {
    store = await stores.open();
  });

  afterEach(async () => {
    await stores.closeAll();
  });

  it('keeps log, hard state and snapshot point across a restart', async () => {
    const entries = [1, 2, 3, 4, 5].map((index) => entry(index, index < 3 ? 1 : 2, Buffer.from(`data-${index}`)));
    await store.log.persist({ hardState: { term: 2, vote: 1, commit: 4 }, entries });
    await store.stateMachine.applyBatch(entries.slice(0, 3).map((e) => ({ ...e, data: new Uint8Array(0) })));
    await store.log.compact(2);
    store = await stores.reopen(store);
    expect(store.log.firstIndex()).to.equal(3);
    expect(store.log.lastIndex()).to.equal(5);
    expect(store.log.term(2)).to.equal(1);
    expect(store.log.initialState().hardState).to.deep.equal({ term: 2, vote: 1, commit: 4 });
    expect(plain(store.log.entries(3, 6, Infinity))).to.deep.equal(plain(entries.slice(2)));
  });

  it('shows a persist to readers only once it is durable', async () => {
    const pending = store.log.persist({ hardState: { term: 1, vote: 1, commit: 0 }, entries: [entry(1, 1)] });
    expect(store.log.lastIndex()).to.equal(0);
    expect(store.log.term(1)).to.equal(undefined);
    expect(store.log.hardState().term).to.equal(0);
    await pending;
    expect(store.log.lastIndex()).to.equal(1);
    expect(store.log.hardState().term).to.equal(1);
  });

  it('accepts pipelined persists, including one overwriting a suffix still in flight', async () => {
    const first = store.log.persist({ entries: [entry(1, 1), entry(2, 1), entry(3, 1)] });
    const second = store.log.persist({ entries: [entry(4, 1)] });
    const third = store.log.persist({ entries: [entry(3, 2), entry(4, 2)] });
    await Promise.all([first, second, third]);
    expect(store.log.lastIndex()).to.equal(4);
    expect([1, 2, 3, 4].map((index) => store.log.term(index))).to.deep.equal([1, 1, 2, 2]);
  });

  it('refuses to overwrite committed entries, leave a gap, or lower a term', async () => {
    await store.log.persist({ hardState: { term: 2, vote: 1, commit: 2 }, entries: [entry(1, 1), entry(2, 2), entry(3, 2)] });
    await expectRejection(store.log.persist({ entries: [entry(2, 3)] }), AssertionError, /committed/);
    store = await stores.reopen(store); // an assertion poisons the env: restart from disk
    await expectRejection(store.log.persist({ entries: [entry(5, 2)] }), AssertionError, /gap/);
    store = await stores.reopen(store);
    await expectRejection(store.log.persist({ entries: [entry(4, 1)] }), AssertionError, /below previous term/);
    store = await stores.reopen(store);
    expect(store.log.lastIndex()).to.equal(3);
    expect(store.log.term(3)).to.equal(2);
  });

  it('checks a pipelined persist against the persists queued before it, not only the durable ones', async () => {
    const first = store.log.persist({ hardState: { term: 2, vote: 1, commit: 2 }, entries: [entry(1, 1), entry(2, 2), entry(3, 2)] });
    // Entry 4 follows entry 3, which is only queued; commit 2 (queued, not durable) already forbids
    // overwriting entry 2.
    const second = store.log.persist({ entries: [entry(4, 2)] });
    const overwrite = store.log.persist({ entries: [entry(2, 3), entry(3, 3), entry(4, 3)] });
    await Promise.all([first, second]);
    await expectRejection(overwrite, AssertionError, /committed/);
    store = await stores.reopen(store);
    expect(store.log.lastIndex()).to.equal(4);
    expect(store.log.initialState().hardState).to.deep.equal({ term: 2, vote: 1, commit: 2 });
    expect([1, 2, 3, 4].map((index) => store.log.term(index))).to.deep.equal([1, 2, 2, 2]);
  });

  it('refuses hard state that breaks Raft rules', async () => {
    await store.log.persist({ hardState: { term: 3, vote: 2, commit: 0 }, entries: [] });
    await expectRejection(store.log.persist({ hardState: { term: 2, vote: 2, commit: 0 }, entries: [] }), AssertionError, /term goes back/);
    store = await stores.reopen(store);
    await expectRejection(store.log.persist({ hardState: { term: 3, vote: 1, commit: 0 }, entries: [] }), AssertionError, /vote changes/);
    store = await stores.reopen(store);
    await expectRejection(store.log.persist({ hardState: { term: 3, vote: 2, commit: 1 }, entries: [] }), AssertionError, /beyond the last/);
    store = await stores.reopen(store);
    expect(store.log.hardState()).to.deep.equal({ term: 3, vote: 2, commit: 0 });
  });

  it('refuses every write after a failed one (restart from durable state)', async () => {
    await expectRejection(store.log.persist({ entries: [entry(2, 1)] }), AssertionError, /gap/);
    await expectRejection(store.log.persist({ entries: [entry(1, 1)] }), StorageFailedError, /restart/);
  });

  it('refuses to compact beyond the applied index', async () => {
    await store.log.persist({ entries: [entry(1, 1), entry(2, 1)] });
    await expectRejection(store.log.compact(1), AssertionError, /beyond applied/);
  });

  it('records the membership in effect at the compaction point', async () => {
    const change = { voters: [1, 2, 3, 4], learners: [] };
    const entries = [entry(1, 1), entry(2, 1, new Uint8Array([1, 0, 0, 0, 4]), EntryType.ConfChange), entry(3, 1), entry(4, 1)];
    await store.log.persist({ entries });
    await store.stateMachine.applyBatch(entries.slice(0, 2), change);
    await store.stateMachine.applyBatch(entries.slice(2));
    await store.log.compact(1);
    expect(store.log.snapshot().meta.confState).to.deep.equal({ voters: [1, 2, 3], learners: [] });
    await store.log.compact(3);
    expect(store.log.snapshot().meta.confState).to.deep.equal(change);
    store = await stores.reopen(store);
    expect(store.log.initialState().confState).to.deep.equal(change);
    expect(store.stateMachine.confState()).to.deep.equal(change);
  });

  describe('checksums', () => {
    async function corruptStoredEntry(index: number, offset: number): Promise<void> {
      const log = store.environment.log;
      const record = Buffer.from(log.get(indexKey(index)) as Buffer);
      record[offset] ^= 0x01;
      await log.put(indexKey(index), record);
    }

    beforeEach(async () => {
      // No entry cache: these reads must come from disk, where the corruption is.
      const path = store.environment.path;
      await stores.close(store);
      store = await stores.open({ path, entryCacheEntries: 0 });
      const entries = [1, 2, 3].map((index) => entry(index, 1, Buffer.from(`payload of entry ${index}`)));
      await store.log.persist({ entries });
    });

    for (const [what, offset] of [['data', 30], ['term', 10], ['checksum', 0]] as const) {
      it(`throws StorageCorruptionError when a ${what} byte of a stored entry flips`, async () => {
        await corruptStoredEntry(2, offset);
        expect(plain(store.log.entries(1, 2, Infinity))).to.have.length(1);
        const error = catchError(() => store.log.entries(1, 4, Infinity));
        expect(error).to.be.instanceOf(StorageCorruptionError);
        expect(error).to.include({ name: 'StorageCorruptionError', code: 'STORAGE_CORRUPT', index: 2, store: 'log' });
      });
    }

    it('throws when an entry is stored under the wrong index', async () => {
      const log = store.environment.log;
      await log.put(indexKey(3), log.get(indexKey(2)) as Buffer);
      expect(catchError(() => store.log.entries(3, 4, Infinity))).to.include({ code: 'STORAGE_CORRUPT', index: 3 });
    });

    it('refuses to open a replica whose log is corrupt', async () => {
      await corruptStoredEntry(3, 30);
      const path = store.environment.path;
      await stores.close(store);
      let error: unknown;
      try {
        await stores.open({ path });
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(StorageCorruptionError);
      expect(error).to.include({ index: 3 });
      store = await stores.open(); // leave something open for afterEach
    });
  });
});
