// The shape of `cairn.cluster.status` replies and `GET /cluster/status` (JSON).

export interface ReplicaStatus {
  partition: number;
  replica: number;
  node: string;
  role: 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'stopped';
  term: number;
  leader: number;
  commit: number;
  applied: number;
  lastIndex: number;
  /** First index still in the log (everything before it is compacted into the state machine). */
  firstIndex: number;
  /** Snapshots this replica installed from a leader since it started. */
  snapshotsInstalled: number;
  /** Leader only: entries each follower is behind the leader's last index. */
  followerLag?: Record<string, number>;
}

export interface NodeStatus {
  id: string;
  pid: number;
  httpPort?: number;
  uptimeMs: number;
  replicas: number;
  /** Worker restarts since the supervisor started. */
  restarts: number;
  /** Actors that stopped for good (e.g. a corrupt log) and the error that stopped them. */
  failed: { actor: string; error: string }[];
  /** Replicas stopped by an operator (`cairn partitions stop`). */
  stopped?: string[];
  /** The node hands every leadership away (`cairn nodes drain`). */
  drained?: boolean;
  /** Placement weight (`--weight`). */
  weight?: number;
  /** The cluster's shape as this node was started with it; a joining node reads it from here. */
  config?: { initialCluster: string[]; partitions: number; replicas: number };
}

export interface PartitionStatus {
  id: number;
  leader: { replica: number; node: string; term: number } | null;
  replicas: ReplicaStatus[];
}

export interface ClusterStatus {
  nodes: NodeStatus[];
  partitions: PartitionStatus[];
  /** Replicas that did not answer within the status deadline. */
  missing: string[];
}
