import { expect } from 'chai';
import { KvClient } from '../../../bus/kvClient';
import { PartitionMap } from '../../../actors/router/layout';
import { subjects } from '../../../bus/subjects';
import { storedPartitions } from '../../support/storedReplicas';
import { CairnCluster } from '../../support/cairnCluster';
import { cairn } from '../../support/cairnCli';
import { startWriter, Writer } from '../../support/writer';

/** After a failed call: a loop must not spin (nor outlive a failed test: see `stoppers`). */
const pause = () => new Promise((resolve) => setTimeout(resolve, 20));

/**
 * Reads acknowledged keys while they move: a read must never return a value older than one acknowledged
 * before it started (a stale copy left behind by a move would), and must never fail.
 */
function startReader(kv: KvClient, writers: Writer[]): { errors: string[]; reads: number; stop(): Promise<void> } {
  const state = { errors: [] as string[], reads: 0, running: true };
  const loop = (async () => {
    while (state.running) {
      for (const writer of writers) {
        for (const [key, value] of [...writer.acknowledged].slice(0, 40)) {
          try {
            const read = await kv.get(key);
            state.reads++;
            if (read.value === null || Number(read.value) < Number(value)) state.errors.push(`${key}: read ${read.value} after ${value} was acknowledged`);
          } catch (error) {
            state.errors.push(`${key}: ${String(error)}`);
            await pause();
          }
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  return { errors: state.errors, get reads() { return state.reads; }, stop: async () => { state.running = false; await loop; } };
}

/**
 * Compare-and-set increments of shared counters: every increment acknowledged ok must be in the final
 * value exactly once (no lost update, no write applied twice by a retry across a move).
 */
function startCounters(kv: KvClient, keys: string[], loops: number): { errors: string[]; increments: Map<string, number>; stop(): Promise<void> } {
  const state = { errors: [] as string[], increments: new Map(keys.map((key) => [key, 0])), running: true };
  const run = Array.from({ length: loops }, async (_, loop) => {
    for (let i = 0; state.running; i++) {
      const key = keys[(loop + i) % keys.length];
      try {
        const current = (await kv.get(key)).value;
        const next = String(Number(current ?? '0') + 1);
        const result = await kv.cas(key, next, { value: current });
        if (result.ok) state.increments.set(key, state.increments.get(key)! + 1);
      } catch (error) {
        state.errors.push(`${key}: ${String(error)}`);
        await pause();
      }
    }
  });
  return { errors: state.errors, increments: state.increments, stop: async () => { state.running = false; await Promise.all(run); } };
}

/** A linearizable get sent to one partition's leader, retried while it has none (an election, a leader transfer). */
async function directGet(cluster: CairnCluster, partition: number, key: string): Promise<{ value?: string | null; error?: { code: string } }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const reply = await cluster.nc.request(`${subjects('cairn').partitionLead(partition)}.get`, Buffer.from(JSON.stringify({ key })), { timeout: 5_000 });
      const answer = JSON.parse(Buffer.from(reply.data).toString()) as { value?: string | null; error?: { code: string } };
      if (answer.error?.code !== 'NOT_LEADER' || Date.now() > deadline) return answer;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await pause();
  }
}

describe('resharding: cairn partitions create / delete (3 supervisor processes)', function () {
  this.timeout(240_000);
  let cluster: CairnCluster;
  let direct: KvClient;
  let nats: string[];
  /** Loads of the running test: stopped after it, also when an assertion failed half-way. */
  let stoppers: { stop(): Promise<void> }[] = [];
  const running = <T extends { stop(): Promise<void> }>(load: T): T => {
    stoppers.push(load);
    return load;
  };
  afterEach(async () => {
    await Promise.all(stoppers.map((load) => load.stop()));
    stoppers = [];
  });

  before(async () => {
    cluster = await CairnCluster.start({ partitions: 3 });
    nats = ['--nats', cluster.natsUrl];
    direct = await KvClient.direct(cluster.nc, { timeoutMs: 5_000 });
  });
  after(async () => {
    direct?.close();
    await cluster?.stop();
  });

  it('create: the new partition takes its keys from the others while clients write and read; nothing fails or goes back', async () => {
    const viaRouters = running(startWriter(cluster, 'create-r'));
    const viaDirect = running(startWriter(cluster, 'create-d', { kv: direct }));
    await cluster.until(() => viaRouters.count > 200 && viaDirect.count > 200, 30_000, 'writes before the reshard');
    const reader = running(startReader(cluster.kv, [viaRouters, viaDirect]));
    // Two counters that the new partition takes over, two that stay where they are.
    const after = new PartitionMap([0, 1, 2, 3]);
    const candidates = Array.from({ length: 400 }, (_, i) => `counter-${i}`);
    const counterKeys = [...candidates.filter((key) => after.partitionOf(key) === 3).slice(0, 2), ...candidates.filter((key) => after.partitionOf(key) !== 3).slice(0, 2)];
    const counters = running(startCounters(cluster.kv, counterKeys, 6));
    // A key that the new partition takes over, deleted before the move: nothing of it is copied.
    const deletedKey = candidates.map((key) => `deleted-${key}`).find((key) => after.partitionOf(key) === 3)!;
    await cluster.kv.put(deletedKey, 'soon gone');
    const deletedAt = (await cluster.kv.del(deletedKey)).revision;
    await cluster.until(() => reader.reads > 0, 10_000, 'reads before the reshard');
    const readsBefore = reader.reads;
    const run = await cairn(['partitions', 'create', ...nats]);
    expect(run, run.stderr).to.include({ code: 0 });
    // The readers ran across the reshard (one may have waited on a moving key meanwhile).
    await cluster.until(() => reader.reads > readsBefore, 10_000, 'reads across the reshard');
    expect(run.stdout).to.match(/^partition 3 created: it serves its share of the keys \(key ring epoch 1, 4 partitions\)\n$/);
    // Then each phase it sees (polling; a quick phase may pass unseen).
    expect(run.stderr).to.match(/^ {2}partition 3 is being created on n\d, n\d, n\d: it takes its share of the keys\n/);
    const countAtSwitch = viaRouters.count + viaDirect.count;
    await cluster.until(() => viaRouters.count + viaDirect.count > countAtSwitch + 200, 30_000, 'writes after the reshard');
    await Promise.all([viaRouters.stop(), viaDirect.stop(), reader.stop(), counters.stop()]);
    expect(viaRouters.errors, 'writes via routers').to.deep.equal([]);
    expect(viaDirect.errors, 'writes by the cluster-aware client').to.deep.equal([]);
    expect(reader.errors, 'reads').to.deep.equal([]);
    expect(counters.errors, 'compare-and-set increments').to.deep.equal([]);
    for (const [key, increments] of counters.increments) expect(Number((await cluster.kv.get(key)).value), key).to.equal(increments).and.be.greaterThan(0);

    // Every acknowledged write is readable, and the keys the new ring gives to p3 live there and only there.
    const ring = new PartitionMap([0, 1, 2, 3]);
    const before = new PartitionMap(3);
    let moved = 0;
    for (const writer of [viaRouters, viaDirect]) {
      for (const [key, value] of writer.acknowledged) {
        expect((await cluster.kv.get(key)).value, key).to.equal(value);
        if (ring.partitionOf(key) !== 3) continue;
        moved++;
        expect(await directGet(cluster, 3, key), key).to.deep.include({ value });
        expect((await directGet(cluster, before.partitionOf(key), key)).error?.code, key).to.equal('WRONG_PARTITION');
      }
    }
    expect(moved, 'keys that moved to the new partition').to.be.greaterThan(10);
    const recreated = await cluster.kv.put(deletedKey, 'again');
    expect(recreated.revision, 'a key\'s revision never goes back across a move, its delete included').to.be.greaterThan(deletedAt);
    await cluster.until(async () => {
      const status = await cluster.status();
      return status.partitions.map((partition) => partition.id).join() === '0,1,2,3' && JSON.stringify(status.controller?.ring) === '{"epoch":1,"partitions":[0,1,2,3]}';
    }, 20_000, 'the status to show partition 3 and the new key ring');
  });

  it('delete: the partition\'s keys go to the others, its replicas and data are removed, clients see no error', async () => {
    const viaRouters = running(startWriter(cluster, 'delete-r'));
    const viaDirect = running(startWriter(cluster, 'delete-d', { kv: direct }));
    await cluster.until(() => viaRouters.count > 200 && viaDirect.count > 200, 30_000, 'writes before the reshard');
    const reader = running(startReader(cluster.kv, [viaRouters, viaDirect]));
    for (const node of cluster.nodeIds) expect(await storedPartitions(cluster.dataDir, node), `${node} before the delete`).to.include(1);
    const run = await cairn(['partitions', 'delete', '1', '--json', ...nats]);
    expect(run, run.stderr).to.include({ code: 0 });
    expect(JSON.parse(run.stdout)).to.deep.include({ ok: true });
    const countAtSwitch = viaRouters.count + viaDirect.count;
    await cluster.until(() => viaRouters.count + viaDirect.count > countAtSwitch + 200, 30_000, 'writes after the reshard');
    await Promise.all([viaRouters.stop(), viaDirect.stop(), reader.stop()]);
    expect(viaRouters.errors, 'writes via routers').to.deep.equal([]);
    expect(viaDirect.errors, 'writes by the cluster-aware client').to.deep.equal([]);
    expect(reader.errors, 'reads').to.deep.equal([]);
    for (const writer of [viaRouters, viaDirect]) {
      for (const [key, value] of writer.acknowledged) expect((await cluster.kv.get(key)).value, key).to.equal(value);
    }
    await cluster.until(async () => (await cluster.status()).partitions.every((partition) => partition.id !== 1), 20_000, 'partition 1 to be gone');
    await cluster.until(async () => {
      for (const node of cluster.nodeIds) if ((await storedPartitions(cluster.dataDir, node)).includes(1)) return false;
      return true;
    }, 20_000, 'partition 1\'s data to be deleted');

    const again = await cairn(['partitions', 'delete', '1', ...nats]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/PARTITION_UNKNOWN: no partition 1 serves keys/);
  });

  it('kill -9 of the active controller\'s node mid-reshard: another controller finishes it, every acknowledged key reads back', async () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `bulk-${i}`);
    for (let start = 0; start < keys.length; start += 200) await Promise.all(keys.slice(start, start + 200).map((key) => direct.put(key, `v-${key}`)));
    const creating = cairn(['partitions', 'create', ...nats]);
    let victim: string | undefined;
    await cluster.until(async () => {
      const reply = await cluster.nc.request('cairn.ctl.controller', Buffer.from('{"op":"state"}'), { timeout: 1_000 });
      const view = JSON.parse(Buffer.from(reply.data).toString()) as { controller: string; reshard: { phase: string } | null };
      if (view.reshard === null) return false;
      victim = view.controller;
      return true;
    }, 20_000, 'the reshard to start');
    await cluster.kill(victim!, 'SIGKILL');
    const run = await creating;
    expect(run, run.stderr).to.include({ code: 0 });
    expect(run.stdout).to.match(/^partition 4 created/);
    await cluster.until(async () => {
      const status = await cluster.status();
      return status.controller !== null && status.controller?.node !== victim && JSON.stringify(status.controller?.ring) === '{"epoch":3,"partitions":[0,2,3,4]}';
    }, 20_000, 'another controller to show the new key ring');
    const ring = new PartitionMap([0, 2, 3, 4]);
    let onNew = 0;
    for (let start = 0; start < keys.length; start += 200) {
      const values = await Promise.all(keys.slice(start, start + 200).map((key) => cluster.kv.get(key)));
      values.forEach((read, offset) => expect(read.value, keys[start + offset]).to.equal(`v-${keys[start + offset]}`));
    }
    for (const key of keys.slice(0, 500)) if (ring.partitionOf(key) === 4 && (await directGet(cluster, 4, key)).value === `v-${key}`) onNew++;
    expect(onNew, 'keys served by the new partition').to.be.greaterThan(50);
    await cluster.restart(victim!);
  });
});
