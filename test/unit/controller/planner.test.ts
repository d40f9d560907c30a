import { expect } from 'chai';
import { MembershipStep, PlannedAction, planMove, planActions, partitionRingKey } from '../../../actors/controller';
import { placeReplicas } from '../../../actors/router/placement';
import { SimCluster, singleServerChanges } from './harness';

const PARTITIONS = 32;

function threeNodeCluster(): SimCluster {
  const cluster = new SimCluster();
  for (const nodeId of ['n0', 'n1', 'n2']) cluster.addNode(nodeId);
  cluster.createPartitions(PARTITIONS);
  cluster.observers.push(singleServerChanges);
  return cluster;
}

function expectedPlacement(nodeIds: string[], weights?: number[]): Map<string, string[]> {
  const ids = Array.from({ length: PARTITIONS }, (_unused, index) => partitionRingKey(index));
  const placement = placeReplicas(ids, nodeIds.map((id, index) => ({ id, weight: weights?.[index] ?? 1 })), 3);
  return new Map([...placement.assignments].map(([id, nodes]) => [id, [...nodes].sort()]));
}

function commandTypes(actions: readonly PlannedAction[]): string[] {
  return actions.map((action) => (action.kind === 'command' ? action.command.type : action.kind));
}

describe('controller/planner', () => {
  it('does nothing on a balanced cluster', () => {
    const cluster = threeNodeCluster();
    cluster.settle();
    const epoch = cluster.state.epoch;
    const plan = cluster.plan();
    expect(plan.actions).to.deep.equal([]);
    expect(plan.blocked).to.deep.equal([]);
    expect(cluster.state.epoch).to.equal(epoch);
  });

  it('3 nodes + a 4th joins: every move goes to the new node, bounded, and ends at the placement', () => {
    const cluster = threeNodeCluster();
    cluster.settle();
    cluster.addNode('n3');
    const addedOn = new Set<string>();
    cluster.observers.push(() => {
      for (const partition of cluster.state.partitions.values()) for (const replica of partition.replicas) if (replica.role === 'learner') addedOn.add(replica.node);
    });
    let rounds = 0;
    while (rounds++ < 500) {
      const plan = cluster.step();
      const starts = plan.actions.filter((action) => action.kind === 'command' && action.command.type === 'addReplica') as MembershipStep[];
      for (const start of starts) expect(start.reason).to.match(/^rebalance/);
      const inFlight = [...cluster.state.partitions.values()].filter((p) => p.replicas.some((r) => r.role === 'learner' || r.replaces !== undefined)).length;
      expect(inFlight, 'moves in flight stay within movesInFlightMax').to.be.at.most(cluster.config.movesInFlightMax);
      if (plan.actions.length === 0 && inFlight === 0) break;
    }
    expect([...addedOn]).to.deep.equal(['n3']);
    const expected = expectedPlacement(['n0', 'n1', 'n2', 'n3']);
    for (let partitionId = 0; partitionId < PARTITIONS; partitionId++) {
      expect(cluster.nodesOf(partitionId), `p${partitionId}`).to.deep.equal(expected.get(partitionRingKey(partitionId)));
    }
    expect(cluster.replicasOn('n3')).to.be.greaterThan(PARTITIONS * 0.15);
  });

  it('a node goes down: each affected partition returns to 3 voters on live nodes via learner, promote, remove', () => {
    const cluster = new SimCluster();
    for (const nodeId of ['n0', 'n1', 'n2', 'n3', 'n4']) cluster.addNode(nodeId);
    cluster.createPartitions(PARTITIONS);
    cluster.settle();
    const affected = [...cluster.state.partitions.values()].filter((p) => p.replicas.some((r) => r.node === 'n1')).map((p) => p.id);
    expect(affected.length).to.be.greaterThan(0);
    const sequence = new Map<number, string[]>();
    cluster.observers.push(singleServerChanges, (partitionId, _before, after, sim) => {
      const partition = sim.state.partitions.get(partitionId)!;
      const live = after.filter((id) => sim.healthOf(partition.replicas.find((r) => r.replicaId === id)!.node) !== 'down');
      expect(live.length, `p${partitionId} keeps a live majority`).to.be.at.least(Math.floor(after.length / 2) + 1);
    });
    const recordSteps = (actions: readonly PlannedAction[]) => {
      for (const action of actions) {
        if (action.kind !== 'command') continue;
        const list = sequence.get(action.command.partitionId) ?? [];
        list.push(action.command.type);
        sequence.set(action.command.partitionId, list);
      }
    };
    cluster.setHealth('n1', 'suspect');
    expect(cluster.plan().actions.filter((a) => a.kind === 'command'), 'suspect is not down: no repair yet').to.deep.equal([]);
    cluster.setHealth('n1', 'down');
    for (let round = 0; round < 500; round++) {
      const plan = cluster.step();
      recordSteps(plan.actions);
      if (plan.actions.length === 0 && cluster.replicasOn('n1') === 0) break;
    }
    expect(cluster.replicasOn('n1')).to.equal(0);
    for (const partitionId of affected) {
      expect(sequence.get(partitionId), `p${partitionId}`).to.deep.equal(['addReplica', 'promoteReplica', 'removeReplica']);
    }
    const expected = expectedPlacement(['n0', 'n2', 'n3', 'n4']);
    for (const partition of cluster.state.partitions.values()) {
      expect(partition.replicas.every((r) => r.role === 'voter')).to.equal(true);
      expect(cluster.nodesOf(partition.id)).to.deep.equal(expected.get(partitionRingKey(partition.id)));
    }
  });

  it('never starts a repair it cannot finish: a partition with a majority down is blocked, not touched', () => {
    const cluster = new SimCluster();
    for (const nodeId of ['n0', 'n1', 'n2', 'n3']) cluster.addNode(nodeId);
    cluster.createPartitions(8);
    const partition = cluster.state.partitions.get(0)!;
    const [first, second] = partition.replicas.map((r) => r.node);
    cluster.setHealth(first, 'down');
    cluster.setHealth(second, 'down');
    const plan = cluster.plan();
    expect(plan.blocked.find((b) => b.partitionId === 0)?.code).to.equal('QUORUM_LOST');
    expect(plan.actions.some((a) => (a.kind === 'command' ? a.command.partitionId : a.partitionId) === 0)).to.equal(false);
  });

  it('reports NO_CANDIDATE when no node can take the lost replica', () => {
    const cluster = threeNodeCluster();
    cluster.setHealth('n2', 'down');
    const plan = cluster.plan();
    expect(plan.blocked).to.have.length(PARTITIONS);
    expect(new Set(plan.blocked.map((b) => b.code))).to.deep.equal(new Set(['NO_CANDIDATE']));
    expect(plan.actions.filter((a) => a.kind === 'command')).to.deep.equal([]);
  });

  it('drain: the node ends with zero replicas and zero leaders, leaders moved off before removal', () => {
    const cluster = new SimCluster();
    for (const nodeId of ['n0', 'n1', 'n2', 'n3']) cluster.addNode(nodeId);
    cluster.createPartitions(PARTITIONS);
    cluster.observers.push(singleServerChanges);
    cluster.settle();
    expect(cluster.replicasOn('n2')).to.be.greaterThan(0);
    expect(cluster.leadersOn('n2')).to.be.greaterThan(0);
    cluster.run({ type: 'setNodeState', nodeId: 'n2', state: 'draining' });
    cluster.observers.push((partitionId, before, after, sim) => {
      // Removing the draining node's replica never removes the leader: it was transferred away first.
      if (after.length < before.length) expect(sim.state.partitions.get(partitionId)!.leader).to.not.equal(null);
    });
    cluster.settle();
    expect(cluster.replicasOn('n2')).to.equal(0);
    expect(cluster.leadersOn('n2')).to.equal(0);
    expect(cluster.transfers).to.be.greaterThan(0);
    const expected = expectedPlacement(['n0', 'n1', 'n3']);
    for (const partition of cluster.state.partitions.values()) expect(cluster.nodesOf(partition.id)).to.deep.equal(expected.get(partitionRingKey(partition.id)));
  });

  it('leader balancing converges to the weighted share and stops', () => {
    const cluster = new SimCluster();
    cluster.addNode('n0', 1);
    cluster.addNode('n1', 1);
    cluster.addNode('n2', 2);
    cluster.createPartitions(PARTITIONS);
    // Put every leader on n0.
    for (const partition of [...cluster.state.partitions.values()]) {
      const onN0 = partition.replicas.find((r) => r.node === 'n0')!;
      if (partition.leader !== onN0.replicaId) cluster.run({ type: 'recordLeader', partitionId: partition.id, replicaId: onN0.replicaId, term: partition.leaderTerm + 1 });
    }
    expect(cluster.leadersOn('n0')).to.equal(PARTITIONS);
    cluster.settle();
    expect(cluster.leadersOn('n0')).to.be.within(7, 9);
    expect(cluster.leadersOn('n1')).to.be.within(7, 9);
    expect(cluster.leadersOn('n2')).to.be.within(15, 17);
    expect(cluster.plan().actions).to.deep.equal([]);
  });

  it('never transfers leadership to an unhealthy node', () => {
    const cluster = threeNodeCluster();
    for (const partition of [...cluster.state.partitions.values()]) {
      const onN0 = partition.replicas.find((r) => r.node === 'n0')!;
      if (partition.leader !== onN0.replicaId) cluster.run({ type: 'recordLeader', partitionId: partition.id, replicaId: onN0.replicaId, term: partition.leaderTerm + 1 });
    }
    cluster.setHealth('n1', 'suspect');
    const transfers = cluster.plan().actions.filter((a) => a.kind === 'transferLeader');
    expect(transfers.length).to.be.greaterThan(0);
    for (const transfer of transfers) {
      if (transfer.kind !== 'transferLeader') continue;
      const target = cluster.state.partitions.get(transfer.partitionId)!.replicas.find((r) => r.replicaId === transfer.toReplicaId)!;
      expect(target.node).to.equal('n2');
    }
  });

  it('explicit move P from A to B: learner on B, promote, leader off A, remove A; no moment without a leader', () => {
    const cluster = new SimCluster();
    for (const nodeId of ['n0', 'n1', 'n2', 'n3']) cluster.addNode(nodeId);
    cluster.createPartitions(4);
    cluster.observers.push(singleServerChanges);
    cluster.settle();
    const partition = cluster.state.partitions.get(0)!;
    const leaderNode = partition.replicas.find((r) => r.replicaId === partition.leader)!.node;
    const target = ['n0', 'n1', 'n2', 'n3'].find((id) => !partition.replicas.some((r) => r.node === id))!;
    const planned = planMove(cluster.state, cluster.healthOf, 0, leaderNode, target);
    expect(planned.ok).to.equal(true);
    if (!planned.ok) return;
    cluster.run(planned.command);
    const steps: string[] = [];
    cluster.observers.push((partitionId, _before, _after, sim) => {
      if (partitionId === 0) expect(sim.state.partitions.get(0)!.leader, 'a leader throughout').to.not.equal(null);
    });
    for (let round = 0; round < 20; round++) {
      const plan = cluster.step();
      steps.push(...commandTypes(plan.actions.filter((a) => (a.kind === 'command' ? a.command.partitionId : a.partitionId) === 0)));
      if (!cluster.nodesOf(0).includes(leaderNode)) break;
    }
    expect(steps).to.deep.equal(['promoteReplica', 'transferLeader', 'removeReplica']);
    expect(cluster.nodesOf(0)).to.include(target);
    expect(cluster.nodesOf(0)).to.not.include(leaderNode);
  });

  it('an explicit move pins the replica: rebalancing leaves it on its target, a drain of the target still moves it', () => {
    const cluster = new SimCluster();
    for (const nodeId of ['n0', 'n1', 'n2', 'n3']) cluster.addNode(nodeId);
    cluster.createPartitions(4);
    cluster.settle();
    const partition = cluster.state.partitions.get(0)!;
    const from = partition.replicas[0].node;
    const target = ['n0', 'n1', 'n2', 'n3'].find((id) => !partition.replicas.some((r) => r.node === id))!;
    const planned = planMove(cluster.state, cluster.healthOf, 0, from, target);
    if (!planned.ok) throw new Error(planned.error.message);
    expect(planned.command.pinned).to.equal(true);
    cluster.run(planned.command);
    cluster.settle();
    expect(cluster.nodesOf(0)).to.include(target);
    expect(cluster.nodesOf(0), 'not moved back by a rebalance').to.not.include(from);
    expect(cluster.state.partitions.get(0)!.replicas.find((r) => r.node === target)!.pinned).to.equal(true);
    cluster.run({ type: 'setNodeState', nodeId: target, state: 'draining' });
    cluster.settle();
    expect(cluster.nodesOf(0)).to.not.include(target);
  });

  it('planMove refuses what the state machine would refuse, and unhealthy targets', () => {
    const cluster = new SimCluster();
    for (const nodeId of ['n0', 'n1', 'n2', 'n3']) cluster.addNode(nodeId);
    cluster.createPartitions(1);
    const holders = cluster.nodesOf(0);
    const outsider = ['n0', 'n1', 'n2', 'n3'].find((id) => !holders.includes(id))!;
    const code = (result: ReturnType<typeof planMove>) => (result.ok ? 'ok' : result.error.code);
    expect(code(planMove(cluster.state, cluster.healthOf, 9, holders[0], outsider))).to.equal('PARTITION_UNKNOWN');
    expect(code(planMove(cluster.state, cluster.healthOf, 0, outsider, holders[0]))).to.equal('REPLICA_UNKNOWN');
    expect(code(planMove(cluster.state, cluster.healthOf, 0, holders[0], holders[1]))).to.equal('SAME_NODE');
    expect(code(planMove(cluster.state, cluster.healthOf, 0, holders[0], 'nx'))).to.equal('NODE_UNKNOWN');
    cluster.setHealth(outsider, 'suspect');
    expect(code(planMove(cluster.state, cluster.healthOf, 0, holders[0], outsider))).to.equal('NODE_NOT_ACTIVE');
  });

  it('waits while the partition has not committed the recorded membership', () => {
    const cluster = new SimCluster();
    for (const nodeId of ['n0', 'n1', 'n2', 'n3']) cluster.addNode(nodeId);
    cluster.createPartitions(4);
    cluster.setHealth(cluster.nodesOf(0)[0], 'down');
    const input = { state: cluster.state, health: cluster.healthOf, caughtUp: () => true };
    expect(planActions({ ...input, membershipCommitted: () => false }).actions).to.deep.equal([]);
    expect(planActions({ ...input, membershipCommitted: () => true }).actions.length).to.be.greaterThan(0);
  });

  it('cancels a learner whose node goes down, then repairs elsewhere', () => {
    const cluster = new SimCluster();
    for (const nodeId of ['n0', 'n1', 'n2', 'n3', 'n4']) cluster.addNode(nodeId);
    cluster.createPartitions(1);
    cluster.catchUpRounds = 100;
    const lostNode = cluster.nodesOf(0)[0];
    cluster.setHealth(lostNode, 'down');
    cluster.step();
    const learner = cluster.state.partitions.get(0)!.replicas.find((r) => r.role === 'learner')!;
    cluster.setHealth(learner.node, 'down');
    const plan = cluster.step();
    expect(plan.actions[0]).to.deep.include({ kind: 'command', command: { type: 'removeReplica', partitionId: 0, replicaId: learner.replicaId } });
    cluster.catchUpRounds = 1;
    cluster.settle();
    expect(cluster.nodesOf(0)).to.not.include(learner.node);
    expect(cluster.nodesOf(0)).to.not.include(lostNode);
    expect(cluster.state.partitions.get(0)!.replicas).to.have.length(3);
  });
});
