import { expect } from 'chai';
import { ConfChangeType, MessageType, Role, bootstrapEntries } from '../../../actors/raft';
import { TestCluster, entry } from './testCluster';

const text = (s: string) => new TextEncoder().encode(s);

describe('raft scenarios', () => {
  it('elects a leader and commits on a majority', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    const index = cluster.propose(1, 'x=1');
    for (const id of [1, 2, 3]) {
      expect(cluster.raft(id).log.committed).to.equal(index);
      expect(cluster.appliedTexts(id)).to.deep.equal(['x=1']);
    }
  });

  it("figure 8: a leader never commits an old term's entry by counting replicas", () => {
    const base = bootstrapEntries([1, 2, 3, 4, 5]).entries;
    const cluster = new TestCluster({ appendEntriesMax: 1, checkQuorum: false });
    cluster.addNode(1, { entries: [...base, entry(6, 2)], hardState: { term: 3, vote: 0, commit: 5 } });
    for (const id of [2, 3, 4]) cluster.addNode(id, { entries: base, hardState: { term: 3, vote: 0, commit: 5 } });
    cluster.addNode(5, { entries: [...base, entry(6, 3)], hardState: { term: 4, vote: 0, commit: 5 } });

    // S1 leads term 4 and copies its term-2 entry 6 to a majority, but its own term-4 entry never leaves it.
    cluster.filters.push((m) => {
      if (m.from === 1 && m.type === MessageType.Append) m.entries = (m.entries ?? []).filter((e) => e.index < 7);
      return true;
    });
    cluster.filters.push((m) => !(m.from === 1 && m.to === 5));
    cluster.elect(1);
    expect(cluster.raft(1).term).to.equal(4);
    for (const id of [2, 3]) expect(cluster.raft(id).log.term(6)).to.equal(2);
    expect(cluster.raft(1).log.committed, 'entry 6 of term 2 sits on 3 of 5 but must not commit').to.equal(5);

    // S1 dies; S5, whose entry 6 is of term 3, can win and overwrite entry 6 everywhere, and that is safe.
    cluster.heal();
    cluster.isolate(1);
    cluster.elect(5);
    for (const id of [2, 3, 4, 5]) {
      expect(cluster.raft(id).log.term(6)).to.equal(3);
      expect(cluster.node(id).applied.some((e) => e.index === 6 && e.term === 2)).to.equal(false);
    }
  });

  it('a partitioned leader cannot commit, and its entry is overwritten after it rejoins', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    cluster.isolate(1);
    const index = cluster.propose(1, 'lost');
    expect(cluster.raft(1).log.committed).to.be.lessThan(index);
    cluster.tick([2, 3], 25);
    const newLeader = cluster.leaders().find((id) => id !== 1)!;
    expect(newLeader).to.be.oneOf([2, 3]);
    cluster.propose(newLeader, 'kept');
    cluster.heal();
    cluster.tick([1, 2, 3], 3);
    expect(cluster.raft(1).role).to.equal(Role.Follower);
    for (const id of [1, 2, 3]) expect(cluster.appliedTexts(id)).to.deep.equal(['kept']);
  });

  it('with PreVote, a node rejoining after a partition does not disrupt the leader', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    const term = cluster.raft(1).term;
    cluster.isolate(3);
    cluster.tick([1, 2, 3], 100);
    expect(cluster.raft(3).term, 'pre-votes do not bump the term').to.equal(term);
    cluster.heal();
    cluster.tick([1, 2, 3], 5);
    expect(cluster.leaders()).to.deep.equal([1]);
    expect(cluster.raft(1).term).to.equal(term);
  });

  it('backtracks over a long divergent log in a few round trips', () => {
    const base = bootstrapEntries([1, 2, 3]).entries;
    const shared = Array.from({ length: 50 }, (_, i) => entry(4 + i, 2));
    const leaderTail = Array.from({ length: 50 }, (_, i) => entry(54 + i, 4, `l${i}`));
    const staleTail = Array.from({ length: 150 }, (_, i) => entry(54 + i, 3, `s${i}`));
    const cluster = new TestCluster({ appendEntriesMax: 1000 });
    cluster.addNode(1, { entries: [...base, ...shared, ...leaderTail], hardState: { term: 4, vote: 0, commit: 53 } });
    cluster.addNode(2, { entries: [...base, ...shared, ...leaderTail], hardState: { term: 4, vote: 0, commit: 53 } });
    cluster.addNode(3, { entries: [...base, ...shared, ...staleTail], hardState: { term: 4, vote: 0, commit: 53 } });
    cluster.elect(1);
    cluster.tick([1], 2);
    const rejections = cluster.delivered.filter((m) => m.type === MessageType.AppendResponse && m.from === 3 && m.reject);
    expect(rejections.length).to.be.at.most(3);
    expect(cluster.raft(3).log.lastIndex()).to.equal(cluster.raft(1).log.lastIndex());
    expect(cluster.raft(3).log.term(103)).to.equal(4);
    expect(cluster.raft(3).log.term(104)).to.equal(5);
  });

  it('sends a snapshot to a follower whose next entry was compacted away', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    cluster.isolate(3);
    for (let i = 0; i < 40; i++) cluster.propose(1, `k${i}`);
    for (const id of [1, 2]) {
      const raft = cluster.raft(id);
      cluster.node(id).storage.compact(raft.log.applied, raft.conf, text('state'));
    }
    cluster.heal();
    cluster.tick([1, 2, 3], 3);
    const snapshots = cluster.delivered.filter((m) => m.type === MessageType.Snapshot && m.to === 3);
    expect(snapshots).to.have.length(1);
    const follower = cluster.node(3);
    expect(follower.storage.snapshot().meta.index).to.equal(snapshots[0].snapshot!.meta.index);
    expect(follower.raft.log.lastIndex()).to.equal(cluster.raft(1).log.lastIndex());
    expect(follower.raft.log.committed).to.equal(cluster.raft(1).log.committed);
  });

  it('a learner catches up without voting, then is promoted to voter', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    cluster.propose(1, 'before');
    expect(cluster.raft(1).proposeConfChange({ type: ConfChangeType.AddLearner, replica: 4 }).ok).to.equal(true);
    cluster.addNode(4);
    cluster.settle();
    cluster.tick([1, 2, 3], 2);
    expect(cluster.raft(4).conf.learners).to.deep.equal([4]);
    expect(cluster.appliedTexts(4)).to.deep.equal(['before']);
    cluster.isolate(1);
    cluster.tick([4], 50);
    expect(cluster.raft(4).role, 'a learner never campaigns').to.equal(Role.Follower);
    cluster.heal();
    cluster.tick([1, 2, 3, 4], 2);
    expect(cluster.raft(1).proposeConfChange({ type: ConfChangeType.PromoteLearner, replica: 4 }).ok).to.equal(true);
    cluster.settle();
    cluster.tick([1, 2, 3, 4], 2);
    for (const id of [1, 2, 3, 4]) expect(cluster.raft(id).conf.voters).to.deep.equal([1, 2, 3, 4]);
  });

  it('refuses a second membership change while one is uncommitted', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    cluster.isolate(1);
    expect(cluster.raft(1).proposeConfChange({ type: ConfChangeType.AddLearner, replica: 4 }).ok).to.equal(true);
    const second = cluster.raft(1).proposeConfChange({ type: ConfChangeType.AddLearner, replica: 5 });
    expect(second).to.deep.include({ ok: false, code: 'CONF_CHANGE_PENDING' });
  });

  it('transfers leadership, catching the target up first', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    cluster.isolate(3);
    cluster.propose(1, 'a');
    cluster.heal();
    expect(cluster.raft(1).transferLeader(3).ok).to.equal(true);
    expect(cluster.raft(1).propose(text('during')).ok, 'proposals pause during a transfer').to.equal(false);
    cluster.settle();
    cluster.tick([1, 2, 3], 1);
    expect(cluster.leaders()).to.deep.equal([3]);
    cluster.propose(3, 'b');
    for (const id of [1, 2, 3]) expect(cluster.appliedTexts(id)).to.deep.equal(['a', 'b']);
  });

  it('a leader that sends TimeoutNow records the term (its read lease ends there)', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    const term = cluster.raft(1).term;
    expect(cluster.raft(1).timeoutNowTerm).to.equal(0);
    expect(cluster.raft(1).transferLeader(2).ok).to.equal(true);
    cluster.settle();
    expect(cluster.raft(1).timeoutNowTerm).to.equal(term);
  });

  for (const quietAtStart of [false, true]) {
    it(`a replica restarted ${quietAtStart ? 'with' : 'without'} quietAtStart ${quietAtStart ? 'refuses' : 'grants'} votes in its first election timeout`, () => {
      const cluster = TestCluster.withVoters([1, 2, 3], { quietAtStart });
      cluster.tick([2, 3], 10);
      cluster.elect(1);
      // 2 acknowledged 1's heartbeats, then restarts and forgets it; 3 loses 1 and campaigns at once.
      cluster.restart(2);
      cluster.isolate(1);
      cluster.raft(3).campaign();
      cluster.settle();
      if (!quietAtStart) {
        expect(cluster.leaders(), 'the restarted replica voted: 1 might still be serving lease reads').to.include(3);
        return;
      }
      expect(cluster.raft(3).role, 'no majority while 2 is quiet').to.not.equal(Role.Leader);
      cluster.tick([2], 10);
      cluster.raft(3).campaign();
      cluster.settle();
      expect(cluster.leaders()).to.include(3);
    });
  }

  it('a removed node cannot disrupt the cluster', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    cluster.isolate(3);
    expect(cluster.raft(1).proposeConfChange({ type: ConfChangeType.RemoveNode, replica: 3 }).ok).to.equal(true);
    cluster.settle();
    expect(cluster.raft(1).conf.voters).to.deep.equal([1, 2]);
    const term = cluster.raft(1).term;
    cluster.tick([1, 2, 3], 60);
    cluster.heal();
    cluster.tick([1, 2, 3], 60);
    expect(cluster.raft(1).role).to.equal(Role.Leader);
    expect(cluster.raft(1).term).to.equal(term);
  });

  it('a leader that removes itself steps down once the removal commits', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    expect(cluster.raft(1).proposeConfChange({ type: ConfChangeType.RemoveNode, replica: 1 }).ok).to.equal(true);
    cluster.settle();
    expect(cluster.raft(1).role).to.equal(Role.Follower);
    cluster.tick([2, 3], 30);
    expect(cluster.leaders()).to.have.length(1);
    expect(cluster.leaders()[0]).to.be.oneOf([2, 3]);
  });

  it('ReadIndex answers only after a heartbeat quorum, and never on a partitioned leader', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    const index = cluster.propose(1, 'x');
    expect(cluster.raft(1).readIndex(42).ok).to.equal(true);
    expect(cluster.node(1).readStates, 'not before the round trip').to.deep.equal([]);
    cluster.settle();
    expect(cluster.node(1).readStates).to.deep.equal([{ context: 42, index }]);

    cluster.isolate(1);
    expect(cluster.raft(1).readIndex(43).ok).to.equal(true);
    cluster.tick([1], 5);
    expect(cluster.node(1).readStates.map((r) => r.context)).to.deep.equal([42]);
    cluster.tick([1], 20);
    expect(cluster.raft(1).role, 'CheckQuorum deposes the isolated leader').to.equal(Role.Follower);
    expect(cluster.raft(2).readIndex(44)).to.deep.include({ ok: false, code: 'NOT_LEADER' });
  });

  it("a fresh leader answers reads only after committing its term's first entry", () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.filters.push((m) => m.type !== MessageType.AppendResponse);
    cluster.elect(1);
    cluster.raft(1).readIndex(7);
    cluster.tick([1], 3);
    expect(cluster.node(1).readStates).to.deep.equal([]);
    cluster.heal();
    cluster.tick([1], 3);
    expect(cluster.node(1).readStates.map((r) => r.context)).to.deep.equal([7]);
    expect(cluster.node(1).readStates[0].index).to.be.at.least(cluster.raft(1).termStartIndex);
  });

  it('refuses proposals past the uncommitted bytes bound, and on followers', () => {
    const cluster = TestCluster.withVoters([1, 2, 3], { uncommittedBytesMax: 1000 });
    cluster.elect(1);
    cluster.isolate(1);
    let refused;
    for (let i = 0; i < 100 && !refused; i++) {
      const result = cluster.raft(1).propose(new Uint8Array(100));
      if (!result.ok) refused = result.code;
    }
    expect(refused).to.equal('PROPOSALS_FULL');
    expect(cluster.raft(2).propose(text('x'))).to.deep.equal({ ok: false, code: 'NOT_LEADER', leader: 1 });
  });

  it('restarts from durable state with term, vote and log intact', () => {
    const cluster = TestCluster.withVoters([1, 2, 3]);
    cluster.elect(1);
    cluster.propose(1, 'durable');
    cluster.restart(2);
    const raft = cluster.raft(2);
    expect(raft.term).to.equal(cluster.raft(1).term);
    expect(raft.vote).to.equal(1);
    expect(raft.log.lastIndex()).to.equal(cluster.raft(1).log.lastIndex());
  });
});
