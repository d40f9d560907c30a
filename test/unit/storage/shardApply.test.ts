import { expect } from 'chai';
import { PartitionMap } from '../../../actors/router/layout';
import type { KvRecord } from '../../../storage/kvRecord';
import { applyShardCommand } from '../../../storage/shardApply';
import type { ShardCommand } from '../../../storage/shardCommand';
import { Ownership, ShardState, initialShardState } from '../../../storage/shardState';

/** The first `count` keys k0, k1, ... that `ring` maps to `partition`. */
function keysOf(ring: readonly number[], partition: number, count: number): string[] {
  const map = new PartitionMap(ring);
  const keys: string[] = [];
  for (let index = 0; keys.length < count; index++) if (map.partitionOf(`k${index}`) === partition) keys.push(`k${index}`);
  return keys;
}

/** A record store as the state machine hands it to applyShardCommand, with a log of the writes. */
function storeOf(records: Record<string, KvRecord> = {}) {
  const data = new Map(Object.entries(records));
  const writes: [string, KvRecord | null][] = [];
  return {
    data,
    writes,
    current: (key: string) => data.get(key),
    write: (key: string, record: KvRecord | null) => {
      writes.push([key, record]);
      if (record === null) data.delete(key);
      else data.set(key, record);
    },
  };
}

const PARTITION_0: Ownership = { partition: 0, initialPartitions: [0, 1] };
const record = (value: string, revision: number, createRevision = revision): KvRecord => ({ value, revision, createRevision });

function run(command: ShardCommand, index: number, shard: ShardState, store = storeOf(), ownership: Ownership = PARTITION_0) {
  return applyShardCommand(command, index, shard, ownership, store.current, store.write);
}

describe('storage/shardApply', () => {
  describe('ring', () => {
    const initial = initialShardState(PARTITION_0);

    it('adopts a ring with a newer epoch and reports it', () => {
      const store = storeOf();
      const applied = run({ op: 'ring', epoch: 1, partitions: [0, 1, 2] }, 5, initial, store);
      expect(applied.shard).to.deep.equal({ epoch: 1, partitions: [0, 1, 2], revisionBase: 0 });
      expect(applied.result).to.deep.equal({ op: 'shard', epoch: 1, changed: 1 });
      expect(store.writes, 'a ring entry writes no key').to.deep.equal([]);
    });

    it('ignores a ring whose epoch is not newer (a repeated or stale entry)', () => {
      const adopted = run({ op: 'ring', epoch: 2, partitions: [0, 1, 2] }, 5, initial).shard;
      for (const epoch of [2, 1]) {
        const applied = run({ op: 'ring', epoch, partitions: [0] }, 6, adopted);
        expect(applied.shard, `epoch ${epoch}`).to.equal(adopted);
        expect(applied.result).to.deep.equal({ op: 'shard', epoch: 2, changed: 0 });
      }
    });

    it('keeps the revision base', () => {
      const shard: ShardState = { epoch: 1, partitions: [0, 1], revisionBase: 40 };
      expect(run({ op: 'ring', epoch: 2, partitions: [0, 1, 2] }, 9, shard).shard.revisionBase).to.equal(40);
    });
  });

  describe('ingest', () => {
    // Partition 2, created later: its initial ring [0, 1] gives it no key.
    const receiver: Ownership = { partition: 2, initialPartitions: [0, 1] };

    it('writes the records with their revisions and raises the base above the highest one', () => {
      const [a, b] = keysOf([0, 1, 2], 2, 2);
      const store = storeOf();
      const index = 10;
      const applied = run({ op: 'ingest', epoch: 1, records: [[a, 'va', 50, 20], [b, 'vb', 30, 30]] }, index, initialShardState(receiver), store, receiver);
      expect(store.data.get(a)).to.deep.equal(record('va', 50, 20));
      expect(store.data.get(b)).to.deep.equal(record('vb', 30));
      expect(applied.result).to.deep.equal({ op: 'shard', epoch: 0, changed: 2 });
      expect(applied.shard.revisionBase).to.equal(40);
      expect(applied.shard.revisionBase + index + 1, 'the next entry writes above every copied revision').to.be.greaterThan(50);
    });

    it('never lowers the base, and leaves the state alone when the copied revisions are below the log', () => {
      const [a] = keysOf([0, 1, 2], 2, 1);
      const high: ShardState = { ...initialShardState(receiver), revisionBase: 500 };
      expect(run({ op: 'ingest', epoch: 1, records: [[a, 'v', 100, 100]] }, 10, high, storeOf(), receiver).shard).to.equal(high);
      const low = initialShardState(receiver);
      const applied = run({ op: 'ingest', epoch: 1, records: [[a, 'v', 3, 1]] }, 10, low, storeOf(), receiver);
      expect(applied.shard).to.equal(low);
      expect(applied.result.changed).to.equal(1);
    });

    it('raises the base above the giver\'s floor even with nothing to copy (a key deleted there moves as nothing)', () => {
      const applied = run({ op: 'ingest', epoch: 1, records: [], floor: 500 }, 10, initialShardState(receiver), storeOf(), receiver);
      expect(applied.shard.revisionBase + 11, 'the next write after the copy').to.be.greaterThan(500);
      expect(applied.result.changed).to.equal(0);
    });

    it('skips keys the partition owns: a late or repeated copy never overwrites a live key', () => {
      // Partition 0 under [0, 1]: `mine` is live here, `moving` is not (partition 1's).
      const [mine] = keysOf([0, 1], 0, 1);
      const [moving] = keysOf([0, 1], 1, 1);
      const store = storeOf({ [mine]: record('live', 7, 2) });
      const applied = run({ op: 'ingest', epoch: 1, records: [[mine, 'stale', 900, 900], [moving, 'copied', 8, 8]] }, 12, initialShardState(PARTITION_0), store);
      expect(store.data.get(mine)).to.deep.equal(record('live', 7, 2));
      expect(store.data.get(moving)).to.deep.equal(record('copied', 8));
      expect(applied.result.changed).to.equal(1);
      expect(applied.shard.revisionBase, 'a skipped record does not raise the base').to.equal(0);
    });
  });

  describe('late requests of a deposed controller (epochs)', () => {
    it('ingest for a ring the partition already adopted changes nothing', () => {
      const receiver: Ownership = { partition: 2, initialPartitions: [0, 1] };
      const [key] = keysOf([0, 1, 2], 0, 1);
      // Partition 2 adopted ring 3, in which `key` is not its own (it moved on): a copy for ring 2 is stale.
      const adopted: ShardState = { epoch: 3, partitions: [0, 1, 2], revisionBase: 0 };
      for (const epoch of [2, 3]) {
        const store = storeOf();
        const applied = run({ op: 'ingest', epoch, records: [[key, 'stale', 5, 5]] }, 30, adopted, store, receiver);
        expect(store.writes, `ingest for ring ${epoch}`).to.deep.equal([]);
        expect(applied.result.changed).to.equal(0);
      }
    });

    it('purge for another ring than the partition\'s changes nothing (a later move\'s keys are still to be copied)', () => {
      const shard: ShardState = { epoch: 2, partitions: [0, 2], revisionBase: 0 };
      const [gone] = keysOf([0, 2], 2, 1);
      for (const epoch of [1, 3]) {
        const store = storeOf({ [gone]: record('g', 3) });
        expect(run({ op: 'purge', epoch, keys: [gone] }, 20, shard, store).result.changed, `purge for ring ${epoch}`).to.equal(0);
        expect(store.data.has(gone)).to.equal(true);
      }
    });
  });

  describe('purge', () => {
    it('deletes only the unowned keys that exist', () => {
      // Partition 0 has adopted [0, 1, 2]: `gone` moved to 2, `kept` is still partition 0's.
      const shard: ShardState = { epoch: 1, partitions: [0, 1, 2], revisionBase: 0 };
      const [gone, absent] = keysOf([0, 1, 2], 2, 2);
      const [kept] = keysOf([0, 1, 2], 0, 1);
      const store = storeOf({ [gone]: record('g', 3), [kept]: record('k', 4) });
      const applied = run({ op: 'purge', epoch: 1, keys: [gone, kept, absent] }, 20, shard, store);
      expect(store.writes).to.deep.equal([[gone, null]]);
      expect([...store.data.keys()]).to.deep.equal([kept]);
      expect(applied.result).to.deep.equal({ op: 'shard', epoch: 1, changed: 1 });
      expect(applied.shard).to.equal(shard);
    });

    it('deletes nothing in a partition that holds every key (the metadata partition)', () => {
      const [key] = keysOf([0, 1], 1, 1);
      const store = storeOf({ [key]: record('v', 1) });
      // Called directly: run() would fill in partition 0's ownership for undefined.
      const applied = applyShardCommand({ op: 'purge', epoch: 0, keys: [key] }, 2, initialShardState(undefined), undefined, store.current, store.write);
      expect(store.writes).to.deep.equal([]);
      expect(applied.result.changed).to.equal(0);
    });
  });
});
