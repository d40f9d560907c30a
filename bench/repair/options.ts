// Command line of bench/repair.ts: its options, usage text and parser, and the bench's log line.

import { SUPERVISOR_DEFAULTS } from '../../supervisor/options';
import { FlagReader } from '../flagReader';

export interface Options {
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

export const USAGE = `usage: node dist/bench/repair.js --keys N [options]

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

export function parseArgs(argv: string[]): Options {
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
  const reader = new FlagReader(argv, usageError);
  const { value, integer } = reader;
  for (let flag = reader.next(); flag !== undefined; flag = reader.next()) {
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

export function usageError(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

export function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

export const round1 = (value: number): number => Math.round(value * 10) / 10;

