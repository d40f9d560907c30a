import { expect } from 'chai';
import {
  ClusterCommand,
  ClusterState,
  NodeHealth,
  applyCommand,
  checkInvariants,
  decodeClusterState,
  encodeClusterState,
} from '../../../actors/controller';
import { parseControllerRequest, requestCommand } from '../../../actors/controller/controllerRequests';
import { ReconcileStep, reconcile } from '../../../actors/controller/reconcile';
import { KEY_PARTITION_ID_LIMIT, RingState, keyRing, nextRing, reshardRoles } from '../../../actors/controller/reshard';
import { heartbeat, hosted, leaderStatus, observe, registerNode, stateOf } from './fixtures';

const NODES = ['n0', 'n1', 'n2', 'n3'];
const allAlive = (): NodeHealth => 'alive';

/** n0..n3; partitions 0, 1 and 2 with three replicas each (a cluster of the first layout, ring epoch 0). */
function threePartitions(): ClusterState {
  return stateOf([
    ...NODES.map((node) => registerNode(node)),
    { type: 'createPartition', partitionId: 0, replicaCount: 3, nodeIds: ['n0', 'n1', 'n2'] },
    { type: 'createPartition', partitionId: 1, replicaCount: 3, nodeIds: ['n1', 'n2', 'n3'] },
    { type: 'createPartition', partitionId: 2, replicaCount: 3, nodeIds: ['n0', 'n2', 'n3'] },
  ]);
}

const createThree: ClusterCommand = { type: 'beginReshard', kind: 'create', partitionId: 3, replicaCount: 3, nodeIds: ['n1', 'n2', 'n3'] };
/** The nodes a beginReshard create places the partition on. */
const nodeIdsOf = (command: ClusterCommand): readonly string[] => (command.type === 'beginReshard' ? command.nodeIds ?? [] : []);
const advance = (partitionId: number, phase: 'copy' | 'adopt' | 'purge' | 'done'): ClusterCommand => ({ type: 'advanceReshard', partitionId, phase });

/** Applies a command that must be accepted; checks that it bumps the epoch by one and keeps the invariants. */
function step(state: ClusterState, command: ClusterCommand): ClusterState {
  const result = applyCommand(state, command);
  if (!result.ok) throw new Error(`${JSON.stringify(command)} refused: ${result.error.code} ${result.error.message}`);
  expect(result.state.epoch, JSON.stringify(command)).to.equal(state.epoch + 1);
  expect(checkInvariants(result.state), JSON.stringify(command)).to.equal(undefined);
  return result.state;
}

function expectRefusal(state: ClusterState, command: ClusterCommand, code: string): void {
  const before = Buffer.from(encodeClusterState(state)).toString();
  const result = applyCommand(state, command);
  expect(result.ok, `${JSON.stringify(command)} should be refused with ${code}`).to.equal(false);
  if (!result.ok) {
    expect(result.error.code, JSON.stringify(command)).to.equal(code);
    expect(result.error.message).to.be.a('string').and.not.equal('');
  }
  expect(Buffer.from(encodeClusterState(state)).toString(), 'a refusal changes nothing').to.equal(before);
}

describe('controller: resharding in the metadata', () => {
  describe('beginReshard and advanceReshard', () => {
    it('create: the partition is recorded at once but joins the key ring only at the switch to purge', () => {
      let state = step(threePartitions(), createThree);
      expect(state.partitions.get(3)!.replicas.map((replica) => [replica.replicaId, replica.node, replica.role])).to.deep.equal([
        [1, 'n1', 'voter'], [2, 'n2', 'voter'], [3, 'n3', 'voter'],
      ]);
      expect(state.reshard).to.deep.equal({ kind: 'create', partitionId: 3, phase: 'fence' });
      expect(keyRing(state)).to.deep.equal({ epoch: 0, partitions: [0, 1, 2] });
      for (const phase of ['copy', 'adopt'] as const) {
        state = step(state, advance(3, phase));
        expect(state.reshard).to.deep.equal({ kind: 'create', partitionId: 3, phase });
        expect(keyRing(state), phase).to.deep.equal({ epoch: 0, partitions: [0, 1, 2] });
      }
      state = step(state, advance(3, 'purge'));
      expect(state.ringEpoch).to.equal(1);
      expect(keyRing(state)).to.deep.equal({ epoch: 1, partitions: [0, 1, 2, 3] });
      state = step(state, advance(3, 'done'));
      expect(state.reshard).to.equal(null);
      expect(keyRing(state)).to.deep.equal({ epoch: 1, partitions: [0, 1, 2, 3] });
    });

    it('delete: the partition serves keys until the switch, which removes it and retires its id', () => {
      let state = step(threePartitions(), { type: 'beginReshard', kind: 'delete', partitionId: 1 });
      expect(state.reshard).to.deep.equal({ kind: 'delete', partitionId: 1, phase: 'fence' });
      state = step(step(state, advance(1, 'copy')), advance(1, 'adopt'));
      expect(state.partitions.has(1)).to.equal(true);
      expect(keyRing(state)).to.deep.equal({ epoch: 0, partitions: [0, 1, 2] });

      state = step(state, advance(1, 'purge'));
      expect(state.ringEpoch).to.equal(1);
      expect(state.partitions.has(1)).to.equal(false);
      expect(state.retiredPartitionIds.has(1)).to.equal(true);
      expect(state.reshard).to.deep.equal({ kind: 'delete', partitionId: 1, phase: 'purge' });
      expect(keyRing(state)).to.deep.equal({ epoch: 1, partitions: [0, 2] });
      state = step(state, advance(1, 'done'));
      expect(state.reshard).to.equal(null);
      expectRefusal(state, { type: 'beginReshard', kind: 'create', partitionId: 1, replicaCount: 3, nodeIds: ['n0', 'n1', 'n2'] }, 'PARTITION_RETIRED');
    });

    it('phases advance in order only: WRONG_PHASE for a skipped or repeated one', () => {
      let state = step(threePartitions(), createThree);
      const order = ['copy', 'adopt', 'purge', 'done'] as const;
      for (const phase of order) {
        for (const other of order) if (other !== phase) expectRefusal(state, advance(3, other), 'WRONG_PHASE');
        state = step(state, advance(3, phase));
        expect(state.reshard?.phase ?? 'done').to.equal(phase);
      }
    });

    it('NO_RESHARD for a phase change with no reshard, or for another partition', () => {
      const state = threePartitions();
      expectRefusal(state, advance(0, 'copy'), 'NO_RESHARD');
      const creating = step(state, createThree);
      expectRefusal(creating, advance(2, 'copy'), 'NO_RESHARD');
      const finished = [advance(3, 'copy'), advance(3, 'adopt'), advance(3, 'purge'), advance(3, 'done')].reduce(step, creating);
      expectRefusal(finished, advance(3, 'done'), 'NO_RESHARD');
    });

    it('RESHARD_IN_PROGRESS: one reshard at a time, whatever its phase', () => {
      let state = step(threePartitions(), createThree);
      const another: ClusterCommand = { type: 'beginReshard', kind: 'delete', partitionId: 0 };
      for (const phase of ['copy', 'adopt', 'purge'] as const) {
        expectRefusal(state, another, 'RESHARD_IN_PROGRESS');
        state = step(state, advance(3, phase));
      }
      expectRefusal(state, another, 'RESHARD_IN_PROGRESS');
      step(step(state, advance(3, 'done')), another);
    });

    it('LAST_PARTITION: the only partition serving keys cannot be deleted', () => {
      let state = stateOf([...NODES.map((node) => registerNode(node)), { type: 'createPartition', partitionId: 0, replicaCount: 3, nodeIds: ['n0', 'n1', 'n2'] }]);
      expectRefusal(state, { type: 'beginReshard', kind: 'delete', partitionId: 0 }, 'LAST_PARTITION');
      // A partition still being created does not serve keys yet.
      state = step(state, { type: 'beginReshard', kind: 'create', partitionId: 1, replicaCount: 1, nodeIds: ['n3'] });
      state = [advance(1, 'copy'), advance(1, 'adopt'), advance(1, 'purge'), advance(1, 'done')].reduce(step, state);
      step(state, { type: 'beginReshard', kind: 'delete', partitionId: 0 });
    });

    it('PARTITION_UNKNOWN when deleting a partition that does not exist (or was deleted)', () => {
      const state = threePartitions();
      expectRefusal(state, { type: 'beginReshard', kind: 'delete', partitionId: 7 }, 'PARTITION_UNKNOWN');
      const deleted = step(state, { type: 'deletePartition', partitionId: 2 });
      expectRefusal(deleted, { type: 'beginReshard', kind: 'delete', partitionId: 2 }, 'PARTITION_UNKNOWN');
    });

    it(`ids from ${KEY_PARTITION_ID_LIMIT} up (the metadata partition's) are refused`, () => {
      const state = threePartitions();
      for (const partitionId of [KEY_PARTITION_ID_LIMIT, KEY_PARTITION_ID_LIMIT + 1]) {
        expectRefusal(state, { type: 'beginReshard', kind: 'create', partitionId, replicaCount: 3, nodeIds: ['n0', 'n1', 'n2'] }, 'INVALID_COMMAND');
        expectRefusal(state, { type: 'beginReshard', kind: 'delete', partitionId }, 'INVALID_COMMAND');
      }
      step(state, { ...createThree, partitionId: KEY_PARTITION_ID_LIMIT - 1 } as ClusterCommand);
    });

    it('create passes createPartition\'s refusals through and records nothing', () => {
      const state = threePartitions();
      expectRefusal(state, { type: 'beginReshard', kind: 'create', partitionId: 1, replicaCount: 3, nodeIds: ['n0', 'n1', 'n3'] }, 'PARTITION_EXISTS');
      expectRefusal(state, { type: 'beginReshard', kind: 'create', partitionId: 3, replicaCount: 3, nodeIds: ['n0', 'n1', 'n9'] }, 'NODE_UNKNOWN');
      expectRefusal(state, { type: 'beginReshard', kind: 'create', partitionId: 3, replicaCount: 3, nodeIds: ['n0', 'n1'] }, 'NOT_ENOUGH_NODES');
    });

    it('malformed commands: INVALID_COMMAND', () => {
      const state = step(threePartitions(), createThree);
      for (const command of [
        { type: 'beginReshard', kind: 'split', partitionId: 4 },
        { type: 'beginReshard', kind: 'delete', partitionId: 0, replicaCount: 3 },
        { type: 'beginReshard', kind: 'create', partitionId: 4 },
        { type: 'advanceReshard', partitionId: 3, phase: 'fence' },
        { type: 'advanceReshard', partitionId: 3, phase: 'COPY' },
        { type: 'advanceReshard', partitionId: -1, phase: 'copy' },
      ]) {
        expectRefusal(state, command as unknown as ClusterCommand, 'INVALID_COMMAND');
      }
    });
  });

  describe('reshard.ts: the rings and the roles', () => {
    const ringState = (ids: number[], reshard: RingState['reshard'], ringEpoch = 4): RingState => ({ ringEpoch, reshard, partitions: new Map(ids.map((id) => [id, {}])) });

    it('keyRing: every key partition in ascending order, never the metadata partition', () => {
      expect(keyRing(ringState([2, 0, 65535, 1], null))).to.deep.equal({ epoch: 4, partitions: [0, 1, 2] });
    });

    it('keyRing leaves out a partition being created until its switch to purge', () => {
      for (const phase of ['fence', 'copy', 'adopt'] as const) {
        expect(keyRing(ringState([0, 1, 5], { kind: 'create', partitionId: 5, phase })).partitions, phase).to.deep.equal([0, 1]);
      }
      expect(keyRing(ringState([0, 1, 5], { kind: 'create', partitionId: 5, phase: 'purge' })).partitions).to.deep.equal([0, 1, 5]);
      expect(keyRing(ringState([0, 1, 5], { kind: 'delete', partitionId: 5, phase: 'adopt' })).partitions, 'a partition being deleted serves until the switch').to.deep.equal([0, 1, 5]);
    });

    it('nextRing: the ring after the reshard, one epoch on; undefined with no reshard or after the switch', () => {
      expect(nextRing(ringState([0, 1, 5], { kind: 'create', partitionId: 5, phase: 'fence' }))).to.deep.equal({ epoch: 5, partitions: [0, 1, 5] });
      expect(nextRing(ringState([0, 1, 5], { kind: 'delete', partitionId: 1, phase: 'copy' }))).to.deep.equal({ epoch: 5, partitions: [0, 5] });
      expect(nextRing(ringState([0, 1], null))).to.equal(undefined);
      expect(nextRing(ringState([0, 1, 5], { kind: 'create', partitionId: 5, phase: 'purge' }))).to.equal(undefined);
    });

    it('reshardRoles: the serving partitions give to a created one; a deleted one gives to the others', () => {
      expect(reshardRoles(ringState([0, 1, 5], { kind: 'create', partitionId: 5, phase: 'copy' }))).to.deep.equal({ givers: [0, 1], receivers: [5] });
      expect(reshardRoles(ringState([0, 1, 5], { kind: 'create', partitionId: 5, phase: 'purge' }))).to.deep.equal({ givers: [0, 1], receivers: [5] });
      expect(reshardRoles(ringState([0, 1, 5], { kind: 'delete', partitionId: 1, phase: 'fence' }))).to.deep.equal({ givers: [1], receivers: [0, 5] });
      // After the switch the deleted partition has left the metadata; it still purges.
      expect(reshardRoles(ringState([0, 5], { kind: 'delete', partitionId: 1, phase: 'purge' }))).to.deep.equal({ givers: [1], receivers: [0, 5] });
      expect(reshardRoles(ringState([0, 1], null))).to.deep.equal({ givers: [], receivers: [] });
    });
  });

  describe('stateCodec', () => {
    it('round-trips a state with a reshard in progress and a ring epoch above 0', () => {
      let state = threePartitions();
      state = [{ type: 'beginReshard', kind: 'delete', partitionId: 2 } as ClusterCommand, advance(2, 'copy'), advance(2, 'adopt'), advance(2, 'purge'), advance(2, 'done'), createThree, advance(3, 'copy')].reduce(step, state);
      expect(state.ringEpoch).to.equal(1);
      const bytes = encodeClusterState(state);
      const decoded = decodeClusterState(bytes);
      expect(decoded.ok).to.equal(true);
      if (!decoded.ok) return;
      expect(decoded.state.ringEpoch).to.equal(1);
      expect(decoded.state.reshard).to.deep.equal({ kind: 'create', partitionId: 3, phase: 'copy' });
      expect([...decoded.state.retiredPartitionIds]).to.deep.equal([2]);
      expect(keyRing(decoded.state)).to.deep.equal({ epoch: 1, partitions: [0, 1] });
      expect(Buffer.from(encodeClusterState(decoded.state)).toString()).to.equal(Buffer.from(bytes).toString());
    });

    it('round-trips a deletion at its purge phase (the partition already gone)', () => {
      const state = [{ type: 'beginReshard', kind: 'delete', partitionId: 2 } as ClusterCommand, advance(2, 'copy'), advance(2, 'adopt'), advance(2, 'purge')].reduce(step, threePartitions());
      const decoded = decodeClusterState(encodeClusterState(state));
      expect(decoded.ok && decoded.state.reshard).to.deep.equal({ kind: 'delete', partitionId: 2, phase: 'purge' });
    });

    it('decodes a document written before resharding (no ringEpoch, no reshard) as ring epoch 0 and no reshard', () => {
      const document = JSON.parse(Buffer.from(encodeClusterState(threePartitions())).toString());
      delete document.ringEpoch;
      delete document.reshard;
      const decoded = decodeClusterState(Buffer.from(JSON.stringify(document)));
      expect(decoded.ok).to.equal(true);
      if (!decoded.ok) return;
      expect(decoded.state.ringEpoch).to.equal(0);
      expect(decoded.state.reshard).to.equal(null);
      expect(keyRing(decoded.state)).to.deep.equal({ epoch: 0, partitions: [0, 1, 2] });
    });

    it('refuses a bad ringEpoch or reshard record (BAD_ENCODING)', () => {
      const good = JSON.parse(Buffer.from(encodeClusterState(step(threePartitions(), createThree))).toString());
      for (const variant of [
        { ...good, ringEpoch: -1 },
        { ...good, ringEpoch: 1.5 },
        { ...good, reshard: { ...good.reshard, phase: 'done' } },
        { ...good, reshard: { ...good.reshard, kind: 'split' } },
        { ...good, reshard: { ...good.reshard, partitionId: 9 } },
        { ...good, reshard: 'create' },
      ]) {
        const result = decodeClusterState(Buffer.from(JSON.stringify(variant)));
        expect(result.ok === false && result.error.code, JSON.stringify(variant.reshard)).to.equal('BAD_ENCODING');
      }
    });
  });

  describe('controllerRequests: create and delete', () => {
    const parse = (text: string) => parseControllerRequest(Buffer.from(text));

    it('parses create (replicas optional) and delete', () => {
      expect(parse('{"op":"create"}')).to.deep.equal({ ok: true, request: { op: 'create' } });
      expect(parse('{"op":"create","replicas":5}')).to.deep.equal({ ok: true, request: { op: 'create', replicas: 5 } });
      expect(parse('{"op":"delete","partition":2}')).to.deep.equal({ ok: true, request: { op: 'delete', partition: 2 } });
    });

    it('refuses bad replicas or partitions with BAD_REQUEST', () => {
      for (const replicas of [0, 8, 1.5, '3', null]) {
        const parsed = parse(JSON.stringify({ op: 'create', replicas }));
        expect(parsed.ok === false && parsed.error.code, `replicas ${JSON.stringify(replicas)}`).to.equal('BAD_REQUEST');
      }
      for (const partition of [undefined, -1, 1.5, '2', null]) {
        const parsed = parse(JSON.stringify({ op: 'delete', partition }));
        expect(parsed.ok === false && parsed.error.code, `partition ${JSON.stringify(partition)}`).to.equal('BAD_REQUEST');
      }
    });

    it('create takes the next unused id and as many replicas as the serving partitions have', () => {
      const answer = requestCommand(threePartitions(), allAlive, { op: 'create' });
      expect(answer.ok).to.equal(true);
      if (!answer.ok) return;
      expect(answer.partition).to.equal(3);
      expect(answer.command).to.deep.include({ type: 'beginReshard', kind: 'create', partitionId: 3, replicaCount: 3 });
      const nodeIds = nodeIdsOf(answer.command);
      expect(new Set(nodeIds).size).to.equal(3);
      expect(NODES).to.include.members(nodeIds);
      expect(step(threePartitions(), answer.command).reshard, 'the command applies').to.deep.equal({ kind: 'create', partitionId: 3, phase: 'fence' });
    });

    it('create never reuses a retired id, and takes an explicit replica count', () => {
      // Partition 2, the highest id, was deleted: the next id is 3, not 2.
      const state = [{ type: 'beginReshard', kind: 'delete', partitionId: 2 } as ClusterCommand, advance(2, 'copy'), advance(2, 'adopt'), advance(2, 'purge'), advance(2, 'done')].reduce(step, threePartitions());
      const answer = requestCommand(state, allAlive, { op: 'create', replicas: 2 });
      expect(answer.ok && answer.command).to.deep.include({ type: 'beginReshard', kind: 'create', partitionId: 3, replicaCount: 2 });
      expect(answer.ok && nodeIdsOf(answer.command)).to.have.length(2);
    });

    it('the default replica count is the largest among the partitions that serve keys', () => {
      const state = stateOf([
        ...NODES.map((node) => registerNode(node)),
        { type: 'createPartition', partitionId: 0, replicaCount: 1, nodeIds: ['n0'] },
        { type: 'createPartition', partitionId: 1, replicaCount: 2, nodeIds: ['n1', 'n2'] },
      ]);
      const answer = requestCommand(state, allAlive, { op: 'create' });
      expect(answer.ok && answer.command).to.deep.include({ partitionId: 2, replicaCount: 2 });
    });

    it('delete asks to delete a serving partition; PARTITION_UNKNOWN for any other id', () => {
      const state = threePartitions();
      const answer = requestCommand(state, allAlive, { op: 'delete', partition: 1 });
      expect(answer.ok && answer.command).to.deep.equal({ type: 'beginReshard', kind: 'delete', partitionId: 1 });
      expect(answer.ok && answer.partition).to.equal(1);
      const unknown = requestCommand(state, allAlive, { op: 'delete', partition: 9 });
      expect(unknown.ok === false && unknown.error.code).to.equal('PARTITION_UNKNOWN');
      const creating = step(state, createThree);
      const notServing = requestCommand(creating, allAlive, { op: 'delete', partition: 3 });
      expect(notServing.ok === false && notServing.error.code, 'a partition still being created').to.equal('PARTITION_UNKNOWN');
    });
  });

  describe('reconcile', () => {
    const startSteps = (steps: readonly ReconcileStep[]) => steps.filter((candidate) => candidate.kind === 'start');

    /** Heartbeats in which partitions 0..2 have leaders with committed memberships equal to the metadata. */
    function settledCluster(extra: Record<string, [number, number][]> = {}) {
      const placement: Record<string, [number, number][]> = { n0: [[0, 1], [2, 1]], n1: [[0, 2], [1, 1]], n2: [[0, 3], [1, 2], [2, 2]], n3: [[1, 3], [2, 3]] };
      return Object.entries(placement).map(([node, refs]) => {
        const all = [...refs, ...(extra[node] ?? [])];
        const leaders = refs.filter(([, replica]) => replica === 1).map(([partition]) => leaderStatus(partition, 1, node, { voters: [1, 2, 3], learners: [] }));
        return heartbeat(node, { hosted: hosted(...all), replicas: leaders });
      });
    }

    it('a partition being created with no leader yet: start every replica, with voters 1..n and their nodes', () => {
      const state = step(threePartitions(), createThree);
      const result = reconcile(state, observe(...settledCluster()), allAlive);
      const nodes = { 1: 'n1', 2: 'n2', 3: 'n3' };
      expect(result.steps).to.deep.equal([
        { kind: 'start', node: 'n1', partition: 3, replica: 1, voters: [1, 2, 3], nodes },
        { kind: 'start', node: 'n2', partition: 3, replica: 2, voters: [1, 2, 3], nodes },
        { kind: 'start', node: 'n3', partition: 3, replica: 3, voters: [1, 2, 3], nodes },
      ]);
      expect(result.settled.has(3)).to.equal(false);
    });

    it('a partition being created: only the replicas not hosted yet are started', () => {
      const state = step(threePartitions(), createThree);
      const result = reconcile(state, observe(...settledCluster({ n1: [[3, 1]], n3: [[3, 3]] })), allAlive);
      expect(startSteps(result.steps).map((start) => [start.node, start.replica])).to.deep.equal([['n2', 2]]);
    });

    it('replicas of a deleted (retired) partition that nodes still host are deleted', () => {
      const state = [{ type: 'beginReshard', kind: 'delete', partitionId: 1 } as ClusterCommand, advance(1, 'copy'), advance(1, 'adopt'), advance(1, 'purge')].reduce(step, threePartitions());
      const result = reconcile(state, observe(...settledCluster()), allAlive);
      expect(result.steps).to.have.deep.members([
        { kind: 'delete', node: 'n1', partition: 1, replica: 1 },
        { kind: 'delete', node: 'n2', partition: 1, replica: 2 },
        { kind: 'delete', node: 'n3', partition: 1, replica: 3 },
      ]);
      expect(result.steps).to.have.length(3);
    });
  });
});
