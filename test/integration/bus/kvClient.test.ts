import { expect } from 'chai';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { KvClient, KvError } from '../../../bus/kvClient';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX, encodeError, encodeReply } from '../../../bus/protocol';
import { startKvResponder } from '../../support/kvResponder';
import type { KvResponder } from '../../support/kvResponder';
import { startNatsServer } from '../../support/natsServer';
import type { NatsServerHandle } from '../../support/natsServer';

async function kvError(promise: Promise<unknown>): Promise<KvError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a KvError, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).to.be.instanceOf(KvError);
  expect((outcome.error as KvError).name).to.equal('KvError');
  return outcome.error as KvError;
}

describe('bus/kvClient (real nats-server, tiny responder)', function () {
  this.timeout(30_000);
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let responder: KvResponder | undefined;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterEach(() => {
    responder?.stop();
    responder = undefined;
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('put, get, del and status', async () => {
    responder = startKvResponder(nc);
    const client = new KvClient(nc, { timeoutMs: 2000 });
    const { revision } = await client.put('__proto__', 'v1');
    expect(revision).to.equal(1);
    expect(await client.get('__proto__')).to.deep.equal({ value: 'v1', revision: 1 });
    expect(await client.get('absent', { consistency: 'stale' })).to.deep.equal({ value: null, revision: 0 });
    expect(await client.del('__proto__')).to.deep.equal({ deleted: true, revision: 2 });
    expect(await client.del('__proto__')).to.deep.equal({ deleted: false, revision: 2 });
    expect(await client.status()).to.deep.equal({ keys: 0, revision: 2 });
  });

  it('cas by revision and by value, succeeding and refused', async () => {
    responder = startKvResponder(nc);
    const client = new KvClient(nc, { timeoutMs: 2000 });
    expect(await client.cas('k', 'a', { revision: 0 })).to.deep.equal({ ok: true, revision: 1 });
    expect(await client.cas('k', 'b', { revision: 0 })).to.deep.equal({ ok: false, value: 'a', revision: 1 });
    expect(await client.cas('k', 'b', { value: 'a' })).to.deep.equal({ ok: true, revision: 2 });
    expect(await client.cas('k', 'c', { value: null })).to.deep.equal({ ok: false, value: 'b', revision: 2 });
    expect(await client.cas('new', 'x', { value: null })).to.deep.equal({ ok: true, revision: 3 });
  });

  it('uses a custom prefix', async () => {
    responder = startKvResponder(nc, { prefix: 'other.db' });
    const client = new KvClient(nc, { prefix: 'other.db', timeoutMs: 2000 });
    expect(await client.put('a', 'b')).to.deep.equal({ revision: 1 });
  });

  it('refuses invalid input before sending, with the server codes', async () => {
    responder = startKvResponder(nc);
    const client = new KvClient(nc, { timeoutMs: 2000 });
    expect((await kvError(client.put('', 'x'))).code).to.equal('BAD_REQUEST');
    expect((await kvError(client.put('k'.repeat(KEY_BYTES_MAX + 1), 'x'))).code).to.equal('KEY_TOO_LARGE');
    expect((await kvError(client.put('k', 'v'.repeat(VALUE_BYTES_MAX + 1)))).code).to.equal('VALUE_TOO_LARGE');
    expect((await kvError(client.put('k\ud800', 'x'))).code).to.equal('BAD_REQUEST');
    expect((await kvError(client.cas('k', 'x', { revision: -1 }))).code).to.equal('BAD_REQUEST');
    expect(responder.received.put + responder.received.cas).to.equal(0);
  });

  it('carries a 1 MiB value through NATS', async () => {
    responder = startKvResponder(nc);
    const client = new KvClient(nc, { timeoutMs: 5000 });
    const value = 'é'.repeat(VALUE_BYTES_MAX / 2);
    await client.put('big', value);
    expect((await client.get('big')).value).to.equal(value);
  });

  it('reports error replies as KvError with code and leader hint, without retrying', async () => {
    responder = startKvResponder(nc, {
      intercept: (request) => (request.op === 'put' ? { code: 'NOT_LEADER', message: 'ask replica 2', leader: 2 } : undefined),
    });
    const client = new KvClient(nc, { timeoutMs: 2000 });
    const error = await kvError(client.put('k', 'v'));
    expect(error.code).to.equal('NOT_LEADER');
    expect(error.leader).to.equal(2);
    expect(error.message).to.equal('ask replica 2');
    expect(responder.received.put).to.equal(1);
  });

  it('cluster-aware: every write carries its own request id, the same on each retry, so UNAVAILABLE is retried', async () => {
    const subjects: string[] = [];
    const leader = nc.subscribe('cairn.part.0.lead.>', {
      callback: (_error, message) => {
        subjects.push(message.subject);
        // The first attempt of each write meets a leader that lost its leadership with the write pending.
        const first = subjects.filter((subject) => subject === message.subject).length === 1;
        message.respond(first ? encodeError('UNAVAILABLE', 'leadership changed before the write committed') : encodeReply('put', { revision: subjects.length }));
      },
    });
    const client = new KvClient(nc, { partitions: 1, timeoutMs: 2000, retryBackoffMs: 1 });
    try {
      expect(await client.put('k', 'v1')).to.deep.equal({ revision: 2 });
      expect(await client.put('k', 'v2')).to.deep.equal({ revision: 4 });
    } finally {
      client.close();
      leader.unsubscribe();
    }
    expect(subjects).to.have.length(4);
    expect(subjects[0]).to.match(/^cairn\.part\.0\.lead\.put\.[A-Za-z0-9_-]{1,64}$/);
    expect(subjects[1]).to.equal(subjects[0]);
    expect(subjects[3]).to.equal(subjects[2]);
    expect(subjects[2]).to.not.equal(subjects[0]);
  });

  it('retries no-responders until a responder appears within the deadline', async () => {
    const client = new KvClient(nc, { timeoutMs: 3000 });
    const pending = client.put('k', 'v');
    await new Promise((resolve) => setTimeout(resolve, 150));
    responder = startKvResponder(nc);
    expect(await pending).to.deep.equal({ revision: 1 });
  });

  it('gives NO_RESPONDERS when nobody appears before the deadline', async () => {
    const client = new KvClient(nc, { timeoutMs: 300 });
    const start = Date.now();
    const error = await kvError(client.get('k'));
    expect(error.code).to.equal('NO_RESPONDERS');
    expect(Date.now() - start).to.be.within(100, 1500);
  });

  it('does not retry a timeout (the write may have been applied)', async () => {
    responder = startKvResponder(nc, { intercept: () => 'silent' });
    const client = new KvClient(nc, { timeoutMs: 300 });
    const error = await kvError(client.put('k', 'v'));
    expect(error.code).to.equal('TIMEOUT');
    expect(responder.received.put).to.equal(1);
  });

  it('reports a malformed reply as INTERNAL', async () => {
    const sub = nc.subscribe('cairn.kv.get', { callback: (_error, msg) => msg.respond(new TextEncoder().encode('{"value":7}')) });
    const client = new KvClient(nc, { timeoutMs: 2000 });
    expect((await kvError(client.get('k'))).code).to.equal('INTERNAL');
    sub.unsubscribe();
  });
});
