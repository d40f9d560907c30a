// npm run sim -- --seeds N --start S [--faulty-ticks T] [--lease-reads on|off|mixed]
//                [--bug forgetVote|readWithoutReadIndex|leaseTooLong]
// Runs seeds S..S+N-1; stops at the first violation and prints its seed and trace. Lease reads
// (actors/replica/readLease.ts) run on odd seeds by default (mixed), as in the test suite.

import { LeaseMode, leaseReadsFor, runSeed, SimOptions } from './simulation';

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`--${name} needs a non-negative integer`);
    process.exit(2);
  }
  return value;
}

function main(): void {
  const seeds = argument('seeds', 100);
  const start = argument('start', 1);
  const options: SimOptions = { faultyTicks: argument('faulty-ticks', 600) };
  const bugIndex = process.argv.indexOf('--bug');
  if (bugIndex >= 0) options.bugs = { [process.argv[bugIndex + 1]]: true };
  const leaseIndex = process.argv.indexOf('--lease-reads');
  const leaseMode = (leaseIndex >= 0 ? process.argv[leaseIndex + 1] : 'mixed') as LeaseMode;
  if (!['on', 'off', 'mixed'].includes(leaseMode)) {
    console.error('--lease-reads needs on, off or mixed');
    process.exit(2);
  }
  const began = Date.now();
  let events = 0;
  let writes = 0;
  let reads = 0;
  for (let seed = start; seed < start + seeds; seed++) {
    const result = runSeed(seed, { ...options, leaseReads: leaseReadsFor(seed, leaseMode) });
    events += result.events;
    writes += result.writesAcked;
    reads += result.readsChecked;
    if (!result.ok) {
      console.log(result.trace.join('\n'));
      console.log(`\nviolation at seed ${seed}: ${result.violation}`);
      console.log(`reproduce with: npm run sim -- --seeds 1 --start ${seed} --lease-reads ${leaseMode}`);
      console.log(`sim: ${seed - start + 1} seeds, 1 violations, ${events} steps`);
      process.exit(1);
    }
    if ((seed - start + 1) % 1000 === 0) console.error(`... ${seed - start + 1} seeds, ${Math.round((Date.now() - began) / 1000)} s`);
  }
  const seconds = (Date.now() - began) / 1000;
  console.log(`acknowledged writes ${writes}, linearizable reads checked ${reads}, ${seconds.toFixed(1)} s`);
  console.log(`sim: ${seeds} seeds, 0 violations, ${events} steps`);
}

main();
