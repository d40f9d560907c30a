// A short Jepsen-style run in the suite: real supervisors killed, paused, cut off and all killed at once,
// and partitions created and deleted, while plain-JSON clients record a history, which must be
// linearizable key by key. Longer runs and
// other seeds: `npm run jepsen -- --seconds 120 --seed S --seeds N` (README.md, "Jepsen-style runs").

import { expect } from 'chai';
import { FAULTS } from './nemesis';
import { JEPSEN_DEFAULTS, runJepsen } from './run';

const SEED = Number(process.env.CAIRN_JEPSEN_SEED ?? 1);
const SECONDS = Number(process.env.CAIRN_JEPSEN_SECONDS ?? 40);

describe('Jepsen-style run: kill, pause, partition, kill-all and reshard against real processes', function () {
  this.timeout(300_000);

  it(`keeps every key's history linearizable for ${SECONDS} s of faults (seed ${SEED})`, async () => {
    const { report } = await runJepsen({ ...JEPSEN_DEFAULTS, seed: SEED, seconds: SECONDS, quietMs: [1000, 2500], faultMs: [1000, 4000], log: () => undefined });
    const witness = JSON.stringify(report.violations, (_, value) => (value === Infinity ? 'never' : value), 2);
    expect(report.verdict, `seed ${SEED}: ${witness}`).to.equal('linearizable');
    const injected = new Set(report.faults.map((event) => event.fault));
    expect([...injected].sort(), 'every kind of fault was injected').to.deep.equal([...FAULTS].sort());
    expect(report.finalReads, 'every key read back after the heal').to.equal(report.keys.linearizable);
    for (const f of ['put', 'get', 'del', 'cas'] as const) expect(report.counts.ok[f], `acknowledged ${f}s`).to.be.greaterThan(100);
  });
});
