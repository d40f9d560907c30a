// Leader balancing: each live active node should lead about its weighted share of the partitions it
// holds voters of. A transfer from node s to node d is planned only when it strictly lowers
// sum(leads(n)^2 / weight(n)), i.e. when (leads(d) + 0.5) / weight(d) < (leads(s) - 0.5) / weight(s).
// That potential is bounded below and drops on every transfer, so balancing ends instead of ping-ponging
// (with equal weights: only when s leads at least two more than d). A draining node's leaders always move.

import { PartitionRecord, ReplicaRecord, changeInFlight, votersOf } from './clusterState';
import { PlanContext } from './partitionView';

export interface LeaderTransfer {
  readonly kind: 'transferLeader';
  readonly partitionId: number;
  readonly fromReplicaId: number;
  readonly toReplicaId: number;
  readonly reason: string;
}

/** Nodes that may be given leadership: active and alive. Never a learner (callers pass voters only). */
function canLead(context: PlanContext, nodeId: string): boolean {
  return context.state.nodes.get(nodeId)?.state === 'active' && context.health(nodeId) === 'alive';
}

function weightOf(context: PlanContext, nodeId: string): number {
  return context.state.nodes.get(nodeId)?.weight ?? 1;
}

/** Partitions led per node, from the leaders the caller observes. */
export function leaderCounts(context: PlanContext, leaderOf: (partitionId: number) => number | null): Map<string, number> {
  const counts = new Map<string, number>();
  for (const partition of context.state.partitions.values()) {
    const leader = leaderOf(partition.id);
    const node = partition.replicas.find((replica) => replica.replicaId === leader)?.node;
    if (node !== undefined) counts.set(node, (counts.get(node) ?? 0) + 1);
  }
  return counts;
}

/** The voter (other than `excluded`) on the node with the lowest weighted leader load after taking one more. */
export function bestLeaderTarget(
  context: PlanContext,
  partition: PartitionRecord,
  counts: ReadonlyMap<string, number>,
  excludedReplicaId: number,
): ReplicaRecord | undefined {
  let best: ReplicaRecord | undefined;
  let bestLoad = Infinity;
  for (const voter of votersOf(partition)) {
    if (voter.replicaId === excludedReplicaId || !canLead(context, voter.node)) continue;
    const load = ((counts.get(voter.node) ?? 0) + 0.5) / weightOf(context, voter.node);
    if (load < bestLoad) [best, bestLoad] = [voter, load];
  }
  return best;
}

function transferFor(
  context: PlanContext,
  partition: PartitionRecord,
  leader: ReplicaRecord,
  counts: ReadonlyMap<string, number>,
): LeaderTransfer | undefined {
  const sourceState = context.state.nodes.get(leader.node)?.state;
  // A leader on a down or suspect node cannot be asked reliably; its Raft group elects a new one itself.
  if (context.health(leader.node) !== 'alive') return undefined;
  const target = bestLeaderTarget(context, partition, counts, leader.replicaId);
  if (target === undefined) return undefined;
  const base = { kind: 'transferLeader' as const, partitionId: partition.id, fromReplicaId: leader.replicaId, toReplicaId: target.replicaId };
  if (sourceState !== 'active') return { ...base, reason: `leader on ${sourceState} node ${leader.node}` };
  const sourceLoad = ((counts.get(leader.node) ?? 0) - 0.5) / weightOf(context, leader.node);
  const targetLoad = ((counts.get(target.node) ?? 0) + 0.5) / weightOf(context, target.node);
  if (!(targetLoad < sourceLoad)) return undefined;
  return { ...base, reason: `balance leaders: ${leader.node} leads more than its weighted share, ${target.node} less` };
}

/**
 * Up to `transfersMax` leader transfers, partitions in id order. Partitions with a membership change in
 * progress or touched by this plan (`busy`) are left alone: one thing at a time per partition.
 */
export function planLeaderTransfers(
  context: PlanContext,
  leaderOf: (partitionId: number) => number | null,
  busy: ReadonlySet<number>,
  transfersMax: number,
): LeaderTransfer[] {
  const counts = leaderCounts(context, leaderOf);
  const transfers: LeaderTransfer[] = [];
  const partitions = [...context.state.partitions.values()].sort((left, right) => left.id - right.id);
  for (const partition of partitions) {
    if (transfers.length >= transfersMax) break;
    if (busy.has(partition.id) || changeInFlight(partition)) continue;
    const leader = partition.replicas.find((replica) => replica.replicaId === leaderOf(partition.id));
    if (leader === undefined || leader.role !== 'voter') continue;
    const transfer = transferFor(context, partition, leader, counts);
    if (transfer === undefined) continue;
    const target = partition.replicas.find((replica) => replica.replicaId === transfer.toReplicaId)!;
    counts.set(leader.node, (counts.get(leader.node) ?? 0) - 1);
    counts.set(target.node, (counts.get(target.node) ?? 0) + 1);
    transfers.push(transfer);
  }
  return transfers;
}
