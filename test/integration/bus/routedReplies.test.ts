import { expect } from 'chai';
import { connect, createInbox } from 'nats';
import type { Msg, NatsConnection } from 'nats';
import { ATTEMPT_MS_MAX, Forwarder } from '../../../actors/router/forwarder';
import { respond, respondError } from '../../../actors/replica/clientRequests';
import type { RingFollower } from '../../../bus/ringFollower';
import { RoutedReplies, decodeAcks, encodeAcks, parseRouterReply } from '../../../bus/routedReplies';
import { startNatsServer } from '../../support/natsServer';
import type { NatsServerHandle } from '../../support/natsServer';
import { waitFor } from '../../support/waitFor';

/** The ring is only refreshed on WRONG_PARTITION / no-responders; these tests count the refreshes. */
function countingRing(): RingFollower & { refreshes: number } {
  const ring = { refreshes: 0, refresh: async () => void ring.refreshes++ };
  return ring as unknown as RingFollower & { refreshes: number };
}

describe('router forwarding with direct replies (real nats-server)', function () {
  this.timeout(30_000);
  let server: NatsServerHandle;
  let router: NatsConnection;
  let leader: NatsConnection;
  let client: NatsConnection;
  let subject = 0;

  before(async () => {
    server = await startNatsServer();
    [router, leader, client] = await Promise.all([1, 2, 3].map(() => connect({ servers: server.url })));
  });
  after(async () => {
    await Promise.all([router, leader, client].map((nc) => nc?.close()));
    await server?.stop();
  });

  /** A leader on a fresh subject that handles each forwarded request with `handle` (attempt counts from 1). */
  function startLeader(handle: (message: Msg, attempt: number) => void, replies = new RoutedReplies(leader)): { subject: string; attempts: () => number } {
    const name = `t.lead.${++subject}`;
    let attempts = 0;
    leader.subscribe(name, { callback: (_, message) => handle(replies.wrap(message), ++attempts) });
    return { subject: name, attempts: () => attempts };
  }

  /** Sends one request through a Forwarder and collects every answer the client gets. */
  async function forwardOnce(forwarder: Forwarder, target: string, body = 'q'): Promise<string[]> {
    const inbox = createInbox();
    const answers: string[] = [];
    client.subscribe(inbox, { callback: (_, message) => answers.push(Buffer.from(message.data).toString()) });
    await client.flush();
    forwarder.forward(inbox, () => target, Buffer.from(body), undefined, 0);
    await waitFor(() => answers.length > 0, 'an answer', 10_000);
    await client.flush();
    return answers;
  }

  function newForwarder(deadlineMs = 3_000, ring = countingRing()): Forwarder {
    return new Forwarder(router, `t.rtr.${++subject}`, ring, deadlineMs).start();
  }

  it('the leader answers the client directly, and its batched acknowledgement lets the router forget the request', async () => {
    const forwarder = newForwarder();
    const target = startLeader((message) => respond(message, Buffer.from(`answer to ${Buffer.from(message.data).toString()}`)));
    await leader.flush();
    expect(await forwardOnce(forwarder, target.subject, 'x')).to.deep.equal(['answer to x']);
    await waitFor(() => forwarder.inHand === 0, 'the acknowledgement', 5_000);
    expect(target.attempts()).to.equal(1);
    await forwarder.stop(0);
  });

  it('a NOT_LEADER refusal goes to the router, which sends the request again; the client sees only the answer', async () => {
    const forwarder = newForwarder();
    const target = startLeader((message, attempt) => {
      if (attempt === 1) respondError(message, 'NOT_LEADER', 'not the leader');
      else respond(message, Buffer.from('ok'));
    });
    await leader.flush();
    expect(await forwardOnce(forwarder, target.subject)).to.deep.equal(['ok']);
    expect(target.attempts()).to.equal(2);
    await forwarder.stop(1_000);
  });

  it('a definite error (BAD_REQUEST) goes to the client, not back to the router', async () => {
    const forwarder = newForwarder();
    const target = startLeader((message) => respondError(message, 'BAD_REQUEST', 'no'));
    await leader.flush();
    const answers = await forwardOnce(forwarder, target.subject);
    expect(JSON.parse(answers[0]).error.code).to.equal('BAD_REQUEST');
    expect(target.attempts()).to.equal(1);
    await forwarder.stop(1_000);
  });

  it('no responders (no leader yet) is retried until a leader appears, refreshing the ring', async () => {
    const ring = countingRing();
    const forwarder = newForwarder(3_000, ring);
    const name = `t.lead.${++subject}`;
    const answered = forwardOnce(forwarder, name);
    await waitFor(() => ring.refreshes > 0, 'a no-responders retry', 5_000);
    const replies = new RoutedReplies(leader);
    leader.subscribe(name, { callback: (_, message) => respond(replies.wrap(message), Buffer.from('late leader')) });
    expect(await answered).to.deep.equal(['late leader']);
    await forwarder.stop(1_000);
  });

  it(`a request its leader never answered is sent again after ${ATTEMPT_MS_MAX} ms (the leader died holding it)`, async () => {
    const forwarder = newForwarder();
    const target = startLeader((message, attempt) => {
      if (attempt > 1) respond(message, Buffer.from('second attempt'));
    });
    await leader.flush();
    expect(await forwardOnce(forwarder, target.subject)).to.deep.equal(['second attempt']);
    expect(target.attempts()).to.equal(2);
    await forwarder.stop(1_000);
  });

  it('past its deadline the router answers UNAVAILABLE itself', async () => {
    const forwarder = newForwarder(300);
    const target = startLeader((message) => respondError(message, 'UNAVAILABLE', 'leadership lost'));
    await leader.flush();
    const answers = await forwardOnce(forwarder, target.subject);
    expect(JSON.parse(answers[0]).error.code).to.equal('UNAVAILABLE');
    expect(target.attempts()).to.be.greaterThan(1);
    expect(forwarder.failures).to.equal(1);
    await forwarder.stop(1_000);
  });

  it('a request that was not forwarded by a router is answered on its own reply subject', async () => {
    const target = startLeader((message) => {
      respond(message, Buffer.from('plain'));
      expect((message as Partial<{ refuse: unknown }>).refuse).to.equal(undefined);
    });
    await leader.flush();
    const reply = await client.request(target.subject, Buffer.from('q'), { timeout: 5_000 });
    expect(Buffer.from(reply.data).toString()).to.equal('plain');
  });

  it('acknowledgements and router reply subjects encode and parse', () => {
    expect(decodeAcks(encodeAcks([0, 1, 0xffffffff]))).to.deep.equal([0, 1, 0xffffffff]);
    expect(parseRouterReply('cairn.rtr.abc.42')).to.deep.equal({ inbox: 'cairn.rtr.abc', seq: 42 });
    for (const junk of ['nodots', 'cairn.rtr.abc.x', 'cairn.rtr.abc.-1', 'cairn.rtr.abc.4294967296', '.5']) expect(parseRouterReply(junk), junk).to.equal(undefined);
  });
});
