// Command line of bench/reshard.ts: its options, usage text and parser, and the bench's log line.

import { SUPERVISOR_DEFAULTS } from '../../supervisor/options';
import { FlagReader } from '../flagReader';

export interface Options {
  keys: number;
  valueBytes: number;
  nodes: number;
  partitions: number;
  replicas: number;
  /** Replicas of the created partition; undefined = the controller's default (as many as the others). */
  newReplicas?: number;
  prefix: string;
  /** NATS connections of the clients (each carries a router client and a cluster-aware one). */
  connections: number;
  /** Puts in flight while loading. */
  loadConcurrency: number;
  /** Closed loops of the client load during the reshards. */
  concurrency: number;
  /** Fraction of the load's operations that are gets; the rest are puts. */
  readFraction: number;
  /** Gets in flight while reading every key back. */
  verifyConcurrency: number;
  /** Deadline of each client call (the routers give up after their own 3 s). */
  timeoutMs: number;
  /** The load runs this long before each reshard: the "before" latency window. */
  baselineMs: number;
  /** After the last reshard, the load goes on this long before it stops. */
  afterMs: number;
  /** Delete the created partition afterwards (a second reshard). */
  delete: boolean;
  pollMs: number;
  readyTimeoutMs: number;
  /** Controller idle (all nodes alive, every partition settled, changing 0) before each reshard. */
  settleTimeoutMs: number;
  /** Request -> done of one reshard. */
  reshardTimeoutMs: number;
  /** Copy the supervisors' logs here before the data directory is deleted. */
  keepLogs?: string;
  seed: number;
}

export const USAGE = `usage: node dist/bench/reshard.js [--keys N] [options]

Starts nats-server and a cairn cluster, loads N keys, runs a closed-loop put/get load through the
routers, creates a partition (cairn partitions create) and deletes it again (cairn partitions delete),
timing each phase and the clients' latency, then reads every key back. Prints JSON, then tables.

  --keys N                 keys loaded and used by the load (10000)
  --value-bytes N          value size (100)
  --nodes N, --partitions N, --replicas N   the cluster (3, 4, 3)
  --new-replicas R         replicas of the created partition (the controller's default: as many as the others)
  --connections N          NATS connections of the clients (4)
  --load-concurrency N     puts in flight while loading (256)
  --concurrency N          closed loops of the load during the reshards (16)
  --read-fraction F        fraction of gets in the load, the rest puts (0.5)
  --verify-concurrency N   gets in flight while reading every key back (128)
  --timeout-ms N           deadline of each client call (10000; the routers answer after at most 3000)
  --baseline-ms N          load before each reshard, the "before" latency window (5000)
  --after-ms N             load after the last reshard (2000)
  --delete on|off          delete the created partition afterwards (on); --no-delete = off
  --poll-ms N              controller state poll interval (50)
  --ready-timeout-ms N     every partition with a leader after the start (60000)
  --settle-timeout-ms N    controller idle before each reshard (60000)
  --reshard-timeout-ms N   request -> done of one reshard (300000)
  --keep-logs DIR          copy the supervisors' logs to DIR before the data directory is deleted
  --prefix P               subject prefix (${SUPERVISOR_DEFAULTS.prefix})
  --seed N                 seed of the load's random streams (1)`;

export function parseArgs(argv: string[]): Options {
  const options: Options = {
    keys: 10_000,
    valueBytes: 100,
    nodes: 3,
    partitions: 4,
    replicas: 3,
    prefix: SUPERVISOR_DEFAULTS.prefix,
    connections: 4,
    loadConcurrency: 256,
    concurrency: 16,
    readFraction: 0.5,
    verifyConcurrency: 128,
    timeoutMs: 10_000,
    baselineMs: 5_000,
    afterMs: 2_000,
    delete: true,
    pollMs: 50,
    readyTimeoutMs: 60_000,
    settleTimeoutMs: 60_000,
    reshardTimeoutMs: 300_000,
    seed: 1,
  };
  const reader = new FlagReader(argv, usageError);
  const { value, integer, number } = reader;
  for (let flag = reader.next(); flag !== undefined; flag = reader.next()) {
    switch (flag) {
      case '--keys': options.keys = integer(1); break;
      case '--value-bytes': options.valueBytes = integer(32); break;
      case '--nodes': options.nodes = integer(1); break;
      case '--partitions': options.partitions = integer(1); break;
      case '--replicas': options.replicas = integer(1); break;
      case '--new-replicas': options.newReplicas = integer(1); break;
      case '--connections': options.connections = integer(1); break;
      case '--load-concurrency': options.loadConcurrency = integer(1); break;
      case '--concurrency': options.concurrency = integer(1); break;
      case '--read-fraction': options.readFraction = number(0); break;
      case '--verify-concurrency': options.verifyConcurrency = integer(1); break;
      case '--timeout-ms': options.timeoutMs = integer(1); break;
      case '--baseline-ms': options.baselineMs = integer(0); break;
      case '--after-ms': options.afterMs = integer(0); break;
      case '--delete': options.delete = onOff(value()); break;
      case '--no-delete': options.delete = false; break;
      case '--poll-ms': options.pollMs = integer(10); break;
      case '--ready-timeout-ms': options.readyTimeoutMs = integer(1); break;
      case '--settle-timeout-ms': options.settleTimeoutMs = integer(1); break;
      case '--reshard-timeout-ms': options.reshardTimeoutMs = integer(1); break;
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
  if (options.readFraction > 1) usageError('--read-fraction must be in [0, 1]');
  if (options.replicas > options.nodes) usageError('--replicas must not exceed --nodes');
  if (options.concurrency > options.keys) usageError('--concurrency must not exceed --keys: each loop owns its own keys');
  return options;
}

function onOff(text: string): boolean {
  if (text === 'on' || text === 'true') return true;
  if (text === 'off' || text === 'false') return false;
  usageError(`--delete must be on or off, got ${JSON.stringify(text)}`);
}

export function usageError(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

export function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

export const round1 = (value: number): number => Math.round(value * 10) / 10;
