import { expect } from 'chai';
import { join } from 'path';
import { PartitionMap } from '../../../actors/router/layout';
import { ReplicaStore } from '../../../storage/replicaStore';
import { KvCommand, encodeKvCommand } from '../../../storage/kvCommand';
import { ShardCommand, encodeShardCommand } from '../../../storage/shardCommand';
import { TempDirs, VOTERS_THREE, entry } from './support';

/** Appends and applies `data` entries at lastIndex+1..; returns their results. */
async function apply(store: ReplicaStore, data: Uint8Array[]) {
  const first = store.log.lastIndex() + 1;
  const entries = data.map((bytes, offset) => entry(first + offset, 1, bytes));
  await store.log.persist({ hardState: { term: 1, vote: 0, commit: first + entries.length - 1 }, entries });
  return store.stateMachine.applyBatch(entries);
}
const kv = (command: KvCommand) => encodeKvCommand(command);
const shard = (command: ShardCommand) => encodeShardCommand(command);

describe('storage: a request id moves with its key (exactly-once across a reshard)', () => {
  const dirs = new TempDirs();
  const stores: ReplicaStore[] = [];
  const open = async (partition: number) => {
    const store = await ReplicaStore.open({ path: join(dirs.make(), 'replica'), bootstrapConfState: VOTERS_THREE, ownership: { partition, initialPartitions: [0] } });
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    dirs.removeAll();
  });

  it('a write retried at the key\'s new partition answers its first result and is not applied twice', async () => {
    const ring = new PartitionMap([0, 1]);
    const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find((candidate) => ring.partitionOf(candidate) === 1)!;
    const giver = await open(0);
    const receiver = await open(1);
    // Padding entries so that the giver's revisions are ahead of the receiver's log.
    await apply(giver, Array.from({ length: 20 }, (_, i) => kv({ op: 'put', key: `pad${i}`, value: 'x' })));
    const [first] = await apply(giver, [kv({ op: 'put', key, value: 'once', id: 'req-1' })]);
    expect(first).to.deep.include({ op: 'put' });
    await apply(giver, [shard({ op: 'ring', epoch: 1, partitions: [0, 1] })]);
    // At the giver the retry still finds its result, before the ownership check refuses the key.
    expect((await apply(giver, [kv({ op: 'put', key, value: 'once', id: 'req-1' })]))[0]).to.deep.equal(first);
    expect((await apply(giver, [kv({ op: 'put', key, value: 'new' })]))[0]).to.deep.equal({ op: 'refused', code: 'WRONG_PARTITION' });

    const exported = giver.stateMachine.scanUnowned(undefined, 1_000, Infinity);
    expect(exported.next).to.equal(undefined);
    expect(exported.records.map(([name]) => name)).to.include(key).and.have.length.greaterThan(1);
    await apply(receiver, [shard({ op: 'ingest', epoch: 1, records: exported.records }), shard({ op: 'ring', epoch: 1, partitions: [0, 1] })]);

    expect((await apply(receiver, [kv({ op: 'put', key, value: 'once', id: 'req-1' })]))[0], 'the retry at the new partition').to.deep.equal(first);
    expect(receiver.stateMachine.get(key)).to.deep.include({ value: 'once', revision: (first as { revision: number }).revision });
    const [later] = await apply(receiver, [kv({ op: 'put', key, value: 'later' })]);
    expect((later as { revision: number }).revision, 'revisions never go back across the move').to.be.greaterThan((first as { revision: number }).revision);

    // The giver's purge takes the moved key and its request-id record away.
    const leftovers = giver.stateMachine.scanUnowned(undefined, 1_000, Infinity).records.map(([name]) => name);
    await apply(giver, [shard({ op: 'purge', epoch: 1, keys: leftovers })]);
    expect(giver.stateMachine.scanUnowned(undefined, 1_000, Infinity).records).to.deep.equal([]);
    expect(giver.stateMachine.get(key)).to.equal(undefined);
  });
});
