import { expect } from 'chai';
import { planLeaderBalance, planRebalance } from '../../../supervisor/adminCommands';
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

describe('supervisor/adminCommands: planLeaderBalance', () => {
  const node = (id: string, extra: object = {}) => ({ id, pid: 1, uptimeMs: 1, replicas: 0, restarts: 0, failed: [], ...extra });
  const partition = (id: number, leaderNode: string, holders: string[]) => ({
    id,
    leader: { replica: holders.indexOf(leaderNode) + 1, node: leaderNode, term: 1 },
    replicas: holders.map((n, i) => ({ partition: id, replica: i + 1, node: n, role: (n === leaderNode ? 'leader' : 'follower') as 'leader' | 'follower', term: 1, leader: 1, commit: 1, applied: 1, lastIndex: 1, firstIndex: 1, snapshotsInstalled: 0 })),
  });
  const all = ['n1', 'n2', 'n3'];
  const spread = (status: Parameters<typeof planLeaderBalance>[0]) => {
    const counts = new Map(status.nodes.filter((n) => !n.drained).map((n) => [n.id, 0]));
    const leaders = new Map(status.partitions.map((p) => [p.id, p.leader!.node]));
    for (const move of planLeaderBalance(status)) leaders.set(move.partition, move.to);
    for (const leader of leaders.values()) if (counts.has(leader)) counts.set(leader, counts.get(leader)! + 1);
    return [...counts.values()];
  };

  it('evens out leaders after a failover left one node leading everything', () => {
    const status = { nodes: all.map((id) => node(id)), missing: [], partitions: Array.from({ length: 8 }, (_, id) => partition(id, 'n1', all)) };
    const moves = planLeaderBalance(status);
    expect(moves.every((move) => move.from === 'n1')).to.equal(true);
    const counts = spread(status);
    expect(Math.max(...counts) - Math.min(...counts)).to.be.at.most(1);
    expect(moves).to.have.length(5);
  });

  it('moves nothing when balanced, and never onto a drained node', () => {
    const balanced = { nodes: all.map((id) => node(id)), missing: [], partitions: [partition(0, 'n1', all), partition(1, 'n2', all), partition(2, 'n3', all)] };
    expect(planLeaderBalance(balanced)).to.deep.equal([]);
    const drained = { nodes: [node('n1'), node('n2', { drained: true }), node('n3')], missing: [], partitions: Array.from({ length: 4 }, (_, id) => partition(id, 'n1', all)) };
    const moves = planLeaderBalance(drained);
    expect(moves.map((move) => move.to)).to.deep.equal(['n3', 'n3']);
  });
});
