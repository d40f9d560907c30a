// One LMDB environment per partition replica (LMDB allows one writer per environment, so replicas on
// the same machine write in parallel), its named dbs, and the single funnel every write goes through.
//
// Durability: Raft must not send a vote or an acknowledgement before the data is on disk. lmdb-js on
// Linux defaults to overlappingSync, where a write's promise resolves once the transaction is committed
// and visible but before it is flushed. We choose explicitly (see DurabilityMode) and `write()` resolves
// only once the transaction is on disk in either mode.

import { Database, RootDatabase, open } from 'lmdb';
import { StorageFailedError } from './errors';
import { CONF_STORE_NAME, KvCopyName, META_STORE_NAME } from './metaRecords';
import { LOG_STORE_NAME } from './logEntryCodec';

/**
 * How a write waits for the disk.
 * - `syncCommit`: overlappingSync off; LMDB fsyncs inside the commit, so a commit that returned is durable.
 *   The writer lock is held during the fsync (see bench/storage.ts for numbers).
 * - `overlappingFlush`: overlappingSync on; the commit returns before the flush and we additionally await
 *   `flushed`. The next transaction may commit while the previous one flushes.
 */
export type DurabilityMode = 'syncCommit' | 'overlappingFlush';

export interface ReplicaEnvOptions {
  /** Directory of this replica's environment, e.g. `<data>/<node>/p<partition>/`; created if missing. */
  path: string;
  /** How writes wait for the disk; default `syncCommit`. Cannot change for an environment open in this process. */
  durability?: DurabilityMode;
  /** Initial size of the memory map in bytes (address space, not disk); lmdb-js grows it when full. */
  mapBytes?: number;
}

// syncCommit is the default since the replicas of a node share one thread: with overlappingSync, a
// thread that died with an uncaught error could hang in lmdb-js's teardown (a background flush still
// pending) and never exit, so its supervisor could not restart it (2 of 4 runs of the host-crash test;
// 0 of 5 with syncCommit). Measured through the routers at C=64, syncCommit was not slower: writes 909
// vs 652 ops/s, read90 2,302 vs 1,787 (one run each, 8 partitions). overlappingFlush stays available:
// there a log persist waits for its flush, but a state-machine apply need not (its entries are already
// durable in the log and replay after a crash).
export const DURABILITY_DEFAULT: DurabilityMode = 'syncCommit';
/** 64 MiB: plenty for tests and a young partition; lmdb-js remaps to a larger size when it fills. */
export const MAP_BYTES_DEFAULT = 64 * 1024 * 1024;

/** Keys are Buffers (big-endian indexes or UTF-8 user keys) except in `meta`, whose keys are short strings. */
export type BinaryDb = Database<Buffer, Buffer>;
export type MetaDb = Database<Buffer, string>;

export class ReplicaEnv {
  readonly path: string;
  readonly durability: DurabilityMode;
  readonly log: BinaryDb;
  readonly meta: MetaDb;
  /** Membership history: key = index of the ConfChange entry that produced it, value = ConfState. */
  readonly conf: BinaryDb;
  private readonly root: RootDatabase<Buffer, string>;
  private readonly kvCopies: Record<KvCopyName, BinaryDb>;
  /** The first error a write ran into; after it every write is refused (see StorageFailedError). */
  private failure: unknown = undefined;

  private constructor(options: ReplicaEnvOptions) {
    this.path = options.path;
    this.durability = options.durability ?? DURABILITY_DEFAULT;
    this.root = open<Buffer, string>(options.path, {
      // Every option that matters for safety or layout is spelled out rather than left to defaults.
      maxDbs: 8,
      mapSize: options.mapBytes ?? MAP_BYTES_DEFAULT,
      compression: false,
      encoding: 'binary',
      overlappingSync: this.durability === 'overlappingFlush',
      noSync: false,
      noMetaSync: false,
      useWritemap: false,
      eventTurnBatching: true,
      commitDelay: 0,
      cache: false,
    });
    this.log = this.openBinaryDb(LOG_STORE_NAME);
    this.conf = this.openBinaryDb(CONF_STORE_NAME);
    this.kvCopies = { a: this.openBinaryDb('kv-a'), b: this.openBinaryDb('kv-b') };
    this.meta = this.root.openDB<Buffer, string>(META_STORE_NAME, {
      encoding: 'binary',
      keyEncoding: 'ordered-binary',
      compression: false,
      cache: false,
    });
  }

  static open(options: ReplicaEnvOptions): ReplicaEnv {
    return new ReplicaEnv(options);
  }

  /** One of the two state-machine copies (`kv-a` / `kv-b`); which one is live is META_KEY.active. */
  kv(name: KvCopyName): BinaryDb {
    return this.kvCopies[name];
  }

  /**
   * Runs `action` inside one write transaction and resolves once that transaction is durable, or only
   * committed (visible, flushed later with the next durable write) with `flush: false`.
   * `action` must be synchronous, must validate before it writes (lmdb-js commits whatever it wrote even
   * when it throws), and returns expected refusals as values. A throw therefore means a bug, corruption
   * or an I/O failure: the env refuses all later writes and the actor must restart from disk.
   */
  async write<T>(action: () => T, options: { flush?: boolean } = {}): Promise<T> {
    if (this.failure !== undefined) throw new StorageFailedError({ cause: this.failure });
    try {
      const result = await this.root.transaction(action);
      if (this.durability === 'overlappingFlush' && options.flush !== false) await this.root.flushed;
      return result;
    } catch (error) {
      if (this.failure === undefined) this.failure = error;
      throw error;
    }
  }

  /** A consistent read view across all dbs; call `done()` on it promptly (it pins old pages). */
  beginRead(): ReturnType<RootDatabase['useReadTransaction']> {
    return this.root.useReadTransaction();
  }

  /** Waits for queued writes, then closes the environment. */
  async close(): Promise<void> {
    await this.root.close();
  }

  private openBinaryDb(name: string): BinaryDb {
    return this.root.openDB<Buffer, Buffer>(name, {
      encoding: 'binary',
      keyEncoding: 'binary',
      compression: false,
      cache: false,
    });
  }
}
