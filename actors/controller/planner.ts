// The planner: from the metadata, node health and what the partitions report, the next safe steps.
// Pure and deterministic (partitions in id order, ties broken by the placement ring), so a test can
// replay any scenario step by step.
//
// Every replica move, whatever its cause (repair, drain, rebalance, explicit), is the same four steps,
// each taken only when the partition's Raft group has committed the previous membership:
//   1. addReplica: a learner on the target node, recording which voter it `replaces`. A learner does
//      not vote, so the quorum is unchanged while it copies the log or a snapshot.
//   2. promoteReplica once `caughtUp`: it becomes a voter. Voters go from n to n+1; the old majority
//      is still a majority of the new set, and the newcomer already holds the log, so commits do not stall.
//   3. transferLeader away from the replaced voter if it leads (and is alive), so removing it does
//      not cost an election and no request fails.
//   4. removeReplica of the replaced voter: back to n voters, one server at a time (Raft §4.1).
// At most one change per partition (one learner, or one unfinished replacement) is in progress at a
// time; the state machine refuses a second (CHANGE_IN_FLIGHT), and the planner never asks for one.

import { AddReplica, CreatePartition, PromoteReplica, RemoveReplica } from './commands';
import { ClusterState, PartitionRecord, ReplicaRecord, applyCommand, changeInFlight, sortedPartitions } from './clusterState';
import { LeaderTransfer, bestLeaderTarget, leaderCounts, planLeaderTransfers } from './leaderBalance';
import { NodeHealth } from './nodeHealth';
import { PlanContext, PartitionView, buildPlanContext, canTakeReplica, isLost, majority, partitionRingKey, viewPartition } from './partitionView';
import { preferredNodes } from '../router/placement';
import { Result, refuse } from './result';

export interface PlannerConfig {
  /** Repairs may start while fewer than this many partitions have a change in progress, cluster-wide. */
  readonly changesInFlightMax: number;
  /** Drains and rebalances may start only while fewer than this many are in progress (<= the above). */
  readonly movesInFlightMax: number;
  /** Leader transfers planned per call. */
  readonly leaderTransfersMax: number;
  /** Ring points per unit of weight; must match the router's (docs/hashing.md). */
  readonly vnodesPerUnitWeight?: number;
}

/**
 * Defaults: a new learner copies a whole partition, so a handful at a time keeps client traffic and the
 * disks breathing. Repairs get more room than optional moves: losing a second replica is the risk.
 */
export const PLANNER_DEFAULTS: PlannerConfig = Object.freeze({ changesInFlightMax: 8, movesInFlightMax: 2, leaderTransfersMax: 4 });

export interface PlannerInput {
  readonly state: ClusterState;
  readonly health: (nodeId: string) => NodeHealth;
  /** The learner has (nearly) the leader's log: promoting it will not stall commits. */
  readonly caughtUp: (partitionId: number, replicaId: number) => boolean;
  /** The partition's Raft group has committed the membership the metadata records; no step before it has. */
  readonly membershipCommitted: (partitionId: number) => boolean;
  /** The leader replicas report now; defaults to the leader recorded in the metadata. */
  readonly leaderOf?: (partitionId: number) => number | null;
}

export interface MembershipStep {
  readonly kind: 'command';
  readonly command: AddReplica | PromoteReplica | RemoveReplica;
  readonly reason: string;
}

export type PlannedAction = MembershipStep | LeaderTransfer;

export interface BlockedPartition {
  readonly partitionId: number;
  readonly code: 'QUORUM_LOST' | 'NO_CANDIDATE';
  readonly message: string;
}

export interface Plan {
  readonly actions: readonly PlannedAction[];
  /** Partitions that need a change the planner cannot make (an operator should look). */
  readonly blocked: readonly BlockedPartition[];
}

type StartClass = 'repair' | 'drain' | 'rebalance';

interface Start {
  readonly startClass: StartClass;
  readonly step: MembershipStep;
}

function step(command: MembershipStep['command'], reason: string): MembershipStep {
  return { kind: 'command', command, reason };
}

// ---------------------------------------------------------------- continuing a change in progress

/** After promotion: move leadership off the replaced voter if it leads, then remove it. */
function continueReplacement(context: PlanContext, partition: PartitionRecord, leaderOf: (id: number) => number | null, counts: Map<string, number>): PlannedAction {
  const partitionId = partition.id;
  const successor = partition.replicas.find((replica) => replica.replaces !== undefined)!;
  const replaced = partition.replicas.find((replica) => replica.replicaId === successor.replaces)!;
  if (isLost(context, successor) && !isLost(context, replaced)) {
    // The newcomer died before the move finished and the old voter is still fine: undo the move instead.
    return step({ type: 'removeReplica', partitionId, replicaId: successor.replicaId }, `cancel: successor's node ${successor.node} is lost`);
  }
  if (leaderOf(partitionId) === replaced.replicaId && context.health(replaced.node) !== 'down') {
    const target = bestLeaderTarget(context, partition, counts, replaced.replicaId);
    if (target !== undefined) {
      return { kind: 'transferLeader', partitionId, fromReplicaId: replaced.replicaId, toReplicaId: target.replicaId, reason: `replica ${replaced.replicaId} on ${replaced.node} leads and is being replaced` };
    }
  }
  return step({ type: 'removeReplica', partitionId, replicaId: replaced.replicaId }, `replica ${successor.replicaId} on ${successor.node} has replaced it`);
}

function continueLearner(context: PlanContext, partition: PartitionRecord, learner: ReplicaRecord): MembershipStep | undefined {
  const node = context.state.nodes.get(learner.node);
  // A learner whose node went away or started draining will never be a good voter: cancel, re-plan.
  if (isLost(context, learner) || node?.state !== 'active') {
    return step({ type: 'removeReplica', partitionId: partition.id, replicaId: learner.replicaId }, `cancel: learner's node ${learner.node} is ${node?.state === 'active' ? 'down' : node?.state}`);
  }
  return undefined;
}

// ---------------------------------------------------------------- starting a change

function addStep(view: PartitionView, nodeId: string, replaced: ReplicaRecord | undefined, reason: string): MembershipStep {
  const command: AddReplica = { type: 'addReplica', partitionId: view.partition.id, nodeId, ...(replaced ? { replaces: replaced.replicaId } : {}) };
  return step(command, reason);
}

/** Prefer replacing a voter that does not lead: it saves a leader transfer. */
function nonLeaderFirst(replicas: readonly ReplicaRecord[], leader: number | null): ReplicaRecord[] {
  return [...replicas].sort((left, right) => Number(left.replicaId === leader) - Number(right.replicaId === leader));
}

function startChange(view: PartitionView, leader: number | null): Start | BlockedPartition | undefined {
  const { partition, voters, lost, draining, misplaced, missing } = view;
  const partitionId = partition.id;
  const noCandidate = (why: string): BlockedPartition => ({ partitionId, code: 'NO_CANDIDATE', message: `partition ${partitionId}: ${why}, and no node can take a replica` });
  if (voters.length - lost.length < majority(voters.length)) {
    // Without a quorum the group cannot commit a membership change; only the nodes coming back help.
    return { partitionId, code: 'QUORUM_LOST', message: `partition ${partitionId}: ${lost.length} of ${voters.length} voters lost` };
  }
  if (lost.length > 0) {
    if (missing.length === 0) return noCandidate(`replica ${lost[0].replicaId} on ${lost[0].node} is lost`);
    return { startClass: 'repair', step: addStep(view, missing[0], lost[0], `repair: replica ${lost[0].replicaId} on ${lost[0].node} is lost`) };
  }
  if (voters.length < partition.replicaCount) {
    if (missing.length === 0) return noCandidate(`${voters.length} of ${partition.replicaCount} replicas`);
    return { startClass: 'repair', step: addStep(view, missing[0], undefined, `under-replicated: ${voters.length} of ${partition.replicaCount}`) };
  }
  if (draining.length > 0) {
    if (missing.length === 0) return noCandidate(`node ${draining[0].node} is draining`);
    const from = nonLeaderFirst(draining, leader)[0];
    return { startClass: 'drain', step: addStep(view, missing[0], from, `drain: node ${from.node} is draining`) };
  }
  if (misplaced.length > 0 && missing.length > 0) {
    const from = nonLeaderFirst(misplaced, leader)[0];
    return { startClass: 'rebalance', step: addStep(view, missing[0], from, `rebalance: placement prefers ${missing[0]} to ${from.node}`) };
  }
  return undefined;
}

// ---------------------------------------------------------------- the plan

const START_ORDER: readonly StartClass[] = ['repair', 'drain', 'rebalance'];

function admitStarts(starts: Start[], inFlight: number, config: PlannerConfig, context: PlanContext): MembershipStep[] {
  const admitted: MembershipStep[] = [];
  for (const startClass of START_ORDER) {
    const limit = startClass === 'repair' ? config.changesInFlightMax : config.movesInFlightMax;
    for (const start of starts.filter((candidate) => candidate.startClass === startClass)) {
      const nodeId = (start.step.command as AddReplica).nodeId;
      // Earlier starts of this plan may have filled the node.
      if (inFlight >= limit || !canTakeReplica(context, nodeId)) continue;
      context.replicaCounts.set(nodeId, (context.replicaCounts.get(nodeId) ?? 0) + 1);
      admitted.push(start.step);
      inFlight++;
    }
  }
  return admitted;
}

/**
 * The next actions: steps of changes in progress first (they free capacity), then new changes by
 * priority (repair, drain, rebalance) within the in-flight bounds, then leader transfers. Each
 * partition gets at most one action per plan.
 */
export function planActions(input: PlannerInput, config: PlannerConfig = PLANNER_DEFAULTS): Plan {
  const context = buildPlanContext(input.state, input.health, config.vnodesPerUnitWeight);
  const leaderOf = input.leaderOf ?? ((id: number) => input.state.partitions.get(id)?.leader ?? null);
  const counts = leaderCounts(context, leaderOf);
  const continued: PlannedAction[] = [];
  const starts: Start[] = [];
  const blocked: BlockedPartition[] = [];
  const busy = new Set<number>();
  let inFlight = 0;
  for (const partition of sortedPartitions(input.state)) {
    if (changeInFlight(partition)) {
      inFlight++;
      busy.add(partition.id);
      if (!input.membershipCommitted(partition.id)) continue;
      const next = nextInProgressStep(context, partition, input, leaderOf, counts);
      if (next !== undefined) continued.push(next);
      continue;
    }
    if (!input.membershipCommitted(partition.id)) {
      busy.add(partition.id);
      continue;
    }
    const start = startChange(viewPartition(context, partition), leaderOf(partition.id));
    if (start === undefined) continue;
    if ('code' in start) blocked.push(start);
    else starts.push(start);
  }
  const admitted = admitStarts(starts, inFlight, config, context);
  for (const admittedStep of admitted) busy.add(admittedStep.command.partitionId);
  const transfers = planLeaderTransfers(context, leaderOf, busy, config.leaderTransfersMax);
  return { actions: [...continued, ...admitted, ...transfers], blocked };
}

function nextInProgressStep(
  context: PlanContext,
  partition: PartitionRecord,
  input: PlannerInput,
  leaderOf: (id: number) => number | null,
  counts: Map<string, number>,
): PlannedAction | undefined {
  const learner = partition.replicas.find((replica) => replica.role === 'learner');
  if (learner !== undefined) {
    const cancel = continueLearner(context, partition, learner);
    if (cancel !== undefined) return cancel;
    if (!input.caughtUp(partition.id, learner.replicaId)) return undefined;
    return step({ type: 'promoteReplica', partitionId: partition.id, replicaId: learner.replicaId }, `learner ${learner.replicaId} on ${learner.node} caught up`);
  }
  return continueReplacement(context, partition, leaderOf, counts);
}

// ---------------------------------------------------------------- operator requests

/**
 * An explicit move of partition `partitionId`'s replica from node `fromNodeId` to `toNodeId`: the first
 * step (a learner on the target that replaces the voter on the source); the planner does the rest.
 * Checked against the state as the state machine would, plus health (the target must be alive).
 * The new replica is pinned: rebalancing leaves it on the target (a drain or a lost node still moves it).
 */
export function planMove(
  state: ClusterState,
  health: (nodeId: string) => NodeHealth,
  partitionId: number,
  fromNodeId: string,
  toNodeId: string,
): Result<{ command: AddReplica }> {
  const partition = state.partitions.get(partitionId);
  if (partition === undefined) return refuse('PARTITION_UNKNOWN', `no partition ${partitionId}`);
  if (fromNodeId === toNodeId) return refuse('SAME_NODE', `source and target are both ${JSON.stringify(toNodeId)}`);
  const source = partition.replicas.find((replica) => replica.node === fromNodeId);
  if (source === undefined) return refuse('REPLICA_UNKNOWN', `node ${JSON.stringify(fromNodeId)} holds no replica of partition ${partitionId}`);
  if (source.role !== 'voter') return refuse('NOT_VOTER', `the replica on ${JSON.stringify(fromNodeId)} is a learner`);
  if (state.nodes.has(toNodeId) && state.nodes.get(toNodeId)?.state === 'active' && health(toNodeId) !== 'alive') {
    return refuse('NODE_NOT_ACTIVE', `node ${JSON.stringify(toNodeId)} is ${health(toNodeId)}`);
  }
  const command: AddReplica = { type: 'addReplica', partitionId, nodeId: toNodeId, replaces: source.replicaId, pinned: true };
  const trial = applyCommand(state, command);
  return trial.ok ? { ok: true, command } : trial;
}

/** A new partition placed on the first `replicaCount` usable nodes of its preference list. */
export function planCreatePartition(
  state: ClusterState,
  health: (nodeId: string) => NodeHealth,
  partitionId: number,
  replicaCount: number,
  vnodesPerUnitWeight?: number,
): Result<{ command: CreatePartition }> {
  const context = buildPlanContext(state, health, vnodesPerUnitWeight);
  if (!Number.isSafeInteger(replicaCount) || replicaCount < 1) return refuse('INVALID_COMMAND', 'replicaCount must be a positive integer');
  const nodeIds = context.ring === undefined ? [] : preferredNodes(partitionRingKey(partitionId), context.ring, replicaCount, (id) => canTakeReplica(context, id));
  if (nodeIds.length < replicaCount) return refuse('NOT_ENOUGH_NODES', `partition ${partitionId} needs ${replicaCount} usable nodes, found ${nodeIds.length}`);
  const command: CreatePartition = { type: 'createPartition', partitionId, replicaCount, nodeIds };
  const trial = applyCommand(state, command);
  return trial.ok ? { ok: true, command } : trial;
}

/** A draining node is drained when it holds no replica (and therefore leads none). */
export function isDrained(state: ClusterState, nodeId: string): boolean {
  for (const partition of state.partitions.values()) if (partition.replicas.some((replica) => replica.node === nodeId)) return false;
  return true;
}
