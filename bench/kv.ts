// Key-value benchmark: cairn against NATS JetStream KV, the same closed-loop workload on both.
//
//   npm run bench -- --target nats-kv|cairn|all [--seconds 5] [--concurrency 1,16,64] ...
//   npm run bench -- --target cairn --failover [--trials 20]
//
// Every server it uses it starts itself on free ports (never 4222) and stops at the end, also on an
// error or Ctrl-C; `--nats URL` runs the cairn workload against a cluster that is already running.
// Prints one JSON document, then tables. See docs/benchmarks.md.

import { loadavg } from 'node:os';
import { cairnFailover, natsKvFailover } from './kv/failover';
import type { FailoverOptions } from './kv/failover';
import { cleanupAll, installSignalHandlers, isInterrupted } from './kv/lifecycle';
import { machine, printKvReport } from './kv/report';
import type { TargetResult } from './kv/report';
import { CairnTarget } from './kv/targets/cairn';
import { NatsKvTarget } from './kv/targets/natsKv';
import { MIXES, errorMessage, makeKeys, makeValue, preload, runCell } from './kv/workload';
import type { KvTarget, Mix } from './kv/workload';
import { SUPERVISOR_DEFAULTS } from '../supervisor/options';
import { FlagReader } from './flagReader';

type TargetName = 'cairn' | 'nats-kv';

interface Options {
  targets: TargetName[];
  seconds: number;
  warmupSeconds: number;
  concurrency: number[];
  mixes: Mix[];
  keys: number;
  valueBytes: number;
  connections: number;
  natsUrl?: string;
  prefix: string;
  nodes: number;
  partitions: number;
  replicas: number;
  natsKvDirect: boolean;
  /** cairn: a cluster-aware client that skips the router hop. */
  cairnDirect: boolean;
  timeoutMs: number;
  readyTimeoutMs: number;
  failover: boolean;
  trials: number;
  putTimeoutMs: number;
  trialTimeoutMs: number;
  healthyTimeoutMs: number;
  seed: number;
}

const USAGE = `usage: node dist/bench/kv.js --target cairn|nats-kv|all [options]

workload (default):
  --seconds N            measured seconds per cell (5)
  --warmup N             warm-up seconds per cell (1)
  --concurrency LIST     concurrent request loops per cell (1,16,64)
  --mixes LIST           write = all writes, read90 = 90% reads / 10% writes (write,read90)
  --keys N               key space, all preloaded before measuring (10000)
  --value-bytes N        value size (100)
  --connections N        NATS connections the loops share, round robin (1)
  --timeout-ms N         deadline of each operation (5000)
  --seed N               seed of the key/op random streams (1)
failover:
  --failover             measure kill -9 of a leader's process -> first acknowledged write, instead
                         (cairn: on each partition the killed node led; nats-kv: on the one stream)
  --trials N             trials (20)
  --put-timeout-ms N     deadline of each write attempt after the kill (200)
  --trial-timeout-ms N   give up on a trial after this long (30000)
  --healthy-timeout-ms N wait this long for health after a restart (60000)
cairn:
  --nats URL             use an already running cairn cluster instead of starting one
  --prefix P             subject prefix (cairn)
  --nodes N --partitions N --replicas N   cluster the bench starts (3, 8, 3)
  --ready-timeout-ms N   how long the started cluster may take to elect leaders (30000)
  --cairn-routing router|direct   router (default): requests go through the routers (any NATS client);
                            direct: a cluster-aware KvClient hashes keys itself and skips the router hop
nats-kv:
  --nats-kv-direct on|off   on (nats.js default): reads are direct gets served by any replica;
                            off: reads go to the stream leader (on)`;

function parseArgs(argv: string[]): Options {
  const options: Options = {
    targets: ['cairn', 'nats-kv'],
    seconds: 5,
    warmupSeconds: 1,
    concurrency: [1, 16, 64],
    mixes: [MIXES.write!, MIXES.read90!],
    keys: 10_000,
    valueBytes: 100,
    connections: 1,
    prefix: SUPERVISOR_DEFAULTS.prefix,
    nodes: 3,
    partitions: SUPERVISOR_DEFAULTS.partitions,
    replicas: SUPERVISOR_DEFAULTS.replicas,
    natsKvDirect: true,
    cairnDirect: false,
    timeoutMs: 5000,
    readyTimeoutMs: 30_000,
    failover: false,
    trials: 20,
    putTimeoutMs: 200,
    trialTimeoutMs: 30_000,
    healthyTimeoutMs: 60_000,
    seed: 1,
  };
  let targetGiven = false;
  const reader = new FlagReader(argv, usageError);
  const { value, number, integer } = reader;
  for (let flag = reader.next(); flag !== undefined; flag = reader.next()) {
    switch (flag) {
      case '--target': {
        const target = value();
        if (target === 'all') options.targets = ['nats-kv', 'cairn'];
        else if (target === 'cairn' || target === 'nats-kv') options.targets = [target];
        else usageError(`--target must be cairn, nats-kv or all, got ${JSON.stringify(target)}`);
        targetGiven = true;
        break;
      }
      case '--seconds': options.seconds = number(0.1); break;
      case '--warmup': options.warmupSeconds = number(0); break;
      case '--concurrency':
        options.concurrency = value().split(',').map((part) => {
          const parsed = Number(part);
          if (!Number.isInteger(parsed) || parsed < 1) usageError(`--concurrency takes positive integers, got ${JSON.stringify(part)}`);
          return parsed;
        });
        break;
      case '--mixes':
        options.mixes = value().split(',').map((name) => MIXES[name] ?? usageError(`unknown mix ${JSON.stringify(name)} (have ${Object.keys(MIXES).join(', ')})`));
        break;
      case '--keys': options.keys = integer(1); break;
      case '--value-bytes': options.valueBytes = integer(1); break;
      case '--connections': options.connections = integer(1); break;
      case '--timeout-ms': options.timeoutMs = number(1); break;
      case '--seed': options.seed = integer(0); break;
      case '--nats': options.natsUrl = value(); break;
      case '--prefix': options.prefix = value(); break;
      case '--nodes': options.nodes = integer(1); break;
      case '--partitions': options.partitions = integer(1); break;
      case '--replicas': options.replicas = integer(1); break;
      case '--ready-timeout-ms': options.readyTimeoutMs = number(1); break;
      case '--cairn-routing': {
        const text = value();
        if (text !== 'router' && text !== 'direct') usageError('--cairn-routing takes router or direct');
        options.cairnDirect = text === 'direct';
        break;
      }
      case '--nats-kv-direct': {
        const text = value();
        if (text !== 'on' && text !== 'off') usageError('--nats-kv-direct takes on or off');
        options.natsKvDirect = text === 'on';
        break;
      }
      case '--failover': options.failover = true; break;
      case '--trials': options.trials = integer(1); break;
      case '--put-timeout-ms': options.putTimeoutMs = number(1); break;
      case '--trial-timeout-ms': options.trialTimeoutMs = number(1); break;
      case '--healthy-timeout-ms': options.healthyTimeoutMs = number(1); break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
      default:
        usageError(`unknown option ${JSON.stringify(flag)}`);
    }
  }
  if (!targetGiven) usageError('--target is required');
  return options;
}

function usageError(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function startTarget(name: TargetName, options: Options, value: string): Promise<KvTarget> {
  if (name === 'nats-kv') {
    return NatsKvTarget.start({ connections: options.connections, value, allowDirect: options.natsKvDirect, timeoutMs: options.timeoutMs });
  }
  return CairnTarget.start({
    connections: options.connections,
    value,
    natsUrl: options.natsUrl,
    prefix: options.prefix,
    nodes: options.nodes,
    partitions: options.partitions,
    replicas: options.replicas,
    readyTimeoutMs: options.readyTimeoutMs,
    timeoutMs: options.timeoutMs,
    direct: options.cairnDirect,
  });
}

async function runTarget(name: TargetName, options: Options, keys: string[], value: string): Promise<TargetResult> {
  const result: TargetResult = { target: name, cells: [] };
  let target: KvTarget | undefined;
  try {
    log(`${name}: starting`);
    target = await startTarget(name, options, value);
    result.setup = target.describe();
    result.readConsistency = target.readConsistency;
    result.writeDurability = target.writeDurability;
    log(`${name}: up: ${JSON.stringify(result.setup)}`);
    if (options.failover) {
      const failoverOptions: FailoverOptions = {
        trials: options.trials,
        putTimeoutMs: options.putTimeoutMs,
        trialTimeoutMs: options.trialTimeoutMs,
        healthyTimeoutMs: options.healthyTimeoutMs,
        barMs: 1000,
        log,
      };
      result.failover =
        target instanceof CairnTarget ? await cairnFailover(target, failoverOptions) : await natsKvFailover(target as NatsKvTarget, failoverOptions, value);
      return result;
    }
    result.preload = await preload(target, keys, 64);
    const retried = result.preload.retries === 0 ? '' : ` (${result.preload.retries} puts retried: ${result.preload.retrySamples.join(' | ')})`;
    log(`${name}: preloaded ${keys.length} keys in ${result.preload.seconds} s${retried}`);
    for (const mix of options.mixes) {
      for (const concurrency of options.concurrency) {
        if (isInterrupted()) return result;
        const cell = await runCell(target, { concurrency, mix, seconds: options.seconds, warmupSeconds: options.warmupSeconds, keys, seed: options.seed });
        result.cells.push(cell);
        log(
          `${name} ${mix.name} C=${concurrency}: ${Math.round(cell.opsPerSecond)} ops/s, p50 ${cell.p50Ms.toFixed(2)} ms, ` +
            `p99 ${cell.p99Ms.toFixed(2)} ms, ${cell.errors} errors`,
        );
      }
    }
    return result;
  } catch (error) {
    result.error = errorMessage(error);
    log(`${name}: FAILED: ${error instanceof Error && error.stack !== undefined ? error.stack : result.error}`);
    return result;
  } finally {
    if (target !== undefined) {
      log(`${name}: stopping`);
      await target.close();
    }
  }
}

async function main(): Promise<number> {
  installSignalHandlers();
  const options = parseArgs(process.argv.slice(2));
  const loadAtStart = loadavg().map((load) => Math.round(load * 100) / 100);
  const keys = makeKeys(options.keys);
  const value = makeValue(options.valueBytes);
  const results: TargetResult[] = [];
  try {
    for (const name of options.targets) {
      results.push(await runTarget(name, options, keys, value));
      if (isInterrupted()) break;
    }
  } finally {
    await cleanupAll();
  }
  const { targets, mixes, ...rest } = options;
  const title = options.failover
    ? `cairn kv bench: failover, ${options.trials} trials`
    : `cairn kv bench: closed loop, ${options.valueBytes}-byte values, ${options.keys} keys, ${options.seconds} s per cell`;
  const document = {
    title,
    date: new Date().toISOString(),
    command: `node dist/bench/kv.js ${process.argv.slice(2).join(' ')}`,
    machine: { ...machine(), loadAverageAtStart: loadAtStart },
    options: { targets, mixes: mixes.map((mix) => mix.name), ...rest },
    results,
  };
  printKvReport(document, results);
  return results.some((result) => result.error !== undefined) ? 1 : 0;
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
