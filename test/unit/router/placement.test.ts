import { expect } from 'chai';
import {
  NodeSpec,
  Placement,
  buildNodeRing,
  pickReplacement,
  placeReplicas,
  preferenceList,
  replicaCountsByNode,
} from '../../../actors/router/placement';
import { expectRingError, shuffled } from './helpers';

function partitions(count: number): string[] {
  return Array.from({ length: count }, (_unused, index) => `p${index}`);
}

function nodesOf(weights: number[]): NodeSpec[] {
  return weights.map((weight, index) => ({ id: `n${index}`, weight }));
}

function entries(placement: Placement): Array<[string, readonly string[]]> {
  return [...placement.assignments.entries()];
}

describe('router/placement', () => {
  it('matches golden placements (derived by an independent reference)', () => {
    const placement = placeReplicas(partitions(4), nodesOf([1, 1, 2, 1, 1, 2]), 3);
    expect(Object.fromEntries(entries(placement))).to.deep.equal({
      p0: ['n0', 'n1', 'n4'],
      p1: ['n0', 'n2', 'n1'],
      p2: ['n2', 'n1', 'n3'],
      p3: ['n4', 'n5', 'n3'],
    });
  });

  it('is deterministic and independent of the order of partitions and nodes', () => {
    const nodes = nodesOf([1, 1, 2, 1, 3, 1, 1, 2]);
    const reference = entries(placeReplicas(partitions(64), nodes, 3));
    for (const seed of [11, 12, 13]) {
      const placement = placeReplicas(shuffled(partitions(64), seed), shuffled(nodes, seed + 100), 3);
      expect(entries(placement)).to.deep.equal(reference);
    }
    expect(entries(placeReplicas(partitions(64), buildNodeRing(nodes), 3))).to.deep.equal(reference);
  });

  it('places replicaCount distinct nodes per partition', () => {
    const placement = placeReplicas(partitions(256), nodesOf([1, 2, 1, 1, 3, 1, 1]), 3);
    expect(placement.replicaCountPlaced).to.equal(3);
    expect(placement.underReplicated).to.equal(false);
    expect(placement.assignments.size).to.equal(256);
    for (const [partitionId, replicas] of placement.assignments) {
      expect(replicas, partitionId).to.have.length(3);
      expect(new Set(replicas).size, partitionId).to.equal(3);
      expect(replicas).to.deep.equal(preferenceList(partitionId, nodesOf([1, 2, 1, 1, 3, 1, 1])).slice(0, 3));
    }
  });

  it('says so when there are fewer nodes than replicas', () => {
    const placement = placeReplicas(partitions(16), nodesOf([1, 1]), 3);
    expect(placement.replicaCountRequested).to.equal(3);
    expect(placement.replicaCountPlaced).to.equal(2);
    expect(placement.underReplicated).to.equal(true);
    for (const replicas of placement.assignments.values()) expect([...replicas].sort()).to.deep.equal(['n0', 'n1']);
  });

  it('with 3 nodes and 3 replicas every node holds every partition, whatever the weights', () => {
    const nodes = nodesOf([1, 1, 2]);
    const counts = replicaCountsByNode(placeReplicas(partitions(64), nodes, 3), nodes);
    expect([...counts.values()]).to.deep.equal([64, 64, 64]);
  });

  it('gives a single replica per partition in proportion to weight (within 20%)', () => {
    const weights = [1, 1, 1, 1, 2, 2];
    const nodes = nodesOf(weights);
    const counts = replicaCountsByNode(placeReplicas(partitions(4096), nodes, 1), nodes);
    for (const node of nodes) {
      const expected = (4096 * node.weight) / 8;
      expect(Math.abs((counts.get(node.id) ?? 0) / expected - 1), node.id).to.be.lessThan(0.2);
    }
  });

  it('skews three replicas toward heavier nodes, as weighted sampling without replacement predicts', () => {
    const nodes = nodesOf([1, 1, 1, 1, 2, 2]);
    const counts = replicaCountsByNode(placeReplicas(partitions(4096), nodes, 3), nodes);
    const total = 4096 * 3;
    // Model shares (docs/hashing.md): 0.1381 for weight 1, 0.2238 for weight 2.
    for (const node of nodes) {
      const modelShare = node.weight === 1 ? 0.1381 : 0.2238;
      expect(Math.abs((counts.get(node.id) ?? 0) / total / modelShare - 1), node.id).to.be.lessThan(0.12);
    }
    const light = ['n0', 'n1', 'n2', 'n3'].reduce((sum, id) => sum + (counts.get(id) ?? 0), 0) / 4;
    const heavy = ((counts.get('n4') ?? 0) + (counts.get('n5') ?? 0)) / 2;
    expect(heavy / light).to.be.greaterThan(1.4);
  });

  it('adding a node moves about its fair share of replicas, all of them to the new node', () => {
    const before = placeReplicas(partitions(1024), nodesOf([1, 1, 1]), 3);
    const after = placeReplicas(partitions(1024), nodesOf([1, 1, 1, 1]), 3);
    let moved = 0;
    for (const [partitionId, replicas] of after.assignments) {
      const previous = new Set(before.assignments.get(partitionId));
      for (const nodeId of replicas) {
        if (previous.has(nodeId)) continue;
        moved++;
        expect(nodeId, partitionId).to.equal('n3');
      }
    }
    const fraction = moved / (1024 * 3);
    expect(fraction).to.be.greaterThan(0.15);
    expect(fraction).to.be.lessThan(0.35);
  });

  describe('pickReplacement', () => {
    const nodes = nodesOf([1, 1, 2, 1, 1, 2, 1, 1]);

    it('picks the next node of the preference list that neither holds the partition nor is down', () => {
      for (const partitionId of partitions(128)) {
        const order = preferenceList(partitionId, nodes);
        const holders = order.slice(0, 3);
        const lost = holders[1];
        const result = pickReplacement(partitionId, nodes, holders.filter((id) => id !== lost), [lost]);
        expect(result).to.deep.equal({ ok: true, nodeId: order[3] });
        // And it agrees with a fresh placement on the nodes that remain.
        const remaining = nodes.filter((node) => node.id !== lost);
        const fresh = placeReplicas([partitionId], remaining, 3).assignments.get(partitionId) ?? [];
        expect(new Set(fresh)).to.deep.equal(new Set([...holders.filter((id) => id !== lost), order[3]]));
      }
    });

    it('skips down nodes as well as holders', () => {
      const order = preferenceList('p7', nodes);
      const result = pickReplacement('p7', nodes, order.slice(0, 2), [order[2], order[3], order[4]]);
      expect(result).to.deep.equal({ ok: true, nodeId: order[5] });
    });

    it('is deterministic and independent of node order', () => {
      const first = pickReplacement('p9', nodes, ['n0'], ['n2']);
      for (const seed of [1, 2, 3]) expect(pickReplacement('p9', shuffled(nodes, seed), ['n0'], ['n2'])).to.deep.equal(first);
    });

    it('reports NO_CANDIDATE when every node holds the partition or is down', () => {
      const result = pickReplacement('p1', nodesOf([1, 1, 1]), ['n0', 'n1'], ['n2']);
      expect(result.ok).to.equal(false);
      if (!result.ok) {
        expect(result.error.code).to.equal('NO_CANDIDATE');
        expect(result.error.message).to.contain('p1');
      }
    });
  });

  it('refuses bad input with clear errors', () => {
    expectRingError(() => placeReplicas(partitions(4), [], 3), 'EMPTY_RING');
    expectRingError(() => placeReplicas(partitions(4), nodesOf([1, 0]), 3), 'INVALID_WEIGHT');
    expectRingError(() => placeReplicas(partitions(4), nodesOf([1, -2]), 3), 'INVALID_WEIGHT');
    expectRingError(() => placeReplicas(partitions(4), nodesOf([1, 1]), 0), 'INVALID_COUNT');
    expectRingError(() => placeReplicas(partitions(4), nodesOf([1, 1]), 2.5), 'INVALID_COUNT');
    expectRingError(() => placeReplicas(['p0', 'p0'], nodesOf([1, 1]), 1), 'DUPLICATE_PARTITION');
    expectRingError(() => placeReplicas([''], nodesOf([1, 1]), 1), 'INVALID_PARTITION_ID');
    expectRingError(() => pickReplacement('p0', [], [], []), 'EMPTY_RING');
  });
});
