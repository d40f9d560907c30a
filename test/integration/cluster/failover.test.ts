import { expect } from 'chai';
import { CairnCluster } from '../../support/cairnCluster';
import { readReplicaStates } from '../../support/replicaState';
import { ClusterStatus } from '../../../supervisor/statusTypes';

const writers: { stop(): Promise<void> }[] = [];

/** Writes in a loop until stopped, remembering the latest acknowledged revision and value of each key. */
function startWriter(cluster: CairnCluster, prefix: string) {
  const acknowledged = new Map<string, { revision: number; value: string }>();
  let running = true;
  let failures = 0;
  let count = 0;
  const errors: string[] = [];
  const loops = Array.from({ length: 8 }, async (_, loop) => {
    for (let i = 0; running; i++) {
      const key = `${prefix}-${loop}-${i % 20}`;
      const value = `${loop}:${i}`;
      try {
        const { revision } = await cluster.kv.put(key, value);
        acknowledged.set(key, { revision, value });
        count++;
      } catch (error) {
        failures++;
        errors.push(String(error));
        // A failed call must not turn the loop into a busy spin (e.g. once the cluster is gone).
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });
  const writer = {
    acknowledged,
    errors,
    get count() {
      return count;
    },
    get failures() {
      return failures;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
  writers.push(writer);
  return writer;
}

async function expectAllReadable(cluster: CairnCluster, acknowledged: Map<string, { revision: number; value: string }>): Promise<void> {
  for (const [key, last] of acknowledged) {
    const current = await cluster.kv.get(key);
    expect(current.revision, `${key} lost its acknowledged write`).to.be.at.least(last.revision);
    if (current.revision === last.revision) expect(current.value).to.equal(last.value);
  }
}

function leadersByNode(status: ClusterStatus): Map<string, number> {
  const count = new Map<string, number>();
  for (const partition of status.partitions) if (partition.leader) count.set(partition.leader.node, (count.get(partition.leader.node) ?? 0) + 1);
  return count;
}

describe('failover with real supervisor processes', function () {
  this.timeout(300_000);
  let cluster: CairnCluster;

  beforeEach(async () => {
    cluster = await CairnCluster.start({ nodes: 3, partitions: 4, replicas: 3, flags: ['--compact-entries', '100', '--compact-keep', '20'] });
  });

  afterEach(async () => {
    // A failed test must not leave its writers running against a cluster that is gone.
    await Promise.all(writers.splice(0).map((writer) => writer.stop()));
    await cluster?.stop();
  });

  it('kill -9 of the node holding leaders: new leaders are elected, writes go on, nothing acknowledged is lost', async () => {
    const writer = startWriter(cluster, 'failover');
    await cluster.until(() => writer.count > 200, 30_000, 'writes before the kill');
    const before = await cluster.waitHealthy();
    const victim = [...leadersByNode(before)].sort((a, b) => b[1] - a[1])[0][0];
    await cluster.kill(victim);
    const countAtKill = writer.count;
    const after = await cluster.waitHealthy(30_000, 8);
    for (const partition of after.partitions) expect(partition.leader!.node).to.not.equal(victim);
    await cluster.until(() => writer.count > countAtKill + 200, 30_000, 'writes after the kill');
    await writer.stop();
    await expectAllReadable(cluster, writer.acknowledged);

    await cluster.restart(victim);
    await cluster.waitHealthy();
    const states = await readReplicaStates(cluster);
    for (const replicas of states.values()) for (const other of replicas.slice(1)) expect(other.entries).to.equal(replicas[0].entries);
  });

  it('kill -9 of every process at once, then a restart: every acknowledged write is there', async () => {
    const writer = startWriter(cluster, 'all');
    await cluster.until(() => writer.count > 300, 30_000, 'writes before the kill');
    await Promise.all(cluster.nodeIds.map((id) => cluster.kill(id)));
    await writer.stop();
    for (const id of cluster.nodeIds) await cluster.restart(id);
    await cluster.waitHealthy();
    expect(writer.acknowledged.size).to.be.greaterThan(0);
    await expectAllReadable(cluster, writer.acknowledged);
  });

  it('a follower restarted after the log was compacted past it catches up by snapshot', async () => {
    await cluster.kill('n3');
    const writer = startWriter(cluster, 'snap');
    await cluster.until(() => writer.count > 1_500, 60_000, 'writes while n3 is down');
    await writer.stop();
    const status = await cluster.waitHealthy(30_000, 8);
    for (const partition of status.partitions) {
      const leader = partition.replicas.find((replica) => replica.role === 'leader')!;
      expect(leader.firstIndex, 'the leader compacted its log').to.be.greaterThan(20);
    }
    await cluster.restart('n3');
    await cluster.waitHealthy();
    const states = await readReplicaStates(cluster);
    for (const replicas of states.values()) for (const other of replicas.slice(1)) expect(other.entries).to.equal(replicas[0].entries);
    const caughtUp = (await cluster.status()).partitions.flatMap((p) => p.replicas).filter((r) => r.node === 'n3');
    expect(caughtUp.some((replica) => replica.snapshotsInstalled > 0), 'n3 installed snapshots').to.equal(true);
    await expectAllReadable(cluster, writer.acknowledged);
  });

  it('a replica actor that throws is restarted inside its host and catches up; clients only retry', async () => {
    const status = await cluster.waitHealthy();
    const leader = status.partitions[0].leader!;
    const writer = startWriter(cluster, 'crash');
    await cluster.until(() => writer.count > 100, 30_000, 'writes before the crash');
    const drill = await cluster.nc.request(`cairn.ctl.node-${leader.node}`, Buffer.from(JSON.stringify({ command: 'crash', actor: `p0/r${leader.replica}` })), { timeout: 5_000 });
    expect(JSON.parse(Buffer.from(drill.data).toString())).to.deep.equal({ ok: true, message: `crashed p0/r${leader.replica}` });
    await cluster.until(async () => {
      const node = (await cluster.status()).nodes.find((n) => n.id === leader.node);
      return (node?.restarts ?? 0) > 0;
    }, 30_000, 'the host to restart the actor');
    const countAfterCrash = writer.count;
    await cluster.until(() => writer.count > countAfterCrash + 200, 30_000, 'writes after the crash');
    await writer.stop();
    expect(writer.failures, `clients saw no errors, only retries inside the router: ${writer.errors.slice(0, 3).join('; ')}`).to.equal(0);
    await cluster.waitHealthy();
    const states = await readReplicaStates(cluster);
    for (const replicas of states.values()) for (const other of replicas.slice(1)) expect(other.entries).to.equal(replicas[0].entries);
    await expectAllReadable(cluster, writer.acknowledged);
  });
  it('a replica host thread that dies is restarted by its supervisor and every replica catches up; clients only retry', async () => {
    const status = await cluster.waitHealthy();
    const victim = status.partitions[1].leader!.node;
    const restartsBefore = status.nodes.find((n) => n.id === victim)!.restarts;
    const writer = startWriter(cluster, 'thread');
    await cluster.until(() => writer.count > 100, 30_000, 'writes before the crash');
    const drill = await cluster.nc.request(`cairn.ctl.node-${victim}`, Buffer.from(JSON.stringify({ command: 'crash', actor: 'replicas' })), { timeout: 5_000 });
    expect(JSON.parse(Buffer.from(drill.data).toString())).to.include({ ok: true });
    await cluster.until(async () => {
      const node = (await cluster.status()).nodes.find((n) => n.id === victim);
      return (node?.restarts ?? 0) > restartsBefore && node!.replicas > 0;
    }, 30_000, 'the supervisor to restart the thread');
    const countAfterCrash = writer.count;
    await cluster.until(() => writer.count > countAfterCrash + 200, 30_000, 'writes after the crash');
    await writer.stop();
    expect(writer.failures, `clients saw no errors, only retries inside the router: ${writer.errors.slice(0, 3).join('; ')}`).to.equal(0);
    await cluster.waitHealthy();
    expect(cluster.nodes.get(victim)!.output.join('\n')).to.match(/replicas exited .*restarting/);
    const states = await readReplicaStates(cluster);
    for (const replicas of states.values()) for (const other of replicas.slice(1)) expect(other.entries).to.equal(replicas[0].entries);
    await expectAllReadable(cluster, writer.acknowledged);
  });
});
