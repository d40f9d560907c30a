// Repair after a node is lost: how long the controller takes to notice a dead node and to re-create its
// replicas elsewhere, with N keys in the cluster.
//
//   npm run bench:repair -- --keys 100000 [--value-bytes 100] [--node-down-after 10000] ...
//
// Starts its own nats-server (free port) and a 4-node cairn cluster (4 supervisor processes, 8
// partitions, 3 replicas), loads N keys through the cluster-aware client (many requests in flight),
// reads a sample back, then kill -9s one supervisor that does not run the active controller and keeps
// it down. It polls the controller's state (`<prefix>.ctl.controller`, {"op":"state"}) every 100 ms:
//   t_down   = kill -> the state shows the node's health 'down'
//   t_repair = 'down' -> every partition has replicaCount voters, none on the dead node, is settled,
//              and `changing` is 0; the first poll of a stretch in which that held for --stable-ms
//              (2 s = four controller rounds), because a single round can show a partition settled
//              before the dead replica's removal has committed (see docs/benchmarks.md)
// While it waits, a passive NATS subscriber counts what the repair moves to each new replica (Raft
// appends, snapshot frames). Afterwards it reads every key back (a sample above --verify-sample) and
// stops everything; the temporary data directory is deleted. Prints one JSON document, then tables.
// See docs/benchmarks.md, "Repair after a node is lost".

import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import type { ControllerView } from '../actors/controller/controllerRequests';
import { PartitionMap } from '../actors/router/layout';
import type { GetReply } from '../bus/protocol';
import { subjects } from '../bus/subjects';
import { SUPERVISOR_DEFAULTS } from '../supervisor/options';
import type { ClusterStatus } from '../supervisor/statusTypes';
import { cleanupAll, installSignalHandlers, isInterrupted } from './kv/lifecycle';
import { machine, printTable } from './kv/report';
import { RepairTraffic } from './kv/repairTraffic';
import { CairnTarget } from './kv/targets/cairn';
import { errorMessage, makeKeys, makeValue, sleep } from './kv/workload';
import type { KvWorker } from './kv/workload';

interface Options {
  keys: number;
  valueBytes: number;
  nodes: number;
  partitions: number;
  replicas: number;
  prefix: string;
  connections: number;
  loadConcurrency: number;
  verifyConcurrency: number;
  timeoutMs: number;
  /** Passed to every supervisor when set; otherwise the supervisor's default (10000) applies. */
  nodeDownAfterMs?: number;
  compactEntries?: number;
  compactKeep?: number;
  /** Keys read back after the repair: all of them when keys <= this, else a random sample of this many. */
  verifySample: number;
  /** Keys read back right after the load. */
  loadCheckSample: number;
  maxLoadSeconds: number;
  readyTimeoutMs: number;
  settleTimeoutMs: number;
  downTimeoutMs: number;
  repairTimeoutMs: number;
  balanceWaitMs: number;
  /** The repaired condition must hold this long (several controller rounds) to count. */
  stableMs: number;
  pollMs: number;
  victim?: string;
  /** Copy the supervisors' logs here before the data directory is deleted. */
  keepLogs?: string;
  seed: number;
}

const USAGE = `usage: node dist/bench/repair.js --keys N [options]

  --keys N                 keys loaded before the kill (10000)
  --value-bytes N          value size (100)
  --nodes N --partitions N --replicas N   cluster the bench starts (4, 8, 3)
  --connections N          NATS connections of the load/verify clients (4)
  --load-concurrency N     puts in flight while loading (512)
  --verify-concurrency N   gets in flight while verifying (128)
  --timeout-ms N           deadline of each put/get (30000)
  --node-down-after MS     passed to every supervisor (supervisor default: 10000)
  --compact-entries N      passed to every supervisor (supervisor default: ${SUPERVISOR_DEFAULTS.compactEntries})
  --compact-keep N         passed to every supervisor (supervisor default: ${SUPERVISOR_DEFAULTS.compactKeep})
  --verify-sample N        after the repair read every key if keys <= N, else N random keys (2000000)
  --load-check-sample N    keys read back right after the load (1000)
  --max-load-seconds N     give up (no kill) when the load takes longer (900)
  --ready-timeout-ms N     every partition with a leader after the start (60000)
  --settle-timeout-ms N    controller idle (all alive, settled, changing 0) before the kill (120000)
  --down-timeout-ms N      kill -> 'down' (node-down-after + 60000)
  --repair-timeout-ms N    'down' -> repaired (900000)
  --balance-wait-ms N      after the repair, wait this long for 'balanced' (30000; 0 = do not wait)
  --stable-ms N            the repaired state must hold this long to count; t_repair is when it began (2000)
  --poll-ms N              controller state poll interval (100)
  --victim NODE            the node to kill (default: a non-controller node with the most replicas)
  --keep-logs DIR          copy the supervisors' logs to DIR before the data directory is deleted
  --prefix P               subject prefix (${SUPERVISOR_DEFAULTS.prefix})
  --seed N                 seed of the sample choice (1)`;

function parseArgs(argv: string[]): Options {
  const options: Options = {
    keys: 10_000,
    valueBytes: 100,
    nodes: 4,
    partitions: SUPERVISOR_DEFAULTS.partitions,
    replicas: SUPERVISOR_DEFAULTS.replicas,
    prefix: SUPERVISOR_DEFAULTS.prefix,
    connections: 4,
    loadConcurrency: 512,
    verifyConcurrency: 128,
    timeoutMs: 30_000,
    verifySample: 2_000_000,
    loadCheckSample: 1000,
    maxLoadSeconds: 900,
    readyTimeoutMs: 60_000,
    settleTimeoutMs: 120_000,
    downTimeoutMs: NaN,
    repairTimeoutMs: 900_000,
    balanceWaitMs: 30_000,
    stableMs: 2000,
    pollMs: 100,
    seed: 1,
  };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    const value = (): string => {
      const next = argv[++index];
      if (next === undefined) usageError(`${flag} needs a value`);
      return next;
    };
    const integer = (min: number): number => {
      const text = value();
      const parsed = Number(text);
      if (!Number.isInteger(parsed) || parsed < min) usageError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
      return parsed;
    };
    switch (flag) {
      case '--keys': options.keys = integer(1); break;
      case '--value-bytes': options.valueBytes = integer(1); break;
      case '--nodes': options.nodes = integer(2); break;
      case '--partitions': options.partitions = integer(1); break;
      case '--replicas': options.replicas = integer(1); break;
      case '--connections': options.connections = integer(1); break;
      case '--load-concurrency': options.loadConcurrency = integer(1); break;
      case '--verify-concurrency': options.verifyConcurrency = integer(1); break;
      case '--timeout-ms': options.timeoutMs = integer(1); break;
      case '--node-down-after': options.nodeDownAfterMs = integer(1); break;
      case '--compact-entries': options.compactEntries = integer(1); break;
      case '--compact-keep': options.compactKeep = integer(0); break;
      case '--verify-sample': options.verifySample = integer(1); break;
      case '--load-check-sample': options.loadCheckSample = integer(0); break;
      case '--max-load-seconds': options.maxLoadSeconds = integer(1); break;
      case '--ready-timeout-ms': options.readyTimeoutMs = integer(1); break;
      case '--settle-timeout-ms': options.settleTimeoutMs = integer(1); break;
      case '--down-timeout-ms': options.downTimeoutMs = integer(1); break;
      case '--repair-timeout-ms': options.repairTimeoutMs = integer(1); break;
      case '--balance-wait-ms': options.balanceWaitMs = integer(0); break;
      case '--stable-ms': options.stableMs = integer(0); break;
      case '--poll-ms': options.pollMs = integer(10); break;
      case '--victim': options.victim = value(); break;
      case '--keep-logs': options.keepLogs = value(); break;
      case '--prefix': options.prefix = value(); break;
      case '--seed': options.seed = integer(0); break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
      default:
        usageError(`unknown option ${JSON.stringify(flag)}`);
    }
  }
  if (options.replicas >= options.nodes) usageError('--replicas must be less than --nodes: the lost replicas need a node to go to');
  if (Number.isNaN(options.downTimeoutMs)) options.downTimeoutMs = (options.nodeDownAfterMs ?? 10_000) + 60_000;
  return options;
}

function usageError(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

// ---------------------------------------------------------------------------------------------------
// Load and verify

interface LoadResult {
  keys: number;
  /** Keys written (all of them unless the load gave up). */
  written: number;
  seconds: number;
  keysPerSecond: number;
  concurrency: number;
  retries: number;
  retrySamples: string[];
  /** Seconds into the load at which the first failed puts failed (up to 20). */
  retryAtSeconds: number[];
  /** Set when the load stopped before writing every key. */
  gaveUp?: string;
}

const ATTEMPTS = 5;
const SAMPLES_MAX = 3;

async function load(workers: KvWorker[], keys: readonly string[], options: Options): Promise<LoadResult> {
  const started = performance.now();
  let next = 0;
  let written = 0;
  let retries = 0;
  let gaveUp: string | undefined;
  const retrySamples: string[] = [];
  const retryAtSeconds: number[] = [];
  const progress = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    log(`load: ${written}/${keys.length} keys after ${seconds.toFixed(0)} s (${Math.round(written / seconds)} keys/s)`);
    if (seconds > options.maxLoadSeconds && gaveUp === undefined) gaveUp = `the load took more than --max-load-seconds ${options.maxLoadSeconds}`;
  }, 10_000);
  const loop = async (loopIndex: number): Promise<void> => {
    const worker = workers[loopIndex % workers.length]!;
    while (next < keys.length && gaveUp === undefined && !isInterrupted()) {
      const key = keys[next++]!;
      for (let attempt = 1; ; attempt++) {
        try {
          await worker.put(key);
          written++;
          break;
        } catch (error) {
          const message = errorMessage(error);
          // A put of the same value is idempotent, so sending it again is safe.
          if (attempt >= ATTEMPTS) throw new Error(`load: put of ${key} failed ${attempt} times, last: ${message}`, { cause: error });
          retries++;
          if (retrySamples.length < SAMPLES_MAX && !retrySamples.includes(message)) retrySamples.push(message);
          if (retryAtSeconds.length < 20) retryAtSeconds.push(round1((performance.now() - started) / 1000));
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.loadConcurrency }, (_unused, index) => loop(index)));
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    keys: keys.length, written, seconds: round1(seconds), keysPerSecond: Math.round(written / seconds), concurrency: options.loadConcurrency,
    retries, retrySamples, retryAtSeconds, ...(gaveUp !== undefined ? { gaveUp } : isInterrupted() ? { gaveUp: 'interrupted' } : {}),
  };
}

interface VerifyResult {
  checked: number;
  ok: number;
  /** Read back as absent (value null). */
  missing: number;
  /** Read back with another value. */
  wrong: number;
  /** Every attempt failed (error or timeout). */
  failed: number;
  retries: number;
  seconds: number;
  samples: string[];
}

async function verify(workers: KvWorker[], keys: readonly string[], value: string, concurrency: number): Promise<VerifyResult> {
  const started = performance.now();
  const result: VerifyResult = { checked: keys.length, ok: 0, missing: 0, wrong: 0, failed: 0, retries: 0, seconds: 0, samples: [] };
  const note = (line: string): void => {
    if (result.samples.length < 10) result.samples.push(line);
  };
  let next = 0;
  const loop = async (loopIndex: number): Promise<void> => {
    const worker = workers[loopIndex % workers.length]!;
    while (next < keys.length && !isInterrupted()) {
      const key = keys[next++]!;
      for (let attempt = 1; ; attempt++) {
        try {
          const reply = (await worker.get(key)) as GetReply;
          if (reply.value === value) result.ok++;
          else if (reply.value === null) {
            result.missing++;
            note(`${key}: absent`);
          } else {
            result.wrong++;
            note(`${key}: ${reply.value.length}-byte value differs (revision ${reply.revision})`);
          }
          break;
        } catch (error) {
          if (attempt >= ATTEMPTS) {
            result.failed++;
            note(`${key}: ${errorMessage(error)}`);
            break;
          }
          result.retries++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_unused, index) => loop(index)));
  result.seconds = round1((performance.now() - started) / 1000);
  return result;
}

/** `count` distinct keys chosen at random (all of them, in order, when count >= keys.length). */
function sample(keys: readonly string[], count: number, seed: number): string[] {
  if (count >= keys.length) return [...keys];
  const indexes = new Int32Array(keys.length);
  for (let index = 0; index < indexes.length; index++) indexes[index] = index;
  let state = (Math.imul(seed + 1, 0x9e3779b1) >>> 0) || 0x6d2b79f5;
  const chosen: string[] = [];
  for (let index = 0; index < count; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const pick = index + (state % (indexes.length - index));
    const swap = indexes[pick]!;
    indexes[pick] = indexes[index]!;
    indexes[index] = swap;
    chosen.push(keys[swap]!);
  }
  return chosen;
}

// ---------------------------------------------------------------------------------------------------
// The controller's state

async function controllerState(nc: NatsConnection, prefix: string, timeoutMs = 2000): Promise<ControllerView> {
  const reply = await nc.request(subjects(prefix).control('controller'), Buffer.from('{"op":"state"}'), { timeout: timeoutMs });
  const body = JSON.parse(Buffer.from(reply.data).toString()) as ({ ok: true } & ControllerView) | { ok: false; error: { code: string; message: string } };
  if (!body.ok) throw new Error(`controller refused state: ${body.error.code}: ${body.error.message}`);
  return body;
}

type ViewPartition = ControllerView['partitions'][number];

function voters(partition: ViewPartition): ViewPartition['replicas'] {
  return partition.replicas.filter((replica) => replica.role === 'voter');
}

/** Undefined when the partition is whole again without `dead`; else what is still missing. */
function partitionRepairProblem(partition: ViewPartition, dead: string | undefined): string | undefined {
  const voting = voters(partition);
  if (voting.length !== partition.replicaCount) return `${voting.length}/${partition.replicaCount} voters`;
  if (dead !== undefined && partition.replicas.some((replica) => replica.node === dead)) return `a replica on ${dead}`;
  if (partition.replicas.some((replica) => replica.replaces !== undefined || replica.role !== 'voter')) return 'a learner or replacement';
  if (!partition.settled) return 'not settled';
  return undefined;
}

/** Undefined when the controller is idle with every node alive and every partition whole. */
function idleProblem(view: ControllerView, nodes: number): string | undefined {
  const alive = view.nodes.filter((node) => node.health === 'alive').length;
  if (alive !== nodes) return `${alive}/${nodes} nodes alive (${view.nodes.map((node) => `${node.id}:${node.health}`).join(' ')})`;
  for (const partition of view.partitions) {
    const problem = partitionRepairProblem(partition, undefined);
    if (problem !== undefined) return `partition ${partition.id}: ${problem}`;
  }
  if (view.changing !== 0) return `changing ${view.changing}`;
  return undefined;
}

function describePartition(partition: ViewPartition): string {
  return partition.replicas.map((replica) => `${replica.node}:${replica.replica}${replica.role === 'voter' ? '' : `(${replica.role})`}${replica.replaces ? `(replaces ${replica.replaces})` : ''}`).join(' ') + (partition.settled ? '' : ' unsettled');
}

// ---------------------------------------------------------------------------------------------------
// The measurement

interface TimelineEvent {
  /** Milliseconds since the kill. */
  atMs: number;
  event: string;
}

interface PartitionRepair {
  partition: number;
  /** Loaded keys that map to this partition (the metadata partition holds none). */
  keys: number | null;
  lost: string;
  added: string;
  /** From 'down' to the partition's first poll with it whole again. */
  repairedAfterDownMs: number | null;
  /** Entries in Append messages to the new replica, re-sends included. */
  appendEntries: number;
  /** Distinct log indexes among them. */
  distinctEntries: number;
  raftMiB: number;
  snapshotMiB: number;
  snapshotPairs: number;
}

interface RepairMeasurement {
  controller: string;
  victim: string;
  victimReplicas: number;
  victimLeaders: number;
  exitObservedMs: number;
  suspectAfterKillMs: number | null;
  downAfterKillMs: number | null;
  repairAfterDownMs: number | null;
  repairedAfterKillMs: number | null;
  /** The first poll that showed every partition whole, even if a later poll did not. */
  firstWholeAfterDownMs: number | null;
  /** Times the controller's view went from whole back to not whole before the repair counted. */
  flaps: number;
  balancedAfterDownMs: number | null;
  pollErrors: number;
  pollErrorSamples: string[];
  timeline: TimelineEvent[];
  partitions: PartitionRepair[];
  finalState?: ControllerView;
  /** Cluster status after the repair: every partition's replicas with applied vs the leader's commit. */
  finalStatus?: { partition: number; leader: string | null; replicas: string }[];
  trafficUndecodable: number;
  nodeInboxMiB: Record<string, number>;
  /** Raft traffic on the per-replica subjects (to replicas the sender's node map does not know). */
  directRaftMiB: number;
  /** Set when the repair was not seen to finish (timeout, a supervisor died, interrupted). */
  error?: string;
}

function chooseVictim(view: ControllerView, requested: string | undefined): string {
  if (requested !== undefined) {
    if (requested === view.controller) throw new Error(`--victim ${requested} runs the active controller; pick another node`);
    if (!view.nodes.some((node) => node.id === requested)) throw new Error(`--victim ${requested} is not a node of the cluster`);
    return requested;
  }
  const candidates = view.nodes.filter((node) => node.id !== view.controller);
  candidates.sort((a, b) => b.replicas - a.replicas || b.leaders - a.leaders || (a.id < b.id ? -1 : 1));
  const victim = candidates[0];
  if (victim === undefined) throw new Error('no node besides the controller to kill');
  return victim.id;
}

async function measureRepair(target: CairnTarget, nc: NatsConnection, before: ControllerView, keyCounts: Map<number, number>, options: Options, logOffsets: Map<string, number>): Promise<RepairMeasurement> {
  const cluster = target.cluster;
  const victim = chooseVictim(before, options.victim);
  const victimNode = before.nodes.find((node) => node.id === victim)!;
  const traffic = new RepairTraffic(nc, options.prefix);
  await traffic.ready();
  for (const supervisor of cluster.supervisors) logOffsets.set(supervisor.nodeId, fileSize(supervisor.logPath));
  const result: RepairMeasurement = {
    controller: before.controller, victim, victimReplicas: victimNode.replicas, victimLeaders: victimNode.leaders, exitObservedMs: 0,
    suspectAfterKillMs: null, downAfterKillMs: null, repairAfterDownMs: null, repairedAfterKillMs: null, firstWholeAfterDownMs: null, flaps: 0, balancedAfterDownMs: null,
    pollErrors: 0, pollErrorSamples: [], timeline: [], partitions: [], trafficUndecodable: 0, nodeInboxMiB: {}, directRaftMiB: 0,
  };
  log(`killing ${victim} (${victimNode.replicas} replicas, ${victimNode.leaders} leaders); the active controller runs on ${before.controller}`);
  const killedAt = performance.now();
  await cluster.supervisor(victim).kill();
  result.exitObservedMs = round1(performance.now() - killedAt);

  const since = (at: number): number => Math.round(at - killedAt);
  const event = (at: number, text: string): void => {
    result.timeline.push({ atMs: since(at), event: text });
    log(`+${(since(at) / 1000).toFixed(1)} s: ${text}`);
  };
  const described = new Map<number, string>(before.partitions.map((partition) => [partition.id, describePartition(partition)]));
  const repairedAt = new Map<number, number>();
  let health: string = before.nodes.find((node) => node.id === victim)!.health;
  let controller = before.controller;
  let downAt: number | undefined;
  let repairedAtAll: number | undefined;
  /** The first poll of the current stretch in which every partition is whole. */
  let wholeSince: number | undefined;
  let balancedSince: number | undefined;
  let last: ControllerView | undefined;
  try {
    for (;;) {
      const polledAt = performance.now();
      cluster.checkAlive();
      if (isInterrupted()) throw new Error('interrupted');
      if (downAt === undefined && polledAt - killedAt > options.downTimeoutMs) throw new Error(`${victim} not reported down within ${options.downTimeoutMs} ms of the kill`);
      if (downAt !== undefined && repairedAtAll === undefined && polledAt - downAt > options.repairTimeoutMs) {
        const stuck = (last?.partitions ?? []).map((partition) => [partition.id, partitionRepairProblem(partition, victim)] as const).filter(([, problem]) => problem !== undefined);
        throw new Error(
          `repair not finished within ${options.repairTimeoutMs} ms of 'down': ` +
            `${stuck.map(([id, problem]) => `partition ${id}: ${problem}`).join('; ') || 'every partition whole'}; changing ${last?.changing}; blocked ${JSON.stringify(last?.blocked ?? [])}`,
        );
      }
      if (repairedAtAll !== undefined && (options.balanceWaitMs === 0 || polledAt - repairedAtAll > options.balanceWaitMs)) break;
      let view: ControllerView;
      try {
        view = await controllerState(nc, options.prefix);
      } catch (error) {
        result.pollErrors++;
        const message = errorMessage(error);
        if (result.pollErrorSamples.length < SAMPLES_MAX && !result.pollErrorSamples.includes(message)) result.pollErrorSamples.push(message);
        await sleep(options.pollMs);
        continue;
      }
      const at = performance.now();
      last = view;
      if (view.controller !== controller) {
        event(at, `the active controller is now ${view.controller} (was ${controller})`);
        controller = view.controller;
      }
      const node = view.nodes.find((candidate) => candidate.id === victim);
      const nowHealth = node?.health ?? '(not listed)';
      if (nowHealth !== health) {
        event(at, `${victim}: ${health} -> ${nowHealth}${node !== undefined && node.state !== 'active' ? ` (state ${node.state})` : ''}`);
        health = nowHealth;
        if (nowHealth === 'suspect' && result.suspectAfterKillMs === null) result.suspectAfterKillMs = since(at);
        if (nowHealth === 'down' && downAt === undefined) {
          downAt = at;
          result.downAfterKillMs = since(at);
        }
      }
      for (const partition of view.partitions) {
        const text = describePartition(partition);
        if (described.get(partition.id) !== text) {
          event(at, `partition ${partition.id}: ${text}`);
          described.set(partition.id, text);
        }
        if (downAt === undefined) continue;
        const whole = partitionRepairProblem(partition, victim) === undefined;
        const touched = before.partitions.find((candidate) => candidate.id === partition.id)?.replicas.some((replica) => replica.node === victim) ?? false;
        if (whole && !repairedAt.has(partition.id)) {
          repairedAt.set(partition.id, at);
          if (touched) event(at, `partition ${partition.id} whole again`);
        } else if (!whole && repairedAt.has(partition.id)) {
          // Counted from the start of the last stretch in which it stayed whole.
          repairedAt.delete(partition.id);
          if (touched) event(at, `partition ${partition.id} not whole any more: ${partitionRepairProblem(partition, victim)}`);
        }
      }
      const allWhole = downAt !== undefined && view.changing === 0 && view.partitions.every((partition) => partitionRepairProblem(partition, victim) === undefined);
      if (repairedAtAll === undefined) {
        if (allWhole && wholeSince === undefined) {
          wholeSince = at;
          if (result.firstWholeAfterDownMs === null) result.firstWholeAfterDownMs = Math.round(at - downAt!);
          event(at, `whole: every partition has its voters, none on ${victim}, settled, changing 0 (balanced ${view.balanced}); must hold ${options.stableMs} ms`);
        } else if (!allWhole && wholeSince !== undefined) {
          result.flaps++;
          const broken = view.partitions.map((partition) => [partition.id, partitionRepairProblem(partition, victim)] as const).filter(([, problem]) => problem !== undefined);
          event(at, `not whole any more (the previous poll was): changing ${view.changing}; ${broken.map(([id, problem]) => `partition ${id}: ${problem}`).join('; ')}`);
          wholeSince = undefined;
        }
        if (wholeSince !== undefined && at - wholeSince >= options.stableMs) {
          repairedAtAll = wholeSince;
          result.repairAfterDownMs = Math.round(wholeSince - downAt!);
          result.repairedAfterKillMs = since(wholeSince);
          event(at, `repaired: whole since +${(since(wholeSince) / 1000).toFixed(1)} s and still whole`);
        }
      }
      // 'balanced' (nothing planned either, e.g. no leader moves) counts from its first poll in the stretch.
      if (wholeSince === undefined) balancedSince = undefined;
      else if (view.balanced) balancedSince ??= at;
      else balancedSince = undefined;
      if (repairedAtAll !== undefined && balancedSince !== undefined) {
        result.balancedAfterDownMs = Math.round(balancedSince - downAt!);
        event(at, `balanced since +${(since(balancedSince) / 1000).toFixed(1)} s`);
        break;
      }
      const elapsed = performance.now() - polledAt;
      if (elapsed < options.pollMs) await sleep(options.pollMs - elapsed);
    }
  } catch (error) {
    // Kept with everything measured so far (t_down, the timeline, the traffic); the caller reports it.
    result.error = errorMessage(error);
  } finally {
    traffic.stop();
    result.finalState = last;
    result.partitions = partitionReport(before, last, victim, keyCounts, traffic, repairedAt, downAt);
    result.trafficUndecodable = traffic.undecodable;
    for (const [node, bytes] of traffic.nodeInboxBytes) result.nodeInboxMiB[node] = mib(bytes);
    result.directRaftMiB = mib(traffic.directBytes);
  }
  return result;
}

function partitionReport(before: ControllerView, after: ControllerView | undefined, victim: string, keyCounts: Map<number, number>, traffic: RepairTraffic, repairedAt: Map<number, number>, downAt: number | undefined): PartitionRepair[] {
  const rows: PartitionRepair[] = [];
  for (const partition of before.partitions) {
    const lost = partition.replicas.filter((replica) => replica.node === victim);
    if (lost.length === 0) continue;
    const final = after?.partitions.find((candidate) => candidate.id === partition.id);
    const known = new Set(partition.replicas.map((replica) => replica.replica));
    const added = (final?.replicas ?? []).filter((replica) => !known.has(replica.replica));
    const moved = added.map((replica) => traffic.replica(partition.id, replica.replica));
    const sum = (pick: (row: ReturnType<RepairTraffic['replica']>) => number): number => moved.reduce((total, row) => total + pick(row), 0);
    const at = repairedAt.get(partition.id);
    rows.push({
      partition: partition.id,
      keys: keyCounts.get(partition.id) ?? null,
      lost: lost.map((replica) => `${replica.node}:${replica.replica}`).join(' '),
      added: added.map((replica) => `${replica.node}:${replica.replica}${replica.role === 'voter' ? '' : `(${replica.role})`}`).join(' ') || '(none)',
      repairedAfterDownMs: at === undefined || downAt === undefined ? null : Math.round(at - downAt),
      appendEntries: sum((row) => row.appendEntries),
      distinctEntries: sum((row) => row.distinctEntries),
      raftMiB: mib(sum((row) => row.raftBytes)),
      snapshotMiB: mib(sum((row) => row.snapshotBytes)),
      snapshotPairs: sum((row) => row.snapshotPairs),
    });
  }
  return rows;
}

function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 100) / 100;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * The supervisors' `controller:` log lines: with `after`, those written after its per-node offsets; with
 * `before`, those written before them; else all of them.
 */
function controllerLogLines(target: CairnTarget, offsets: { after?: Map<string, number>; before?: Map<string, number> }, limit = 400): string[] {
  const lines: string[] = [];
  for (const supervisor of target.cluster.supervisors) {
    let text: string;
    try {
      const bytes = readFileSync(supervisor.logPath);
      text = bytes.subarray(offsets.after?.get(supervisor.nodeId) ?? 0, offsets.before?.get(supervisor.nodeId) ?? bytes.byteLength).toString('utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) if (line.includes('controller:')) lines.push(line);
  }
  return lines.length > limit ? [...lines.slice(0, limit / 2), `... ${lines.length - limit} lines left out ...`, ...lines.slice(-limit / 2)] : lines;
}

/** Copies every supervisor's log (stdout and stderr) to `directory` before the data directory goes. */
function keepLogs(target: CairnTarget, directory: string): void {
  mkdirSync(directory, { recursive: true });
  for (const supervisor of target.cluster.supervisors) {
    try {
      copyFileSync(supervisor.logPath, join(directory, basename(supervisor.logPath)));
    } catch (error) {
      log(`cannot keep ${supervisor.logPath}: ${errorMessage(error)}`);
    }
  }
  log(`supervisor logs copied to ${directory}`);
}

async function waitIdle(nc: NatsConnection, target: CairnTarget, options: Options): Promise<{ view: ControllerView; waitedMs: number }> {
  const started = performance.now();
  let problem = 'no reply yet';
  while (performance.now() - started < options.settleTimeoutMs) {
    target.cluster.checkAlive();
    if (isInterrupted()) throw new Error('interrupted');
    try {
      const view = await controllerState(nc, options.prefix);
      const found = idleProblem(view, options.nodes);
      if (found === undefined) return { view, waitedMs: Math.round(performance.now() - started) };
      problem = found;
    } catch (error) {
      problem = errorMessage(error);
    }
    await sleep(250);
  }
  throw new Error(`the controller did not settle within ${options.settleTimeoutMs} ms before the kill: ${problem}`);
}

async function finalStatus(target: CairnTarget, victim: string): Promise<RepairMeasurement['finalStatus']> {
  const status = (await target.control.status({ timeoutMs: 5000 })) as unknown as ClusterStatus;
  const groups = [...status.partitions, ...(status.metadata ? [status.metadata] : [])];
  return groups.map((partition) => {
    const leader = partition.replicas.find((replica) => replica.role === 'leader');
    return {
      partition: partition.id,
      leader: partition.leader === null ? null : `${partition.leader.node}:${partition.leader.replica}`,
      replicas: partition.replicas
        .filter((replica) => replica.node !== victim)
        .map((replica) => `${replica.node}:${replica.replica} ${replica.role} applied ${replica.applied}${leader ? `/${leader.commit}` : ''} first ${replica.firstIndex} snaps ${replica.snapshotsInstalled}`)
        .join('; '),
    };
  });
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  installSignalHandlers();
  const options = parseArgs(process.argv.slice(2));
  const loadAtStart = loadavg().map((value) => Math.round(value * 100) / 100);
  const keys = makeKeys(options.keys);
  const value = makeValue(options.valueBytes);
  const partitionMap = new PartitionMap(options.partitions);
  const keyCounts = new Map<number, number>();
  for (const key of keys) {
    const partition = partitionMap.partitionOf(key);
    keyCounts.set(partition, (keyCounts.get(partition) ?? 0) + 1);
  }
  const supervisorArgs = [
    ...(options.nodeDownAfterMs !== undefined ? ['--node-down-after', String(options.nodeDownAfterMs)] : []),
    ...(options.compactEntries !== undefined ? ['--compact-entries', String(options.compactEntries)] : []),
    ...(options.compactKeep !== undefined ? ['--compact-keep', String(options.compactKeep)] : []),
  ];
  const document: Record<string, unknown> = {
    title: `cairn repair bench: ${options.nodes} nodes, ${options.partitions} partitions x ${options.replicas} replicas, ${options.keys} keys of ${options.valueBytes} bytes`,
    date: new Date().toISOString(),
    command: `node dist/bench/repair.js ${process.argv.slice(2).join(' ')}`,
    machine: { ...machine(), loadAverageAtStart: loadAtStart },
    options,
    supervisorArgs,
  };
  let target: CairnTarget | undefined;
  let nc: NatsConnection | undefined;
  let measurement: RepairMeasurement | undefined;
  const logOffsets = new Map<string, number>();
  let failed = false;
  try {
    log(`starting nats-server and ${options.nodes} supervisors`);
    const startedAt = performance.now();
    target = await CairnTarget.start({
      connections: options.connections, value, prefix: options.prefix, nodes: options.nodes, partitions: options.partitions, replicas: options.replicas,
      readyTimeoutMs: options.readyTimeoutMs, timeoutMs: options.timeoutMs, direct: true, supervisorArgs,
    });
    document.setup = { ...target.describe(), leadersAfterMs: Math.round(performance.now() - startedAt) };
    log(`up: ${JSON.stringify(document.setup)}`);
    nc = await connect({ servers: target.cluster.natsUrl, name: 'cairn-bench-repair', timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 100, noAsyncTraces: true });

    log(`loading ${options.keys} keys, ${options.loadConcurrency} puts in flight over ${options.connections} connections (cluster-aware client)`);
    const loaded = await load(target.workers, keys, options);
    document.load = loaded;
    log(`load: ${loaded.written} keys in ${loaded.seconds} s = ${loaded.keysPerSecond} keys/s, ${loaded.retries} puts retried${loaded.retrySamples.length ? ` (${loaded.retrySamples.join(' | ')})` : ''}`);
    if (loaded.gaveUp !== undefined) throw new Error(`load stopped: ${loaded.gaveUp} (${loaded.written} keys written, ${loaded.keysPerSecond} keys/s); no kill`);
    const loadCheck = await verify(target.workers, sample(keys, options.loadCheckSample, options.seed), value, options.verifyConcurrency);
    document.loadCheck = loadCheck;
    log(`read back ${loadCheck.checked} random keys: ${loadCheck.ok} ok, ${loadCheck.missing} missing, ${loadCheck.wrong} wrong, ${loadCheck.failed} failed`);
    if (loadCheck.ok !== loadCheck.checked) throw new Error(`read-back after the load failed: ${loadCheck.samples.join(' | ')}`);

    const idle = await waitIdle(nc, target, options);
    document.before = {
      settleWaitMs: idle.waitedMs, controller: idle.view.controller, epoch: idle.view.epoch, balanced: idle.view.balanced, nodes: idle.view.nodes,
      partitions: idle.view.partitions.map((partition) => ({ id: partition.id, leader: partition.leader, replicas: describePartition(partition) })),
    };
    log(`controller ${idle.view.controller} idle after ${idle.waitedMs} ms (balanced ${idle.view.balanced}); nodes ${idle.view.nodes.map((node) => `${node.id}: ${node.replicas} replicas, ${node.leaders} leaders`).join('; ')}`);

    try {
      measurement = await measureRepair(target, nc, idle.view, keyCounts, options, logOffsets);
    } finally {
      document.controllerLogBeforeKill = controllerLogLines(target, { before: logOffsets }, 200);
      document.controllerLog = controllerLogLines(target, { after: logOffsets });
    }
    document.repair = measurement;
    if (measurement.error !== undefined) {
      failed = true;
      document.error = measurement.error;
      log(`FAILED: ${measurement.error}`);
      const lines = document.controllerLog as string[];
      log(lines.length > 0 ? `controller log lines since the kill:\n${lines.join('\n')}` : `last supervisor log lines:\n${target.cluster.logTails()}`);
    }
    try {
      measurement.finalStatus = await finalStatus(target, measurement.victim);
    } catch (error) {
      log(`final cluster status failed: ${errorMessage(error)}`);
    }

    const toVerify = sample(keys, options.verifySample, options.seed + 1);
    log(`reading back ${toVerify.length === keys.length ? 'every key' : `${toVerify.length} random keys of ${keys.length}`}`);
    const verified = await verify(target.workers, toVerify, value, options.verifyConcurrency);
    document.verify = { ...verified, all: toVerify.length === keys.length };
    log(`read back ${verified.checked} keys in ${verified.seconds} s: ${verified.ok} ok, ${verified.missing} missing, ${verified.wrong} wrong, ${verified.failed} failed`);
    if (verified.ok !== verified.checked) failed = true;
  } catch (error) {
    failed = true;
    document.error = errorMessage(error);
    log(`FAILED: ${error instanceof Error && error.stack !== undefined ? error.stack : document.error}`);
    if (target !== undefined) {
      document.controllerLog ??= controllerLogLines(target, { after: logOffsets });
      const lines = document.controllerLog as string[];
      if (lines.length > 0) log(`controller log lines since the kill:\n${lines.join('\n')}`);
      else log(`last supervisor log lines:\n${target.cluster.logTails()}`);
    }
  } finally {
    if (measurement === undefined && document.repair === undefined && target !== undefined) document.repair = null;
    await nc?.close().catch(() => undefined);
    if (target !== undefined) {
      if (options.keepLogs !== undefined) keepLogs(target, options.keepLogs);
      log('stopping the cluster and deleting its data directory');
      await target.close();
    }
    await cleanupAll();
  }
  printRepairReport(document, measurement);
  return failed ? 1 : 0;
}

function printRepairReport(document: Record<string, unknown>, measurement: RepairMeasurement | undefined): void {
  console.log(JSON.stringify(document, null, 2));
  const loaded = document.load as LoadResult | undefined;
  const verified = document.verify as (VerifyResult & { all: boolean }) | undefined;
  const seconds = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(1));
  printTable(String(document.title), [
    {
      keys: loaded?.keys ?? '-',
      'load s': loaded?.seconds ?? '-',
      'load keys/s': loaded?.keysPerSecond ?? '-',
      killed: measurement === undefined ? '-' : `${measurement.victim} (${measurement.victimReplicas} replicas)`,
      controller: measurement?.controller ?? '-',
      't_down s': seconds(measurement?.downAfterKillMs),
      't_repair s': seconds(measurement?.repairAfterDownMs),
      'first whole s': seconds(measurement?.firstWholeAfterDownMs),
      flaps: measurement?.flaps ?? '-',
      'kill->repaired s': seconds(measurement?.repairedAfterKillMs),
      'balanced s': seconds(measurement?.balancedAfterDownMs),
      'read back': verified === undefined ? '-' : `${verified.ok}/${verified.checked}${verified.all ? '' : ' (sample)'}`,
    },
  ]);
  if (measurement !== undefined && measurement.partitions.length > 0) {
    printTable('partitions that lost a replica (traffic = what went to the new replica)', measurement.partitions.map((row) => ({
      partition: row.partition,
      keys: row.keys ?? '-',
      lost: row.lost,
      'new replica': row.added,
      'whole after down s': seconds(row.repairedAfterDownMs),
      'entries sent': row.appendEntries,
      distinct: row.distinctEntries,
      'raft MiB': row.raftMiB.toFixed(2),
      'snapshot MiB': row.snapshotMiB.toFixed(2),
      'snapshot pairs': row.snapshotPairs,
    })));
  }
  if (document.error !== undefined) console.log(`\nFAILED: ${String(document.error).split('\n')[0]}`);
  if (verified !== undefined && verified.ok !== verified.checked) console.log(`\nread-back problems: ${verified.samples.join(' | ')}`);
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  async (error: unknown) => {
    process.stderr.write(`bench failed: ${errorMessage(error)}\n`);
    await cleanupAll();
    process.exitCode = 1;
  },
);
