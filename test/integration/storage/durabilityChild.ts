// Child process of durability.test.ts: writes to a replica store as fast as it can and prints one line
// per acknowledgement, strictly after the promise that promised durability resolved:
//   persisted <lastIndex>   entries up to lastIndex (and commit = lastIndex) are durable in the log
//   applied <index>         the state machine applied everything up to index
//   compacted <index>       the log was compacted up to index
// The entry at index i always carries {op:'put', key:`k<i>`, value:`v<i>`}, so the parent can check content.
// With place `node`, the store is partition 1 of a node env (storage/nodeEnv.ts) at <path>, and two
// neighbour replicas in the same env write just as fast, so every commit is shared.
// Usage: node durabilityChild.js <path> <durability> <seed> [own|node]

import { Entry, EntryType } from '../../../actors/raft/types';
import { encodeKvCommand } from '../../../storage/kvCommand';
import { NodeEnv } from '../../../storage/nodeEnv';
import { DurabilityMode } from '../../../storage/replicaEnv';
import { ReplicaStore } from '../../../storage/replicaStore';

export type Place = 'own' | 'node';
const SINGLE_VOTER = { voters: [1], learners: [] };

/** The store under test (and its node env, with place `node`); `close` closes both. */
export async function openStore(path: string, durability: DurabilityMode, place: Place, partition = 1): Promise<{ store: ReplicaStore; node?: NodeEnv; close: () => Promise<void> }> {
  if (place === 'own') {
    const store = await ReplicaStore.open({ path, durability, bootstrapConfState: SINGLE_VOTER });
    return { store, close: () => store.close() };
  }
  const node = NodeEnv.open({ path, durability });
  const store = await ReplicaStore.open({ node, partition, bootstrapConfState: SINGLE_VOTER });
  return { store, node, close: () => node.close() };
}

const IN_FLIGHT_MAX = 4;

export function commandOfIndex(index: number): { op: 'put'; key: string; value: string } {
  return { op: 'put', key: `k${index}`, value: `v${index}` };
}

async function main(path: string, durability: DurabilityMode, seed: number, place: Place): Promise<void> {
  const { store, node } = await openStore(path, durability, place);
  if (node) for (const partition of [2, 3]) void writeForever(await ReplicaStore.open({ node, partition, bootstrapConfState: SINGLE_VOTER }));
  let random = seed >>> 0 || 1;
  const next = (): number => {
    random ^= random << 13;
    random ^= random >>> 17;
    random ^= random << 5;
    return (random >>> 0) / 0x1_0000_0000;
  };
  await replayUnapplied(store);
  const term = store.log.hardState().term + 1;
  await store.log.persist({ hardState: { ...store.log.hardState(), term, vote: 1 }, entries: [] });
  const inFlight: Promise<void>[] = [];
  // Up to IN_FLIGHT_MAX batches are pipelined, as a driver overlapping persist and apply would.
  for (let batch = 0; ; batch++) {
    inFlight.push(writeBatch(store, term, 1 + Math.floor(next() * 8), batch % 25 === 24));
    if (inFlight.length >= IN_FLIGHT_MAX) await inFlight.shift();
  }
}

let indexNext = 0;

/** A restart resumes from what is durable: entries persisted but not applied are applied first. */
async function replayUnapplied(store: ReplicaStore): Promise<void> {
  const replay = store.log.entries(store.stateMachine.applied() + 1, store.log.lastIndex() + 1, Infinity);
  if (replay.length > 0) await store.stateMachine.applyBatch(replay);
}

/** A neighbour replica: persists and applies batches back to back, acknowledging nothing. */
async function writeForever(store: ReplicaStore): Promise<void> {
  await replayUnapplied(store);
  const term = store.log.hardState().term + 1;
  for (;;) {
    const index = store.log.lastIndex() + 1;
    const entries: Entry[] = [{ index, term, type: EntryType.Normal, data: encodeKvCommand({ op: 'put', key: `n${index}`, value: 'x'.repeat(100) }) }];
    await store.log.persist({ hardState: { term, vote: 1, commit: index }, entries });
    await store.stateMachine.applyBatch(entries);
  }
}

/** Persists one batch, then applies it; compacts now and then. Prints each acknowledgement. */
async function writeBatch(store: ReplicaStore, term: number, size: number, compact: boolean): Promise<void> {
  if (indexNext === 0) indexNext = store.log.lastIndex() + 1;
  const entries: Entry[] = [];
  for (let offset = 0; offset < size; offset++) {
    const index = indexNext++;
    entries.push({ index, term, type: EntryType.Normal, data: encodeKvCommand(commandOfIndex(index)) });
  }
  const last = entries[entries.length - 1].index;
  await store.log.persist({ hardState: { term, vote: 1, commit: last }, entries });
  process.stdout.write(`persisted ${last}\n`);
  await store.stateMachine.applyBatch(entries);
  process.stdout.write(`applied ${last}\n`);
  if (compact) {
    const index = Math.max(0, store.stateMachine.applied() - 20);
    await store.log.compact(index);
    process.stdout.write(`compacted ${index}\n`);
  }
}

if (require.main === module) {
  const [path, durability, seed, place] = process.argv.slice(2);
  main(path, durability as DurabilityMode, Number(seed), (place ?? 'own') as Place).catch((error: unknown) => {
    process.stderr.write(`durability child failed: ${String((error as Error)?.stack ?? error)}\n`);
    process.exit(1);
  });
}
