// What a replica actor is told (ReplicaOptions, from its supervisor's plan) and what it borrows from the
// host thread it runs on (ReplicaContext).

import type { NatsConnection } from 'nats';
import type { RaftMux } from '../../bus/raftMux';
import type { RoutedReplies } from '../../bus/routedReplies';
import type { NodeEnv } from '../../storage/nodeEnv';

export interface ReplicaOptions {
  partition: number;
  replica: number;
  nodeId: string;
  /**
   * Where an older cairn node kept this replica in an LMDB environment of its own (`<data>/<node>/p<partition>`);
   * used if it holds one, else the replica lives in the node env (ReplicaContext.store).
   */
  path: string;
  prefix: string;
  /**
   * Partitions of the cluster's first layout (0..partitions-1): the key ring until resharding changes it
   * (storage/shardState.ts). A replica refuses keys the ring gives to another partition.
   */
  partitions: number;
  /** Initial voters of the partition (used only when the directory is new). */
  voters: number[];
  /** Node hosting each replica id, for status. */
  nodeOfReplica: Record<string, string>;
  /** The replica that should lead a brand-new partition (leaders balanced over nodes); default the lowest voter id. */
  preferredLeader?: number;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Read lease length (readLease.ts); 0 serves every linearizable read by ReadIndex. Default from the tick settings. */
  readLeaseMs?: number;
  /** Compact the log once it holds this many applied entries... */
  compactEntries?: number;
  /** ...keeping this many behind the applied index for slow followers. */
  compactKeep?: number;
}

/** What a replica borrows from its host thread. */
export interface ReplicaContext {
  nc: NatsConnection;
  mux: RaftMux;
  /** The node's LMDB environment, shared by its replicas so their writes commit together. */
  store: NodeEnv;
  /** Answers requests a router forwarded straight to their client (bus/routedReplies.ts). */
  replies: RoutedReplies;
}
