import { expect } from 'chai';
import { CairnCluster } from '../../support/cairnCluster';
import { cairn } from '../../support/cairnCli';
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
    const acknowledged = new Map<string, string>();
    const errors: string[] = [];
    let running = true;
    let count = 0;
    const loops = Array.from({ length: 6 }, async (_, loop) => {
      for (let i = 0; running; i++) {
        const key = `move-${loop}-${i % 40}`;
        try {
          await cluster.kv.put(key, `${i}`);
          acknowledged.set(key, `${i}`);
          count++;
        } catch (error) {
          errors.push(String(error));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    });
    // Enough writes that partition 0 compacts its log (--compact-entries 300): the new replica must catch up by snapshot.
    await cluster.until(() => count >= 2_000, 60_000, 'writes before the move');
    const before = await cluster.waitHealthy();
    const partition = before.partitions[0];
    const from = partition.leader!.node; // moving the leader's replica also exercises the hand-over
    const to = cluster.nodeIds.find((node) => !partition.replicas.some((replica) => replica.node === node))!;

    const run = await cairn(['partitions', 'move', '0', '--from', from, '--to', to, '--nats', cluster.natsUrl]);
    expect(run, run.stderr).to.include({ code: 0 });
    expect(run.stdout).to.match(new RegExp(`partition 0: replica moved from ${from} \\(r\\d\\) to ${to} \\(r4\\)`));
    expect(run.stderr).to.contain('joined as a learner').and.contain('promoted to voter').and.contain(`leadership handed from ${from} to ${to}`);
    expect(run.stderr).to.match(/caught up \(\d+ entries behind, [1-9]\d* snapshot\(s\) installed\)/);

    const after = await cluster.waitHealthy();
    expect(after.partitions[0].replicas.map((replica) => replica.node).sort()).to.deep.equal([...partition.replicas.map((r) => r.node).filter((n) => n !== from), to].sort());
    running = false;
    await Promise.all(loops);
    expect(errors, 'no client request failed during the move').to.deep.equal([]);

    for (const id of cluster.nodeIds) expect(await cluster.kill(id, 'SIGTERM')).to.equal(0);
    for (const id of cluster.nodeIds) await cluster.restart(id);
    const restarted = await cluster.waitHealthy();
    expect(restarted.partitions[0].replicas.map((replica) => replica.node)).to.not.include(from);
    expect(restarted.partitions[0].replicas.map((replica) => replica.node)).to.include(to);
    const states = await readReplicaStates(cluster);
    for (const replicas of states.values()) for (const other of replicas.slice(1)) expect(other.entries).to.equal(replicas[0].entries);
    for (const [key, value] of acknowledged) expect((await cluster.kv.get(key)).value, key).to.equal(value);

    const again = await cairn(['partitions', 'move', '0', '--from', from, '--to', to, '--nats', cluster.natsUrl]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/NOT_FOUND: partition 0 has no running replica on/);
  });
});
