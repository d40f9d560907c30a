// From intent to fact: the metadata says which replicas each partition should have (and in which role);
// each partition's Raft group and the nodes' assignments say which it has. `reconcile` lists the steps
// that bring the running cluster to the metadata, and which partitions already match it (only those may
// take the planner's next change). The controller writes a change to the metadata first and lets these
// steps carry it out, so a controller that dies half-way leaves a successor the same steps to finish. Pure.

import { ClusterState, PartitionRecord } from './clusterState';
import type { NodeHealth } from './nodeHealth';
import { Observation } from './observation';

export type ReconcileStep =
  /**
   * Start an empty replica on the node (it joins as a learner once the leader adds it). `voters` is the
   * partition's first membership, which a new replica starts from before it replays the log (replica
   * ids 1..n, as the partition was created), and `nodes` where its replicas live.
   */
  | {
    readonly kind: 'start'; readonly node: string; readonly partition: number; readonly replica: number;
    readonly voters: readonly number[]; readonly nodes: Readonly<Record<string, string>>;
  }
  /** A membership change on the partition's leader. */
  | { readonly kind: 'conf'; readonly partition: number; readonly type: 'addLearner' | 'promote' | 'remove'; readonly replica: number }
  /** Stop and delete a replica the group no longer has. */
  | { readonly kind: 'delete'; readonly node: string; readonly partition: number; readonly replica: number }
  /** Make the node's local drain flag (leaders kept away) match its admin state. */
  | { readonly kind: 'drain'; readonly node: string; readonly drained: boolean };

export interface Reconciliation {
  readonly steps: readonly ReconcileStep[];
  /** Partitions whose Raft membership is committed and equals the metadata. */
  readonly settled: ReadonlySet<number>;
}

export function reconcile(state: ClusterState, observed: Observation, health: (node: string) => NodeHealth): Reconciliation {
  const steps: ReconcileStep[] = [];
  const settled = new Set<number>();
  for (const partition of state.partitions.values()) {
    const creating = state.reshard?.kind === 'create' && state.reshard.partitionId === partition.id;
    const partitionSteps = creating && !observed.leader(partition.id) ? startAll(partition, observed, health) : reconcilePartition(partition, observed, health);
    if (partitionSteps === undefined) continue;
    if (partitionSteps.length === 0) settled.add(partition.id);
    steps.push(...partitionSteps);
  }
  steps.push(...orphans(state, observed), ...drainFlags(state, observed));
  return { steps, settled };
}

function startStep(partition: PartitionRecord, node: string, replica: number): ReconcileStep {
  const voters = Array.from({ length: partition.replicaCount }, (_, index) => index + 1);
  const nodes = Object.fromEntries(partition.replicas.map((record) => [String(record.replicaId), record.node]));
  return { kind: 'start', node, partition: partition.id, replica, voters, nodes };
}

/** A partition being created has no group yet: every replica starts, and together they elect a leader. */
function startAll(partition: PartitionRecord, observed: Observation, health: (node: string) => NodeHealth): ReconcileStep[] | undefined {
  const steps = partition.replicas
    .filter((replica) => health(replica.node) === 'alive' && observed.hostedOn(replica.node, partition.id) === undefined)
    .map((replica) => startStep(partition, replica.node, replica.replicaId));
  return steps.length === 0 ? undefined : steps;
}

/** Steps for one partition; undefined when nothing can be judged (no leader, or a change still committing). */
function reconcilePartition(partition: PartitionRecord, observed: Observation, health: (node: string) => NodeHealth): ReconcileStep[] | undefined {
  const leader = observed.leader(partition.id);
  if (!leader?.members || !leader.confCommitted) return undefined;
  const voters = new Set(leader.members.voters);
  const learners = new Set(leader.members.learners);
  const id = partition.id;
  for (const replica of partition.replicas) {
    if (voters.has(replica.replicaId) || learners.has(replica.replicaId)) continue;
    // A replica its node cannot start now is not waited for: the planner cancels or replaces it.
    if (health(replica.node) !== 'alive') continue;
    const hosted = observed.hostedOn(replica.node, id);
    if (hosted === undefined) return [startStep(partition, replica.node, replica.replicaId)];
    // Another replica of the partition still occupies the node: the orphan sweep deletes it first, once
    // the group no longer has it. Not a return: if the group still has it, the removal below must be
    // issued, or nothing would ever free the node.
    if (hosted !== replica.replicaId) continue;
    return [{ kind: 'conf', partition: id, type: 'addLearner', replica: replica.replicaId }];
  }
  const wanted = new Map(partition.replicas.map((replica) => [replica.replicaId, replica.role]));
  for (const replica of partition.replicas) {
    if (replica.role === 'voter' && learners.has(replica.replicaId)) return [{ kind: 'conf', partition: id, type: 'promote', replica: replica.replicaId }];
  }
  for (const member of [...learners, ...voters]) {
    if (!wanted.has(member)) return [{ kind: 'conf', partition: id, type: 'remove', replica: member }];
  }
  // Left: replicas on nodes that are not alive and not in the group (the planner cancels or replaces
  // them), and replicas waiting for their node to delete an older one (the orphan sweep).
  return [];
}

/** Replicas a node hosts that neither the metadata nor the group's committed membership has any more. */
function orphans(state: ClusterState, observed: Observation): ReconcileStep[] {
  const steps: ReconcileStep[] = [];
  for (const [node, heartbeat] of observed.heartbeats) {
    for (const { partition, replica } of heartbeat.hosted) {
      const record = state.partitions.get(partition);
      // A deleted partition's replicas go without asking its group (which is being taken down).
      if (record === undefined && state.retiredPartitionIds.has(partition)) steps.push({ kind: 'delete', node, partition, replica });
      if (record === undefined || record.replicas.some((wanted) => wanted.replicaId === replica && wanted.node === node)) continue;
      const leader = observed.leader(partition);
      if (!leader?.members || !leader.confCommitted) continue;
      if (leader.members.voters.includes(replica) || leader.members.learners.includes(replica)) continue;
      steps.push({ kind: 'delete', node, partition, replica });
    }
  }
  return steps;
}

function drainFlags(state: ClusterState, observed: Observation): ReconcileStep[] {
  const steps: ReconcileStep[] = [];
  for (const [node, heartbeat] of observed.heartbeats) {
    const record = state.nodes.get(node);
    if (record === undefined) continue;
    const drained = record.state !== 'active';
    if (heartbeat.drained !== drained) steps.push({ kind: 'drain', node, drained });
  }
  return steps;
}
