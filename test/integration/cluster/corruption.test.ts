import { expect } from 'chai';
import path from 'node:path';
import { NodeEnv } from '../../../storage/nodeEnv';
import { CairnCluster } from '../../support/cairnCluster';

/** Flips one byte inside the payload of the newest log entry of partition `partition`'s replica in the node env at `directory`. */
async function corruptNewestLogEntry(directory: string, partition: number): Promise<void> {
  const store = NodeEnv.open({ path: directory });
  const env = store.replica(partition);
  try {
    let newest: { key: Buffer; value: Buffer } | undefined;
    for (const { key, value } of env.log.getRange({ reverse: true, limit: 1 })) newest = { key: Buffer.from(key), value: Buffer.from(value) };
    if (!newest) throw new Error(`no log entry of partition ${partition} in ${directory}`);
    const damaged = Buffer.from(newest.value);
    damaged[damaged.length - 1] ^= 0x40;
    await env.log.put(newest.key, damaged);
  } finally {
    await store.close();
  }
}

describe('a corrupt log entry on disk', function () {
  this.timeout(180_000);
  let cluster: CairnCluster;

  before(async () => {
    cluster = await CairnCluster.start({ nodes: 3, partitions: 4, replicas: 3 });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('stops that replica with a clear error; the partition keeps serving correct data', async () => {
    const written = new Map<string, string>();
    for (let i = 0; i < 200; i++) {
      written.set(`key-${i}`, `value-${i}`);
      await cluster.kv.put(`key-${i}`, `value-${i}`);
    }
    const status = await cluster.waitHealthy();
    const victim = status.partitions[0].replicas.find((replica) => replica.node === 'n3')!;
    expect(await cluster.kill('n3', 'SIGTERM')).to.equal(0);
    await corruptNewestLogEntry(path.join(cluster.dataDir, 'n3', 'store'), 0);
    await cluster.restart('n3');

    await cluster.until(async () => {
      const node = (await cluster.status()).nodes.find((n) => n.id === 'n3');
      return (node?.failed ?? []).some((failure) => failure.actor === `p0/r${victim.replica}`);
    }, 30_000, 'the corrupt replica to be reported as failed');
    const n3 = (await cluster.status()).nodes.find((n) => n.id === 'n3')!;
    expect(n3.failed[0].error).to.match(/StorageCorruptionError/);
    expect(cluster.nodes.get('n3')!.output.join('\n')).to.match(/corrupt/i);

    const after = await cluster.waitHealthy(30_000, 11);
    expect(after.partitions[0].replicas.map((replica) => replica.node)).to.not.include('n3');
    for (const [key, value] of written) expect((await cluster.kv.get(key)).value).to.equal(value);
    for (const [key, value] of written) expect((await cluster.kv.get(key, { consistency: 'stale' })).value).to.equal(value);
    await cluster.kv.put('key-0', 'after corruption');
    expect((await cluster.kv.get('key-0')).value).to.equal('after corruption');
  });
});
