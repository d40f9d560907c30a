// Failover: kill -9 the process that leads some data, then write to that data in a tight loop (each
// write with a short deadline, retried at once on any error) and record the time from the kill to the
// first acknowledged write. Then restart the killed process with the same flags and data, and wait
// for full health before the next trial.
//
// cairn (issue #4: "time from kill -9 of a leader's node to the first successful write on EACH of its
// partitions"): trial t picks the supervisor hosting the leader of partition (t mod P) per cluster
// status, as before. Just before the kill it reads the status again and records every partition that
// node leads (`partitions[]`; the controller's metadata partition 65535, reported as `metadata`, is
// not a key partition and is ignored). After the kill it runs one tight write loop per such
// partition, all at once, each on a key that maps to that partition by the router's own ring
// (HashRing.build(partitionMembers(P)), member "p<n>" = partition n), and records per partition the
// time from the kill to its first acknowledged write. A trial's time is the slowest of its
// partitions; the report also summarizes every (trial, partition) sample. The NATS server stays up.
// Before each trial the bench also waits (bounded) until the controller reports every node alive and
// nothing left to plan (`controller.balanced`, leader moves included), so the restarted node has its
// share of leaders back and no leader transfer runs during the next kill.
// nats-kv: the killed process is the nats-server that is the Raft leader of the bucket's stream
// (jsm.streams.info(KV_bench).cluster.leader); the writer is connected to a surviving server, so
// the time is JetStream's failover, not the client's reconnect. Its writes are kv.put's JetStream
// publish to $KV.bench.failover, each with the short deadline. One stream: one sample per trial.

import { performance } from 'node:perf_hooks';
import { connect } from 'nats';
import { HashRing, partitionMembers } from '../../actors/router/hashRing';
import type { ClusterStatus } from '../../supervisor/statusTypes';
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

/** cairn: one partition the killed node led at the kill, and its own write loop's outcome. */
export interface PartitionFailover {
  partition: number;
  key: string;
  /** From kill to this partition's first acknowledged write; null when it timed out. */
  firstWriteMs: number | null;
  attempts: number;
  errors: Record<string, number>;
}

export interface FailoverTrial {
  trial: number;
  /** The killed supervisor node id or nats-server name. */
  killed: string;
  /** cairn: the partition whose leader picked the node to kill (trial mod P). */
  partition?: number;
  /** The key of `partition` (cairn) or the one key written (nats-kv). */
  key: string;
  /** From kill to the process's exit being observed. */
  exitObservedMs: number;
  /**
   * From kill to the first acknowledged write; null when the trial timed out. cairn: the slowest of
   * `partitions` (null if any of them timed out).
   */
  firstWriteMs: number | null;
  /** cairn: summed over `partitions`. */
  attempts: number;
  /** Failed attempts by error code/message prefix (cairn: summed over `partitions`). */
  errors: Record<string, number>;
  /** cairn: every partition the killed node led in the status read just before the kill, in id order. */
  partitions?: PartitionFailover[];
  /** cairn: partitions led per node in that status. */
  leadersAtKill?: Record<string, number>;
  /** cairn: the node leading the controller's metadata partition in that status (null: none known). */
  metadataLeader?: string | null;
  /** From restart to healthy again. */
  recoveryMs: number;
  /**
   * cairn: from healthy to the controller reporting every node alive and nothing to plan (leader
   * moves included); null if that did not happen within the healthy timeout (the next trial ran anyway).
   */
  balancedMs?: number | null;
}

/** Times to the first acknowledged write: nearest-rank quantiles; null where a sample timed out. */
export interface FailoverSummary {
  count: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  meanMs: number | null;
  timedOut: number;
  withinBar: number;
}

export interface FailoverResult {
  target: string;
  trials: FailoverTrial[];
  /** Over the trials' firstWriteMs (cairn: each trial's slowest partition). */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  meanMs: number | null;
  timedOut: number;
  barMs: number;
  /** Trials whose firstWriteMs met the bar (cairn: all of the trial's partitions did). */
  withinBar: number;
  /**
   * Over every (trial, partition) sample: cairn one per partition the killed node led; nats-kv one
   * per trial (its single stream), so there it equals the per-trial figures.
   */
  samples: FailoverSummary;
}

type Writer = () => Promise<unknown>;
type WriteOutcome = Pick<FailoverTrial, 'firstWriteMs' | 'attempts' | 'errors'>;

/** Loops writes until one succeeds or the trial times out; the clock started at `killedAt`. */
async function firstWrite(write: Writer, killedAt: number, options: FailoverOptions): Promise<WriteOutcome> {
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

function summarizeTimes(values: (number | null)[], barMs: number): FailoverSummary {
  const times = values.map((value) => value ?? Infinity).sort((a, b) => a - b);
  const finite = times.filter(Number.isFinite);
  const orNull = (value: number): number | null => (Number.isFinite(value) ? round(value) : null);
  return {
    count: times.length,
    p50Ms: orNull(sampleQuantile(times, 0.5)),
    p99Ms: orNull(sampleQuantile(times, 0.99)),
    maxMs: orNull(times[times.length - 1] ?? NaN),
    meanMs: finite.length === times.length && finite.length > 0 ? round(finite.reduce((sum, value) => sum + value, 0) / finite.length) : null,
    timedOut: times.length - finite.length,
    withinBar: finite.filter((value) => value <= barMs).length,
  };
}

export function summarize(target: string, trials: FailoverTrial[], barMs: number): FailoverResult {
  const perTrial = summarizeTimes(
    trials.map((trial) => trial.firstWriteMs),
    barMs,
  );
  const samples = trials.flatMap((trial) => (trial.partitions === undefined ? [trial.firstWriteMs] : trial.partitions.map((partition) => partition.firstWriteMs)));
  const { p50Ms, p99Ms, maxMs, meanMs, timedOut, withinBar } = perTrial;
  return { target, trials, p50Ms, p99Ms, maxMs, meanMs, timedOut, barMs, withinBar, samples: summarizeTimes(samples, barMs) };
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

/** Key partitions led per node (the metadata partition is not in `partitions`). */
function leaderCounts(status: ClusterStatus): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of status.nodes ?? []) counts[node.id] = 0;
  for (const partition of status.partitions) {
    if (partition.leader !== null) counts[partition.leader.node] = (counts[partition.leader.node] ?? 0) + 1;
  }
  return counts;
}

/** Undefined when the controller reports every node alive and active and nothing to plan. */
function controllerProblem(status: ClusterStatus): string | undefined {
  const controller = status.controller;
  if (!controller) return 'no controller answering';
  const unwell = controller.nodes.filter((node) => node.health !== 'alive' || node.state !== 'active');
  if (unwell.length > 0) return `controller: ${unwell.map((node) => `${node.id} ${node.health}/${node.state}`).join(', ')}`;
  if (!controller.balanced) return `controller: not balanced (${controller.changing} changing), leaders ${JSON.stringify(leaderCounts(status))}`;
  return undefined;
}

const BALANCED_STABLE_MS = 1000;

/**
 * Waits for full health, then (up to `timeoutMs`) until the controller has had nothing to do for
 * BALANCED_STABLE_MS (two controller rounds). Returns the time the second part took, or null when it
 * did not happen in time (logged; the caller goes on).
 */
async function waitForQuiet(target: CairnTarget, options: FailoverOptions): Promise<number | null> {
  const cluster = target.cluster;
  const started = performance.now();
  let quietSince: number | undefined;
  let last = '';
  while (performance.now() - started < options.healthyTimeoutMs) {
    const status = await waitForCluster(cluster, target.control, 'full', options.healthyTimeoutMs);
    const problem = controllerProblem(status);
    const now = performance.now();
    if (problem === undefined) {
      quietSince ??= now;
      if (now - quietSince >= BALANCED_STABLE_MS) return round(quietSince - started);
    } else {
      quietSince = undefined;
      last = problem;
    }
    await sleep(200);
  }
  options.log(`cairn: the controller did not settle within ${options.healthyTimeoutMs} ms (${last}); going on`);
  return null;
}

export async function cairnFailover(target: CairnTarget, options: FailoverOptions): Promise<FailoverResult> {
  const cluster = target.cluster;
  if (!cluster.managed) throw new Error('cairn --failover kills and restarts supervisors, so it needs a cluster the bench starts itself (drop --nats)');
  const ring = HashRing.build(partitionMembers(cluster.options.partitions));
  const keys = new Map<number, string>();
  for (let partition = 0; partition < cluster.options.partitions; partition++) keys.set(partition, keyForPartition(ring, partition));
  const value = cluster.options.value;
  const trials: FailoverTrial[] = [];
  await waitForQuiet(target, options);
  for (let trial = 0; trial < options.trials; trial++) {
    // One write per partition first (every partition the victim may lead has taken a write through
    // the routers), then the status the victim and its partitions are read from, then at once the kill.
    await Promise.all([...keys.values()].map((key) => step('write before the kill', () => target.control.put(key, value, { timeoutMs: 5000 }))));
    const status = await waitForCluster(cluster, target.control, 'full', options.healthyTimeoutMs);
    const led = status.partitions.filter((partition) => partition.leader !== null).sort((a, b) => a.id - b.id);
    const picked = led[trial % led.length]!;
    const node = picked.leader!.node;
    const victims = led.filter((partition) => partition.leader!.node === node).map((partition) => partition.id);
    const supervisor = cluster.supervisor(node);

    const killedAt = performance.now();
    await supervisor.kill();
    const exitObservedMs = performance.now() - killedAt;
    const outcomes = await Promise.all(
      victims.map(async (partition): Promise<PartitionFailover> => {
        const key = keys.get(partition)!;
        const outcome = await firstWrite(() => target.control.put(key, value, { timeoutMs: options.putTimeoutMs }), killedAt, options);
        return { partition, key, ...outcome, firstWriteMs: outcome.firstWriteMs === null ? null : round(outcome.firstWriteMs) };
      }),
    );

    const restartedAt = performance.now();
    supervisor.start();
    await waitForCluster(cluster, target.control, 'full', options.healthyTimeoutMs);
    const recoveryMs = performance.now() - restartedAt;
    const balancedMs = await waitForQuiet(target, options);
    const errors: Record<string, number> = {};
    for (const outcome of outcomes) for (const [label, count] of Object.entries(outcome.errors)) errors[label] = (errors[label] ?? 0) + count;
    const record: FailoverTrial = {
      trial,
      killed: node,
      partition: picked.id,
      key: keys.get(picked.id)!,
      exitObservedMs: round(exitObservedMs),
      firstWriteMs: outcomes.some((outcome) => outcome.firstWriteMs === null) ? null : Math.max(...outcomes.map((outcome) => outcome.firstWriteMs!)),
      attempts: outcomes.reduce((sum, outcome) => sum + outcome.attempts, 0),
      errors,
      partitions: outcomes,
      leadersAtKill: leaderCounts(status),
      metadataLeader: status.metadata?.leader?.node ?? null,
      recoveryMs: round(recoveryMs),
      balancedMs,
    };
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
  const first = (ms: number | null): string => (ms === null ? 'no write succeeded' : `first write after ${ms} ms`);
  if (trial.partitions === undefined) {
    return (
      `${target} failover trial ${trial.trial + 1}: killed ${trial.killed}; ${first(trial.firstWriteMs)} ` +
      `(${trial.attempts} attempts, errors ${JSON.stringify(trial.errors)}); healthy ${trial.recoveryMs} ms after restart`
    );
  }
  const perPartition = trial.partitions
    .map((partition) => `p${partition.partition} ${partition.firstWriteMs ?? 'timed out'} ms (${partition.attempts} attempts, errors ${JSON.stringify(partition.errors)})`)
    .join(', ');
  const metadata = trial.metadataLeader === trial.killed ? '; it also led the metadata partition' : '';
  return (
    `${target} failover trial ${trial.trial + 1}: killed ${trial.killed} (picked by partition ${trial.partition}; leaders per node ` +
    `${JSON.stringify(trial.leadersAtKill)}${metadata}); slowest ${first(trial.firstWriteMs)}; ${perPartition}; ` +
    `healthy ${trial.recoveryMs} ms after restart, controller settled ${trial.balancedMs ?? '(not)'} ms later`
  );
}
