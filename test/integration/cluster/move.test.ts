import { expect } from 'chai';
import { storedPartitions } from '../../support/storedReplicas';
import { CairnCluster } from '../../support/cairnCluster';
import { cairn } from '../../support/cairnCli';
import { startWriter } from '../../support/writer';
import { readReplicaStates } from '../../support/replicaState';

describe('cairn partitions move (4 supervisor processes)', function () {
  this.timeout(240_000);
  let cluster: CairnCluster;

  before(async () => {
    cluster = await CairnCluster.start({ nodes: 4, partitions: 4, replicas: 3, flags: ['--compact-entries', '300', '--compact-keep', '50'] });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('moves a replica to another node with no failed request; the move survives a restart of every node', async () => {
    const writer = startWriter(cluster, 'move', { loops: 6, keysPerLoop: 40 });
    // Enough writes that partition 0 compacts its log (--compact-entries 300): the new replica must catch up by snapshot.
    await cluster.until(() => writer.count >= 2_000, 60_000, 'writes before the move');
    const before = await cluster.waitHealthy();
    const partition = before.partitions[0];
    const from = partition.leader!.node; // moving the leader's replica also exercises the hand-over
    const to = cluster.nodeIds.find((node) => !partition.replicas.some((replica) => replica.node === node))!;

    const run = await cairn(['partitions', 'move', '0', '--from', from, '--to', to, '--nats', cluster.natsUrl]);
    expect(run, run.stderr).to.include({ code: 0 });
    expect(run.stdout).to.match(new RegExp(`partition 0: replica moved from ${from} to ${to} \\(r4\\)`));
    // The steps as the controller carried them out: a learner replacing the old replica, then the old one gone.
    expect(run.stderr).to.match(new RegExp(`r4@${to}( \\(learner\\))? replacing r\\d`));
    const moved = (await cluster.status()).partitions[0].replicas.find((replica) => replica.node === to)!;
    expect(moved.snapshotsInstalled, 'the new replica caught up by snapshot').to.be.greaterThan(0);

    const after = await cluster.waitHealthy();
    expect(after.partitions[0].replicas.map((replica) => replica.node).sort()).to.deep.equal([...partition.replicas.map((r) => r.node).filter((n) => n !== from), to].sort());
    await writer.stop();
    expect(writer.errors, 'no client request failed during the move').to.deep.equal([]);
    expect(await storedPartitions(cluster.dataDir, to), `${to} stores the new replica`).to.include(0);
    await cluster.until(async () => !(await storedPartitions(cluster.dataDir, from)).includes(0), 10_000, `${from} to delete its replica's data`);

    for (const id of cluster.nodeIds) expect(await cluster.kill(id, 'SIGTERM')).to.equal(0);
    for (const id of cluster.nodeIds) await cluster.restart(id);
    const restarted = await cluster.waitHealthy();
    expect(restarted.partitions[0].replicas.map((replica) => replica.node)).to.not.include(from);
    expect(restarted.partitions[0].replicas.map((replica) => replica.node)).to.include(to);
    const states = await readReplicaStates(cluster);
    for (const replicas of states.values()) for (const other of replicas.slice(1)) expect(other.entries).to.equal(replicas[0].entries);
    for (const [key, value] of writer.acknowledged) expect((await cluster.kv.get(key)).value, key).to.equal(value);

    const again = await cairn(['partitions', 'move', '0', '--from', from, '--to', to, '--nats', cluster.natsUrl]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/REPLICA_UNKNOWN: node "n\d" holds no replica of partition 0/);
  });
});
