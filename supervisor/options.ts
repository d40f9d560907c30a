// What one supervisor process (one machine of the cluster) is told to do.

export interface SupervisorOptions {
  /** This machine's name in the cluster, e.g. "n1". */
  nodeId: string;
  /** NATS server URL(s), comma separated. */
  natsUrl: string;
  /** Root data directory; this node keeps its replicas under <dataDir>/<nodeId>/. */
  dataDir: string;
  /** Every node of a new cluster, like etcd's --initial-cluster ("n1,n2,n3"). */
  initialCluster: string[];
  /** Number of partitions of the key space. */
  partitions: number;
  /** Replicas per partition. */
  replicas: number;
  /** Subject prefix (default "cairn"). */
  prefix: string;
  /** Port of the HTTP gateway, dashboard and /metrics; undefined for none. */
  httpPort?: number;
  /** Host the HTTP gateway binds to (default 127.0.0.1). */
  httpHost?: string;
  /** Milliseconds per Raft tick (election timeout = electionTicks ticks, randomized up to twice that). */
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Compact a replica's log once it holds this many applied entries (default 20,000)... */
  compactEntries?: number;
  /** ...keeping this many entries behind the applied index for slow followers (default 5,000). */
  compactKeep?: number;
  /** Serve linearizable gets under the leader's read lease (default true; actors/replica/readLease.ts). */
  readLease?: boolean;
  /** Let `<prefix>.ctl.fault` commands drop, delay or cut Raft traffic (tests and drills only; default off). */
  faultInjection?: boolean;
  /**
   * Join a running cluster: initialCluster, partitions and replicas are read from a running node, and a
   * node new to the cluster starts with no replicas (the controller moves its share here).
   */
  join?: boolean;
  /** This node's share of replicas relative to the others' (placement weight, 1..100); default 1. */
  weight?: number;
  /** The controller declares a node down after this long without a heartbeat (default 10,000 ms). */
  nodeDownAfterMs?: number;
}

export const SUPERVISOR_DEFAULTS = {
  prefix: 'cairn',
  partitions: 8,
  replicas: 3,
  // Election timeout 200-400 ms (randomized over [8, 16) ticks), heartbeats every 50 ms: the Raft paper's
  // LAN range, at half the idle CPU of 15 ms ticks (24 replicas share 2 cores in the default layout).
  tickMs: 25,
  electionTicks: 8,
  heartbeatTicks: 2,
  compactEntries: 20_000,
  compactKeep: 5_000,
} as const;
