import { expect } from 'chai';
import { CairnCluster } from '../../support/cairnCluster';
import { cairn } from '../../support/cairnCli';
import { startWriter } from '../../support/writer';
import { readReplicaStates } from '../../support/replicaState';
import type { ClusterStatus } from '../../../supervisor/statusTypes';

const replicasOn = (status: ClusterStatus, node: string) => status.partitions.flatMap((p) => p.replicas).filter((r) => r.node === node).length;

describe('joining a running cluster, the controller rebalancing onto the new node, draining and removing a node (4 supervisor processes)', function () {
  this.timeout(300_000);
  let cluster: CairnCluster;

  before(async () => {
    cluster = await CairnCluster.start({ nodes: 3, partitions: 8, replicas: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('a node started with --join gets its share of replicas from the controller; drain --wait empties a node, remove retires it; no request fails', async () => {
    const writer = startWriter(cluster, 'join', { loops: 6, keysPerLoop: 40 });
    await cluster.until(() => writer.acknowledged.size >= 100, 30_000, 'writes before the join');
    const nats = ['--nats', cluster.natsUrl];

    await cluster.join('n4');
    expect(replicasOn(await cluster.status(), 'n4'), 'a joined node starts empty').to.equal(0);
    await cluster.until(() => cluster.nodes.get('n4')!.output.some((line) => /joining a cluster of 8 partitions x 3 replicas/.test(line)), 30_000, 'n4 to join');
    // Nobody asks for a rebalance: the controller registers n4 from its heartbeats and moves replicas to it.
    await cluster.until(async () => replicasOn(await cluster.status(), 'n4') > 0, 120_000, 'the controller to move replicas onto n4');
    const rebalanced = await cairn(['partitions', 'rebalance', ...nats]);
    expect(rebalanced, rebalanced.stderr).to.include({ code: 0 });
    expect(rebalanced.stdout).to.match(/^(rebalanced: \d+ replica\(s\) moved|balanced)/);
    const spread = await cluster.waitHealthy(60_000, 24);
    expect(replicasOn(spread, 'n4')).to.be.greaterThan(0);
    for (const partition of spread.partitions) expect(new Set(partition.replicas.map((r) => r.node)).size, `partition ${partition.id}`).to.equal(3);
    expect((await cairn(['partitions', 'rebalance', ...nats])).stdout).to.match(/^balanced/);

    const drained = await cairn(['nodes', 'drain', 'n2', '--wait', ...nats]);
    expect(drained, drained.stderr).to.include({ code: 0 });
    expect(drained.stdout).to.match(/node n2 is drained/);
    const after = await cluster.waitHealthy(60_000, 24);
    expect(replicasOn(after, 'n2'), 'the drained node holds no replica').to.equal(0);
    expect(after.partitions.filter((p) => p.leader!.node === 'n2')).to.have.length(0);
    expect(after.metadata!.replicas.map((replica) => replica.node), 'the metadata partition left n2 too').to.not.include('n2');

    const removed = await cairn(['nodes', 'remove', 'n2', ...nats]);
    expect(removed, removed.stderr).to.include({ code: 0 });
    expect(await cluster.kill('n2', 'SIGTERM')).to.equal(0);
    await cluster.until(async () => /^n2 +removed +/m.test((await cairn(['nodes', 'list', ...nats])).stdout), 30_000, 'n2 to show as removed');
    const again = await cairn(['nodes', 'remove', 'n2', ...nats]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain('NODE_REMOVED');

    await writer.stop();
    expect(writer.errors, 'no client request failed').to.deep.equal([]);
    const states = await readReplicaStates(cluster);
    for (const replicas of states.values()) for (const other of replicas.slice(1)) expect(other.entries).to.equal(replicas[0].entries);
    for (const [key, value] of writer.acknowledged) expect((await cluster.kv.get(key)).value, key).to.equal(value);

    // The joined node restarts into the same role: its replicas are in its replicas.json.
    const beforeRestart = replicasOn(after, 'n4');
    expect(await cluster.kill('n4', 'SIGTERM')).to.equal(0);
    await cluster.restart('n4');
    await cluster.until(async () => replicasOn(await cluster.status(), 'n4') === beforeRestart, 30_000, 'n4 to come back with its replicas');
  });
});
