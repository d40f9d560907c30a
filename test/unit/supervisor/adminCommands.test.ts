import { expect } from 'chai';
import { planLeaderBalance } from '../../../supervisor/adminCommands';

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
