import { expect } from 'chai';
import {
  ClusterCommand,
  ClusterState,
  EMPTY_CLUSTER_STATE,
  applyCommand,
  decodeClusterState,
  decodeCommand,
  encodeClusterState,
  encodeCommand,
} from '../../../actors/controller';
import { apply } from './harness';

const node = (nodeId: string, capacityReplicas = 10): ClusterCommand => ({ type: 'registerNode', nodeId, address: `addr-${nodeId}`, weight: 1, capacityReplicas });

/** n0..n3 registered, partition 0 on n0,n1,n2 (replica ids 1,2,3). */
function baseState(): ClusterState {
  let state = EMPTY_CLUSTER_STATE;
  for (const id of ['n0', 'n1', 'n2', 'n3']) state = apply(state, node(id));
  return apply(state, { type: 'createPartition', partitionId: 0, replicaCount: 3, nodeIds: ['n0', 'n1', 'n2'] });
}

function expectRefusal(state: ClusterState, command: unknown, code: string): void {
  const before = Buffer.from(encodeClusterState(state)).toString();
  const result = applyCommand(state, command as ClusterCommand);
  expect(result.ok, `${JSON.stringify(command)} should be refused with ${code}`).to.equal(false);
  if (!result.ok) {
    expect(result.error.code).to.equal(code);
    expect(result.error.message).to.be.a('string').and.not.equal('');
  }
  expect(Buffer.from(encodeClusterState(state)).toString(), 'a refusal changes nothing').to.equal(before);
}

describe('controller/clusterState', () => {
  it('creates a partition with voters 1..n and allocates replica ids that are never reused', () => {
    let state = baseState();
    expect(state.partitions.get(0)!.replicas.map((r) => [r.node, r.replicaId, r.role])).to.deep.equal([
      ['n0', 1, 'voter'],
      ['n1', 2, 'voter'],
      ['n2', 3, 'voter'],
    ]);
    const added = applyCommand(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3' });
    expect(added.ok && added.replicaId).to.equal(4);
    state = apply(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3' });
    state = apply(state, { type: 'removeReplica', partitionId: 0, replicaId: 4 });
    state = apply(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3' });
    expect(state.partitions.get(0)!.replicas.find((r) => r.node === 'n3')!.replicaId).to.equal(5);
  });

  it('a move: learner replacing a voter, promote, remove the replaced voter clears the mark and the leader', () => {
    let state = baseState();
    state = apply(state, { type: 'recordLeader', partitionId: 0, replicaId: 1, term: 1 });
    state = apply(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3', replaces: 1 });
    expect(state.partitions.get(0)!.replicas[3]).to.deep.equal({ node: 'n3', replicaId: 4, role: 'learner', replaces: 1 });
    state = apply(state, { type: 'promoteReplica', partitionId: 0, replicaId: 4 });
    state = apply(state, { type: 'removeReplica', partitionId: 0, replicaId: 1 });
    const partition = state.partitions.get(0)!;
    expect(partition.replicas.map((r) => r.node)).to.deep.equal(['n1', 'n2', 'n3']);
    expect(partition.replicas[2]).to.deep.equal({ node: 'n3', replicaId: 4, role: 'voter' });
    expect(partition.leader).to.equal(null);
  });

  it('bumps the epoch by one on every change and never on a refusal or a no-op', () => {
    let state = EMPTY_CLUSTER_STATE;
    const script: Array<[ClusterCommand, number]> = [
      [node('n0'), 1],
      [node('n0'), 0], // NODE_EXISTS
      [node('n1'), 1],
      [node('n2'), 1],
      [{ type: 'setNodeState', nodeId: 'n2', state: 'active' }, 0], // no-op
      [{ type: 'createPartition', partitionId: 5, replicaCount: 3, nodeIds: ['n0', 'n1', 'n2'] }, 1],
      [{ type: 'recordLeader', partitionId: 5, replicaId: 2, term: 3 }, 1],
      [{ type: 'recordLeader', partitionId: 5, replicaId: 2, term: 3 }, 0], // same report
      [{ type: 'recordLeader', partitionId: 5, replicaId: 1, term: 2 }, 0], // STALE_TERM
      [{ type: 'setNodeState', nodeId: 'n2', state: 'draining' }, 1],
      [{ type: 'setNodeState', nodeId: 'n2', state: 'draining' }, 0],
      [{ type: 'removeNode', nodeId: 'n2' }, 1],
      [{ type: 'deletePartition', partitionId: 5 }, 1],
    ];
    for (const [command, bump] of script) {
      const result = applyCommand(state, command);
      const next = result.ok ? result.state : state;
      expect(next.epoch - state.epoch, JSON.stringify(command)).to.equal(bump);
      if (result.ok) expect(result.changed).to.equal(bump === 1);
      state = next;
    }
    expect(state.epoch).to.equal(8);
  });

  describe('refusals (each leaves the state untouched)', () => {
    it('INVALID_COMMAND for bad fields, unknown types and extra fields', () => {
      const state = baseState();
      for (const bad of [
        null,
        [],
        { type: 'nope' },
        { type: 'registerNode', nodeId: '', address: 'a', weight: 1, capacityReplicas: 1 },
        { type: 'registerNode', nodeId: 'n9', address: 'a', weight: 0, capacityReplicas: 1 },
        { type: 'registerNode', nodeId: 'n9', address: 'a', weight: Infinity, capacityReplicas: 1 },
        { type: 'registerNode', nodeId: 'n9', address: '', weight: 1, capacityReplicas: 1 },
        { type: 'registerNode', nodeId: 'n9', address: 'a', weight: 1, capacityReplicas: 1.5 },
        { type: 'registerNode', nodeId: 'n9', address: 'a', weight: 1, capacityReplicas: 1, extra: 1 },
        { type: 'registerNode', nodeId: '__proto__', address: 'a', weight: 1, capacityReplicas: 1 },
        { type: 'setNodeState', nodeId: 'n1', state: 'removed' },
        { type: 'createPartition', partitionId: -1, replicaCount: 3, nodeIds: ['n0'] },
        { type: 'createPartition', partitionId: 1, replicaCount: 0, nodeIds: [] },
        { type: 'createPartition', partitionId: 1, replicaCount: 3, nodeIds: 'n0' },
        { type: 'createPartition', partitionId: 1, replicaCount: 2, nodeIds: ['n0', 'n1', 'n2'] },
        { type: 'addReplica', partitionId: 0, nodeId: 'n3', replaces: 0 },
        { type: 'promoteReplica', partitionId: 0, replicaId: 0 },
        { type: 'removeReplica', partitionId: 0.5, replicaId: 1 },
        { type: 'recordLeader', partitionId: 0, replicaId: 1, term: -1 },
      ]) {
        expectRefusal(state, bad, 'INVALID_COMMAND');
      }
    });

    it('node codes', () => {
      let state = baseState();
      expectRefusal(state, node('n1'), 'NODE_EXISTS');
      expectRefusal(state, { type: 'setNodeState', nodeId: 'n9', state: 'draining' }, 'NODE_UNKNOWN');
      expectRefusal(state, { type: 'removeNode', nodeId: 'n9' }, 'NODE_UNKNOWN');
      expectRefusal(state, { type: 'addReplica', partitionId: 0, nodeId: 'n9' }, 'NODE_UNKNOWN');
      state = apply(state, { type: 'setNodeState', nodeId: 'n3', state: 'draining' });
      expectRefusal(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3' }, 'NODE_NOT_ACTIVE');
      state = apply(state, { type: 'removeNode', nodeId: 'n3' });
      expectRefusal(state, node('n3'), 'NODE_REMOVED');
      expectRefusal(state, { type: 'removeNode', nodeId: 'n3' }, 'NODE_REMOVED');
      expectRefusal(state, { type: 'setNodeState', nodeId: 'n3', state: 'active' }, 'NODE_REMOVED');
      expectRefusal(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3' }, 'NODE_REMOVED');
      state = apply(state, node('tiny', 1));
      state = apply(state, { type: 'createPartition', partitionId: 1, replicaCount: 1, nodeIds: ['tiny'] });
      expectRefusal(state, { type: 'addReplica', partitionId: 0, nodeId: 'tiny' }, 'NODE_FULL');
    });

    it('partition codes', () => {
      let state = baseState();
      expectRefusal(state, { type: 'createPartition', partitionId: 0, replicaCount: 3, nodeIds: ['n0', 'n1', 'n3'] }, 'PARTITION_EXISTS');
      expectRefusal(state, { type: 'createPartition', partitionId: 1, replicaCount: 3, nodeIds: ['n0', 'n0', 'n1'] }, 'SAME_NODE');
      expectRefusal(state, { type: 'createPartition', partitionId: 1, replicaCount: 3, nodeIds: ['n0', 'n1'] }, 'NOT_ENOUGH_NODES');
      expectRefusal(state, { type: 'createPartition', partitionId: 1, replicaCount: 3, nodeIds: ['n0', 'n1', 'n9'] }, 'NODE_UNKNOWN');
      for (const command of [
        { type: 'deletePartition', partitionId: 7 },
        { type: 'addReplica', partitionId: 7, nodeId: 'n3' },
        { type: 'promoteReplica', partitionId: 7, replicaId: 1 },
        { type: 'removeReplica', partitionId: 7, replicaId: 1 },
        { type: 'recordLeader', partitionId: 7, replicaId: 1, term: 1 },
      ]) {
        expectRefusal(state, command, 'PARTITION_UNKNOWN');
      }
      state = apply(state, { type: 'deletePartition', partitionId: 0 });
      expectRefusal(state, { type: 'createPartition', partitionId: 0, replicaCount: 3, nodeIds: ['n0', 'n1', 'n2'] }, 'PARTITION_RETIRED');
    });

    it('replica codes', () => {
      let state = baseState();
      expectRefusal(state, { type: 'addReplica', partitionId: 0, nodeId: 'n1' }, 'SAME_NODE');
      expectRefusal(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3', replaces: 9 }, 'REPLICA_UNKNOWN');
      expectRefusal(state, { type: 'promoteReplica', partitionId: 0, replicaId: 9 }, 'REPLICA_UNKNOWN');
      expectRefusal(state, { type: 'removeReplica', partitionId: 0, replicaId: 9 }, 'REPLICA_UNKNOWN');
      expectRefusal(state, { type: 'recordLeader', partitionId: 0, replicaId: 9, term: 1 }, 'REPLICA_UNKNOWN');
      expectRefusal(state, { type: 'promoteReplica', partitionId: 0, replicaId: 1 }, 'NOT_LEARNER');
      state = apply(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3' });
      expectRefusal(state, { type: 'recordLeader', partitionId: 0, replicaId: 4, term: 1 }, 'NOT_VOTER');
      state = apply(state, node('n4'));
      expectRefusal(state, { type: 'addReplica', partitionId: 0, nodeId: 'n4' }, 'CHANGE_IN_FLIGHT');
      state = apply(state, { type: 'removeReplica', partitionId: 0, replicaId: 4 });
      state = apply(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3', replaces: 1 });
      state = apply(state, { type: 'promoteReplica', partitionId: 0, replicaId: 5 });
      expectRefusal(state, { type: 'addReplica', partitionId: 0, nodeId: 'n4' }, 'CHANGE_IN_FLIGHT');
      const single = apply(baseState(), { type: 'createPartition', partitionId: 1, replicaCount: 1, nodeIds: ['n3'] });
      expectRefusal(single, { type: 'removeReplica', partitionId: 1, replicaId: 1 }, 'LAST_VOTER');
    });

    it('STALE_TERM for an older term or a second leader in one term', () => {
      const state = apply(baseState(), { type: 'recordLeader', partitionId: 0, replicaId: 1, term: 5 });
      expectRefusal(state, { type: 'recordLeader', partitionId: 0, replicaId: 2, term: 4 }, 'STALE_TERM');
      expectRefusal(state, { type: 'recordLeader', partitionId: 0, replicaId: 2, term: 5 }, 'STALE_TERM');
      const stepDown = applyCommand(state, { type: 'recordLeader', partitionId: 0, replicaId: null, term: 5 });
      expect(stepDown.ok && stepDown.state.partitions.get(0)!.leader).to.equal(null);
    });
  });

  describe('codecs', () => {
    it('state round-trips canonically', () => {
      let state = baseState();
      state = apply(state, { type: 'addReplica', partitionId: 0, nodeId: 'n3', replaces: 2 });
      state = apply(state, { type: 'recordLeader', partitionId: 0, replicaId: 1, term: 2 });
      state = apply(state, { type: 'setNodeState', nodeId: 'n0', state: 'draining' });
      const bytes = encodeClusterState(state);
      const decoded = decodeClusterState(bytes);
      expect(decoded.ok).to.equal(true);
      if (!decoded.ok) return;
      expect(Buffer.from(encodeClusterState(decoded.state)).toString()).to.equal(Buffer.from(bytes).toString());
      expect(decoded.state.partitions.get(0)).to.deep.equal(state.partitions.get(0));
      expect(decoded.state.epoch).to.equal(state.epoch);
    });

    it('state decode refuses garbage, bad fields and broken invariants', () => {
      const good = JSON.parse(Buffer.from(encodeClusterState(baseState())).toString());
      const variants: unknown[] = [
        '{',
        { ...good, version: 2 },
        { ...good, epoch: -1 },
        { ...good, nodes: [...good.nodes, good.nodes[0]] },
        { ...good, nodes: [{ ...good.nodes[0], weight: 0 }, ...good.nodes.slice(1)] },
        { ...good, partitions: [{ ...good.partitions[0], replicas: [good.partitions[0].replicas[0], { ...good.partitions[0].replicas[1], node: 'n0' }] }] },
        { ...good, partitions: [{ ...good.partitions[0], nextReplicaId: 2 }] },
        { ...good, partitions: [{ ...good.partitions[0], leader: 9 }] },
        { ...good, partitions: [{ ...good.partitions[0], replicas: [{ ...good.partitions[0].replicas[0], replaces: 9, role: 'learner' }, good.partitions[0].replicas[1]] }] },
        { ...good, retiredPartitionIds: [0] },
      ];
      for (const variant of variants) {
        const text = typeof variant === 'string' ? variant : JSON.stringify(variant);
        const result = decodeClusterState(Buffer.from(text));
        expect(result.ok, text).to.equal(false);
        if (!result.ok) expect(result.error.code).to.equal('BAD_ENCODING');
      }
      expect(decodeClusterState(new Uint8Array([0xff, 0xfe])).ok).to.equal(false);
    });

    it('commands round-trip; decode refuses bad UTF-8, bad JSON and invalid commands', () => {
      const command: ClusterCommand = { type: 'addReplica', partitionId: 3, nodeId: 'n1', replaces: 2 };
      const decoded = decodeCommand(encodeCommand(command));
      expect(decoded.ok && decoded.command).to.deep.equal(command);
      expect(Object.isFrozen(decoded.ok && decoded.command)).to.equal(true);
      for (const bytes of [new Uint8Array([0xc3, 0x28]), Buffer.from('{"type":'), Buffer.alloc(70 * 1024, 32)]) {
        const result = decodeCommand(bytes);
        expect(result.ok === false && result.error.code).to.equal('BAD_ENCODING');
      }
      const invalid = decodeCommand(Buffer.from('{"type":"removeNode","nodeId":"n1","x":1}'));
      expect(invalid.ok === false && invalid.error.code).to.equal('INVALID_COMMAND');
    });
  });
});
