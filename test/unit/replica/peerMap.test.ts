import { expect } from 'chai';
import { peerUpdates } from '../../../actors/replica/peerMap';
import type { Heartbeat } from '../../../actors/controller/heartbeat';

describe('replica/peerMap: node maps learnt from heartbeats', () => {
  const heartbeat = (node: string, hosted: [number, number][]): Heartbeat => ({
    node, weight: 1, drained: false, replicas: [], hosted: hosted.map(([partition, replica]) => ({ partition, replica })),
  });
  // This node hosts partitions 0 and 1; it knows r1..r3 of partition 0 on n1..n3, and r2 of partition 1 on n2.
  const maps = new Map<number, Record<string, string>>([[0, { 1: 'n1', 2: 'n2', 3: 'n3' }], [1, { 2: 'n2' }]]);
  const nodeOf = (partition: number, replica: number) => (maps.has(partition) ? maps.get(partition)![String(replica)] : null);

  it('learns a replica a move or repair started on another node, for partitions this node hosts only', () => {
    expect(peerUpdates(heartbeat('n4', [[0, 4], [1, 5], [7, 2]]), 'n1', nodeOf)).to.deep.equal([
      { partition: 0, replica: 4, node: 'n4' },
      { partition: 1, replica: 5, node: 'n4' },
    ]);
  });

  it('changes nothing that is already known, and ignores its own heartbeat', () => {
    expect(peerUpdates(heartbeat('n2', [[0, 2], [1, 2]]), 'n1', nodeOf)).to.deep.equal([]);
    expect(peerUpdates(heartbeat('n1', [[0, 9]]), 'n1', nodeOf)).to.deep.equal([]);
  });
});
