// npm run jepsen -- [--seed S] [--seeds N] [--seconds T] [--faults kill,pause,killall|none] [--clients C]
//                   [--keys K] [--ops-per-key N] [--timeout-ms MS] [--partitions P] [--history FILE]
//                   [--nodes N] [--fault-ms MIN,MAX] [--quiet-ms MIN,MAX]
//                   [--reads linearizable|stale]   (stale: a control run whose history should fail)
// Runs seeds S..S+N-1, each a fresh cluster of real processes under the nemesis, and checks each history
// for linearizability. Prints one JSON report per seed on stdout, a summary table last; stops and exits 1
// at the first seed whose history is not linearizable; exits 2 if a key could not be decided within the
// checker's search budget (many concurrent operations of unknown outcome on one key), 0 otherwise. See README.md, "Jepsen-style runs".

import { writeFileSync } from 'node:fs';
import { FlagReader } from '../../bench/flagReader';
import { FAULTS, Fault } from './nemesis';
import { JEPSEN_DEFAULTS, JepsenOptions, JepsenReport, runJepsen } from './run';

function usage(message: string): never {
  console.error(`${message}\nusage: npm run jepsen -- [--seed S] [--seeds N] [--seconds T] [--faults ${FAULTS.join(',')}|none] [--clients C] [--keys K] [--ops-per-key N] [--timeout-ms MS] [--partitions P] [--nodes N] [--fault-ms MIN,MAX] [--quiet-ms MIN,MAX] [--reads linearizable|stale] [--history FILE] [--logs DIR]`);
  process.exit(2);
}

function parseFaults(text: string): Fault[] {
  if (text === 'none') return [];
  const faults = text.split(',');
  for (const fault of faults) if (!(FAULTS as readonly string[]).includes(fault)) usage(`unknown fault ${JSON.stringify(fault)}`);
  return faults as Fault[];
}

function range(text: string): [number, number] {
  const [min, max] = text.split(',').map(Number);
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max <= min) usage(`a range is MIN,MAX in milliseconds, got ${JSON.stringify(text)}`);
  return [min, max];
}

function parseReads(text: string): 'linearizable' | 'stale' {
  if (text !== 'linearizable' && text !== 'stale') usage('--reads needs linearizable or stale');
  return text;
}

function parse(argv: string[]): { options: JepsenOptions; seeds: number; history?: string } {
  const options: JepsenOptions = { ...JEPSEN_DEFAULTS, log: (line) => console.error(line) };
  let seeds = 1;
  let history: string | undefined;
  const flags = new FlagReader(argv, usage);
  for (let flag = flags.next(); flag !== undefined; flag = flags.next()) {
    switch (flag) {
      case '--seed': options.seed = flags.integer(0); break;
      case '--seeds': seeds = flags.integer(1); break;
      case '--seconds': options.seconds = flags.number(1); break;
      case '--faults': options.faults = parseFaults(flags.value()); break;
      case '--clients': options.clients = flags.integer(1); break;
      case '--keys': options.keys = flags.integer(1); break;
      case '--ops-per-key': options.opsPerKey = flags.integer(1); break;
      case '--timeout-ms': options.timeoutMs = flags.integer(1); break;
      case '--partitions': options.partitions = flags.integer(1); break;
      case '--nodes': options.nodes = flags.integer(3); break;
      case '--fault-ms': options.faultMs = range(flags.value()); break;
      case '--quiet-ms': options.quietMs = range(flags.value()); break;
      case '--history': history = flags.value(); break;
      case '--logs': options.logsDir = flags.value(); break;
      case '--reads': options.reads = parseReads(flags.value()); break;
      default: usage(`unknown flag ${flag}`);
    }
  }
  return { options, seeds, history };
}

function row(report: JepsenReport): string {
  const ok = Object.values(report.counts.ok).reduce((a, b) => a + b, 0);
  const info = Object.values(report.counts.info).reduce((a, b) => a + b, 0);
  const fail = Object.values(report.counts.fail).reduce((a, b) => a + b, 0);
  const faults = report.faults.map((event) => event.fault).join(',') || '-';
  return [report.seed, report.verdict, report.operations, ok, info, fail, `${report.keys.linearizable}/${report.keys.violation}/${report.keys.unknown}`, report.checkMs, faults]
    .map(String).join('  ');
}

async function main(): Promise<void> {
  const { options, seeds, history } = parse(process.argv.slice(2));
  const rows: string[] = [];
  let failed = false;
  let undecided = 0;
  for (let seed = options.seed; seed < options.seed + seeds && !failed; seed++) {
    const logsDir = options.logsDir === undefined ? undefined : `${options.logsDir}/${seed}`;
    const { report, history: operations } = await runJepsen({ ...options, seed, logsDir });
    console.log(JSON.stringify(report, (_, value) => (value === Infinity ? 'never' : value), 2));
    if (history) writeFileSync(`${history}.${seed}.json`, JSON.stringify(operations, (_, value) => (value === Infinity ? null : value)));
    rows.push(row(report));
    failed = report.verdict === 'violation';
    if (report.verdict === 'unknown') undecided++;
  }
  console.log('\nseed  verdict  ops  ok  info  fail  keys(lin/viol/unknown)  check-ms  faults');
  for (const line of rows) console.log(line);
  const verdict = failed ? 'a violation at the last one' : undecided > 0 ? `no violation, ${undecided} not decided within the search budget` : 'every history linearizable';
  console.log(`jepsen: ${rows.length} seeds, ${verdict}`);
  // exitCode, not exit(): a piped stdout must drain the reports first.
  process.exitCode = failed ? 1 : undecided > 0 ? 2 : 0;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
