// The node's shared LMDB environment, `<data>/<node>/store/`: every replica the node hosts keeps its
// named dbs here as `p<partition>/<db>`.
//
// Why one environment, not one per replica: a Raft round costs every replica of a partition one durable
// write, and with an environment each, the replicas of a node committed and fsynced separately, each
// commit a hand-off to the libuv pool and back. lmdb-js runs all writes queued in one event-loop turn as
// one transaction, so in a shared environment the replicas of a node (all on one thread) pay one commit
// and one fsync per turn. Measured through the routers at C=64, 8 partitions: writes 1.3x (docs/benchmarks.md).
// What is lost: replicas no longer write in parallel (LMDB has one writer per environment), which on
// this machine bought nothing, and a replica's data is no longer a file of its own (backups copy the
// store whole; ops/backup.ts).

import { RootDatabase } from 'lmdb';
import { DURABILITY_DEFAULT, DurabilityMode, EnvOptions, REPLICA_DB_NAMES, ReplicaEnv, openEnvironment } from './replicaEnv';

/** Directory of the node env under `<data>/<node>/`. */
export const NODE_STORE_DIR = 'store';
/** Replicas one node can host (as many as a cluster can have partitions); LMDB fixes the db count at open. */
export const NODE_REPLICAS_MAX = 4096;
export const NODE_ENV_MAX_DBS = NODE_REPLICAS_MAX * REPLICA_DB_NAMES.length + 16;

/** The db name prefix of a partition's replica in a node env. */
export function replicaDbPrefix(partition: number): string {
  return `p${partition}/`;
}

/** Partitions with a replica in a node env (the ones with a meta db), sorted; also for read-only copies. */
export function partitionsIn(root: RootDatabase<Buffer, string>): number[] {
  const found: number[] = [];
  for (const name of root.getKeys()) {
    const match = /^p(\d+)\/meta$/.exec(String(name));
    if (match) found.push(Number(match[1]));
  }
  return found.sort((a, b) => a - b);
}

export class NodeEnv {
  readonly path: string;
  readonly durability: DurabilityMode;
  private readonly root: RootDatabase<Buffer, string>;

  private constructor(options: EnvOptions) {
    this.path = options.path;
    this.durability = options.durability ?? DURABILITY_DEFAULT;
    this.root = openEnvironment(options, NODE_ENV_MAX_DBS);
  }

  static open(options: EnvOptions): NodeEnv {
    return new NodeEnv(options);
  }

  /** The dbs of partition `partition`'s replica (created empty if missing). */
  replica(partition: number): ReplicaEnv {
    return new ReplicaEnv(this.root, {
      path: `${this.path}#p${partition}`,
      prefix: replicaDbPrefix(partition),
      durability: this.durability,
      ownsRoot: false,
    });
  }

  /** Partitions with a replica in this env. */
  partitions(): number[] {
    return partitionsIn(this.root);
  }

  /**
   * Deletes every db of partition `partition`'s replica in one durable transaction. The replica must be
   * closed, with no write of its own still queued.
   */
  async dropReplica(partition: number): Promise<void> {
    const dbs = REPLICA_DB_NAMES.map((name) => this.root.openDB<Buffer, Buffer>(replicaDbPrefix(partition) + name, { encoding: 'binary', keyEncoding: 'binary', cache: false }));
    await this.root.transaction(() => {
      for (const db of dbs) db.dropSync();
    });
    if (this.durability === 'overlappingFlush') await this.root.flushed;
  }

  /** LMDB's id of the last committed write transaction: how many commits the node has made. */
  lastTransactionId(): number {
    return (this.root.getStats() as { lastTxnId: number }).lastTxnId;
  }

  /** Waits for queued writes, then closes the environment. */
  async close(): Promise<void> {
    await this.root.close();
  }
}
