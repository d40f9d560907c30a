import { expect } from 'chai';
import { ErrorCode as NatsErrorCode } from 'nats';
import { CairnCluster } from '../../support/cairnCluster';

/**
 * Requests sent straight to a partition's lead subject (as a cluster-aware client does) while leadership
 * moves back and forth. A request already on its way to the old leader when it steps down must get an
 * answer (NOT_LEADER: retry elsewhere), not silence: a client cannot tell silence from a write that may
 * have been applied.
 */
describe('a leader stepping down answers the requests already on their way to it', function () {
  this.timeout(180_000);
  let cluster: CairnCluster;

  before(async () => {
    cluster = await CairnCluster.start({ nodes: 3, partitions: 1, replicas: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('no request to the lead subject goes unanswered across 10 leader transfers', async () => {
    await cluster.kv.put('hot', 'value');
    const outcomes = { answered: 0, notLeader: 0, noResponders: 0, silent: 0 };
    let running = true;
    const body = Buffer.from(JSON.stringify({ key: 'hot' }));
    const loops = Array.from({ length: 32 }, async () => {
      while (running) {
        try {
          const reply = await cluster.nc.request('cairn.part.0.lead.get', body, { timeout: 3_000 });
          if (Buffer.from(reply.data).toString().includes('"NOT_LEADER"')) outcomes.notLeader++;
          else outcomes.answered++;
        } catch (error) {
          if ((error as { code?: string }).code === NatsErrorCode.NoResponders) {
            outcomes.noResponders++;
            await new Promise((resolve) => setTimeout(resolve, 1));
          } else {
            outcomes.silent++;
            if (!running) break;
          }
        }
      }
    });
    try {
      const refusals: string[] = [];
      for (let transfers = 0; transfers < 10; ) {
        const status = await cluster.waitHealthy();
        const leader = status.partitions[0].leader!;
        const target = status.partitions[0].replicas.find((replica) => replica.node !== leader.node)!;
        const command = { command: 'transfer', partition: 0, to: target.node, replica: target.replica };
        const reply = await cluster.nc.request(`cairn.ctl.node-${leader.node}`, Buffer.from(JSON.stringify(command)), { timeout: 10_000 });
        const answer = JSON.parse(Buffer.from(reply.data).toString()) as { ok: boolean };
        // The status may lag a leadership that just moved (the controller balances leaders too).
        if (answer.ok) transfers++;
        else refusals.push(JSON.stringify(answer));
        expect(refusals.length, `transfers refused: ${refusals.join('; ')}`).to.be.below(10);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(outcomes.answered, JSON.stringify(outcomes)).to.be.greaterThan(1_000);
    expect(outcomes.silent, `requests that got no answer: ${JSON.stringify(outcomes)}`).to.equal(0);
  });
});
