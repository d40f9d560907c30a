import { expect } from 'chai';
import { planRebalance } from '../../../supervisor/adminCommands';
import { clusterLayout } from '../../../actors/router/layout';

describe('supervisor/adminCommands: planRebalance', () => {
  const node = (id: string, extra: object = {}) => ({ id, pid: 1, uptimeMs: 1, replicas: 0, restarts: 0, failed: [], ...extra });
  const replica = (partition: number, id: number, nodeId: string) => ({
    partition, replica: id, node: nodeId, role: 'follower' as const, term: 1, leader: 1, commit: 1, applied: 1, lastIndex: 1, firstIndex: 1, snapshotsInstalled: 0,
  });
  const statusOf = (nodes: ReturnType<typeof node>[], layout: string[][]) => ({
    nodes,
    partitions: layout.map((holders, id) => ({ id, leader: null, replicas: holders.map((n, i) => replica(id, i + 1, n)) })),
    missing: [],
  });

  it('plans nothing for the placement itself, moves only onto a new node, and only off a drained one', () => {
    const three = ['n1', 'n2', 'n3'].map((id) => node(id));
    const layout = clusterLayout(['n1', 'n2', 'n3'], 8, 3).map((p) => [...p.nodeOfReplica.values()]);
    expect(planRebalance(statusOf(three, layout)).moves).to.deep.equal([]);
    const grown = planRebalance(statusOf([...three, node('n4')], layout)).moves;
    expect(grown.length).to.be.greaterThan(0);
    for (const move of grown) expect(move.to).to.equal('n4');
    const drained = planRebalance(statusOf([node('n1'), node('n2', { drained: true }), node('n3'), node('n4')], layout)).moves;
    expect(drained.map((move) => move.from).every((from) => from === 'n2')).to.equal(true);
    expect(drained).to.have.length(layout.filter((holders) => holders.includes('n2')).length);
  });
});
