import { expect } from 'chai';
import { ClusterState, EMPTY_CLUSTER_STATE, applyCommand, checkInvariants, planActions } from '../../../actors/controller';
import { METADATA_PARTITION, METADATA_REPLICAS, bootstrapCommands, isMetadataPartition, metadataLayout } from '../../../actors/controller/metadataPartition';
import { CAPACITY_REPLICAS_MAX } from '../../../actors/controller/commands';
import { PartitionLayout, clusterLayout } from '../../../actors/router/layout';

const PARTITIONS = 8;
const REPLICAS = 3;

function nodesOf(count: number): string[] {
  return Array.from({ length: count }, (_unused, index) => `n${index}`);
}

/** Applies every command, failing the test on the first refusal. */
function applyAll(commands: ReturnType<typeof bootstrapCommands>): ClusterState {
  let state = EMPTY_CLUSTER_STATE;
  for (const command of commands) {
    const result = applyCommand(state, command);
    if (!result.ok) throw new Error(`${JSON.stringify(command)} refused: ${result.error.code} ${result.error.message}`);
    expect(result.changed, `${command.type} changes the state`).to.equal(true);
    state = result.state;
  }
  return state;
}

function layoutsFor(nodes: string[]): PartitionLayout[] {
  return [...clusterLayout(nodes, PARTITIONS, REPLICAS), metadataLayout(nodes)];
}

describe('controller/metadataPartition', () => {
  it('the metadata partition id is far from client partitions and recognised', () => {
    expect(isMetadataPartition(METADATA_PARTITION)).to.equal(true);
    expect(isMetadataPartition(0)).to.equal(false);
    expect(isMetadataPartition(PARTITIONS)).to.equal(false);
  });

  for (const count of [3, 4, 5, 7]) {
    it(`metadataLayout over ${count} nodes: ${METADATA_REPLICAS} distinct initial nodes, replica ids 1..${METADATA_REPLICAS}`, () => {
      const nodes = nodesOf(count);
      const layout = metadataLayout(nodes);
      expect(layout.partition).to.equal(METADATA_PARTITION);
      expect([...layout.nodeOfReplica.keys()].sort()).to.deep.equal([1, 2, 3]);
      const holders = [...layout.nodeOfReplica.values()];
      expect(new Set(holders).size).to.equal(METADATA_REPLICAS);
      for (const holder of holders) expect(nodes).to.include(holder);
    });
  }

  for (const count of [1, 2]) {
    it(`metadataLayout over ${count} node(s): every node, once`, () => {
      const nodes = nodesOf(count);
      const layout = metadataLayout(nodes);
      expect([...layout.nodeOfReplica.keys()].sort()).to.deep.equal(nodes.map((_node, index) => index + 1));
      expect([...layout.nodeOfReplica.values()].sort()).to.deep.equal(nodes);
    });
  }

  it('metadataLayout does not depend on the order the initial cluster is listed in', () => {
    const forward = metadataLayout(['a', 'b', 'c', 'd', 'e']);
    const backward = metadataLayout(['e', 'd', 'c', 'b', 'a']);
    expect([...backward.nodeOfReplica]).to.deep.equal([...forward.nodeOfReplica]);
  });

  it('bootstrapCommands registers every initial node with its weight, then one createPartition per layout in replica-id order', () => {
    const nodes = nodesOf(4);
    const layouts: PartitionLayout[] = [{ partition: 0, nodeOfReplica: new Map([[2, 'n3'], [1, 'n1'], [3, 'n0']]) }];
    const commands = bootstrapCommands(nodes, layouts, (node) => (node === 'n2' ? 5 : 1));
    expect(commands).to.deep.equal([
      { type: 'registerNode', nodeId: 'n0', address: 'n0', weight: 1, capacityReplicas: CAPACITY_REPLICAS_MAX },
      { type: 'registerNode', nodeId: 'n1', address: 'n1', weight: 1, capacityReplicas: CAPACITY_REPLICAS_MAX },
      { type: 'registerNode', nodeId: 'n2', address: 'n2', weight: 5, capacityReplicas: CAPACITY_REPLICAS_MAX },
      { type: 'registerNode', nodeId: 'n3', address: 'n3', weight: 1, capacityReplicas: CAPACITY_REPLICAS_MAX },
      { type: 'createPartition', partitionId: 0, replicaCount: 3, nodeIds: ['n1', 'n3', 'n0'] },
    ]);
  });

  for (const count of [3, 4, 5]) {
    describe(`a fresh cluster of ${count} nodes, ${PARTITIONS} partitions x ${REPLICAS} replicas`, () => {
      const nodes = nodesOf(count);
      const layouts = layoutsFor(nodes);
      let state: ClusterState;
      before(() => {
        state = applyAll(bootstrapCommands(nodes, layouts, () => 1));
      });

      it('bootstraps to a state whose every partition has exactly the layout\'s replica ids on the layout\'s nodes, all voters', () => {
        expect(checkInvariants(state)).to.equal(undefined);
        expect([...state.nodes.keys()].sort()).to.deep.equal(nodes);
        for (const node of state.nodes.values()) expect(node.state).to.equal('active');
        expect([...state.partitions.keys()].sort((a, b) => a - b)).to.deep.equal([...Array.from({ length: PARTITIONS }, (_u, i) => i), METADATA_PARTITION]);
        for (const layout of layouts) {
          const partition = state.partitions.get(layout.partition)!;
          const expected = [...layout.nodeOfReplica].sort(([a], [b]) => a - b);
          expect(partition.replicas.map((replica) => [replica.replicaId, replica.node]), `partition ${layout.partition}`).to.deep.equal(expected);
          for (const replica of partition.replicas) expect(replica.role).to.equal('voter');
          expect(partition.replicaCount).to.equal(expected.length);
          expect(partition.nextReplicaId).to.equal(expected.length + 1);
        }
        expect(state.partitions.get(METADATA_PARTITION)!.replicas).to.have.length(Math.min(METADATA_REPLICAS, count));
      });

      it('is not reshuffled: the planner asks for no membership change, only (possibly) leader transfers', () => {
        // No leader known (the default leaderOf reads the metadata, which records none yet).
        const plan = planActions({ state, health: () => 'alive', caughtUp: () => true, membershipCommitted: () => true });
        expect(plan.actions.filter((action) => action.kind === 'command'), 'membership changes').to.deep.equal([]);
        expect(plan.blocked).to.deep.equal([]);
      });

      it('is not reshuffled either when every partition is led by the same node (leader transfers only)', () => {
        const leaderOf = (partition: number) => state.partitions.get(partition)?.replicas.find((replica) => replica.node === 'n0')?.replicaId
          ?? state.partitions.get(partition)?.replicas[0].replicaId ?? null;
        const plan = planActions({ state, health: () => 'alive', caughtUp: () => true, membershipCommitted: () => true, leaderOf });
        expect(plan.actions.filter((action) => action.kind === 'command'), 'membership changes').to.deep.equal([]);
        for (const action of plan.actions) expect(action.kind).to.equal('transferLeader');
        expect(plan.actions.length, 'the skewed leaders are rebalanced by transfers').to.be.greaterThan(0);
        expect(plan.blocked).to.deep.equal([]);
      });
    });
  }
});
