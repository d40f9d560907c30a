// A replica leaving the stale-read queue group (actors/replica/leadRequests.ts StaleReads) while reads
// are on their way to it: each of them is answered, served or refused for a retry elsewhere, none goes
// silent. Real nats-server; two members of the group, one leaving and joining again and again.

import { expect } from 'chai';
import { connect } from 'nats';
import type { Msg, NatsConnection } from 'nats';
import { StaleReads } from '../../../actors/replica/leadRequests';
import { startNatsServer } from '../../support/natsServer';
import type { NatsServerHandle } from '../../support/natsServer';
import { waitFor } from '../../support/waitFor';

const SUBJECT = 't.part.1.read.get';
const LOOPS = 32;
const TOGGLES = 20;

describe('replica/StaleReads leaving the read group under load (real nats-server)', function () {
  this.timeout(60_000);
  let server: NatsServerHandle;
  let connections: NatsConnection[] = [];

  before(async () => {
    server = await startNatsServer();
    connections = await Promise.all([1, 2, 3].map(() => connect({ servers: server.url })));
  });
  after(async () => {
    await Promise.all(connections.map((nc) => nc.close()));
    await server?.stop();
  });

  it('answers every read that was on its way to a member as it left: served or refused, never silent', async () => {
    const [leaving, staying, client] = connections;
    const answer = (text: string) => (message: Msg) => message.respond(Buffer.from(text));
    const member = new StaleReads(leaving, SUBJECT, answer('served'), answer('refused'));
    const other = new StaleReads(staying, SUBJECT, answer('served'), answer('refused'));
    member.sync(true);
    other.sync(true);
    await Promise.all([leaving.flush(), staying.flush()]);

    const counts = { served: 0, refused: 0, silent: 0 };
    let running = true;
    const loops = Array.from({ length: LOOPS }, async () => {
      while (running) {
        try {
          const reply = await client.request(SUBJECT, Buffer.from('{}'), { timeout: 1_000 });
          counts[Buffer.from(reply.data).toString() as 'served' | 'refused']++;
        } catch {
          counts.silent++;
        }
      }
    });
    try {
      for (let toggle = 0; toggle < TOGGLES; toggle++) {
        const answered = counts.served + counts.refused;
        await waitFor(() => counts.served + counts.refused >= answered + 50, 'reads to flow before the member leaves');
        member.sync(false);
        const left = counts.served + counts.refused;
        await waitFor(() => counts.served + counts.refused >= left + 50, 'reads to flow while the member is out');
        member.sync(true);
        await leaving.flush();
      }
    } finally {
      running = false;
      await Promise.all(loops);
      member.close();
      other.close();
    }
    expect(counts.silent, JSON.stringify(counts)).to.equal(0);
    expect(counts.served).to.be.greaterThan(TOGGLES * 100);
  });
});
