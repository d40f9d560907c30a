import { expect } from 'chai';
import { sendFaultCommand } from '../../../bus/faultInjection';
import { PartitionMap } from '../../../actors/router/layout';
import { CairnCluster } from '../../support/cairnCluster';
import { readReplicaStates } from '../../support/replicaState';

describe('a network partition between replicas (fault injection over NATS)', function () {
  this.timeout(180_000);
  let cluster: CairnCluster;
  const PARTITIONS = 4;
  /** One fault injector per replica host thread, i.e. per node. */
  const INJECTORS = 3;

  before(async () => {
    cluster = await CairnCluster.start({ nodes: 3, partitions: PARTITIONS, replicas: 3, flags: ['--fault-injection'] });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('an isolated leader is replaced, never serves a stale read, and catches up after healing', async () => {
    const map = new PartitionMap(PARTITIONS);
    const keys = Array.from({ length: 400 }, (_, i) => `iso-${i}`).filter((key) => map.partitionOf(key) === 0).slice(0, 20);
    for (const key of keys) await cluster.kv.put(key, 'before');
    const before = (await cluster.waitHealthy()).partitions[0].leader!;

    await sendFaultCommand(cluster.nc, 'cairn', { op: 'isolate', endpoint: `p0/r${before.replica}` }, { expectedAcks: INJECTORS, timeoutMs: 5_000 });
    await cluster.until(async () => {
      const leader = (await cluster.status()).partitions[0].leader;
      return leader !== null && leader.replica !== before.replica && leader.term > before.term;
    }, 30_000, 'a new leader for partition 0 on the majority side');

    for (const key of keys) await cluster.kv.put(key, 'during');
    // Every linearizable read must see the writes the majority acknowledged, whoever answers.
    for (const key of keys) expect((await cluster.kv.get(key)).value, key).to.equal('during');
    const isolated = (await cluster.status()).partitions[0].replicas.find((replica) => replica.replica === before.replica)!;
    expect(isolated.role, 'CheckQuorum deposed the isolated leader').to.not.equal('leader');

    await sendFaultCommand(cluster.nc, 'cairn', { op: 'heal' }, { expectedAcks: INJECTORS, timeoutMs: 5_000 });
    const states = await readReplicaStates(cluster);
    for (const replicas of states.values()) for (const other of replicas.slice(1)) expect(other.entries).to.equal(replicas[0].entries);
    for (const key of keys) expect((await cluster.kv.get(key, { consistency: 'stale' })).value).to.equal('during');
  });
});
