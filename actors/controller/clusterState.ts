// The replicated metadata: the state machine of the metadata Raft group. `applyCommand` is a pure
// function of (state, command): every controller replica applies the same log and reaches the same state.
//
// Invariants (checked by `checkInvariants`, which the codec runs on decode and tests run after every step):
//  - a partition's replicas sit on distinct nodes, have distinct ids, all below its nextReplicaId;
//  - at least one voter per partition; at most one membership change per partition in progress, i.e. at
//    most one learner, and a learner or a voter carrying `replaces`, not both, and never two of either;
//  - the recorded leader, when set, is a voter;
//  - replicas sit on registered nodes (possibly removed: such replicas are lost and await repair).
// The epoch increases by exactly one on every command that changes the state, and never otherwise.

import {
  AddReplica,
  AdminState,
  AdvanceReshard,
  BeginReshard,
  ClusterCommand,
  CreatePartition,
  RecordLeader,
  RegisterNode,
  ReplicaRole,
  validateCommand,
} from './commands';
import { Result, refuse } from './result';
import { ReshardRecord, checkAdvance, checkBegin } from './reshard';

export interface NodeRecord {
  readonly id: string;
  readonly address: string;
  readonly weight: number;
  readonly capacityReplicas: number;
  readonly state: AdminState;
}

export interface ReplicaRecord {
  readonly node: string;
  readonly replicaId: number;
  readonly role: ReplicaRole;
  /** Set while this replica is taking over from that voter: a move or repair in progress. */
  readonly replaces?: number;
  /** Placed by an operator's move: rebalancing leaves it where it is. */
  readonly pinned?: true;
}

export interface PartitionRecord {
  readonly id: number;
  readonly replicaCount: number;
  /** Sorted by replica id. */
  readonly replicas: readonly ReplicaRecord[];
  /** The replica-id allocator: ids below it were used once and are never handed out again. */
  readonly nextReplicaId: number;
  /** Replica id of the leader last reported, or null. */
  readonly leader: number | null;
  /** Raft term of that report; older reports are refused. */
  readonly leaderTerm: number;
}

export interface ClusterState {
  readonly epoch: number;
  readonly nodes: ReadonlyMap<string, NodeRecord>;
  readonly partitions: ReadonlyMap<number, PartitionRecord>;
  /** Deleted partition ids, never reused. */
  readonly retiredPartitionIds: ReadonlySet<number>;
  /** Bumps each time the key ring changes (reshard.ts): 0 is the first layout's. */
  readonly ringEpoch: number;
  /** The partition creation or deletion in progress, if any. */
  readonly reshard: ReshardRecord | null;
}

export type ApplyResult = Result<{
  state: ClusterState;
  /** False for a command that was valid but changed nothing (same drain state, same leader): no epoch bump. */
  changed: boolean;
  /** The replica id allocated by addReplica. */
  replicaId?: number;
}>;

export const EMPTY_CLUSTER_STATE: ClusterState = Object.freeze({
  epoch: 0,
  nodes: new Map(),
  partitions: new Map(),
  retiredPartitionIds: new Set<number>(),
  ringEpoch: 0,
  reshard: null,
});

// ---------------------------------------------------------------- queries

/** Replicas a node holds, over all partitions. */
export function replicaCountOnNode(state: ClusterState, nodeId: string): number {
  let count = 0;
  for (const partition of state.partitions.values()) count += partition.replicas.filter((replica) => replica.node === nodeId).length;
  return count;
}

export function votersOf(partition: PartitionRecord): ReplicaRecord[] {
  return partition.replicas.filter((replica) => replica.role === 'voter');
}

/** True while a learner exists or a promoted replica still has a voter to replace. */
export function changeInFlight(partition: PartitionRecord): boolean {
  return partition.replicas.some((replica) => replica.role === 'learner' || replica.replaces !== undefined);
}

export function sortedPartitions(state: ClusterState): PartitionRecord[] {
  return [...state.partitions.values()].sort((left, right) => left.id - right.id);
}

export function sortedNodes(state: ClusterState): NodeRecord[] {
  return [...state.nodes.values()].sort((left, right) => (left.id < right.id ? -1 : left.id > right.id ? 1 : 0));
}

// ---------------------------------------------------------------- building new states

function withNode(state: ClusterState, node: NodeRecord): ClusterState {
  const nodes = new Map(state.nodes);
  nodes.set(node.id, Object.freeze(node));
  return Object.freeze({ ...state, epoch: state.epoch + 1, nodes });
}

function withPartition(state: ClusterState, partition: PartitionRecord): ClusterState {
  const partitions = new Map(state.partitions);
  const replicas = Object.freeze([...partition.replicas].sort((left, right) => left.replicaId - right.replicaId).map((r) => Object.freeze(r)));
  partitions.set(partition.id, Object.freeze({ ...partition, replicas }));
  return Object.freeze({ ...state, epoch: state.epoch + 1, partitions });
}

function changed(state: ClusterState, replicaId?: number): ApplyResult {
  return replicaId === undefined ? { ok: true, state, changed: true } : { ok: true, state, changed: true, replicaId };
}

function unchanged(state: ClusterState): ApplyResult {
  return { ok: true, state, changed: false };
}

// ---------------------------------------------------------------- lookups with refusals

function findNode(state: ClusterState, nodeId: string): Result<{ node: NodeRecord }> {
  const node = state.nodes.get(nodeId);
  if (node === undefined) return refuse('NODE_UNKNOWN', `no node ${JSON.stringify(nodeId)}`);
  if (node.state === 'removed') return refuse('NODE_REMOVED', `node ${JSON.stringify(nodeId)} was removed`);
  return { ok: true, node };
}

function findPartition(state: ClusterState, partitionId: number): Result<{ partition: PartitionRecord }> {
  const partition = state.partitions.get(partitionId);
  if (partition === undefined) return refuse('PARTITION_UNKNOWN', `no partition ${partitionId}`);
  return { ok: true, partition };
}

function findReplica(partition: PartitionRecord, replicaId: number): Result<{ replica: ReplicaRecord }> {
  const replica = partition.replicas.find((candidate) => candidate.replicaId === replicaId);
  if (replica === undefined) return refuse('REPLICA_UNKNOWN', `partition ${partition.id} has no replica ${replicaId}`);
  return { ok: true, replica };
}

/** A node that may take a new replica: registered, active, below capacity. */
function checkTargetNode(state: ClusterState, nodeId: string): Result<{ node: NodeRecord }> {
  const found = findNode(state, nodeId);
  if (!found.ok) return found;
  if (found.node.state !== 'active') return refuse('NODE_NOT_ACTIVE', `node ${JSON.stringify(nodeId)} is ${found.node.state}`);
  if (replicaCountOnNode(state, nodeId) >= found.node.capacityReplicas) {
    return refuse('NODE_FULL', `node ${JSON.stringify(nodeId)} holds its capacity of ${found.node.capacityReplicas} replicas`);
  }
  return found;
}

// ---------------------------------------------------------------- node commands

function registerNode(state: ClusterState, command: RegisterNode): ApplyResult {
  const existing = state.nodes.get(command.nodeId);
  if (existing?.state === 'removed') return refuse('NODE_REMOVED', `node id ${JSON.stringify(command.nodeId)} was removed and cannot be reused`);
  if (existing !== undefined) return refuse('NODE_EXISTS', `node ${JSON.stringify(command.nodeId)} is already registered`);
  const { nodeId: id, address, weight, capacityReplicas } = command;
  return changed(withNode(state, { id, address, weight, capacityReplicas, state: 'active' }));
}

function setNodeState(state: ClusterState, nodeId: string, adminState: 'active' | 'draining'): ApplyResult {
  const found = findNode(state, nodeId);
  if (!found.ok) return found;
  if (found.node.state === adminState) return unchanged(state);
  return changed(withNode(state, { ...found.node, state: adminState }));
}

function removeNode(state: ClusterState, nodeId: string): ApplyResult {
  const found = findNode(state, nodeId);
  if (!found.ok) return found;
  // The record stays as a tombstone: its replicas (if any) are lost and the planner repairs them.
  return changed(withNode(state, { ...found.node, state: 'removed' }));
}

// ---------------------------------------------------------------- partition commands

function createPartition(state: ClusterState, command: CreatePartition): ApplyResult {
  const { partitionId, replicaCount, nodeIds } = command;
  if (state.partitions.has(partitionId)) return refuse('PARTITION_EXISTS', `partition ${partitionId} exists`);
  if (state.retiredPartitionIds.has(partitionId)) return refuse('PARTITION_RETIRED', `partition id ${partitionId} was deleted and cannot be reused`);
  if (new Set(nodeIds).size !== nodeIds.length) return refuse('SAME_NODE', `partition ${partitionId}: a node appears twice in ${nodeIds.join(',')}`);
  if (nodeIds.length < replicaCount) return refuse('NOT_ENOUGH_NODES', `partition ${partitionId} needs ${replicaCount} nodes, got ${nodeIds.length}`);
  if (nodeIds.length > replicaCount) return refuse('INVALID_COMMAND', `partition ${partitionId}: ${nodeIds.length} nodes for ${replicaCount} replicas`);
  for (const nodeId of nodeIds) {
    const target = checkTargetNode(state, nodeId);
    if (!target.ok) return target;
  }
  const replicas = nodeIds.map((node, index): ReplicaRecord => ({ node, replicaId: index + 1, role: 'voter' }));
  return changed(withPartition(state, { id: partitionId, replicaCount, replicas, nextReplicaId: replicas.length + 1, leader: null, leaderTerm: 0 }));
}

function deletePartition(state: ClusterState, partitionId: number): ApplyResult {
  const found = findPartition(state, partitionId);
  if (!found.ok) return found;
  const partitions = new Map(state.partitions);
  partitions.delete(partitionId);
  const retiredPartitionIds = new Set(state.retiredPartitionIds).add(partitionId);
  return changed(Object.freeze({ ...state, epoch: state.epoch + 1, partitions, retiredPartitionIds }));
}

function beginReshard(state: ClusterState, command: BeginReshard): ApplyResult {
  const check = checkBegin(state, command);
  if (!check.ok) return refuse(check.code, check.message);
  let next = state;
  if (command.kind === 'create') {
    const created = createPartition(state, { type: 'createPartition', partitionId: command.partitionId, replicaCount: command.replicaCount ?? 0, nodeIds: command.nodeIds ?? [] });
    if (!created.ok) return created;
    next = created.state;
  }
  const reshard: ReshardRecord = Object.freeze({ kind: command.kind, partitionId: command.partitionId, phase: 'fence' });
  return changed(Object.freeze({ ...next, epoch: state.epoch + 1, reshard }));
}

function advanceReshard(state: ClusterState, command: AdvanceReshard): ApplyResult {
  const check = checkAdvance(state, command);
  if (!check.ok) return refuse(check.code, check.message);
  const reshard = state.reshard!;
  if (command.phase === 'done') return changed(Object.freeze({ ...state, epoch: state.epoch + 1, reshard: null }));
  if (command.phase !== 'purge') return changed(Object.freeze({ ...state, epoch: state.epoch + 1, reshard: { ...reshard, phase: command.phase } }));
  // The switch: the next ring becomes the ring; a deleted partition leaves the metadata.
  const switched = { ...state, ringEpoch: state.ringEpoch + 1, reshard: { ...reshard, phase: 'purge' as const } };
  if (reshard.kind === 'create') return changed(Object.freeze({ ...switched, epoch: state.epoch + 1 }));
  const deleted = deletePartition(switched, reshard.partitionId);
  return deleted.ok ? changed(Object.freeze({ ...deleted.state, epoch: state.epoch + 1 })) : deleted;
}

function addReplica(state: ClusterState, command: AddReplica): ApplyResult {
  const found = findPartition(state, command.partitionId);
  if (!found.ok) return found;
  const partition = found.partition;
  if (changeInFlight(partition)) return refuse('CHANGE_IN_FLIGHT', `partition ${partition.id} already has a membership change in progress`);
  if (partition.replicas.some((replica) => replica.node === command.nodeId)) {
    return refuse('SAME_NODE', `node ${JSON.stringify(command.nodeId)} already holds a replica of partition ${partition.id}`);
  }
  if (command.replaces !== undefined) {
    const replaced = findReplica(partition, command.replaces);
    if (!replaced.ok) return replaced;
    if (replaced.replica.role !== 'voter') return refuse('NOT_VOTER', `replica ${command.replaces} of partition ${partition.id} is not a voter`);
  }
  const target = checkTargetNode(state, command.nodeId);
  if (!target.ok) return target;
  if (partition.nextReplicaId > 2 ** 32 - 1) return refuse('INVALID_COMMAND', `partition ${partition.id} ran out of replica ids`);
  const replicaId = partition.nextReplicaId;
  const learner: ReplicaRecord = {
    node: command.nodeId, replicaId, role: 'learner', ...(command.replaces !== undefined ? { replaces: command.replaces } : {}), ...(command.pinned ? { pinned: true as const } : {}),
  };
  return changed(withPartition(state, { ...partition, replicas: [...partition.replicas, learner], nextReplicaId: replicaId + 1 }), replicaId);
}

function promoteReplica(state: ClusterState, partitionId: number, replicaId: number): ApplyResult {
  const found = findPartition(state, partitionId);
  if (!found.ok) return found;
  const replica = findReplica(found.partition, replicaId);
  if (!replica.ok) return replica;
  if (replica.replica.role !== 'learner') return refuse('NOT_LEARNER', `replica ${replicaId} of partition ${partitionId} is not a learner`);
  const replicas = found.partition.replicas.map((r) => (r.replicaId === replicaId ? { ...r, role: 'voter' as const } : r));
  return changed(withPartition(state, { ...found.partition, replicas }));
}

function removeReplica(state: ClusterState, partitionId: number, replicaId: number): ApplyResult {
  const found = findPartition(state, partitionId);
  if (!found.ok) return found;
  const partition = found.partition;
  const replica = findReplica(partition, replicaId);
  if (!replica.ok) return replica;
  if (replica.replica.role === 'voter' && votersOf(partition).length === 1) {
    return refuse('LAST_VOTER', `replica ${replicaId} is the last voter of partition ${partitionId}`);
  }
  // Removing the replaced voter completes a move: its successor stops carrying `replaces`.
  const replicas = partition.replicas
    .filter((r) => r.replicaId !== replicaId)
    .map((r) => (r.replaces === replicaId ? { node: r.node, replicaId: r.replicaId, role: r.role, ...(r.pinned ? { pinned: true as const } : {}) } : r));
  const leader = partition.leader === replicaId ? null : partition.leader;
  return changed(withPartition(state, { ...partition, replicas, leader }));
}

function recordLeader(state: ClusterState, command: RecordLeader): ApplyResult {
  const found = findPartition(state, command.partitionId);
  if (!found.ok) return found;
  const partition = found.partition;
  const { replicaId, term } = command;
  if (term < partition.leaderTerm) return refuse('STALE_TERM', `term ${term} is older than the recorded ${partition.leaderTerm}`);
  if (term === partition.leaderTerm && replicaId !== null && partition.leader !== null && partition.leader !== replicaId) {
    return refuse('STALE_TERM', `term ${term} already has leader ${partition.leader}; Raft allows one per term`);
  }
  if (replicaId !== null) {
    const replica = findReplica(partition, replicaId);
    if (!replica.ok) return replica;
    if (replica.replica.role !== 'voter') return refuse('NOT_VOTER', `replica ${replicaId} is a learner and cannot lead`);
  }
  if (partition.leader === replicaId && partition.leaderTerm === term) return unchanged(state);
  return changed(withPartition(state, { ...partition, leader: replicaId, leaderTerm: term }));
}

// ---------------------------------------------------------------- the funnel

/**
 * Apply one command. Validates every field first (commands come from a log that may hold anything),
 * then either returns the whole new state or a refusal with the old state untouched.
 */
export function applyCommand(state: ClusterState, input: ClusterCommand): ApplyResult {
  const validated = validateCommand(input);
  if (!validated.ok) return validated;
  const command = validated.command;
  switch (command.type) {
    case 'registerNode':
      return registerNode(state, command);
    case 'setNodeState':
      return setNodeState(state, command.nodeId, command.state);
    case 'removeNode':
      return removeNode(state, command.nodeId);
    case 'createPartition':
      return createPartition(state, command);
    case 'deletePartition':
      return deletePartition(state, command.partitionId);
    case 'addReplica':
      return addReplica(state, command);
    case 'promoteReplica':
      return promoteReplica(state, command.partitionId, command.replicaId);
    case 'removeReplica':
      return removeReplica(state, command.partitionId, command.replicaId);
    case 'recordLeader':
      return recordLeader(state, command);
    case 'beginReshard':
      return beginReshard(state, command);
    case 'advanceReshard':
      return advanceReshard(state, command);
  }
}

// ---------------------------------------------------------------- invariants

function partitionProblem(state: ClusterState, partition: PartitionRecord): string | undefined {
  const { id, replicas } = partition;
  if (new Set(replicas.map((r) => r.node)).size !== replicas.length) return `partition ${id}: two replicas on one node`;
  if (new Set(replicas.map((r) => r.replicaId)).size !== replicas.length) return `partition ${id}: duplicate replica id`;
  if (replicas.some((r) => r.replicaId >= partition.nextReplicaId)) return `partition ${id}: replica id not below nextReplicaId`;
  if (replicas.some((r) => !state.nodes.has(r.node))) return `partition ${id}: replica on an unregistered node`;
  if (votersOf(partition).length === 0) return `partition ${id}: no voter`;
  const learners = replicas.filter((r) => r.role === 'learner').length;
  const replacing = replicas.filter((r) => r.replaces !== undefined);
  if (learners > 1 || replacing.length > 1) return `partition ${id}: more than one membership change in progress`;
  if (replacing.some((r) => r.role === 'voter') && learners > 0) return `partition ${id}: a learner while a replacement is unfinished`;
  for (const r of replacing) {
    const replaced = replicas.find((other) => other.replicaId === r.replaces);
    if (replaced === undefined || replaced.role !== 'voter' || replaced === r) return `partition ${id}: replaces a non-voter`;
  }
  if (partition.leader !== null && !replicas.some((r) => r.replicaId === partition.leader && r.role === 'voter')) {
    return `partition ${id}: leader ${partition.leader} is not a voter`;
  }
  return undefined;
}

/** The first broken invariant, or undefined. */
export function checkInvariants(state: ClusterState): string | undefined {
  if (!Number.isSafeInteger(state.epoch) || state.epoch < 0) return 'epoch must be a non-negative integer';
  if (!Number.isSafeInteger(state.ringEpoch) || state.ringEpoch < 0) return 'ringEpoch must be a non-negative integer';
  if (state.reshard !== null && !state.partitions.has(state.reshard.partitionId) && !(state.reshard.kind === 'delete' && state.reshard.phase === 'purge')) {
    return `reshard of partition ${state.reshard.partitionId}, which does not exist`;
  }
  for (const [id, node] of state.nodes) if (id !== node.id) return `node keyed ${id} has id ${node.id}`;
  for (const [id, partition] of state.partitions) {
    if (id !== partition.id) return `partition keyed ${id} has id ${partition.id}`;
    if (state.retiredPartitionIds.has(id)) return `partition ${id} is both live and retired`;
    const problem = partitionProblem(state, partition);
    if (problem !== undefined) return problem;
  }
  return undefined;
}
