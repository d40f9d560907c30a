// Durability proof: a child process writes as fast as it can and prints every index it was told is
// durable; we kill -9 it at a random acknowledgement (while later writes are in flight), reopen the
// environment and check that everything acknowledged is there. The same directory goes through several
// kill/restart rounds, so recovery after a kill is exercised too.
//
// Note: kill -9 of the process cannot lose writes the kernel already accepted (the page cache survives
// the process), so this proves "acknowledged => committed and recoverable", including LMDB's recovery
// of an interrupted commit; losing power is what overlappingSync-without-flush would additionally risk.

import { expect } from 'chai';
import { ChildProcess, fork } from 'child_process';
import { join } from 'path';
import { createInterface } from 'readline';
import { decodeKvCommand } from '../../../storage/kvCommand';
import { DurabilityMode } from '../../../storage/replicaEnv';
import { TempDirs } from '../../unit/storage/support';
import { Place, commandOfIndex, openStore } from './durabilityChild';

const CHILD = join(__dirname, 'durabilityChild.js');
const SEED = Number(process.env.CAIRN_TEST_SEED ?? 20240611);
const ROUNDS = 5;

interface Acknowledged {
  persisted: number;
  applied: number;
  compacted: number;
  lines: number;
}

/** Deterministic kill points from the seed: a failure names the seed to replay it. */
function killPoints(seed: number, count: number): number[] {
  let state = seed >>> 0 || 1;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return 20 + (state % 400);
  });
}

/** Runs the child until it printed `killAfterLines` lines, then SIGKILLs it; returns what it acknowledged. */
async function runAndKill(path: string, durability: DurabilityMode, place: Place, seed: number, killAfterLines: number): Promise<Acknowledged> {
  const child = fork(CHILD, [path, durability, String(seed), place], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const acknowledged: Acknowledged = { persisted: 0, applied: 0, compacted: 0, lines: 0 };
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    record(acknowledged, line);
    if (acknowledged.lines >= killAfterLines) {
      kill(child);
      break;
    }
  }
  const code = await exited;
  expect(acknowledged.lines, `child ended early (exit ${code}): ${stderr.join('')}`).to.be.at.least(killAfterLines);
  return acknowledged;
}

function record(acknowledged: Acknowledged, line: string): void {
  const [what, value] = line.split(' ');
  const index = Number(value);
  expect(Number.isSafeInteger(index), `bad line ${line}`).to.equal(true);
  if (what === 'persisted') acknowledged.persisted = Math.max(acknowledged.persisted, index);
  else if (what === 'applied') acknowledged.applied = Math.max(acknowledged.applied, index);
  else if (what === 'compacted') acknowledged.compacted = Math.max(acknowledged.compacted, index);
  else expect.fail(`unknown line ${line}`);
  acknowledged.lines += 1;
}

function kill(child: ChildProcess): void {
  const killed = child.kill('SIGKILL');
  expect(killed, 'SIGKILL delivered').to.equal(true);
}

async function checkRecovered(path: string, durability: DurabilityMode, place: Place, acknowledged: Acknowledged, context: string): Promise<void> {
  const { store, close } = await openStore(path, durability, place);
  try {
    const { log, stateMachine } = store;
    expect(log.lastIndex(), `${context}: log lost acknowledged entries`).to.be.at.least(acknowledged.persisted);
    expect(log.hardState().commit, `${context}: commit went back`).to.be.at.least(acknowledged.persisted);
    expect(stateMachine.applied(), `${context}: applied went back`).to.be.at.least(acknowledged.applied);
    expect(log.firstIndex() - 1, `${context}: compaction went back`).to.be.at.least(acknowledged.compacted);
    // Every acknowledged entry still in the log has the content written at its index...
    for (const entry of log.entries(log.firstIndex(), acknowledged.persisted + 1, Infinity)) {
      expect(decodeKvCommand(entry.data), `${context}: entry ${entry.index}`).to.deep.equal(commandOfIndex(entry.index));
    }
    // ...and every acknowledged application left its key behind, with the right revision.
    for (let index = 1; index <= acknowledged.applied; index++) {
      expect(stateMachine.get(`k${index}`), `${context}: key k${index}`).to.deep.equal({ value: `v${index}`, revision: index, createRevision: index });
    }
  } finally {
    await close();
  }
}

describe('durability under kill -9 (child process)', function () {
  this.timeout(120_000);
  const dirs = new TempDirs();

  after(() => dirs.removeAll());

  const cases = [
    { durability: 'syncCommit', place: 'own', what: 'a replica in an environment of its own' },
    { durability: 'overlappingFlush', place: 'own', what: 'a replica in an environment of its own' },
    { durability: 'syncCommit', place: 'node', what: 'a replica in a node env, sharing each commit with two busy neighbours' },
  ] as const;
  for (const [n, { durability, place, what }] of cases.entries()) {
    it(`${durability}, ${what}: every acknowledged index survives ${ROUNDS} kills at random moments (seed ${SEED})`, async () => {
      const path = join(dirs.make(), 'replica');
      const points = killPoints(SEED + n, ROUNDS);
      let total: Acknowledged = { persisted: 0, applied: 0, compacted: 0, lines: 0 };
      for (const [round, killAfterLines] of points.entries()) {
        const acknowledged = await runAndKill(path, durability, place, SEED + round, killAfterLines);
        const context = `seed=${SEED} ${durability} round ${round} (killed after ${killAfterLines} lines)`;
        total = {
          persisted: Math.max(total.persisted, acknowledged.persisted),
          applied: Math.max(total.applied, acknowledged.applied),
          compacted: Math.max(total.compacted, acknowledged.compacted),
          lines: total.lines + acknowledged.lines,
        };
        await checkRecovered(path, durability, place, total, context);
      }
      expect(total.compacted, 'the child compacted at least once').to.be.greaterThan(0);
    });
  }
});
