import { expect } from 'chai';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { encodeReply } from '../../../bus/protocol';
import { BusRequestError, request, requestJson } from '../../../bus/request';
import { startNatsServer } from '../../support/natsServer';
import type { NatsServerHandle } from '../../support/natsServer';

describe('bus/request (real nats-server)', function () {
  this.timeout(30_000);
  let server: NatsServerHandle;
  let nc: NatsConnection;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('resolves with the reply bytes', async () => {
    const sub = nc.subscribe('t.echo', { callback: (_error, msg) => msg.respond(msg.data) });
    const reply = await request(nc, 't.echo', Uint8Array.of(1, 2, 3), { timeoutMs: 2000 });
    expect(Array.from(reply)).to.deep.equal([1, 2, 3]);
    sub.unsubscribe();
  });

  it('rejects with NO_RESPONDERS at once when nobody listens', async () => {
    const start = Date.now();
    const error = await request(nc, 't.nobody', new Uint8Array(0), { timeoutMs: 5000 }).catch((failure: unknown) => failure);
    expect(error).to.be.instanceOf(BusRequestError);
    const busError = error as BusRequestError;
    expect(busError.name).to.equal('BusRequestError');
    expect(busError.code).to.equal('NO_RESPONDERS');
    expect(busError.isNoResponders()).to.equal(true);
    expect(busError.isTimeout()).to.equal(false);
    expect(busError.subject).to.equal('t.nobody');
    expect(busError.cause).to.exist;
    expect(Date.now() - start).to.be.below(2000);
  });

  it('rejects with TIMEOUT after the deadline when a subscriber stays silent', async () => {
    let received = 0;
    const sub = nc.subscribe('t.silent', { callback: () => received++ });
    await nc.flush();
    const start = Date.now();
    const error = (await request(nc, 't.silent', new Uint8Array(0), { timeoutMs: 200 }).catch((failure: unknown) => failure)) as BusRequestError;
    const elapsedMs = Date.now() - start;
    expect(error.isTimeout()).to.equal(true);
    expect(error.code).to.equal('TIMEOUT');
    expect(elapsedMs).to.be.within(180, 1500);
    expect(received).to.equal(1);
    sub.unsubscribe();
  });

  it('refuses a non-positive deadline', async () => {
    const error = (await request(nc, 't.echo', new Uint8Array(0), { timeoutMs: 0 }).catch((failure: unknown) => failure)) as BusRequestError;
    expect(error.code).to.equal('REQUEST_FAILED');
  });

  it('requestJson parses protocol replies and error replies', async () => {
    const sub = nc.subscribe('t.json', {
      callback: (_error, msg) => msg.respond(msg.data.length === 0 ? encodeReply('put', { revision: 9 }) : new TextEncoder().encode('{"error":{"code":"UNAVAILABLE","message":"electing"}}')),
    });
    expect(await requestJson(nc, 't.json', 'put', new Uint8Array(0), { timeoutMs: 2000 })).to.deep.equal({ ok: true, reply: { revision: 9 } });
    expect(await requestJson(nc, 't.json', 'put', Uint8Array.of(1), { timeoutMs: 2000 })).to.deep.equal({
      ok: false,
      error: { code: 'UNAVAILABLE', message: 'electing' },
    });
    sub.unsubscribe();
  });

  it('rejects with CONNECTION_CLOSED on a closed connection', async () => {
    const closed = await connect({ servers: server.url });
    await closed.close();
    const error = (await request(closed, 't.echo', new Uint8Array(0), { timeoutMs: 1000 }).catch((failure: unknown) => failure)) as BusRequestError;
    expect(error).to.be.instanceOf(BusRequestError);
    expect(error.code).to.equal('CONNECTION_CLOSED');
  });
});
