// Random join / down / up / drain / remove sequences from a seeded PRNG: after each event the planner
// runs to quiescence, and the invariants hold throughout. A failure prints its seed.

import { expect } from 'chai';
import { partitionRingKey } from '../../../actors/controller';
import { preferredNodes, buildNodeRing } from '../../../actors/router/placement';
import { SimCluster, singleServerChanges } from './harness';

/** xorshift32: tiny, seeded, good enough to pick events. */
function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}

const PARTITIONS = 12;

function liveActiveNodes(cluster: SimCluster): string[] {
  return [...cluster.state.nodes.values()].filter((n) => n.state === 'active' && cluster.healthOf(n.id) === 'alive').map((n) => n.id);
}

function randomEvent(cluster: SimCluster, random: () => number, nextId: () => string): string {
  const live = liveActiveNodes(cluster);
  const downNodes = [...cluster.state.nodes.values()].filter((n) => n.state !== 'removed' && cluster.healthOf(n.id) === 'down').map((n) => n.id);
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  const roll = random();
  // Keep at least 4 live active nodes so that every repair has a candidate.
  if (roll < 0.35 || live.length <= 4) {
    const id = nextId();
    cluster.addNode(id, 1 + Math.floor(random() * 3));
    return `join ${id}`;
  }
  if (roll < 0.55 && downNodes.length === 0) {
    const id = pick(live);
    cluster.setHealth(id, 'down');
    return `down ${id}`;
  }
  if (roll < 0.7 && downNodes.length > 0) {
    const id = pick(downNodes);
    cluster.setHealth(id, random() < 0.5 ? 'alive' : 'down');
    if (cluster.healthOf(id) === 'down') cluster.run({ type: 'removeNode', nodeId: id });
    return `recover-or-remove ${id}`;
  }
  const id = pick(live);
  cluster.run({ type: 'setNodeState', nodeId: id, state: 'draining' });
  return `drain ${id}`;
}

function checkConverged(cluster: SimCluster, seed: number, history: string[]): void {
  const context = `seed=${seed} after ${history.join(', ')}`;
  const active = [...cluster.state.nodes.values()].filter((n) => n.state === 'active');
  const ring = buildNodeRing(active.map(({ id, weight }) => ({ id, weight })));
  for (const partition of cluster.state.partitions.values()) {
    const nodes = partition.replicas.map((r) => r.node);
    expect(partition.replicas.every((r) => r.role === 'voter' && r.replaces === undefined), context).to.equal(true);
    expect(new Set(nodes).size, context).to.equal(nodes.length);
    expect(nodes.length, context).to.equal(3);
    for (const nodeId of nodes) {
      expect(cluster.healthOf(nodeId), context).to.equal('alive');
      expect(cluster.state.nodes.get(nodeId)!.state, context).to.equal('active');
    }
    const wanted = preferredNodes(partitionRingKey(partition.id), ring, 3, (id) => cluster.healthOf(id) === 'alive');
    expect([...nodes].sort(), `${context}: p${partition.id} at its placement`).to.deep.equal([...wanted].sort());
    const leader = partition.replicas.find((r) => r.replicaId === partition.leader);
    expect(leader, `${context}: p${partition.id} has a leader`).to.not.equal(undefined);
  }
  for (const node of cluster.state.nodes.values()) {
    if (node.state !== 'active') expect(cluster.replicasOn(node.id), `${context}: ${node.id} is ${node.state}`).to.equal(0);
  }
}

describe('controller/property: random membership events converge', () => {
  for (const seed of [1, 7, 42, 1234, 99991]) {
    it(`seed=${seed}`, () => {
      const random = xorshift32(seed);
      const cluster = new SimCluster({ changesInFlightMax: 4, movesInFlightMax: 2, leaderTransfersMax: 4 });
      let counter = 0;
      const nextId = () => `n${counter++}`;
      for (let index = 0; index < 5; index++) cluster.addNode(nextId());
      cluster.createPartitions(PARTITIONS);
      cluster.observers.push(singleServerChanges);
      const history: string[] = [];
      for (let event = 0; event < 12; event++) {
        history.push(randomEvent(cluster, random, nextId));
        cluster.settle(2000);
        checkConverged(cluster, seed, history);
      }
      expect(cluster.commandsApplied).to.be.greaterThan(PARTITIONS * 4);
    });
  }
});
