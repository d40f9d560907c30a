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
  /** Leader only: the group's membership as this leader has it (the controller compares it with its own). */
  members?: { voters: number[]; learners: number[] };
  /** Leader only: no membership change is waiting to commit. */
  confCommitted?: boolean;
  /** Linearizable gets this replica served as leader since it started: under its read lease, or after a ReadIndex round. */
  readsServed?: { lease: number; readIndex: number };
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

/** What the active controller reports (actors/controller/controllerRequests.ts). */
export interface ControllerSummary {
  /** The node whose controller is active. */
  node: string;
  /** Metadata epoch: bumps on every recorded change. */
  epoch: number;
  nodes: { id: string; weight: number; state: string; health: string; replicas: number; leaders: number }[];
  /** Partitions with a membership change under way. */
  changing: number;
  /** Nothing planned and every partition matches the metadata. */
  balanced: boolean;
  blocked: readonly { partitionId: number; code: string; message: string }[];
  /** The key ring: the partitions that serve keys, and its epoch (docs/resharding.md). */
  ring?: { epoch: number; partitions: readonly number[] };
  /** The partition creation or deletion in progress. */
  reshard?: { kind: 'create' | 'delete'; partitionId: number; phase: string } | null;
}

export interface ClusterStatus {
  nodes: NodeStatus[];
  /** The key space's partitions. */
  partitions: PartitionStatus[];
  /** The controller's own Raft group (the metadata partition); null if none of its replicas answered. */
  metadata?: PartitionStatus | null;
  /** The active controller's view; null while no controller answers (e.g. during its election). */
  controller?: ControllerSummary | null;
  /** Replicas that did not answer within the status deadline. */
  missing: string[];
}
