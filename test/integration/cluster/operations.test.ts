import { expect } from 'chai';
import { CairnCluster } from '../../support/cairnCluster';
import { cairn } from '../../support/cairnCli';
import { startWriter, Writer } from '../../support/writer';
import type { ClusterStatus } from '../../../supervisor/statusTypes';

const leadersOn = (status: ClusterStatus, node: string) => status.partitions.filter((partition) => partition.leader?.node === node).length;

describe('operator commands: cairn nodes / partitions / leader (3 supervisor processes)', function () {
  this.timeout(180_000);
  let cluster: CairnCluster;
  let nats: string[];
  let writer: Writer | undefined;

  before(async () => {
    cluster = await CairnCluster.start({ partitions: 4 });
    nats = ['--nats', cluster.natsUrl];
  });
  afterEach(async () => {
    await writer?.stop();
    writer = undefined;
  });
  after(async () => {
    await cluster?.stop();
  });

  it('leader transfer moves a partition to the named node; clients see no error', async () => {
    writer = startWriter(cluster, 'ops');
    const before = await cluster.waitHealthy();
    const leader = before.partitions[1].leader!;
    const target = before.partitions[1].replicas.find((replica) => replica.node !== leader.node)!.node;
    const run = await cairn(['leader', 'transfer', '1', '--to', target, ...nats]);
    expect(run, run.stderr).to.include({ code: 0 });
    expect(run.stdout).to.contain(`moved to r`).and.contain(`@${target}`);
    await cluster.until(async () => (await cluster.status()).partitions[1].leader?.node === target, 10_000, 'the status to show the new leader');
    await cluster.until(() => writer!.count > 50, 30_000, 'writes after the transfer');
    await writer.stop();
    expect(writer.errors).to.deep.equal([]);

    const refused = await cairn(['leader', 'transfer', '1', '--to', 'n9', ...nats]);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/NOT_FOUND: partition 1 has no running replica on n9/);
  });

  it('partitions stop / start: the group keeps serving on two replicas, the restarted one catches up', async () => {
    writer = startWriter(cluster, 'ops');
    const stop = await cairn(['partitions', 'stop', '2', '--node', 'n2', ...nats]);
    expect(stop, stop.stderr).to.include({ code: 0 });
    expect(stop.stdout).to.match(/^stopped p2\/r\d\n$/);
    const stopped = await cluster.status();
    expect(stopped.partitions[2].replicas.map((replica) => replica.node)).to.not.include('n2');
    expect(stopped.nodes.find((node) => node.id === 'n2')!.stopped).to.have.length(1);
    const again = await cairn(['partitions', 'stop', '2', '--node', 'n2', '--json', ...nats]);
    expect(again.code).to.equal(1);
    expect(JSON.parse(again.stderr)).to.deep.include({ ok: false }).and.have.nested.property('error.code', 'CONFLICT');

    const countAtStop = writer.count;
    await cluster.until(() => writer!.count > countAtStop + 100, 30_000, 'writes while a replica is stopped');
    const start = await cairn(['partitions', 'start', '2', '--node', 'n2', ...nats]);
    expect(start, start.stderr).to.include({ code: 0 });
    await writer.stop();
    expect(writer.errors).to.deep.equal([]);
    await cluster.until(async () => {
      const partition = (await cluster.status()).partitions[2];
      const commits = partition.replicas.map((replica) => replica.applied);
      return partition.replicas.length === 3 && new Set(commits).size === 1;
    }, 30_000, 'the restarted replica to catch up');
  });

  it('nodes drain moves every leadership off a node and keeps it off; undrain lifts it; leader balance evens leaders out', async () => {
    writer = startWriter(cluster, 'ops');
    const drain = await cairn(['nodes', 'drain', 'n1', ...nats]);
    expect(drain, drain.stderr).to.include({ code: 0 });
    await cluster.until(async () => leadersOn(await cluster.status(), 'n1') === 0, 20_000, 'n1 to lead nothing');
    // A new election must not hand leadership back to a drained node: bounce n3's replicas, and n1
    // itself (drain survives its restart).
    await cluster.kill('n3', 'SIGTERM');
    await cluster.restart('n3');
    await cluster.kill('n1', 'SIGTERM');
    await cluster.restart('n1');
    await cluster.waitHealthy();
    // The restarted node is drained again by its own marker file or, if it went down before the
    // controller's drain step reached it, by the controller, which recorded the drain.
    await cluster.until(async () => (await cluster.status()).nodes.find((node) => node.id === 'n1')!.drained === true, 20_000, 'n1 to be drained after its restart');
    await cluster.until(async () => leadersOn(await cluster.status(), 'n1') === 0, 20_000, 'n1 to stay leaderless');
    const list = await cairn(['nodes', 'list', ...nats]);
    expect(list.stdout).to.match(/^n1 +draining +alive /m);
    const json = JSON.parse((await cairn(['nodes', 'list', '--json', ...nats])).stdout) as { nodes: { id: string }[] };
    expect(json.nodes.map((node) => node.id).sort()).to.deep.equal(['n1', 'n2', 'n3']);
    await writer.stop();
    expect(writer.errors).to.deep.equal([]);

    expect((await cairn(['nodes', 'undrain', 'n1', ...nats])).code).to.equal(0);
    // The controller records the undrain, then clears the node's own flag.
    await cluster.until(async () => (await cluster.status()).nodes.find((node) => node.id === 'n1')!.drained === false, 20_000, 'n1 to be undrained');
    const balance = await cairn(['leader', 'balance', ...nats]);
    expect(balance, balance.stderr).to.include({ code: 0 });
    const balanced = await cluster.waitHealthy();
    const counts = ['n1', 'n2', 'n3'].map((node) => leadersOn(balanced, node));
    expect(Math.max(...counts) - Math.min(...counts), `leaders per node after balance: ${counts}`).to.be.at.most(1);
    expect(leadersOn(balanced, 'n1'), 'the undrained node leads again').to.be.greaterThan(0);
    const partitions = await cairn(['partitions', 'list', ...nats]);
    expect(partitions.stdout).to.match(/^PARTITION/);
    for (const [key, value] of writer.acknowledged) expect((await cluster.kv.get(key)).value, key).to.equal(value);
  });
});
