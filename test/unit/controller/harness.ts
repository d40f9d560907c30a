// A scripted cluster for planner tests: the metadata state, node health, and a crude model of each
// partition's Raft group (learners catch up after a few rounds; a leader that is removed, transferred
// or whose node is down is replaced at once by a live voter). Every command goes through applyCommand,
// and invariants are checked after each one.

import { expect } from 'chai';
import {
  ClusterCommand,
  ClusterState,
  EMPTY_CLUSTER_STATE,
  NodeHealth,
  Plan,
  PlannerConfig,
  PLANNER_DEFAULTS,
  applyCommand,
  checkInvariants,
  planActions,
  planCreatePartition,
} from '../../../actors/controller';
import { votersOf } from '../../../actors/controller/clusterState';

export function apply(state: ClusterState, command: ClusterCommand): ClusterState {
  const result = applyCommand(state, command);
  if (!result.ok) throw new Error(`${command.type} refused: ${result.error.code} ${result.error.message}`);
  return result.state;
}

export interface Observer {
  /** Called after every applied membership command with the partition's voters before and after. */
  (partitionId: number, before: readonly number[], after: readonly number[], cluster: SimCluster): void;
}

export class SimCluster {
  state: ClusterState = EMPTY_CLUSTER_STATE;
  readonly health = new Map<string, NodeHealth>();
  /** Plan rounds a learner needs before it reports caught up. */
  catchUpRounds = 2;
  round = 0;
  private readonly learnerAddedRound = new Map<string, number>();
  readonly observers: Observer[] = [];
  commandsApplied = 0;
  transfers = 0;

  constructor(readonly config: PlannerConfig = PLANNER_DEFAULTS) {}

  healthOf = (nodeId: string): NodeHealth => this.health.get(nodeId) ?? 'alive';

  addNode(nodeId: string, weight = 1, capacityReplicas = 1000): void {
    this.run({ type: 'registerNode', nodeId, address: `cairn.ctl.node.${nodeId}`, weight, capacityReplicas });
  }

  createPartitions(count: number, replicaCount = 3): void {
    for (let partitionId = 0; partitionId < count; partitionId++) {
      const planned = planCreatePartition(this.state, this.healthOf, partitionId, replicaCount);
      if (!planned.ok) throw new Error(planned.error.message);
      this.run(planned.command);
      this.electLeader(partitionId);
    }
  }

  run(command: ClusterCommand): void {
    const before = this.votersOf(command);
    this.state = apply(this.state, command);
    this.commandsApplied++;
    expect(checkInvariants(this.state)).to.equal(undefined);
    if ('partitionId' in command && command.type !== 'recordLeader' && command.type !== 'createPartition' && command.type !== 'deletePartition') {
      if (command.type === 'addReplica') this.learnerAddedRound.set(`${command.partitionId}/${this.state.partitions.get(command.partitionId)!.nextReplicaId - 1}`, this.round);
      for (const observer of this.observers) observer(command.partitionId, before, this.votersOf(command), this);
      this.repairLeader(command.partitionId);
    }
  }

  private votersOf(command: ClusterCommand): number[] {
    if (!('partitionId' in command)) return [];
    const partition = this.state.partitions.get(command.partitionId);
    return partition ? votersOf(partition).map((replica) => replica.replicaId) : [];
  }

  /** Raft would elect among live voters; the model picks the lowest live replica id. */
  electLeader(partitionId: number): void {
    const partition = this.state.partitions.get(partitionId)!;
    const live = votersOf(partition).filter((replica) => this.healthOf(replica.node) !== 'down' && this.state.nodes.get(replica.node)?.state !== 'removed');
    if (live.length === 0) return;
    this.run({ type: 'recordLeader', partitionId, replicaId: live[0].replicaId, term: partition.leaderTerm + 1 });
  }

  private repairLeader(partitionId: number): void {
    const partition = this.state.partitions.get(partitionId);
    if (partition === undefined) return;
    const leader = partition.replicas.find((replica) => replica.replicaId === partition.leader);
    if (leader === undefined || this.healthOf(leader.node) === 'down') this.electLeader(partitionId);
  }

  setHealth(nodeId: string, health: NodeHealth): void {
    this.health.set(nodeId, health);
    if (health === 'down') for (const partitionId of this.state.partitions.keys()) this.repairLeader(partitionId);
  }

  caughtUp = (partitionId: number, replicaId: number): boolean => {
    const added = this.learnerAddedRound.get(`${partitionId}/${replicaId}`);
    return added !== undefined && this.round - added >= this.catchUpRounds;
  };

  plan(): Plan {
    return planActions({ state: this.state, health: this.healthOf, caughtUp: this.caughtUp, membershipCommitted: () => true }, this.config);
  }

  /** One planning round: plan, then carry out every action. Returns the plan. */
  step(): Plan {
    this.round++;
    const plan = this.plan();
    for (const action of plan.actions) {
      if (action.kind === 'command') {
        this.run(action.command);
        continue;
      }
      const partition = this.state.partitions.get(action.partitionId)!;
      expect(partition.leader, 'transfer from the current leader').to.equal(action.fromReplicaId);
      const target = partition.replicas.find((replica) => replica.replicaId === action.toReplicaId)!;
      expect(target.role, 'never transfer to a learner').to.equal('voter');
      expect(this.healthOf(target.node), 'never transfer to an unhealthy node').to.equal('alive');
      this.transfers++;
      this.run({ type: 'recordLeader', partitionId: action.partitionId, replicaId: action.toReplicaId, term: partition.leaderTerm + 1 });
    }
    return plan;
  }

  /** Step until a plan has no actions; fails past `roundsMax`. Returns the rounds taken. */
  settle(roundsMax = 500): number {
    for (let rounds = 1; rounds <= roundsMax; rounds++) {
      // A round with no action may only be waiting for a learner; quiet means nothing in flight either.
      const plan = this.step();
      const inFlight = [...this.state.partitions.values()].some((p) => p.replicas.some((r) => r.role === 'learner' || r.replaces !== undefined));
      if (plan.actions.length === 0 && !inFlight) return rounds;
    }
    throw new Error(`did not settle within ${roundsMax} rounds`);
  }

  nodesOf(partitionId: number): string[] {
    return this.state.partitions.get(partitionId)!.replicas.map((replica) => replica.node).sort();
  }

  replicasOn(nodeId: string): number {
    let count = 0;
    for (const partition of this.state.partitions.values()) count += partition.replicas.filter((replica) => replica.node === nodeId).length;
    return count;
  }

  leadersOn(nodeId: string): number {
    let count = 0;
    for (const partition of this.state.partitions.values()) {
      if (partition.replicas.some((replica) => replica.replicaId === partition.leader && replica.node === nodeId)) count++;
    }
    return count;
  }
}

/** Membership safety: one voter added or removed per step, and the old majority is kept. */
export const singleServerChanges: Observer = (partitionId, before, after) => {
  const removed = before.filter((id) => !after.includes(id));
  const added = after.filter((id) => !before.includes(id));
  expect(removed.length + added.length, `partition ${partitionId}: ${before} -> ${after}`).to.be.at.most(1);
  expect(after.filter((id) => before.includes(id)).length, `partition ${partitionId} keeps a majority of its voters`).to.be.at.least(
    Math.min(before.length, Math.floor(before.length / 2) + 1),
  );
};
