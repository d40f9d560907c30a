// Everything one partition replica keeps on disk, wired together over one LMDB environment:
// the Raft log + hard state (LogStore, the core's RaftStorage), the key-value state machine, and
// snapshot streaming in both directions.

import { assert } from '../actors/raft/assert';
import { ConfState } from '../actors/raft/types';
import { KvStateMachine } from './kvStateMachine';
import { EntryCache } from './entryCache';
import { LogStore } from './logStore';
import {
  isBootstrapped,
  readActiveCopy,
  readFormat,
  resetConfHistory,
  writeActiveCopy,
  writeApplied,
  writeFormat,
  writeHardState,
  writeSnapshotMeta,
} from './metaAccess';
import { ENV_FORMAT_VERSION, copyConfState } from './metaRecords';
import { NodeEnv } from './nodeEnv';
import { ReplicaEnv, ReplicaEnvOptions, hasEnvironment } from './replicaEnv';
import { SnapshotFrame } from './snapshotFrame';
import { SnapshotReceiver, SnapshotSendOptions, streamSnapshot } from './snapshotStream';
import type { Ownership } from './shardState';

/** Where a replica's dbs live: an environment of its own at `path`, or partition `partition`'s dbs in a node env. */
export type ReplicaPlace = ReplicaEnvOptions | { node: NodeEnv; partition: number };

export type ReplicaStoreOptions = ReplicaPlace & ReplicaStoreSettings;

/** A replica that an older cairn node created in an environment of its own at `ownDir` stays there; the rest live in `node`. */
export function replicaPlace(node: NodeEnv, partition: number, ownDir: string): ReplicaPlace {
  return hasEnvironment(ownDir) ? { path: ownDir } : { node, partition };
}

export interface ReplicaStoreSettings {
  /**
   * Membership of a brand-new replica (the initial voters of the partition, or an empty voter list is
   * refused). Ignored when the directory already holds a replica: its stored membership wins.
   */
  bootstrapConfState: ConfState;
  /** Newest log entries kept in memory for reads (storage/entryCache.ts); 0 reads every entry from LMDB. */
  entryCacheEntries?: number;
  /** Whose keys the state machine holds (storage/shardState.ts); absent: every key. */
  ownership?: Ownership;
}

export class ReplicaStore {
  /** The core's RaftStorage plus durable persist/compact. */
  readonly log: LogStore;
  readonly stateMachine: KvStateMachine;
  private readonly env: ReplicaEnv;

  private constructor(env: ReplicaEnv, entryCacheEntries?: number, ownership?: Ownership) {
    this.env = env;
    assert(readFormat(env) === ENV_FORMAT_VERSION, `unknown storage format ${readFormat(env)} at ${env.path}`);
    this.log = new LogStore(env, new EntryCache(entryCacheEntries));
    this.stateMachine = new KvStateMachine(env, ownership);
  }

  /** Opens (creating and bootstrapping if needed) the replica at options.path or in options.node. */
  static async open(options: ReplicaStoreOptions): Promise<ReplicaStore> {
    assertBootstrapConfState(options.bootstrapConfState);
    const env = 'node' in options ? options.node.replica(options.partition) : ReplicaEnv.open(options);
    try {
      if (!isBootstrapped(env)) await bootstrap(env, options.bootstrapConfState);
      await clearInactiveCopy(env);
      return new ReplicaStore(env, options.entryCacheEntries, options.ownership);
    } catch (error) {
      await env.close();
      throw error;
    }
  }

  /** The state machine as of its applied index, as InstallSnapshot frames. */
  streamSnapshot(options?: SnapshotSendOptions): AsyncGenerator<SnapshotFrame> {
    return streamSnapshot(this.env, options);
  }

  /** A receiver for one incoming transfer; at most one at a time per replica. */
  receiveSnapshot(): SnapshotReceiver {
    return new SnapshotReceiver(this.env, this.log, this.stateMachine);
  }

  /** Waits for queued writes to be durable, then closes the environment if it is the replica's own. */
  async close(): Promise<void> {
    await this.env.close();
  }

  /** @internal tests and tools: the raw environment. */
  get environment(): ReplicaEnv {
    return this.env;
  }
}

/** Writes the empty replica in one transaction, so a crash mid-bootstrap leaves nothing half-made. */
async function bootstrap(env: ReplicaEnv, confState: ConfState): Promise<void> {
  await env.write(() => {
    if (isBootstrapped(env)) return;
    writeHardState(env, { term: 0, vote: 0, commit: 0 });
    writeSnapshotMeta(env, { index: 0, term: 0, confState: copyConfState(confState) });
    writeApplied(env, 0);
    writeActiveCopy(env, 'a');
    resetConfHistory(env, 0, confState);
    writeFormat(env, ENV_FORMAT_VERSION); // last: its presence means "bootstrapped"
  });
}

/** The inactive state-machine copy holds data only after a crash mid-transfer or mid-install: drop it. */
async function clearInactiveCopy(env: ReplicaEnv): Promise<void> {
  const inactive = env.kv(readActiveCopy(env) === 'a' ? 'b' : 'a');
  for (const _key of inactive.getKeys({ limit: 1 })) {
    await env.write(() => inactive.clearSync());
    return;
  }
}

function assertBootstrapConfState(confState: ConfState): void {
  assert(confState.voters.length > 0, 'bootstrap membership needs at least one voter');
  const ids = [...confState.voters, ...confState.learners];
  assert(ids.every((id) => Number.isSafeInteger(id) && id > 0), `replica ids must be positive integers: ${ids}`);
  assert(new Set(ids).size === ids.length, `a replica is listed twice in ${JSON.stringify(confState)}`);
}
