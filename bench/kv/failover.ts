// Failover: kill -9 the process that leads some data, then write to that data in a tight loop (each
// write with a short deadline, retried at once on any error) and record the time from the kill to the
// first acknowledged write. Then restart the killed process with the same flags and data, and wait
// for full health before the next trial.
//
// cairn: the killed process is the supervisor hosting the leader of partition (trial mod P) per
// cluster status; the key written maps to that partition by the router's own ring
// (HashRing.build(partitionMembers(P)), member "p<n>" = partition n). The NATS server stays up.
// nats-kv: the killed process is the nats-server that is the Raft leader of the bucket's stream
// (jsm.streams.info(KV_bench).cluster.leader); the writer is connected to a surviving server, so
// the time is JetStream's failover, not the client's reconnect. Its writes are kv.put's JetStream
// publish to $KV.bench.failover, each with the short deadline.

import { performance } from 'node:perf_hooks';
import { connect } from 'nats';
import { HashRing, partitionMembers } from '../../actors/router/hashRing';
import { sampleQuantile } from './latency';
import { CairnTarget, waitForCluster } from './targets/cairn';
import { BUCKET, NatsKvTarget } from './targets/natsKv';
import { errorMessage, sleep } from './workload';

export interface FailoverOptions {
  trials: number;
  /** Deadline of each write attempt after the kill. */
  putTimeoutMs: number;
  /** A trial fails if no write succeeds within this long after the kill. */
  trialTimeoutMs: number;
  /** How long a restarted process may take until the cluster is healthy again. */
  healthyTimeoutMs: number;
  /** The bar the report checks each trial against (cairn's goal: 1000 ms). */
  barMs: number;
  log: (line: string) => void;
}

export interface FailoverTrial {
  trial: number;
  /** The killed supervisor node id or nats-server name. */
  killed: string;
  /** cairn: the partition whose leader was killed. */
  partition?: number;
  key: string;
  /** From kill to the process's exit being observed. */
  exitObservedMs: number;
  /** From kill to the first acknowledged write; null when the trial timed out. */
  firstWriteMs: number | null;
  attempts: number;
  /** Failed attempts by error code/message prefix. */
  errors: Record<string, number>;
  /** From restart to healthy again. */
  recoveryMs: number;
}

export interface FailoverResult {
  target: string;
  trials: FailoverTrial[];
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  meanMs: number | null;
  timedOut: number;
  barMs: number;
  withinBar: number;
}

type Writer = () => Promise<unknown>;

/** Loops writes until one succeeds or the trial times out; the clock started at `killedAt`. */
async function firstWrite(write: Writer, killedAt: number, options: FailoverOptions): Promise<Pick<FailoverTrial, 'firstWriteMs' | 'attempts' | 'errors'>> {
  const errors: Record<string, number> = {};
  let attempts = 0;
  while (performance.now() - killedAt < options.trialTimeoutMs) {
    attempts++;
    try {
      await write();
      return { firstWriteMs: performance.now() - killedAt, attempts, errors };
    } catch (error) {
      const label = errorLabel(error);
      errors[label] = (errors[label] ?? 0) + 1;
    }
  }
  return { firstWriteMs: null, attempts, errors };
}

function errorLabel(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code !== undefined) return String(code);
  return errorMessage(error).slice(0, 60);
}

export function summarize(target: string, trials: FailoverTrial[], barMs: number): FailoverResult {
  const times = trials.map((trial) => trial.firstWriteMs ?? Infinity).sort((a, b) => a - b);
  const finite = times.filter(Number.isFinite);
  const orNull = (value: number): number | null => (Number.isFinite(value) ? round(value) : null);
  return {
    target,
    trials,
    p50Ms: orNull(sampleQuantile(times, 0.5)),
    p99Ms: orNull(sampleQuantile(times, 0.99)),
    maxMs: orNull(times[times.length - 1] ?? NaN),
    meanMs: finite.length === times.length && finite.length > 0 ? round(finite.reduce((sum, value) => sum + value, 0) / finite.length) : null,
    timedOut: times.length - finite.length,
    barMs,
    withinBar: finite.filter((value) => value <= barMs).length,
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** The first key of the form failover-<n> that the router's ring maps to `partition`. */
export function keyForPartition(ring: HashRing, partition: number): string {
  const member = `p${partition}`;
  if (!ring.has(member)) throw new Error(`partition ${partition} is not on the ring (members p0..p${ring.memberCount - 1})`);
  for (let index = 0; ; index++) {
    const key = `failover-${index}`;
    if (ring.lookup(key) === member) return key;
  }
}

export async function cairnFailover(target: CairnTarget, options: FailoverOptions): Promise<FailoverResult> {
  const cluster = target.cluster;
  if (!cluster.managed) throw new Error('cairn --failover kills and restarts supervisors, so it needs a cluster the bench starts itself (drop --nats)');
  const ring = HashRing.build(partitionMembers(cluster.options.partitions));
  const value = cluster.options.value;
  const trials: FailoverTrial[] = [];
  for (let trial = 0; trial < options.trials; trial++) {
    const status = await waitForCluster(cluster, target.control, 'full', options.healthyTimeoutMs);
    const led = status.partitions.filter((partition) => partition.leader !== null).sort((a, b) => a.id - b.id);
    const partition = led[trial % led.length]!;
    const node = partition.leader!.node;
    const key = keyForPartition(ring, partition.id);
    await step('write before the kill', () => target.control.put(key, value, { timeoutMs: 5000 }));
    const supervisor = cluster.supervisor(node);

    const killedAt = performance.now();
    await supervisor.kill();
    const exitObservedMs = performance.now() - killedAt;
    const outcome = await firstWrite(() => target.control.put(key, value, { timeoutMs: options.putTimeoutMs }), killedAt, options);

    const restartedAt = performance.now();
    supervisor.start();
    await waitForCluster(cluster, target.control, 'full', options.healthyTimeoutMs);
    const recoveryMs = performance.now() - restartedAt;
    const record: FailoverTrial = { trial, killed: node, partition: partition.id, key, exitObservedMs: round(exitObservedMs), ...outcome, recoveryMs: round(recoveryMs) };
    if (record.firstWriteMs !== null) record.firstWriteMs = round(record.firstWriteMs);
    trials.push(record);
    options.log(trialLine('cairn', record));
  }
  return summarize('cairn', trials, options.barMs);
}

export async function natsKvFailover(target: NatsKvTarget, options: FailoverOptions, value: string): Promise<FailoverResult> {
  const trials: FailoverTrial[] = [];
  const key = 'failover';
  // kv.put(key, value) is exactly a JetStream publish to $KV.<bucket>.<key>; publishing directly lets
  // the attempts carry the short deadline without binding the bucket through a 200 ms context.
  const subject = `$KV.${BUCKET}.${key}`;
  const payload = new TextEncoder().encode(value);
  for (let trial = 0; trial < options.trials; trial++) {
    await target.waitHealthy(options.healthyTimeoutMs);
    const leader = await step('find the stream leader', () => target.streamLeader());
    if (leader === undefined) throw new Error('nats-kv: the stream has no leader although it was healthy a moment ago');
    const survivors = target.cluster.servers.filter((server) => server.serverName !== leader).map((server) => server.url);
    const nc = await step('connect to the surviving servers', () =>
      connect({ servers: survivors, name: 'cairn-bench-failover', timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 50 }),
    );
    try {
      const js = nc.jetstream({ timeout: options.putTimeoutMs });
      await step('write before the kill', () => nc.jetstream({ timeout: 5000 }).publish(subject, payload));

      const killedAt = performance.now();
      await target.cluster.kill(leader);
      const exitObservedMs = performance.now() - killedAt;
      const outcome = await firstWrite(() => js.publish(subject, payload), killedAt, options);

      const restartedAt = performance.now();
      await step(`restart ${leader}`, () => target.cluster.restart(leader));
      await target.waitHealthy(options.healthyTimeoutMs);
      const recoveryMs = performance.now() - restartedAt;
      const record: FailoverTrial = { trial, killed: leader, key, exitObservedMs: round(exitObservedMs), ...outcome, recoveryMs: round(recoveryMs) };
      if (record.firstWriteMs !== null) record.firstWriteMs = round(record.firstWriteMs);
      trials.push(record);
      options.log(trialLine('nats-kv', record));
    } finally {
      await nc.close().catch(() => undefined);
    }
  }
  return summarize('nats-kv', trials, options.barMs);
}

const STEP_ATTEMPTS = 5;

/** Runs a between-trials step, retrying a few times (the cluster was just disturbed); names it on failure. */
async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= STEP_ATTEMPTS) throw new Error(`failover: cannot ${name} (${attempt} attempts): ${errorMessage(error)}`, { cause: error });
      await sleep(200 * attempt);
    }
  }
}

function trialLine(target: string, trial: FailoverTrial): string {
  const where = trial.partition === undefined ? trial.killed : `${trial.killed} (leader of partition ${trial.partition})`;
  const first = trial.firstWriteMs === null ? 'no write succeeded' : `first write after ${trial.firstWriteMs} ms`;
  return `${target} failover trial ${trial.trial + 1}: killed ${where}; ${first} (${trial.attempts} attempts, errors ${JSON.stringify(trial.errors)}); healthy ${trial.recoveryMs} ms after restart`;
}
