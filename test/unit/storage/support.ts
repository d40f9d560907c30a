// Helpers shared by the storage tests: temporary directories that are always removed, entry builders,
// and a store opened on a fresh directory.

import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ConfState, Entry, EntryType } from '../../../actors/raft/types';
import { KvCommand, KvCommandError, encodeKvCommand } from '../../../storage/kvCommand';
import { ReplicaStore } from '../../../storage/replicaStore';
import { DurabilityMode } from '../../../storage/replicaEnv';

export const VOTERS_THREE: ConfState = { voters: [1, 2, 3], learners: [] };

/** Temporary directories created by a suite; call removeAll() in an after/afterEach hook. */
export class TempDirs {
  private readonly paths: string[] = [];

  make(prefix = 'cairn-storage-'): string {
    const path = mkdtempSync(join(tmpdir(), prefix));
    this.paths.push(path);
    return path;
  }

  removeAll(): void {
    for (const path of this.paths.splice(0)) rmSync(path, { recursive: true, force: true });
  }
}

/** Stores opened by a suite; closed (then their directories removed) in afterEach. */
export class OpenStores {
  readonly dirs = new TempDirs();
  private readonly stores = new Set<ReplicaStore>();

  async open(options: { path?: string; confState?: ConfState; durability?: DurabilityMode; entryCacheEntries?: number } = {}): Promise<ReplicaStore> {
    const store = await ReplicaStore.open({
      entryCacheEntries: options.entryCacheEntries,
      path: options.path ?? join(this.dirs.make(), 'replica'),
      bootstrapConfState: options.confState ?? VOTERS_THREE,
      durability: options.durability ?? 'syncCommit',
    });
    this.stores.add(store);
    return store;
  }

  async close(store: ReplicaStore): Promise<void> {
    this.stores.delete(store);
    await store.close();
  }

  /** Closes store and opens the same directory again, as a restart would. */
  async reopen(store: ReplicaStore): Promise<ReplicaStore> {
    const path = store.environment.path;
    await this.close(store);
    return this.open({ path });
  }

  async closeAll(): Promise<void> {
    for (const store of [...this.stores]) await this.close(store);
    this.dirs.removeAll();
  }
}

export function entry(index: number, term: number, data: Uint8Array = new Uint8Array(0), type = EntryType.Normal): Entry {
  return { index, term, type, data };
}

export function commandEntry(index: number, term: number, command: KvCommand): Entry {
  return entry(index, term, encodeKvCommand(command));
}

/** Entries as plain comparable values (Buffer vs Uint8Array does not matter). */
export function plain(entries: Entry[]): { index: number; term: number; type: EntryType; data: number[] }[] {
  return entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Array.from(e.data) }));
}

/** Persists commands as entries at lastIndex+1.., commits and applies them; returns the results. */
export async function writeCommitted(store: ReplicaStore, term: number, commands: KvCommand[]) {
  const first = store.log.lastIndex() + 1;
  const entries = commands.map((command, offset) => commandEntry(first + offset, term, command));
  const hardState = { ...store.log.hardState(), term: Math.max(term, store.log.hardState().term) };
  hardState.commit = first + entries.length - 1;
  await store.log.persist({ hardState, entries });
  return store.stateMachine.applyBatch(entries);
}

export async function expectRejection(promise: Promise<unknown>, type: new (...args: never[]) => Error, message: RegExp) {
  let error: unknown;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  expect(error, 'expected a rejection').to.be.instanceOf(type);
  expect((error as Error).message).to.match(message);
}

export function catchError(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** The KvCommandError `action` throws (fails the test if it throws anything else, or nothing). */
export function refusal(action: () => unknown): KvCommandError {
  const error = catchError(action);
  expect(error).to.be.instanceOf(KvCommandError);
  return error as KvCommandError;
}
