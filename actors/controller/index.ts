// The controller core's public surface: what the wiring (NATS, supervisor, metadata Raft group) calls.
export { ControllerError, ControllerErrorCode, Refusal, Result } from './result';
export { FAILURE_DETECTOR_DEFAULTS, FailureDetector, FailureDetectorConfig, HealthTransition, NodeHealth, healthForSilence, validateFailureDetectorConfig } from './nodeHealth';
export { AdminState, ClusterCommand, ClusterCommandType, ReplicaRole, decodeCommand, encodeCommand, validateCommand } from './commands';
export {
  ApplyResult,
  ClusterState,
  EMPTY_CLUSTER_STATE,
  NodeRecord,
  PartitionRecord,
  ReplicaRecord,
  applyCommand,
  changeInFlight,
  checkInvariants,
} from './clusterState';
export { decodeClusterState, encodeClusterState } from './stateCodec';
export { partitionRingKey } from './partitionView';
export { LeaderTransfer } from './leaderBalance';
export { BlockedPartition, MembershipStep, PLANNER_DEFAULTS, Plan, PlannedAction, PlannerConfig, PlannerInput, isDrained, planActions, planCreatePartition, planMove } from './planner';
export { RoutingPartition, RoutingReplica, RoutingTable, RoutingVersion, buildRoutingTable, compareRoutingVersions, decodeRoutingTable, encodeRoutingTable } from './routingTable';
export { WAIT_QUEUE_DEFAULTS, WaitQueueSpec, WaitingRequest, admitToWaitQueue, expireWaiting, findPartition, isStale, pickReadReplica, shouldAcceptTable } from './routingCache';
