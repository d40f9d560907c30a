// Measures durable persists of the LMDB replica store under both durability modes:
//   syncCommit        overlappingSync: false (commit includes fsync)
//   overlappingFlush  overlappingSync: true + await flushed
// For each: one writer awaiting every persist (the latency a follower's ack sees), and a pipeline of
// IN_FLIGHT persists (how batching in lmdb-js amortizes fsyncs). Prints JSON, then a table.
// Run: npx tsc -p . && node dist/bench/storage.js [persistsPerRun]

import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Entry, EntryType } from '../actors/raft/types';
import { DurabilityMode } from '../storage/replicaEnv';
import { ReplicaStore } from '../storage/replicaStore';

const PERSISTS = Number(process.argv[2] ?? 2000);
const ENTRY_DATA_BYTES = 128;
const IN_FLIGHT = 16;

interface Measurement {
  durability: DurabilityMode;
  pattern: string;
  persists: number;
  persistsPerSecond: number;
  latencyMsP50: number;
  latencyMsP99: number;
}

async function measure(durability: DurabilityMode, inFlight: number): Promise<Measurement> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-storage-'));
  const store = await ReplicaStore.open({ path: join(directory, 'replica'), durability, bootstrapConfState: { voters: [1], learners: [] } });
  try {
    const data = new Uint8Array(ENTRY_DATA_BYTES).fill(7);
    let indexNext = 1;
    const latenciesMs: number[] = [];
    const persistOne = async (): Promise<void> => {
      const entry: Entry = { index: indexNext++, term: 1, type: EntryType.Normal, data };
      const started = process.hrtime.bigint();
      await store.log.persist({ entries: [entry] });
      latenciesMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    };
    const started = process.hrtime.bigint();
    const pending = new Set<Promise<void>>();
    for (let count = 0; count < PERSISTS; count++) {
      const persist: Promise<void> = persistOne().then(() => void pending.delete(persist));
      pending.add(persist);
      if (pending.size >= inFlight) await Promise.race(pending);
    }
    await Promise.all(pending);
    const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    latenciesMs.sort((a, b) => a - b);
    return {
      durability,
      pattern: inFlight === 1 ? 'sequential' : `${inFlight} in flight`,
      persists: PERSISTS,
      persistsPerSecond: Math.round(PERSISTS / elapsedSeconds),
      latencyMsP50: round(latenciesMs[Math.floor(latenciesMs.length * 0.5)]),
      latencyMsP99: round(latenciesMs[Math.floor(latenciesMs.length * 0.99)]),
    };
  } finally {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

async function main(): Promise<void> {
  const results: Measurement[] = [];
  for (const inFlight of [1, IN_FLIGHT]) {
    for (const durability of ['syncCommit', 'overlappingFlush'] as const) results.push(await measure(durability, inFlight));
  }
  console.log(JSON.stringify({ bench: 'storage.persist', entryDataBytes: ENTRY_DATA_BYTES, tmpdir: tmpdir(), results }, null, 2));
  console.table(results);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
