import { expect } from 'chai';
import { CairnCluster } from '../../support/cairnCluster';
import { cairn } from '../../support/cairnCli';
import { startWriter } from '../../support/writer';
import { readReplicaStates } from '../../support/replicaState';
import type { ControllerView } from '../../../actors/controller/controllerRequests';
import { METADATA_PARTITION } from '../../../actors/controller/metadataPartition';

async function controllerView(cluster: CairnCluster): Promise<ControllerView | undefined> {
  try {
    const reply = await cluster.nc.request('cairn.ctl.controller', Buffer.from('{"op":"state"}'), { timeout: 1_000 });
    const view = JSON.parse(Buffer.from(reply.data).toString()) as ControllerView & { ok: boolean };
    return view.ok ? view : undefined;
  } catch {
    return undefined;
  }
}

/** Every partition (the metadata one included) has its replica count of voters, none on `dead`, all carried out. */
function repairedWithout(view: ControllerView, dead: string): boolean {
  return view.balanced && view.nodes.find((node) => node.id === dead)?.health === 'down' && view.partitions.every((partition) =>
    partition.settled && partition.replicas.length === partition.replicaCount && partition.replicas.every((replica) => replica.role === 'voter' && replica.node !== dead));
}

describe('the controller repairs the cluster after a node is lost for good (5 supervisor processes)', function () {
  this.timeout(400_000);
  let cluster: CairnCluster;

  before(async () => {
    cluster = await CairnCluster.start({ nodes: 5, partitions: 8, replicas: 3, flags: ['--node-down-after', '3000', '--compact-entries', '300', '--compact-keep', '50'] });
  });
  after(async () => {
    await cluster?.stop();
  });

  async function loseNodeAndRepair(victim: string, writer: ReturnType<typeof startWriter>): Promise<ControllerView> {
    const ackedBefore = writer.count;
    expect(await cluster.kill(victim)).to.equal(null);
    let view: ControllerView | undefined;
    await cluster.until(async () => {
      view = await controllerView(cluster);
      return view !== undefined && repairedWithout(view, victim);
    }, 120_000, `the controller to repair every partition without ${victim}`);
    await cluster.until(() => writer.count > ackedBefore + 100, 30_000, 'writes to go on');
    return view!;
  }

  it('kill -9 of a node: after the grace period every partition is back to three replicas on the live nodes', async () => {
    const writer = startWriter(cluster, 'repair', { loops: 4, keysPerLoop: 60 });
    await cluster.until(() => writer.count >= 1_500, 60_000, 'writes before the failure');
    // Leader balancing may still be under way (one transfer per partition per 10 s); replicas must not move.
    let idle: ControllerView | undefined;
    await cluster.until(async () => (idle = await controllerView(cluster))?.balanced === true, 60_000, 'the controller to have nothing to do');
    const before = idle!;
    for (const partition of before.partitions) {
      expect(partition.replicas.map((replica) => replica.replica), `partition ${partition.id}: a new cluster is not reshuffled by its controller`).to.deep.equal([1, 2, 3]);
    }
    const victim = before.nodes.find((node) => node.id !== before.controller && node.replicas > 0)!.id;
    const published: ControllerView[] = [];
    const routing = cluster.nc.subscribe('cairn.ctl.routing', { callback: (_, message) => published.push(JSON.parse(Buffer.from(message.data).toString())) });

    const repaired = await loseNodeAndRepair(victim, writer);
    routing.unsubscribe();
    expect(published.map((view) => view.epoch).filter((epoch) => epoch > before.epoch), 'the routing view is published as it changes').to.not.be.empty;
    expect(repaired.controller, 'the same controller did the repair').to.equal(before.controller);
    const status = await cluster.waitHealthy(60_000, 24);
    for (const partition of status.partitions) {
      const nodes = partition.replicas.map((replica) => replica.node);
      expect(nodes, `partition ${partition.id}`).to.have.length(3);
      expect(nodes, `partition ${partition.id}`).to.not.include(victim);
    }
    expect(cluster.nodes.get(before.controller)!.output.join('\n')).to.match(new RegExp(`node ${victim}: (alive|suspect) -> down`));

    await writer.stop();
    for (const [key, value] of writer.acknowledged) expect((await cluster.kv.get(key)).value, key).to.equal(value);
  });

  it('kill -9 of the node whose controller is active: another takes over and repairs the cluster, metadata partition included', async () => {
    const writer = startWriter(cluster, 'takeover', { loops: 4, keysPerLoop: 60 });
    await cluster.until(() => writer.count >= 500, 60_000, 'writes before the failure');
    const before = (await controllerView(cluster))!;
    const victim = before.controller;
    expect(before.partitions.find((partition) => partition.id === METADATA_PARTITION)!.replicas.map((replica) => replica.node)).to.include(victim);

    const repaired = await loseNodeAndRepair(victim, writer);
    expect(repaired.controller).to.not.equal(victim);
    const metadata = repaired.partitions.find((partition) => partition.id === METADATA_PARTITION)!;
    expect(metadata.replicas.map((replica) => replica.node)).to.have.length(3);
    expect(metadata.replicas.map((replica) => replica.node)).to.not.include(victim);

    const shown = await cairn(['nodes', 'list', '--nats', cluster.natsUrl]);
    expect(shown.stdout).to.match(new RegExp(`${victim} +active +down`));
    expect(shown.stdout).to.contain(`controller: ${repaired.controller}`);

    await writer.stop();
    for (const [key, value] of writer.acknowledged) expect((await cluster.kv.get(key)).value, key).to.equal(value);
    const states = await readReplicaStates(cluster);
    for (const [partition, replicas] of states) for (const other of replicas.slice(1)) expect(other.entries, `partition ${partition}`).to.equal(replicas[0].entries);
  });
});
