import { expect } from 'chai';
import { AssertionError } from '../../../actors/raft/assert';
import { EntryType } from '../../../actors/raft/types';
import { StorageCorruptionError } from '../../../storage/errors';
import { KvCommand } from '../../../storage/kvCommand';
import { kvKey } from '../../../storage/kvRecord';
import { ReplicaStore } from '../../../storage/replicaStore';
import { OpenStores, catchError, commandEntry, entry, expectRejection, writeCommitted } from './support';

describe('KvStateMachine', () => {
  const stores = new OpenStores();
  let store: ReplicaStore;

  beforeEach(async () => {
    store = await stores.open();
  });

  afterEach(async () => {
    await stores.closeAll();
  });

  /** Writes one command per entry, each in its own batch; returns the single result. */
  async function run(command: KvCommand) {
    const [result] = await writeCommitted(store, 1, [command]);
    return result;
  }

  it('put returns the entry index as revision and keeps createRevision', async () => {
    expect(await run({ op: 'put', key: 'a', value: '1' })).to.deep.equal({ op: 'put', revision: 1 });
    expect(store.stateMachine.get('a')).to.deep.equal({ value: '1', revision: 1, createRevision: 1 });
    expect(await run({ op: 'put', key: 'b', value: 'x' })).to.deep.equal({ op: 'put', revision: 2 });
    expect(await run({ op: 'put', key: 'a', value: '2' })).to.deep.equal({ op: 'put', revision: 3 });
    expect(store.stateMachine.get('a')).to.deep.equal({ value: '2', revision: 3, createRevision: 1 });
    expect(store.stateMachine.applied()).to.equal(3);
  });

  it('del reports whether the key existed', async () => {
    await run({ op: 'put', key: 'a', value: '1' });
    expect(await run({ op: 'del', key: 'a' })).to.deep.equal({ op: 'del', deleted: true, revision: 2 });
    expect(store.stateMachine.get('a')).to.equal(undefined);
    expect(await run({ op: 'del', key: 'a' })).to.deep.equal({ op: 'del', deleted: false, revision: 0 });
    expect(await run({ op: 'put', key: 'a', value: 'again' })).to.deep.equal({ op: 'put', revision: 4 });
    expect(store.stateMachine.get('a')).to.deep.equal({ value: 'again', revision: 4, createRevision: 4 });
  });

  describe('cas on revision', () => {
    it('expectedRevision 0 creates an absent key', async () => {
      expect(await run({ op: 'cas', key: 'a', value: 'v', expectedRevision: 0 })).to.deep.equal({ op: 'cas', ok: true, revision: 1 });
      expect(store.stateMachine.get('a')).to.deep.equal({ value: 'v', revision: 1, createRevision: 1 });
    });

    it('expectedRevision 0 fails on a present key and reports it', async () => {
      await run({ op: 'put', key: 'a', value: 'v' });
      expect(await run({ op: 'cas', key: 'a', value: 'w', expectedRevision: 0 })).to.deep.equal({ op: 'cas', ok: false, value: 'v', revision: 1 });
      expect(store.stateMachine.get('a')).to.deep.equal({ value: 'v', revision: 1, createRevision: 1 });
    });

    it('succeeds on the current revision and fails on a stale one', async () => {
      await run({ op: 'put', key: 'a', value: 'v1' });
      await run({ op: 'put', key: 'a', value: 'v2' });
      expect(await run({ op: 'cas', key: 'a', value: 'x', expectedRevision: 1 })).to.deep.equal({ op: 'cas', ok: false, value: 'v2', revision: 2 });
      expect(await run({ op: 'cas', key: 'a', value: 'v3', expectedRevision: 2 })).to.deep.equal({ op: 'cas', ok: true, revision: 4 });
      expect(store.stateMachine.get('a')).to.deep.equal({ value: 'v3', revision: 4, createRevision: 1 });
    });

    it('fails on an absent key with a non-zero revision', async () => {
      expect(await run({ op: 'cas', key: 'a', value: 'x', expectedRevision: 5 })).to.deep.equal({ op: 'cas', ok: false, value: null, revision: 0 });
      expect(store.stateMachine.get('a')).to.equal(undefined);
    });
  });

  describe('cas on value', () => {
    it('expectedValue null creates an absent key and fails on a present one', async () => {
      expect(await run({ op: 'cas', key: 'a', value: 'v', expectedValue: null })).to.deep.equal({ op: 'cas', ok: true, revision: 1 });
      expect(await run({ op: 'cas', key: 'a', value: 'w', expectedValue: null })).to.deep.equal({ op: 'cas', ok: false, value: 'v', revision: 1 });
    });

    it('succeeds on the current value and fails on another', async () => {
      await run({ op: 'put', key: 'a', value: 'v' });
      expect(await run({ op: 'cas', key: 'a', value: 'x', expectedValue: 'other' })).to.deep.equal({ op: 'cas', ok: false, value: 'v', revision: 1 });
      expect(await run({ op: 'cas', key: 'a', value: 'w', expectedValue: 'v' })).to.deep.equal({ op: 'cas', ok: true, revision: 3 });
      expect(store.stateMachine.get('a')).to.deep.equal({ value: 'w', revision: 3, createRevision: 1 });
    });

    it('fails on an absent key with a string expectation, including the empty string', async () => {
      expect(await run({ op: 'cas', key: 'a', value: 'x', expectedValue: '' })).to.deep.equal({ op: 'cas', ok: false, value: null, revision: 0 });
      await run({ op: 'put', key: 'a', value: '' });
      expect(await run({ op: 'cas', key: 'a', value: 'x', expectedValue: null })).to.deep.equal({ op: 'cas', ok: false, value: '', revision: 2 });
      expect(await run({ op: 'cas', key: 'a', value: 'x', expectedValue: '' })).to.deep.equal({ op: 'cas', ok: true, revision: 4 });
    });
  });

  it('lets later commands of one batch see the earlier ones', async () => {
    const results = await writeCommitted(store, 1, [
      { op: 'put', key: 'a', value: '1' },
      { op: 'cas', key: 'a', value: '2', expectedRevision: 1 },
      { op: 'del', key: 'a' },
      { op: 'cas', key: 'a', value: '3', expectedValue: null },
      { op: 'del', key: 'b' },
    ]);
    expect(results).to.deep.equal([
      { op: 'put', revision: 1 },
      { op: 'cas', ok: true, revision: 2 },
      { op: 'del', deleted: true, revision: 3 },
      { op: 'cas', ok: true, revision: 4 },
      { op: 'del', deleted: false, revision: 0 },
    ]);
    expect(store.stateMachine.get('a')).to.deep.equal({ value: '3', revision: 4, createRevision: 4 });
  });

  it('treats __proto__, constructor and hasOwnProperty as plain keys', async () => {
    const keys = ['__proto__', 'constructor', 'hasOwnProperty', 'toString'];
    await writeCommitted(store, 1, keys.map((key) => ({ op: 'put', key, value: `value of ${key}` })));
    for (const key of keys) expect(store.stateMachine.get(key)?.value).to.equal(`value of ${key}`);
    expect(store.stateMachine.get('valueOf')).to.equal(undefined);
    expect(({} as Record<string, unknown>).value).to.equal(undefined);
    expect(await run({ op: 'cas', key: '__proto__', value: 'x', expectedRevision: 1 })).to.deep.equal({ op: 'cas', ok: true, revision: 5 });
  });

  it('applies empty and ConfChange entries as no-ops and still advances applied', async () => {
    const entries = [entry(1, 1), entry(2, 1, new Uint8Array([1, 0, 0, 0, 4]), EntryType.ConfChange), commandEntry(3, 1, { op: 'put', key: 'k', value: 'v' })];
    await store.log.persist({ entries });
    const membership = { voters: [1, 2, 3, 4], learners: [] };
    expect(await store.stateMachine.applyBatch(entries, membership)).to.deep.equal([{ op: 'none' }, { op: 'none' }, { op: 'put', revision: 3 }]);
    expect(store.stateMachine.applied()).to.equal(3);
    expect(store.stateMachine.confState()).to.deep.equal(membership);
  });

  it('writes data and applied index together, durably', async () => {
    await writeCommitted(store, 1, [{ op: 'put', key: 'a', value: '1' }, { op: 'put', key: 'b', value: '2' }]);
    store = await stores.reopen(store);
    expect(store.stateMachine.applied()).to.equal(2);
    expect(store.stateMachine.get('b')).to.deep.equal({ value: '2', revision: 2, createRevision: 2 });
  });

  it('leaves neither data nor applied behind when a batch fails midway', async () => {
    await run({ op: 'put', key: 'bad', value: 'v' });
    // Corrupt the stored record of 'bad': the second command of the next batch has to read it.
    const db = store.environment.kv('a');
    const record = Buffer.from(db.get(kvKey('bad')) as Buffer);
    record[record.length - 1] ^= 0x20;
    await db.put(kvKey('bad'), record);
    const entries = [commandEntry(2, 1, { op: 'put', key: 'good', value: 'v' }), commandEntry(3, 1, { op: 'put', key: 'bad', value: 'w' })];
    await store.log.persist({ entries });
    await expectRejection(store.stateMachine.applyBatch(entries), StorageCorruptionError, /kv-a/);
    store = await stores.reopen(store);
    expect(store.stateMachine.applied()).to.equal(1);
    expect(store.stateMachine.get('good')).to.equal(undefined);
    expect(catchError(() => store.stateMachine.get('bad'))).to.include({ code: 'STORAGE_CORRUPT', store: 'kv-a' });
  });

  it('refuses batches that do not continue exactly at applied + 1', async () => {
    await writeCommitted(store, 1, [{ op: 'put', key: 'a', value: '1' }, { op: 'put', key: 'b', value: '2' }]);
    const put = (index: number) => commandEntry(index, 1, { op: 'put', key: `k${index}`, value: 'v' });
    await store.log.persist({ entries: [put(3), put(4), put(5)] });
    await expectRejection(store.stateMachine.applyBatch([put(4)]), AssertionError, /after 2/);
    await expectRejection(store.stateMachine.applyBatch([put(2)]), AssertionError, /after 2/);
    await expectRejection(store.stateMachine.applyBatch([put(3), put(5)]), AssertionError, /not contiguous/);
    expect(store.stateMachine.applied()).to.equal(2);
    // Refused at the call: nothing reached the disk and the store keeps working.
    expect(await store.stateMachine.applyBatch([put(3), put(4)])).to.have.length(2);
    expect(store.stateMachine.applied()).to.equal(4);
  });

  it('accepts pipelined batches and resolves them in order', async () => {
    const put = (index: number) => commandEntry(index, 1, { op: 'put', key: 'k', value: `v${index}` });
    await store.log.persist({ entries: [put(1), put(2), put(3)] });
    const order: number[] = [];
    await Promise.all([1, 2, 3].map((index) => store.stateMachine.applyBatch([put(index)]).then(() => order.push(index))));
    expect(order).to.deep.equal([1, 2, 3]);
    expect(store.stateMachine.get('k')).to.deep.equal({ value: 'v3', revision: 3, createRevision: 1 });
  });

  it('throws StorageCorruptionError for a committed entry that is not a command', async () => {
    const bad = entry(1, 1, Uint8Array.from([0xc1]));
    await store.log.persist({ entries: [bad] });
    await expectRejection(store.stateMachine.applyBatch([bad]), StorageCorruptionError, /index 1/);
    expect(store.stateMachine.applied()).to.equal(0);
  });

  it('requires exactly one ConfChange entry in a batch that changes membership', async () => {
    await expectRejection(store.stateMachine.applyBatch([entry(1, 1)], { voters: [1], learners: [] }), AssertionError, /0 ConfChange/);
  });
});
