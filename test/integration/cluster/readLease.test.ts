import { expect } from 'chai';
import { CairnCluster } from '../../support/cairnCluster';

/** Sum of every leader's read counters (a partition's leader may move between status calls). */
async function readsServed(cluster: CairnCluster): Promise<{ lease: number; readIndex: number }> {
  const total = { lease: 0, readIndex: 0 };
  for (const partition of (await cluster.status()).partitions) {
    for (const replica of partition.replicas) {
      total.lease += replica.readsServed?.lease ?? 0;
      total.readIndex += replica.readsServed?.readIndex ?? 0;
    }
  }
  return total;
}

describe('linearizable gets under the read lease (supervisor --read-lease)', function () {
  this.timeout(180_000);

  for (const setting of ['on', 'off'] as const) {
    it(`--read-lease ${setting}: ${setting === 'on' ? 'gets in a row ride one heartbeat round' : 'every get takes a ReadIndex round'}, and each sees the write before it`, async () => {
      const cluster = await CairnCluster.start({ nodes: 3, partitions: 1, replicas: 3, flags: ['--read-lease', setting] });
      try {
        const before = await readsServed(cluster);
        for (let i = 0; i < 50; i++) {
          await cluster.kv.put('lease-key', `v${i}`);
          // Back to back with the acknowledged write: a lease read must still see it.
          expect((await cluster.kv.get('lease-key')).value).to.equal(`v${i}`);
          expect((await cluster.kv.get('lease-key')).value).to.equal(`v${i}`);
        }
        const after = await readsServed(cluster);
        const lease = after.lease - before.lease;
        const readIndex = after.readIndex - before.readIndex;
        expect(lease + readIndex, 'every get is counted once').to.equal(100);
        if (setting === 'off') expect(lease).to.equal(0);
        else expect(lease, `lease reads ${lease}, ReadIndex reads ${readIndex}`).to.be.greaterThan(readIndex);
      } finally {
        await cluster.stop();
      }
    });
  }
});
