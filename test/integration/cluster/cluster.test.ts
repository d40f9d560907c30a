import { expect } from 'chai';
import { connect } from 'nats';
import { KvClient } from '../../../bus/kvClient';
import { PartitionMap } from '../../../actors/router/layout';
import { deadlineHeaders } from '../../../bus/deadline';
import { CairnCluster } from '../../support/cairnCluster';
import { readReplicaStates } from '../../support/replicaState';

describe('a three-node cluster of supervisor processes', function () {
  this.timeout(180_000);
  let cluster: CairnCluster;

  before(async () => {
    cluster = await CairnCluster.start({ nodes: 3, partitions: 4, replicas: 3, http: ['n1'] });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('puts, gets, deletes and compares-and-sets through NATS', async () => {
    const kv = cluster.kv;
    const put = await kv.put('fruit', 'apple');
    expect(put.revision).to.be.a('number').greaterThan(0);
    expect(await kv.get('fruit')).to.deep.equal({ value: 'apple', revision: put.revision });
    expect(await kv.get('fruit', { consistency: 'stale' } as never)).to.have.property('value');
    expect(await kv.cas('fruit', 'pear', { revision: put.revision + 1000 })).to.deep.equal({ ok: false, value: 'apple', revision: put.revision });
    const swapped = await kv.cas('fruit', 'pear', { revision: put.revision });
    expect(swapped).to.deep.include({ ok: true });
    expect(await kv.cas('fruit', 'plum', { value: 'pear' })).to.deep.include({ ok: true });
    expect(await kv.cas('new-key', 'x', { value: null })).to.deep.include({ ok: true });
    const deleted = await kv.del('fruit');
    expect(deleted.deleted).to.equal(true);
    expect(await kv.get('fruit')).to.deep.equal({ value: null, revision: 0 });
    expect(await kv.del('fruit')).to.deep.include({ deleted: false });
    expect(await kv.get('__proto__')).to.deep.equal({ value: null, revision: 0 });
    await kv.put('__proto__', 'plain key');
    expect((await kv.get('__proto__')).value).to.equal('plain key');
  });

  it('refuses bad input with a stable code and changes nothing', async () => {
    const nc = cluster.nc;
    const ask = async (subject: string, body: string) => JSON.parse(Buffer.from((await nc.request(subject, Buffer.from(body), { timeout: 5000 })).data).toString());
    await cluster.kv.put('guarded', 'original');
    expect((await ask('cairn.kv.put', '{"key":"guarded"')).error.code).to.equal('BAD_REQUEST');
    expect((await ask('cairn.kv.put', '{"key":"guarded","value":7}')).error.code).to.equal('BAD_REQUEST');
    expect((await ask('cairn.kv.put', '{"key":"guarded","value":"x","extra":1}')).error.code).to.equal('BAD_REQUEST');
    expect((await ask('cairn.kv.put', '[]')).error.code).to.equal('BAD_REQUEST');
    expect((await ask('cairn.kv.put', JSON.stringify({ key: 'k'.repeat(2000), value: 'x' }))).error.code).to.equal('KEY_TOO_LARGE');
    expect((await ask('cairn.kv.put', JSON.stringify({ key: 'guarded', value: 'v'.repeat(200_000) }))).error.code).to.equal('VALUE_TOO_LARGE');
    expect((await ask('cairn.kv.cas', JSON.stringify({ key: 'guarded', value: 'x' }))).error.code).to.equal('BAD_REQUEST');
    expect((await cluster.kv.get('guarded')).value).to.equal('original');
  });

  it('a write that arrives after its Cairn-Deadline is refused by the router and by the leader, and not applied', async () => {
    await cluster.kv.put('late', 'original');
    const long = Date.now() - 60_000;
    const ask = async (subject: string, deadline: number) => JSON.parse(Buffer.from((await cluster.nc.request(subject, Buffer.from(JSON.stringify({ key: 'late', value: 'stale' })), { timeout: 5000, headers: deadlineHeaders(deadline) })).data).toString());
    expect((await ask('cairn.kv.put', long)).error.code).to.equal('DEADLINE_EXCEEDED');
    const partition = new PartitionMap(4).partitionOf('late');
    expect((await ask(`cairn.part.${partition}.lead.put`, long)).error.code).to.equal('DEADLINE_EXCEEDED');
    expect((await cluster.kv.get('late')).value).to.equal('original');
    expect(await ask('cairn.kv.put', Date.now() + 5_000), 'a deadline in the future is served').to.have.property('revision');
    expect((await cluster.kv.get('late')).value).to.equal('stale');
  });

  it('a partition leader refuses a key that hashes to another partition (a misconfigured direct client)', async () => {
    const map = new PartitionMap(4);
    const stray = Array.from({ length: 100 }, (_, i) => `stray-${i}`).find((key) => map.partitionOf(key) !== 0)!;
    const reply = await cluster.nc.request('cairn.part.0.lead.put', Buffer.from(JSON.stringify({ key: stray, value: 'x' })), { timeout: 5000 });
    expect(JSON.parse(Buffer.from(reply.data).toString()).error.code).to.equal('WRONG_PARTITION');
    const read = await cluster.nc.request('cairn.part.0.lead.get', Buffer.from(JSON.stringify({ key: stray })), { timeout: 5000 });
    expect(JSON.parse(Buffer.from(read.data).toString()).error.code).to.equal('WRONG_PARTITION');
    expect((await cluster.kv.get(stray)).value).to.equal(null);
    const direct = await KvClient.direct(cluster.nc);
    await direct.put(stray, 'routed by the client');
    direct.close();
    expect((await cluster.kv.get(stray)).value, 'a cluster-aware client and the routers agree').to.equal('routed by the client');
  });

  it('serves the same operations over the HTTP gateway', async () => {
    const base = `http://127.0.0.1:${cluster.nodes.get('n1')!.httpPort}`;
    const set = await fetch(`${base}/set`, { method: 'POST', body: JSON.stringify({ key: 'via/http', value: 'one' }), headers: { 'content-type': 'application/json' } });
    expect(set.status).to.equal(200);
    const got = (await (await fetch(`${base}/get/via/http`)).json()) as { value: string };
    expect(got.value).to.equal('one');
    const put = await fetch(`${base}/v1/kv/${encodeURIComponent('with space')}`, { method: 'PUT', body: 'two' });
    expect(put.status).to.equal(200);
    expect((await cluster.kv.get('with space')).value).to.equal('two');
    expect((await fetch(`${base}/v1/kv/${encodeURIComponent('with space')}`, { method: 'DELETE' })).status).to.equal(200);
    expect((await cluster.kv.get('with space')).value).to.equal(null);
    const status = (await (await fetch(`${base}/cluster/status`)).json()) as { partitions: unknown[] };
    expect(status.partitions).to.have.length(4);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).to.match(/cairn_replica_commit_index\{/);
    expect(metrics).to.match(/cairn_replica_linearizable_reads\{partition="\d+",replica="\d+",served_by="lease"\} \d+/);
  });

  it('answers cluster status with every replica, its role, term and indexes', async () => {
    const status = await cluster.waitHealthy();
    expect(status.nodes.map((node) => node.id)).to.deep.equal(['n1', 'n2', 'n3']);
    for (const partition of status.partitions) {
      expect(partition.replicas).to.have.length(3);
      expect(partition.replicas.filter((replica) => replica.role === 'leader')).to.have.length(1);
      expect(new Set(partition.replicas.map((replica) => replica.node)).size, 'replicas on distinct nodes').to.equal(3);
    }
  });

  it('1,000 concurrent writes from many clients on overlapping keys: replicas agree and no acknowledged write is lost', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => connect({ servers: cluster.natsUrl })));
    const acknowledged = new Map<string, { revision: number; value: string }>();
    const writes = Array.from({ length: 1000 }, (_, i) => ({ key: `shared-${i % 37}`, value: `w${i}` }));
    await Promise.all(writes.map(async ({ key, value }, i) => {
      const client = new KvClient(clients[i % clients.length], { timeoutMs: 10_000 });
      const { revision } = await client.put(key, value);
      const previous = acknowledged.get(key);
      if (!previous || previous.revision < revision) acknowledged.set(key, { revision, value });
    }));
    for (const [key, last] of acknowledged) expect(await cluster.kv.get(key), key).to.deep.equal(last);
    await Promise.all(clients.map((client) => client.close()));
    // Compare every replica's state machine on disk once all of them have applied everything.
    const states = await readReplicaStates(cluster);
    for (const [partition, replicas] of states) {
      expect(replicas, `partition ${partition} replicas`).to.have.length(3);
      for (const other of replicas.slice(1)) expect(other.entries, `partition ${partition}`).to.deep.equal(replicas[0].entries);
    }
  });
});
