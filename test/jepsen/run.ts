// One Jepsen-style run against real processes: a fresh cluster (nats-server + supervisors), clients
// recording a history while the nemesis kills and pauses nodes, a heal, a final read of every key, and
// the linearizability check of the whole history.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, NatsConnection } from 'nats';
import { SeededRandom } from '../../actors/raft/random';
import { CairnCluster } from '../support/cairnCluster';
import { checkHistory, KeyResult, Operation } from './linearizability';
import { Fault, FaultEvent, Nemesis } from './nemesis';
import { Workload, WorkloadCounts } from './workload';

export interface JepsenOptions {
  seed: number;
  /** How long the nemesis runs; the workload goes on for `recoverySeconds` after the last heal. */
  seconds: number;
  recoverySeconds: number;
  clients: number;
  connections: number;
  keys: number;
  opsPerKey: number;
  timeoutMs: number;
  faults: Fault[];
  quietMs: [number, number];
  faultMs: [number, number];
  partitions: number;
  nodes: number;
  /** `stale` sends gets with consistency stale: a control run, whose history should fail the check. */
  reads: 'linearizable' | 'stale';
  /** When set, each supervisor's output is written to `<logsDir>/<node>.log` at the end of the run. */
  logsDir?: string;
  /** Progress lines (stderr in the CLI). */
  log: (line: string) => void;
}

export const JEPSEN_DEFAULTS: Omit<JepsenOptions, 'log'> = {
  seed: 1,
  seconds: 60,
  recoverySeconds: 3,
  clients: 12,
  connections: 3,
  keys: 6,
  opsPerKey: 150,
  timeoutMs: 1500,
  faults: ['kill', 'pause', 'partition', 'killall', 'reshard'],
  quietMs: [1500, 4000],
  faultMs: [1000, 5000],
  partitions: 8,
  nodes: 3,
  reads: 'linearizable',
};

export interface JepsenReport {
  verdict: 'linearizable' | 'violation' | 'unknown';
  seed: number;
  operations: number;
  counts: WorkloadCounts;
  faults: FaultEvent[];
  keys: { linearizable: number; violation: number; unknown: number };
  /** How many keys were read back after the heal (all of them, unless the cluster did not recover). */
  finalReads: number;
  /** The first few keys that failed the check, with witnesses. */
  violations: KeyResult[];
  workloadMs: number;
  checkMs: number;
  /** When the workload began on the history's clock (performance.now(), as operations and faults are). */
  historyStartMs?: number;
}

export async function runJepsen(options: JepsenOptions): Promise<{ report: JepsenReport; history: Operation[] }> {
  // Two streams, so the fault schedule depends on the seed alone and not on how many requests ran.
  const faultRandom = new SeededRandom(options.seed);
  const clientRandom = new SeededRandom(options.seed ^ 0x5bd1e995);
  options.log(`seed ${options.seed}: starting a cluster of ${options.nodes} supervisors, ${options.partitions} partitions`);
  const cluster = await CairnCluster.start({ nodes: options.nodes, partitions: options.partitions, flags: ['--fault-injection'] });
  const connections: NatsConnection[] = [];
  let nemesis: Nemesis | undefined;
  try {
    for (let i = 0; i < options.connections; i++) connections.push(await connect({ servers: cluster.natsUrl, name: `jepsen-${i}` }));
    const workload = new Workload(connections, {
      clients: options.clients,
      keys: options.keys,
      opsPerKey: options.opsPerKey,
      timeoutMs: options.timeoutMs,
      keyPrefix: `jepsen-${options.seed}-${Date.now().toString(36)}`,
      prefix: 'cairn',
      reads: options.reads,
    }, clientRandom);
    const began = Date.now();
    const historyStartMs = performance.now();
    nemesis = new Nemesis(cluster, { faults: options.faults, quietMs: options.quietMs, faultMs: options.faultMs }, faultRandom);
    const clients = workload.run();
    const faults = nemesis.run();
    await sleep(options.seconds * 1000);
    nemesis.stop();
    await faults;
    const events = nemesis.events;
    options.log(`nemesis done (${events.length} faults); recovering`);
    await sleep(options.recoverySeconds * 1000);
    workload.stop();
    await clients;
    const workloadMs = Date.now() - began;
    await cluster.waitHealthy(60_000);
    const finalReads = await readEveryKey(workload, options.clients * 1000);
    options.log(`${workload.operations.length} operations recorded; checking`);
    const checkStart = performance.now();
    const results = checkHistory(workload.operations);
    const checkMs = Math.round(performance.now() - checkStart);
    const report = reportOf(options.seed, workload, events, results, finalReads, workloadMs, checkMs);
    return { report: { ...report, historyStartMs }, history: workload.operations };
  } finally {
    nemesis?.stop();
    // A run that failed mid-fault may leave a node stopped: it must wake to be stopped cleanly.
    for (const node of cluster.nodes.values()) node.child.kill('SIGCONT');
    await Promise.all(connections.map((connection) => connection.close().catch(() => undefined)));
    await cluster.stop();
    if (options.logsDir) writeLogs(cluster, options.logsDir);
  }
}

/** Reads every key once more after the heal (retrying refusals): a lost write shows up here at the latest. */
async function readEveryKey(workload: Workload, firstClient: number): Promise<number> {
  let client = firstClient;
  let read = 0;
  for (const key of workload.keys()) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const outcome = await workload.read(key, client++);
      if (outcome.type === 'ok') {
        read++;
        break;
      }
      await sleep(100);
    }
  }
  return read;
}

function reportOf(seed: number, workload: Workload, faults: FaultEvent[], results: KeyResult[], finalReads: number, workloadMs: number, checkMs: number): JepsenReport {
  const keys = { linearizable: 0, violation: 0, unknown: 0 };
  for (const result of results) keys[result.verdict]++;
  const verdict = keys.violation > 0 ? 'violation' : keys.unknown > 0 ? 'unknown' : 'linearizable';
  return {
    verdict,
    seed,
    operations: workload.operations.length,
    counts: workload.counts,
    faults,
    keys,
    finalReads,
    violations: results.filter((result) => result.verdict === 'violation').slice(0, 3),
    workloadMs,
    checkMs,
  };
}

function writeLogs(cluster: CairnCluster, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [id, node] of cluster.nodes) writeFileSync(path.join(dir, `${id}.log`), node.output.join('\n') + '\n');
}
