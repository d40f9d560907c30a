import { expect } from 'chai';
import { leaseReadsFor, runSeed, SimOptions } from './simulation';

/** Seeds S..S+N-1 from the environment, so a soak or a fresh range can run through the same suite. */
const SEEDS = Number(process.env.CAIRN_SIM_SEEDS ?? 2000);
const START = Number(process.env.CAIRN_SIM_START ?? 1);

function firstViolation(count: number, start: number, options: SimOptions): { seed: number; violation: string } | undefined {
  for (let seed = start; seed < start + count; seed++) {
    const result = runSeed(seed, options);
    if (!result.ok) return { seed, violation: result.violation! };
  }
  return undefined;
}

describe('deterministic simulation', function () {
  this.timeout(20 * 60 * 1000);

  it(`holds every safety and liveness property over ${SEEDS} seeds from ${START} (odd seeds with lease reads)`, () => {
    let acknowledged = 0;
    let reads = 0;
    for (let seed = START; seed < START + SEEDS; seed++) {
      const result = runSeed(seed, { leaseReads: leaseReadsFor(seed) });
      if (!result.ok) {
        expect.fail(`seed ${seed}: ${result.violation}\n${result.trace.join('\n')}\nreproduce with: npm run sim -- --seeds 1 --start ${seed}`);
      }
      acknowledged += result.writesAcked;
      reads += result.readsChecked;
    }
    expect(acknowledged, 'the workload must actually acknowledge writes').to.be.greaterThan(SEEDS * 100);
    expect(reads, 'and check linearizable reads').to.be.greaterThan(SEEDS * 100);
  });

  it('replays a seed exactly', () => {
    const first = runSeed(4242);
    const second = runSeed(4242);
    expect(second).to.deep.equal(first);
  });

  it('catches a driver that forgets to persist its vote (double vote, two leaders in a term)', () => {
    const found = firstViolation(1000, 1, { bugs: { forgetVote: true } });
    expect(found, 'no violation within 1000 seeds').to.not.equal(undefined);
    expect(found!.violation).to.match(/election safety|state machine safety|leader completeness|stale read|log matching/);
  });

  it('catches a read lease that outlives the followers\' vote refusal (stale read)', () => {
    const found = firstViolation(300, 1, { leaseReads: true, bugs: { leaseTooLong: true } });
    expect(found, 'no violation within 300 seeds').to.not.equal(undefined);
    expect(found!.violation).to.match(/stale read/);
  });

  it('catches a leader that serves reads without ReadIndex (stale read)', () => {
    const found = firstViolation(200, 1, { bugs: { readWithoutReadIndex: true } });
    expect(found, 'no violation within 200 seeds').to.not.equal(undefined);
    expect(found!.violation).to.match(/stale read/);
  });
});
