import { expect } from 'chai';
import { ClusterState, NodeHealth, Plan, planMove } from '../../../actors/controller';
import { ControllerRequest, parseControllerRequest, requestCommand, stateView } from '../../../actors/controller/controllerRequests';
import { heartbeat, leaderStatus, observe, registerNode, stateOf, status } from './fixtures';

const parse = (text: string) => parseControllerRequest(Buffer.from(text));

function expectBadRequest(text: string): void {
  const parsed = parse(text);
  expect(parsed.ok, text).to.equal(false);
  if (!parsed.ok) {
    expect(parsed.error.code, text).to.equal('BAD_REQUEST');
    expect(parsed.error.message).to.be.a('string').and.not.equal('');
  }
}

/** n0..n3; partition 0 on n0,n1,n2 (r1..r3), 1 on n1,n2,n3, 2 on n0,n2,n3. */
function threePartitions(): ClusterState {
  return stateOf([
    ...['n0', 'n1', 'n2', 'n3'].map((node) => registerNode(node)),
    { type: 'createPartition', partitionId: 0, replicaCount: 3, nodeIds: ['n0', 'n1', 'n2'] },
    { type: 'createPartition', partitionId: 1, replicaCount: 3, nodeIds: ['n1', 'n2', 'n3'] },
    { type: 'createPartition', partitionId: 2, replicaCount: 3, nodeIds: ['n0', 'n2', 'n3'] },
  ]);
}

const allAlive = (): NodeHealth => 'alive';
const quiet: Plan = { actions: [], blocked: [] };

describe('controller/controllerRequests', () => {
  describe('parseControllerRequest', () => {
    it('an empty body asks for the state', () => {
      expect(parseControllerRequest(new Uint8Array(0))).to.deep.equal({ ok: true, request: { op: 'state' } });
    });

    it('parses every valid request, keeping only the fields of its op', () => {
      const cases: [string, ControllerRequest][] = [
        ['{"op":"state"}', { op: 'state' }],
        ['{"op":"state","node":"n1"}', { op: 'state' }],
        ['{"op":"drain","node":"n1"}', { op: 'drain', node: 'n1' }],
        ['{"op":"undrain","node":"node-2.b"}', { op: 'undrain', node: 'node-2.b' }],
        ['{"op":"remove","node":"n3","extra":true}', { op: 'remove', node: 'n3' }],
        ['{"op":"move","partition":0,"from":"n0","to":"n3"}', { op: 'move', partition: 0, from: 'n0', to: 'n3' }],
        ['{"op":"move","partition":65535,"from":"n0","to":"n3"}', { op: 'move', partition: 65535, from: 'n0', to: 'n3' }],
      ];
      for (const [text, request] of cases) expect(parse(text), text).to.deep.equal({ ok: true, request });
    });

    it('a body that is not JSON, or not a JSON object: BAD_REQUEST', () => {
      for (const text of ['{', 'drain n1', 'null', '[]', '["drain"]', '"state"', '3']) expectBadRequest(text);
    });

    it('a missing or unknown op: BAD_REQUEST', () => {
      for (const text of ['{}', '{"node":"n1"}', '{"op":"DRAIN","node":"n1"}', '{"op":"delete","node":"n1"}', '{"op":7}']) expectBadRequest(text);
    });

    it('drain, undrain and remove need a valid node id', () => {
      for (const op of ['drain', 'undrain', 'remove']) {
        for (const node of [undefined, '', 'n 1', '-n1', 5, null, ['n1']]) expectBadRequest(JSON.stringify({ op, node }));
      }
    });

    it('move needs a non-negative integer partition and valid from/to node ids', () => {
      const good = { op: 'move', partition: 1, from: 'n0', to: 'n3' };
      for (const partition of [undefined, -1, 1.5, '1', null, 2 ** 53]) expectBadRequest(JSON.stringify({ ...good, partition }));
      for (const from of [undefined, '', 'n/0', 0]) expectBadRequest(JSON.stringify({ ...good, from }));
      for (const to of [undefined, '', 'n 3', false]) expectBadRequest(JSON.stringify({ ...good, to }));
    });
  });

  describe('requestCommand', () => {
    const state = threePartitions();

    it('drain and undrain set the node state; remove removes the node', () => {
      const drain = requestCommand(state, allAlive, { op: 'drain', node: 'n1' });
      expect(drain.ok && drain.command).to.deep.equal({ type: 'setNodeState', nodeId: 'n1', state: 'draining' });
      const undrain = requestCommand(state, allAlive, { op: 'undrain', node: 'n1' });
      expect(undrain.ok && undrain.command).to.deep.equal({ type: 'setNodeState', nodeId: 'n1', state: 'active' });
      const remove = requestCommand(state, allAlive, { op: 'remove', node: 'n2' });
      expect(remove.ok && remove.command).to.deep.equal({ type: 'removeNode', nodeId: 'n2' });
      for (const answer of [drain, undrain, remove]) expect(answer.ok && answer.message).to.be.a('string').and.match(/node n\d/);
    });

    it('move asks planMove: a learner on the target that replaces the source\'s voter', () => {
      const moved = requestCommand(state, allAlive, { op: 'move', partition: 0, from: 'n1', to: 'n3' });
      expect(moved.ok).to.equal(true);
      if (!moved.ok) return;
      expect(moved.command).to.include({ type: 'addReplica', partitionId: 0, nodeId: 'n3', replaces: 2 });
      const planned = planMove(state, allAlive, 0, 'n1', 'n3');
      expect(planned.ok && planned.command, 'exactly what planMove asks for').to.deep.equal(moved.command);
      expect(moved.message).to.contain('partition 0').and.contain('n1').and.contain('n3');
    });

    it('passes planMove\'s refusals through with their codes', () => {
      const inFlight = stateOf([{ type: 'addReplica', partitionId: 0, nodeId: 'n3', replaces: 1 }], state);
      const draining = stateOf([{ type: 'setNodeState', nodeId: 'n3', state: 'draining' }], state);
      const cases: [string, ClusterState, (node: string) => NodeHealth, Extract<ControllerRequest, { op: 'move' }>, string][] = [
        ['unknown partition', state, allAlive, { op: 'move', partition: 9, from: 'n0', to: 'n3' }, 'PARTITION_UNKNOWN'],
        ['source holds no replica', state, allAlive, { op: 'move', partition: 0, from: 'n3', to: 'n0' }, 'REPLICA_UNKNOWN'],
        ['source and target the same', state, allAlive, { op: 'move', partition: 0, from: 'n0', to: 'n0' }, 'SAME_NODE'],
        ['target already holds one', state, allAlive, { op: 'move', partition: 0, from: 'n0', to: 'n1' }, 'SAME_NODE'],
        ['target not alive', state, (node) => (node === 'n3' ? 'suspect' : 'alive'), { op: 'move', partition: 0, from: 'n0', to: 'n3' }, 'NODE_NOT_ACTIVE'],
        ['target draining', draining, allAlive, { op: 'move', partition: 0, from: 'n0', to: 'n3' }, 'NODE_NOT_ACTIVE'],
        ['target unknown', state, allAlive, { op: 'move', partition: 0, from: 'n0', to: 'n7' }, 'NODE_UNKNOWN'],
        ['a change already in flight', inFlight, allAlive, { op: 'move', partition: 0, from: 'n1', to: 'n3' }, 'CHANGE_IN_FLIGHT'],
      ];
      for (const [name, from, health, request, code] of cases) {
        const answer = requestCommand(from, health, request);
        expect(answer.ok, name).to.equal(false);
        if (answer.ok) continue;
        expect(answer.error.code, name).to.equal(code);
        expect(answer, name).to.deep.equal(planMove(from, health, request.partition, request.from, request.to));
      }
    });

    it('moving a learner is refused (NOT_VOTER)', () => {
      const withLearner = stateOf([{ type: 'addReplica', partitionId: 1, nodeId: 'n0' }], state);
      const answer = requestCommand(withLearner, allAlive, { op: 'move', partition: 1, from: 'n0', to: 'n3' });
      expect(answer.ok === false && answer.error.code).to.equal('NOT_VOTER');
    });
  });

  describe('stateView', () => {
    const state = threePartitions();
    // Leaders: p0 r1 on n0, p1 r3 on n3, p2 r1 on n0.
    const observed = observe(
      heartbeat('n0', { replicas: [leaderStatus(0, 1, 'n0', { voters: [1, 2, 3], learners: [] }), leaderStatus(2, 1, 'n0', { voters: [1, 2, 3], learners: [] })] }),
      heartbeat('n1', { replicas: [status(0, 2, 'n1'), status(1, 1, 'n1')] }),
      heartbeat('n3', { replicas: [leaderStatus(1, 3, 'n3', { voters: [1, 2, 3], learners: [] }), status(2, 3, 'n3')] }),
    );
    const health = (node: string): NodeHealth => (node === 'n2' ? 'suspect' : 'alive');

    it('counts replicas and observed leaders per node, with state and health, nodes and partitions in id order', () => {
      const view = stateView('n1', state, health, observed, new Set([0, 1, 2]), quiet);
      expect(view.controller).to.equal('n1');
      expect(view.epoch).to.equal(state.epoch);
      expect(view.nodes).to.deep.equal([
        { id: 'n0', weight: 1, state: 'active', health: 'alive', replicas: 2, leaders: 2 },
        { id: 'n1', weight: 1, state: 'active', health: 'alive', replicas: 2, leaders: 0 },
        { id: 'n2', weight: 1, state: 'active', health: 'suspect', replicas: 3, leaders: 0 },
        { id: 'n3', weight: 1, state: 'active', health: 'alive', replicas: 2, leaders: 1 },
      ]);
      expect(view.partitions.map((partition) => [partition.id, partition.leader, partition.settled])).to.deep.equal([[0, 1, true], [1, 3, true], [2, 1, true]]);
      expect(view.partitions[1].replicas).to.deep.equal([
        { node: 'n1', replica: 1, role: 'voter' },
        { node: 'n2', replica: 2, role: 'voter' },
        { node: 'n3', replica: 3, role: 'voter' },
      ]);
      expect(view.changing).to.equal(0);
      expect(view.balanced).to.equal(true);
    });

    it('a partition with no observed leader shows leader null and counts for nobody', () => {
      const view = stateView('n0', state, health, observe(heartbeat('n1', { replicas: [status(0, 2, 'n1')] })), new Set([0, 1, 2]), quiet);
      expect(view.partitions.map((partition) => partition.leader)).to.deep.equal([null, null, null]);
      expect(view.nodes.map((node) => node.leaders)).to.deep.equal([0, 0, 0, 0]);
    });

    it('not balanced while a partition is not settled', () => {
      const view = stateView('n0', state, health, observed, new Set([0, 2]), quiet);
      expect(view.partitions.map((partition) => partition.settled)).to.deep.equal([true, false, true]);
      expect(view.changing).to.equal(1);
      expect(view.balanced).to.equal(false);
    });

    it('not balanced while the metadata records a change in flight, even on a settled partition; shows `replaces`', () => {
      const moving = stateOf([{ type: 'addReplica', partitionId: 2, nodeId: 'n1', replaces: 1 }], state);
      const view = stateView('n0', moving, health, observed, new Set([0, 1, 2]), quiet);
      expect(view.changing).to.equal(1);
      expect(view.balanced).to.equal(false);
      expect(view.partitions[2].replicas).to.deep.include({ node: 'n1', replica: 4, role: 'learner', replaces: 1 });
      expect(view.nodes.find((node) => node.id === 'n1')!.replicas).to.equal(3);
    });

    it('not balanced while the plan has an action (a leader transfer counts); blocked partitions are shown', () => {
      const plan: Plan = {
        actions: [{ kind: 'transferLeader', partitionId: 0, fromReplicaId: 1, toReplicaId: 2, reason: 'balance' }],
        blocked: [{ partitionId: 1, code: 'QUORUM_LOST', message: 'partition 1: 2 of 3 voters lost' }],
      };
      const view = stateView('n0', state, health, observed, new Set([0, 1, 2]), plan);
      expect(view.changing).to.equal(0);
      expect(view.balanced).to.equal(false);
      expect(view.blocked).to.deep.equal(plan.blocked);
    });
  });
});
