// The key ring inside the state machine (storage/shardState.ts), through a real ReplicaStore: which keys
// a partition accepts, the shard entries that move keys, and what survives a restart.

import { expect } from 'chai';
import { join } from 'path';
import { PartitionMap } from '../../../actors/router/layout';
import { encodeKvCommand } from '../../../storage/kvCommand';
import type { KvResult } from '../../../storage/kvStateMachine';
import { ReplicaStore } from '../../../storage/replicaStore';
import { EntryCommand, encodeShardCommand, isShardCommand } from '../../../storage/shardCommand';
import type { Ownership } from '../../../storage/shardState';
import { TempDirs, VOTERS_THREE, entry } from './support';

const WRONG_PARTITION: KvResult = { op: 'refused', code: 'WRONG_PARTITION' };

/** The first `count` keys k0, k1, ... that `ring` maps to `partition` (and `also` to `alsoPartition`). */
function keysOf(ring: readonly number[], partition: number, count: number, also?: { ring: readonly number[]; partition: number }): string[] {
  const map = new PartitionMap(ring);
  const other = also === undefined ? undefined : new PartitionMap(also.ring);
  const keys: string[] = [];
  for (let index = 0; keys.length < count; index++) {
    const key = `k${index}`;
    if (map.partitionOf(key) === partition && (other === undefined || other.partitionOf(key) === also!.partition)) keys.push(key);
  }
  return keys;
}

/** Stores opened with an ownership; reopened with the same one, as a restarted replica would be. */
class ShardStores {
  readonly dirs = new TempDirs();
  private readonly open = new Map<ReplicaStore, { path: string; ownership: Ownership }>();

  async create(ownership: Ownership, path = join(this.dirs.make(), 'replica')): Promise<ReplicaStore> {
    const store = await ReplicaStore.open({ path, bootstrapConfState: VOTERS_THREE, durability: 'syncCommit', ownership });
    this.open.set(store, { path, ownership });
    return store;
  }

  async reopen(store: ReplicaStore): Promise<ReplicaStore> {
    const { path, ownership } = this.open.get(store)!;
    this.open.delete(store);
    await store.close();
    return this.create(ownership, path);
  }

  async closeAll(): Promise<void> {
    for (const store of [...this.open.keys()]) await store.close();
    this.open.clear();
    this.dirs.removeAll();
  }
}

/** Persists the commands as entries at lastIndex+1.., commits and applies them in one batch. */
async function applyCommitted(store: ReplicaStore, commands: EntryCommand[]): Promise<KvResult[]> {
  const first = store.log.lastIndex() + 1;
  const entries = commands.map((command, offset) => entry(first + offset, 1, isShardCommand(command) ? encodeShardCommand(command) : encodeKvCommand(command)));
  await store.log.persist({ hardState: { term: 1, vote: 0, commit: first + entries.length - 1 }, entries });
  return store.stateMachine.applyBatch(entries);
}

async function applyOne(store: ReplicaStore, command: EntryCommand): Promise<KvResult> {
  return (await applyCommitted(store, [command]))[0];
}

describe('storage/kvStateMachine with a key ring', () => {
  const stores = new ShardStores();
  /** Partition 0 of a cluster whose first layout is partitions 0 and 1. */
  const PARTITION_0: Ownership = { partition: 0, initialPartitions: [0, 1] };
  /** Partition 2, created later: it is not in the first layout, so it starts owning nothing. */
  const PARTITION_2: Ownership = { partition: 2, initialPartitions: [0, 1] };
  const GROWN = [0, 1, 2];

  afterEach(async () => {
    await stores.closeAll();
  });

  it('refuses a write to a key the ring gives another partition, with WRONG_PARTITION, and changes nothing', async () => {
    const store = await stores.create(PARTITION_0);
    const [mine] = keysOf([0, 1], 0, 1);
    const [theirs] = keysOf([0, 1], 1, 1);
    expect(store.stateMachine.owns(mine)).to.equal(true);
    expect(store.stateMachine.owns(theirs)).to.equal(false);
    const results = await applyCommitted(store, [
      { op: 'put', key: theirs, value: 'v' },
      { op: 'cas', key: theirs, value: 'v', expectedRevision: 0 },
      { op: 'del', key: theirs },
      { op: 'put', key: theirs, value: 'v', id: 'req-1' },
      { op: 'put', key: mine, value: 'v' },
    ]);
    expect(results).to.deep.equal([WRONG_PARTITION, WRONG_PARTITION, WRONG_PARTITION, WRONG_PARTITION, { op: 'put', revision: 5 }]);
    expect(store.stateMachine.get(theirs)).to.equal(undefined);
    expect(store.stateMachine.applied()).to.equal(5);
    // The refused write with an id left no result behind: once the key is this partition's, it applies.
    await applyOne(store, { op: 'ring', epoch: 1, partitions: [0] });
    expect(await applyOne(store, { op: 'put', key: theirs, value: 'w', id: 'req-1' })).to.deep.equal({ op: 'put', revision: 7 });
  });

  it('after a ring entry that takes keys away, refuses them (they stay readable until purged) and keeps the others', async () => {
    const store = await stores.create(PARTITION_0);
    const [moving] = keysOf([0, 1], 0, 1, { ring: GROWN, partition: 2 });
    const [staying] = keysOf([0, 1], 0, 1, { ring: GROWN, partition: 0 });
    await applyCommitted(store, [{ op: 'put', key: moving, value: 'm' }, { op: 'put', key: staying, value: 's' }]);

    expect(await applyOne(store, { op: 'ring', epoch: 1, partitions: GROWN })).to.deep.equal({ op: 'shard', epoch: 1, changed: 1 });
    expect(store.stateMachine.shardState()).to.deep.equal({ epoch: 1, partitions: GROWN, revisionBase: 0 });
    expect(store.stateMachine.owns(moving)).to.equal(false);
    expect(store.stateMachine.owns(staying)).to.equal(true);

    expect(await applyOne(store, { op: 'put', key: moving, value: 'late' })).to.deep.equal(WRONG_PARTITION);
    expect(store.stateMachine.get(moving)).to.deep.equal({ value: 'm', revision: 1, createRevision: 1 });
    expect(await applyOne(store, { op: 'put', key: staying, value: 's2' })).to.deep.equal({ op: 'put', revision: 5 });
  });

  it('ignores a ring entry whose epoch is not newer', async () => {
    const store = await stores.create(PARTITION_0);
    await applyOne(store, { op: 'ring', epoch: 2, partitions: GROWN });
    expect(await applyOne(store, { op: 'ring', epoch: 1, partitions: [0] })).to.deep.equal({ op: 'shard', epoch: 2, changed: 0 });
    expect(store.stateMachine.shardState().partitions).to.deep.equal(GROWN);
  });

  it('serves ingested keys once it adopts the ring, and a later write gets a higher revision than the copied one', async () => {
    const store = await stores.create(PARTITION_2);
    const [key, other] = keysOf(GROWN, 2, 2);
    expect(await applyOne(store, { op: 'put', key, value: 'too early' }), 'a new partition owns nothing yet').to.deep.equal(WRONG_PARTITION);

    // The copy comes from a partition whose log is far ahead: revision 1000 at this log's index 2.
    expect(await applyOne(store, { op: 'ingest', epoch: 1, records: [[key, 'copied', 1000, 900], [other, 'o', 40, 40]] })).to.deep.equal({ op: 'shard', epoch: 0, changed: 2 });
    expect(store.stateMachine.owns(key), 'copied, not yet adopted').to.equal(false);
    expect(await applyOne(store, { op: 'ring', epoch: 1, partitions: GROWN })).to.deep.include({ op: 'shard', epoch: 1 });
    expect(store.stateMachine.owns(key)).to.equal(true);
    expect(store.stateMachine.get(key)).to.deep.equal({ value: 'copied', revision: 1000, createRevision: 900 });

    const put = await applyOne(store, { op: 'put', key, value: 'new' });
    expect(put.op).to.equal('put');
    const { revision } = put as { revision: number };
    expect(revision).to.be.greaterThan(1000);
    expect(store.stateMachine.get(key)).to.deep.equal({ value: 'new', revision, createRevision: 900 });
    expect(await applyOne(store, { op: 'cas', key: other, value: 'o2', expectedRevision: 40 })).to.deep.equal({ op: 'cas', ok: true, revision: revision + 1 });
  });

  it('scanUnowned pages through the unowned keys with `next` and skips the owned ones', async () => {
    const store = await stores.create(PARTITION_0);
    const keys = keysOf([0, 1], 0, 24);
    await applyCommitted(store, keys.map((key) => ({ op: 'put', key, value: `value of ${key}` })));
    await applyOne(store, { op: 'ring', epoch: 1, partitions: GROWN });
    const grown = new PartitionMap(GROWN);
    const unowned = keys.filter((key) => grown.partitionOf(key) !== 0).sort();
    expect(unowned.length, 'some keys move, some stay').to.be.within(2, keys.length - 1);

    const pages: string[][] = [];
    let after: string | undefined;
    do {
      const page = store.stateMachine.scanUnowned(after, 2, Infinity);
      expect(page.records.length).to.be.at.most(2);
      pages.push(page.records.map(([key]) => key));
      for (const [key, value, revision, createRevision] of page.records) {
        expect(store.stateMachine.get(key)).to.deep.equal({ value, revision, createRevision });
      }
      after = page.next;
    } while (after !== undefined && pages.length <= keys.length);
    expect(pages.length, 'more than one page').to.be.greaterThan(1);
    expect(pages.flat()).to.deep.equal(unowned);
    expect(pages[0]).to.have.length(2);
  });

  it('scanUnowned finds nothing while the partition owns every key it holds', async () => {
    const store = await stores.create(PARTITION_0);
    await applyCommitted(store, keysOf([0, 1], 0, 5).map((key) => ({ op: 'put', key, value: 'v' })));
    expect(store.stateMachine.scanUnowned(undefined, 100, Infinity)).to.deep.equal({ records: [], next: undefined });
  });

  it('keeps the ring and the revision base across a restart', async () => {
    let store = await stores.create(PARTITION_2);
    const [key] = keysOf(GROWN, 2, 1);
    await applyCommitted(store, [{ op: 'ingest', epoch: 1, records: [[key, 'copied', 1000, 1000]] }, { op: 'ring', epoch: 1, partitions: GROWN }]);
    const before = store.stateMachine.shardState();
    expect(before).to.deep.equal({ epoch: 1, partitions: GROWN, revisionBase: 999 });

    store = await stores.reopen(store);
    expect(store.stateMachine.shardState()).to.deep.equal(before);
    expect(store.stateMachine.owns(key)).to.equal(true);
    expect(await applyOne(store, { op: 'put', key, value: 'after restart' })).to.deep.equal({ op: 'put', revision: 999 + 3 });
  });

  it('answers a retried write that was applied before its key moved with its first result, not WRONG_PARTITION', async () => {
    const store = await stores.create(PARTITION_0);
    const [moving] = keysOf([0, 1], 0, 1, { ring: GROWN, partition: 2 });
    const first = await applyOne(store, { op: 'put', key: moving, value: 'once', id: 'req-1' });
    expect(first).to.deep.equal({ op: 'put', revision: 1 });
    await applyOne(store, { op: 'ring', epoch: 1, partitions: GROWN });

    expect(await applyOne(store, { op: 'put', key: moving, value: 'once', id: 'req-1' })).to.deep.equal(first);
    expect(await applyOne(store, { op: 'put', key: moving, value: 'once', id: 'req-2' }), 'a new request').to.deep.equal(WRONG_PARTITION);
    expect(store.stateMachine.get(moving)).to.deep.equal({ value: 'once', revision: 1, createRevision: 1 });
  });
});
