// The named dbs of one partition replica and the single funnel every write goes through. They live either
// in the node's shared environment (storage/nodeEnv.ts, named `p<partition>/<db>`), so that the writes of
// all replicas of a node in one event-loop turn commit and fsync as one transaction, or in an
// environment of their own (`open`, for tools, tests, and replicas an older cairn node created under
// `<data>/<node>/p<partition>/`).
//
// Durability: Raft must not send a vote or an acknowledgement before the data is on disk. lmdb-js on
// Linux defaults to overlappingSync, where a write's promise resolves once the transaction is committed
// and visible but before it is flushed. We choose explicitly (see DurabilityMode) and `write()` resolves
// only once the transaction is on disk in either mode.

import { existsSync } from 'node:fs';
import path from 'node:path';
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

export interface EnvOptions {
  /** Directory of the environment; created if missing. */
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
/** LMDB's data file inside an environment directory. */
export const ENV_DATA_FILE = 'data.mdb';

/** Whether `dir` holds an LMDB environment (a replica of its own, as older cairn nodes made them). */
export function hasEnvironment(dir: string): boolean {
  return existsSync(path.join(dir, ENV_DATA_FILE));
}

/** A replica in an environment of its own, e.g. `<data>/<node>/p<partition>/`. */
export type ReplicaEnvOptions = EnvOptions;

/** 64 MiB: plenty for tests and a young partition; lmdb-js remaps to a larger size when it fills. */
export const MAP_BYTES_DEFAULT = 64 * 1024 * 1024;

/** Keys are Buffers (big-endian indexes or UTF-8 user keys) except in `meta`, whose keys are short strings. */
export type BinaryDb = Database<Buffer, Buffer>;
export type MetaDb = Database<Buffer, string>;

/** The named dbs of one replica, each under its prefix. */
export const REPLICA_DB_NAMES = [LOG_STORE_NAME, CONF_STORE_NAME, 'kv-a', 'kv-b', META_STORE_NAME] as const;
/** An environment of one replica: its dbs, with room for a few more in later formats. */
const REPLICA_ENV_MAX_DBS = 8;

export class ReplicaEnv {
  /** Where the replica lives: its environment's directory, plus `#p<partition>` inside a node env. */
  readonly path: string;
  readonly durability: DurabilityMode;
  readonly log: BinaryDb;
  readonly meta: MetaDb;
  /** Membership history: key = index of the ConfChange entry that produced it, value = ConfState. */
  readonly conf: BinaryDb;
  private readonly root: RootDatabase<Buffer, string>;
  private readonly kvCopies: Record<KvCopyName, BinaryDb>;
  /** Whether closing this replica closes the environment (not when the node env is shared). */
  private readonly ownsRoot: boolean;
  /** The first error a write ran into; after it every write is refused (see StorageFailedError). */
  private failure: unknown = undefined;

  /** @internal use `open` or NodeEnv.replica. */
  constructor(root: RootDatabase<Buffer, string>, where: { path: string; prefix: string; durability: DurabilityMode; ownsRoot: boolean }) {
    this.root = root;
    this.path = where.path;
    this.durability = where.durability;
    this.ownsRoot = where.ownsRoot;
    this.log = openBinaryDb(root, where.prefix + LOG_STORE_NAME);
    this.conf = openBinaryDb(root, where.prefix + CONF_STORE_NAME);
    this.kvCopies = { a: openBinaryDb(root, `${where.prefix}kv-a`), b: openBinaryDb(root, `${where.prefix}kv-b`) };
    this.meta = root.openDB<Buffer, string>(where.prefix + META_STORE_NAME, {
      encoding: 'binary',
      keyEncoding: 'ordered-binary',
      compression: false,
      cache: false,
    });
  }

  /** A replica in an environment of its own at `options.path`. */
  static open(options: ReplicaEnvOptions): ReplicaEnv {
    const durability = options.durability ?? DURABILITY_DEFAULT;
    const root = openEnvironment(options, REPLICA_ENV_MAX_DBS);
    return new ReplicaEnv(root, { path: options.path, prefix: '', durability, ownsRoot: true });
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

  /**
   * The hot-path write: `queue` runs now, on this thread, and may only queue writes (`put`/`remove`, never
   * the `*Sync` forms, and no reads of what it queues). lmdb-js's writer thread then commits them as one
   * batch, atomically, with the other batches queued in this event turn (write() callbacks of the same
   * turn may commit in a transaction of their own, after it), without calling back into JavaScript
   * halfway; resolves like write().
   *
   * Why not write(): its callback must run on this thread while the writer thread holds the transaction
   * open, so every commit waited for the event loop to come round. Under load that wait was longer than
   * the commit (docs/benchmarks.md). Checks that depend on earlier writes must therefore be made by the
   * caller against its own record of what it queued, before it queues.
   */
  async writeBatch<T>(queue: () => T, options: { flush?: boolean } = {}): Promise<T> {
    if (this.failure !== undefined) throw new StorageFailedError({ cause: this.failure });
    try {
      let result!: T;
      await this.root.batch(() => {
        result = queue();
      });
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

  /**
   * Waits for queued writes, then closes the environment, if it is this replica's own. In a shared node
   * env the replica's writes were all awaited by their callers, and the env stays open for the others.
   */
  async close(): Promise<void> {
    if (this.ownsRoot) await this.root.close();
  }
}

/**
 * Opens an LMDB environment with cairn's settings; `maxDbs` is fixed for as long as it is open.
 * Every option that matters for safety or layout is spelled out rather than left to defaults.
 */
export function openEnvironment(options: EnvOptions, maxDbs: number): RootDatabase<Buffer, string> {
  const durability = options.durability ?? DURABILITY_DEFAULT;
  return open<Buffer, string>(options.path, {
    maxDbs,
    mapSize: options.mapBytes ?? MAP_BYTES_DEFAULT,
    compression: false,
    encoding: 'binary',
    overlappingSync: durability === 'overlappingFlush',
    noSync: false,
    noMetaSync: false,
    useWritemap: false,
    // lmdb-js runs every write queued in one event-loop turn as one LMDB transaction: one commit and
    // one fsync for all the replicas of a node that share the environment.
    eventTurnBatching: true,
    commitDelay: 0,
    cache: false,
  });
}

function openBinaryDb(root: RootDatabase<Buffer, string>, name: string): BinaryDb {
  return root.openDB<Buffer, Buffer>(name, {
    encoding: 'binary',
    keyEncoding: 'binary',
    compression: false,
    cache: false,
  });
}
