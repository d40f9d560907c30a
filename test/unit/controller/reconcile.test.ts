import { expect } from 'chai';
import { ClusterCommand, ClusterState, NodeHealth } from '../../../actors/controller';
import { ReconcileStep, reconcile } from '../../../actors/controller/reconcile';
import type { Heartbeat } from '../../../actors/controller/heartbeat';
import type { ReplicaStatus } from '../../../supervisor/statusTypes';
import { heartbeat, hosted, leaderStatus, observe, registerNode, stateOf, status } from './fixtures';

const NODES = ['n0', 'n1', 'n2', 'n3', 'n4'];

/** A step without the bootstrap membership a start step carries. */
function withoutBootstrap(step: ReconcileStep): object {
  if (step.kind !== 'start') return step;
  const { voters: _voters, nodes: _nodes, ...rest } = step;
  return rest;
}

/** n0..n4 registered; partition 0 on n0, n1, n2 as r1, r2, r3 (all voters). */
function base(...more: ClusterCommand[]): ClusterState {
  return stateOf([...NODES.map((node) => registerNode(node)), { type: 'createPartition', partitionId: 0, replicaCount: 3, nodeIds: ['n0', 'n1', 'n2'] }, ...more]);
}

const addR4OnN3: ClusterCommand = { type: 'addReplica', partitionId: 0, nodeId: 'n3', replaces: 1 };
const promoteR4: ClusterCommand = { type: 'promoteReplica', partitionId: 0, replicaId: 4 };
const removeR1: ClusterCommand = { type: 'removeReplica', partitionId: 0, replicaId: 1 };

interface RaftView {
  voters: number[];
  learners?: number[];
  confCommitted?: boolean;
  /** The node and replica that lead; default r1 on n0. */
  leader?: [node: string, replica: number];
}

/**
 * Heartbeats of a cluster whose partition 0 Raft group has `raft` as membership. `hostedBy` lists what each
 * node hosts (partition 0 replica ids); every hosted replica runs unless listed in `stopped`.
 */
function cluster(raft: RaftView | undefined, hostedBy: Record<string, number[]>, extra: Partial<Record<string, Partial<Heartbeat>>> = {}): Heartbeat[] {
  const [leaderNode, leaderReplica] = raft?.leader ?? ['n0', 1];
  return Object.entries(hostedBy).map(([node, replicas]) => {
    const statuses: ReplicaStatus[] = replicas.map((replica) =>
      raft !== undefined && node === leaderNode && replica === leaderReplica
        ? leaderStatus(0, replica, node, { voters: raft.voters, learners: raft.learners ?? [] }, { confCommitted: raft.confCommitted ?? true })
        : status(0, replica, node, { leader: raft === undefined ? 0 : leaderReplica }),
    );
    return heartbeat(node, { hosted: hosted(...replicas.map((replica): [number, number] => [0, replica])), replicas: statuses, ...extra[node] });
  });
}

const healthOf = (overrides: Record<string, NodeHealth> = {}) => (node: string): NodeHealth => overrides[node] ?? 'alive';

function run(state: ClusterState, heartbeats: Heartbeat[], health: Record<string, NodeHealth> = {}) {
  return reconcile(state, observe(...heartbeats), healthOf(health));
}

const conf = (type: 'addLearner' | 'promote' | 'remove', replica: number): ReconcileStep => ({ kind: 'conf', partition: 0, type, replica });

describe('controller/reconcile', () => {
  describe('a metadata learner not yet in the Raft group', () => {
    const state = base(addR4OnN3);

    it('on an alive node that does not host it: start it there', () => {
      const result = run(state, cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3], n3: [] }));
      expect(result.steps.map(withoutBootstrap)).to.deep.equal([{ kind: 'start', node: 'n3', partition: 0, replica: 4 }]);
      expect(result.steps[0]).to.deep.include({ voters: [1, 2, 3] }).and.have.nested.property('nodes.4', 'n3');
      expect(result.settled.has(0)).to.equal(false);
    });

    it('on an alive node that hosts it (running or stopped): addLearner on the leader', () => {
      const running = run(state, cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
      expect(running.steps).to.deep.equal([conf('addLearner', 4)]);
      expect(running.settled.has(0)).to.equal(false);
      const stopped = run(state, cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3], n3: [4] }, { n3: { replicas: [] } }));
      expect(stopped.steps).to.deep.equal([conf('addLearner', 4)]);
    });

    it('no step while the leader has a membership change still committing', () => {
      const result = run(state, cluster({ voters: [1, 2, 3], confCommitted: false }, { n0: [1], n1: [2], n2: [3], n3: [] }));
      expect(result.steps).to.deep.equal([]);
      expect(result.settled.has(0)).to.equal(false);
    });

    describe('on a node that still hosts an older replica of the partition', () => {
      // r2 moved from n1 to n3 (as r4), and now back to n1 as the learner r5; n1 still hosts r2.
      const movedBack = base(
        { type: 'addReplica', partitionId: 0, nodeId: 'n3', replaces: 2 },
        promoteR4,
        { type: 'removeReplica', partitionId: 0, replicaId: 2 },
        { type: 'addReplica', partitionId: 0, nodeId: 'n1', replaces: 4 },
      );

      it('(the metadata is as described)', () => {
        expect(movedBack.partitions.get(0)!.replicas.map((r) => [r.replicaId, r.node, r.role])).to.deep.equal([
          [1, 'n0', 'voter'], [3, 'n2', 'voter'], [4, 'n3', 'voter'], [5, 'n1', 'learner'],
        ]);
      });

      it('the group no longer has the old replica: no start/addLearner for the new one, but the old one is deleted', () => {
        const result = run(movedBack, cluster({ voters: [1, 3, 4] }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
        expect(result.steps).to.deep.equal([{ kind: 'delete', node: 'n1', partition: 0, replica: 2 }]);
      });

      it('the group still has the old replica: it is removed from the group first, and not deleted yet', () => {
        const result = run(movedBack, cluster({ voters: [1, 2, 3, 4] }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
        expect(result.steps).to.deep.equal([conf('remove', 2)]);
        expect(result.settled.has(0)).to.equal(false);
      });

      it('converges step by step: remove the old replica from the group, delete it, start the new one, add it', () => {
        const rounds: [RaftView, number[], object[]][] = [
          [{ voters: [1, 2, 3, 4] }, [2], [conf('remove', 2)]],
          [{ voters: [1, 3, 4] }, [2], [{ kind: 'delete', node: 'n1', partition: 0, replica: 2 }]],
          [{ voters: [1, 3, 4] }, [], [{ kind: 'start', node: 'n1', partition: 0, replica: 5 }]],
          [{ voters: [1, 3, 4] }, [5], [conf('addLearner', 5)]],
          [{ voters: [1, 3, 4], learners: [5] }, [5], []],
        ];
        for (const [raft, onN1, expected] of rounds) {
          const result = run(movedBack, cluster(raft, { n0: [1], n1: onN1, n2: [3], n3: [4] }));
          expect(result.steps.map(withoutBootstrap), `group ${JSON.stringify(raft)}, n1 hosts ${onN1}`).to.deep.equal(expected);
        }
        expect(run(movedBack, cluster({ voters: [1, 3, 4], learners: [5] }, { n0: [1], n1: [5], n2: [3], n3: [4] })).settled.has(0)).to.equal(true);
      });

      it('the old replica is not deleted while the leader\'s membership is not committed', () => {
        const result = run(movedBack, cluster({ voters: [1, 3, 4], confCommitted: false }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
        expect(result.steps).to.deep.equal([]);
      });
    });
  });

  it('a metadata voter that the group has as a learner: promote', () => {
    const result = run(base(addR4OnN3, promoteR4), cluster({ voters: [1, 2, 3], learners: [4] }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
    expect(result.steps).to.deep.equal([conf('promote', 4)]);
    expect(result.settled.has(0)).to.equal(false);
  });

  it('a metadata learner that the group already has as a learner: nothing to do (the planner promotes it)', () => {
    const result = run(base(addR4OnN3), cluster({ voters: [1, 2, 3], learners: [4] }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
    expect(result.steps).to.deep.equal([]);
    expect(result.settled.has(0)).to.equal(true);
  });

  describe('a group member the metadata does not have: remove it', () => {
    it('a replaced voter', () => {
      const state = base(addR4OnN3, promoteR4, removeR1);
      const result = run(state, cluster({ voters: [1, 2, 3, 4], leader: ['n1', 2] }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
      expect(result.steps).to.deep.equal([conf('remove', 1)]);
      expect(result.settled.has(0)).to.equal(false);
    });

    it('a cancelled learner', () => {
      const state = base(addR4OnN3, { type: 'removeReplica', partitionId: 0, replicaId: 4 });
      const result = run(state, cluster({ voters: [1, 2, 3], learners: [4] }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
      expect(result.steps).to.deep.equal([conf('remove', 4)]);
      expect(result.settled.has(0)).to.equal(false);
    });

    it('and once it is out of the group, delete it from its node', () => {
      const state = base(addR4OnN3, promoteR4, removeR1);
      const result = run(state, cluster({ voters: [2, 3, 4], leader: ['n1', 2] }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
      expect(result.steps).to.deep.equal([{ kind: 'delete', node: 'n0', partition: 0, replica: 1 }]);
      expect(result.settled.has(0), 'the group equals the metadata; only a node still has to clean up').to.equal(true);
    });
  });

  describe('nothing can be judged without a committed membership from a leader', () => {
    const state = base(addR4OnN3, promoteR4, removeR1);

    it('no leader: not settled, no conf steps, no deletes', () => {
      const result = run(state, cluster(undefined, { n0: [1], n1: [2], n2: [3], n3: [] }));
      expect(result.steps).to.deep.equal([]);
      expect(result.settled.has(0)).to.equal(false);
    });

    it('a leader whose last membership change is not committed: not settled, no conf steps', () => {
      const result = run(state, cluster({ voters: [1, 2, 3], learners: [4], confCommitted: false }, { n0: [1], n1: [2], n2: [3], n3: [4] }));
      expect(result.steps).to.deep.equal([]);
      expect(result.settled.has(0)).to.equal(false);
    });

    it('a leader that reports no membership: not settled', () => {
      const heartbeats = cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3] });
      const leader = heartbeats[0].replicas[0];
      const { members: _members, ...withoutMembers } = leader;
      heartbeats[0] = { ...heartbeats[0], replicas: [withoutMembers] };
      const result = run(base(), heartbeats);
      expect(result.steps).to.deep.equal([]);
      expect(result.settled.has(0)).to.equal(false);
    });
  });

  it('everything equal: settled, no steps', () => {
    const result = run(base(), cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3], n3: [], n4: [] }));
    expect(result.steps).to.deep.equal([]);
    expect([...result.settled]).to.deep.equal([0]);
  });

  it('partitions are judged independently', () => {
    const state = stateOf([{ type: 'createPartition', partitionId: 1, replicaCount: 3, nodeIds: ['n2', 'n3', 'n4'] }], base(addR4OnN3));
    const heartbeats = cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3], n3: [] });
    // Partition 1: r1 on n2 leads, r2 on n3, r3 on n4; all in the group.
    const p1 = { voters: [1, 2, 3], learners: [] };
    const add = (node: string, replica: number, leading: boolean) => {
      const index = heartbeats.findIndex((beat) => beat.node === node);
      const beat = index >= 0 ? heartbeats[index] : heartbeat(node);
      const next = { ...beat, hosted: [...beat.hosted, { partition: 1, replica }], replicas: [...beat.replicas, leading ? leaderStatus(1, replica, node, p1) : status(1, replica, node)] };
      if (index >= 0) heartbeats[index] = next;
      else heartbeats.push(next);
    };
    add('n2', 1, true);
    add('n3', 2, false);
    add('n4', 3, false);
    const result = run(state, heartbeats);
    expect(result.steps.map(withoutBootstrap)).to.deep.equal([{ kind: 'start', node: 'n3', partition: 0, replica: 4 }]);
    expect([...result.settled]).to.deep.equal([1]);
  });

  describe('a metadata learner whose node cannot start it now', () => {
    const state = base(addR4OnN3);

    it('down and not in the group: settled (so the planner may cancel it), nothing to start', () => {
      const result = run(state, cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3] }), { n3: 'down' });
      expect(result.steps).to.deep.equal([]);
      expect(result.settled.has(0)).to.equal(true);
    });

    it('suspect and not in the group: nothing is started on it', () => {
      const result = run(state, cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3] }), { n3: 'suspect' });
      expect(result.steps).to.deep.equal([]);
    });
  });

  describe('orphans', () => {
    it('a hosted replica of a partition the metadata does not know is left alone', () => {
      const beats = cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3] });
      beats.push(heartbeat('n4', { hosted: hosted([7, 1]), replicas: [leaderStatus(7, 1, 'n4', { voters: [1], learners: [] })] }));
      const result = run(base(), beats);
      expect(result.steps).to.deep.equal([]);
    });

    it('a hosted replica that neither the metadata nor the group has is deleted', () => {
      // n4 hosts r5 of partition 0, which neither the metadata nor the group has (say, a cancelled learner).
      const result = run(base(), cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3], n4: [5] }));
      expect(result.steps).to.deep.equal([{ kind: 'delete', node: 'n4', partition: 0, replica: 5 }]);
      expect(result.settled.has(0)).to.equal(true);
    });
  });

  describe('drain flags follow the admin state', () => {
    const drained = (node: string, flag: boolean): Partial<Heartbeat> => ({ node, drained: flag });

    it('draining or removed -> drained true; active -> drained false; matching flags give no step', () => {
      const state = base({ type: 'setNodeState', nodeId: 'n1', state: 'draining' }, { type: 'removeNode', nodeId: 'n4' }, { type: 'setNodeState', nodeId: 'n3', state: 'draining' });
      const beats = cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3], n3: [], n4: [] }, {
        n0: drained('n0', false), // active, not drained: fine
        n1: drained('n1', false), // draining, not drained: drain it
        n2: drained('n2', true), // active, drained: undrain it
        n3: drained('n3', true), // draining, drained: fine
        n4: drained('n4', false), // removed, not drained: drain it
      });
      const steps = run(state, beats).steps.filter((step) => step.kind === 'drain');
      expect(steps).to.have.deep.members([
        { kind: 'drain', node: 'n1', drained: true },
        { kind: 'drain', node: 'n2', drained: false },
        { kind: 'drain', node: 'n4', drained: true },
      ]);
      expect(steps).to.have.length(3);
    });

    it('a node the metadata does not know yet gets no drain step', () => {
      const result = run(base(), [...cluster({ voters: [1, 2, 3] }, { n0: [1], n1: [2], n2: [3] }), heartbeat('n9', { drained: true })]);
      expect(result.steps).to.deep.equal([]);
    });
  });
});
