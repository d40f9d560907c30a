import { expect } from 'chai';
import { clusterLayout } from '../../../actors/router/layout';
import { preferredLeaders } from '../../../supervisor/leaderPlan';

describe('supervisor/leaderPlan: first leaders of a new cluster', () => {
  const leadersPerNode = (nodes: string[], partitions: number, replicas: number) => {
    const layouts = clusterLayout(nodes, partitions, replicas);
    const preferred = preferredLeaders(layouts);
    const counts = new Map(nodes.map((node) => [node, 0]));
    for (const layout of layouts) {
      const replica = preferred.get(layout.partition)!;
      expect(layout.nodeOfReplica.has(replica), `partition ${layout.partition} prefers one of its own replicas`).to.equal(true);
      const node = layout.nodeOfReplica.get(replica)!;
      counts.set(node, counts.get(node)! + 1);
    }
    return [...counts.values()];
  };

  it('gives every node its share of leaders, within one', () => {
    for (const [nodes, partitions] of [[3, 8], [3, 4], [4, 16], [5, 64], [3, 1]] as const) {
      const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
      const counts = leadersPerNode(ids, partitions, 3);
      expect(Math.max(...counts) - Math.min(...counts), `${nodes} nodes, ${partitions} partitions: ${counts}`).to.be.at.most(1);
    }
  });

  it('is the same whatever order the nodes are listed in', () => {
    const a = preferredLeaders(clusterLayout(['n1', 'n2', 'n3'], 8, 3));
    const b = preferredLeaders(clusterLayout(['n3', 'n1', 'n2'], 8, 3));
    expect([...a]).to.deep.equal([...b]);
  });
});
