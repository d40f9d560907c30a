import { expect } from 'chai';
import { join } from 'path';
import { AssertionError } from '../../../actors/raft/assert';
import { encodeEntry } from '../../../storage/logEntryCodec';
import { ReplicaStore } from '../../../storage/replicaStore';
import { indexKey } from '../../../storage/uint53';
import { OpenStores, entry, expectRejection, writeCommitted } from './support';

describe('ReplicaStore', () => {
  const stores = new OpenStores();

  afterEach(async () => {
    await stores.closeAll();
  });

  it('creates missing directories and bootstraps once; a reopen keeps the stored membership', async () => {
    const path = join(stores.dirs.make(), 'data', 'node-1', 'p7');
    let store = await stores.open({ path, confState: { voters: [1, 2, 3], learners: [4] } });
    expect(store.log.initialState().confState).to.deep.equal({ voters: [1, 2, 3], learners: [4] });
    await stores.close(store);
    store = await stores.open({ path, confState: { voters: [9], learners: [] } });
    expect(store.log.initialState().confState).to.deep.equal({ voters: [1, 2, 3], learners: [4] });
    expect(store.stateMachine.confState()).to.deep.equal({ voters: [1, 2, 3], learners: [4] });
  });

  it('refuses a bootstrap membership without voters or with duplicates', async () => {
    const path = join(stores.dirs.make(), 'replica');
    await expectRejection(ReplicaStore.open({ path, bootstrapConfState: { voters: [], learners: [] } }), AssertionError, /voter/);
    await expectRejection(ReplicaStore.open({ path, bootstrapConfState: { voters: [1, 2], learners: [2] } }), AssertionError, /twice/);
    await expectRejection(ReplicaStore.open({ path, bootstrapConfState: { voters: [0], learners: [] } }), AssertionError, /positive/);
  });

  it('ignores entries a crash left below the snapshot point and deletes them at the next compaction', async () => {
    let store = await stores.open();
    await writeCommitted(store, 1, [1, 2, 3, 4, 5].map((i) => ({ op: 'put', key: `k${i}`, value: 'v' })));
    await store.log.compact(3);
    // As if the process died between compact's two transactions.
    await store.environment.log.put(indexKey(2), encodeEntry(entry(2, 1)));
    store = await stores.reopen(store);
    expect(store.log.firstIndex()).to.equal(4);
    expect(store.log.lastIndex()).to.equal(5);
    await store.log.compact(4);
    expect([...store.environment.log.getKeys({})].map((key) => key.readUInt32BE(4))).to.deep.equal([5]);
  });

  it('clears an inactive state-machine copy left behind by a crash', async () => {
    let store = await stores.open();
    await store.environment.kv('b').put(Buffer.from('junk'), Buffer.from('junk'));
    store = await stores.reopen(store);
    expect(store.environment.kv('b').getCount({})).to.equal(0);
  });
});
