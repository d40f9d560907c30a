import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { connect } from 'nats';
import { NatsServerError, findNatsServerBinary, startNatsCluster, startNatsServer } from '../../support/natsServer';

describe('test/support/natsServer (real nats-server)', function () {
  this.timeout(60_000);

  it('starts a server on a free port (never 4222), serves clients, and stops', async () => {
    const server = await startNatsServer();
    expect(server.port).to.not.equal(4222);
    expect(server.url).to.equal(`nats://127.0.0.1:${server.port}`);
    const nc = await connect({ servers: server.url });
    const sub = nc.subscribe('echo', { callback: (_error, msg) => msg.respond(msg.data) });
    const reply = await nc.request('echo', new TextEncoder().encode('hi'), { timeout: 2000 });
    expect(new TextDecoder().decode(reply.data)).to.equal('hi');
    expect(nc.info?.max_payload, 'max_payload raised for the public protocol').to.be.at.least(8 * 1024 * 1024);
    sub.unsubscribe();
    await nc.close();
    await server.stop();
    expect(() => process.kill(server.pid, 0)).to.throw(); // the process is gone
  });

  it('starts with JetStream in a temporary store and removes it on stop', async () => {
    const server = await startNatsServer({ jetstream: true });
    expect(server.storeDir).to.be.a('string');
    const nc = await connect({ servers: server.url });
    const kv = await nc.jetstream().views.kv('single');
    await kv.put('a', new TextEncoder().encode('1'));
    expect(new TextDecoder().decode((await kv.get('a'))!.value)).to.equal('1');
    await nc.close();
    await server.stop();
    expect(existsSync(server.storeDir!)).to.equal(false);
  });

  it('fails clearly when the requested port is taken', async () => {
    const first = await startNatsServer();
    try {
      const error = await startNatsServer({ port: first.port, startTimeoutMs: 10_000 }).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).to.be.instanceOf(NatsServerError);
      expect((error as NatsServerError).code).to.equal('START_FAILED');
      expect((error as NatsServerError).message).to.match(/address already in use/i);
    } finally {
      await first.stop();
    }
  });

  it('says clearly when the binary is missing', () => {
    expect(() => findNatsServerBinary('/nonexistent/nats-server'))
      .to.throw(NatsServerError)
      .with.property('code', 'BINARY_NOT_FOUND');
  });

  it('starts a 3-server JetStream cluster where an R3 KV bucket can be created', async () => {
    const cluster = await startNatsCluster(3, { jetstream: true });
    try {
      expect(cluster.urls).to.have.length(3);
      const nc = await connect({ servers: cluster.urls[2] });
      const kv = await nc.jetstream().views.kv('b', { replicas: 3 });
      const status = await kv.status();
      expect(status.replicas).to.equal(3);
      await kv.put('k', new TextEncoder().encode('v'));
      await nc.close();
      // Read it back through another server of the cluster.
      const other = await connect({ servers: cluster.urls[0] });
      const again = await other.jetstream().views.kv('b');
      expect(new TextDecoder().decode((await again.get('k'))!.value)).to.equal('v');
      await other.close();
    } finally {
      await cluster.stop();
    }
    for (const server of cluster.servers) expect(() => process.kill(server.pid, 0)).to.throw();
  });
});
