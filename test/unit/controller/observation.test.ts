import { expect } from 'chai';
import { CAUGHT_UP_LAG_MAX } from '../../../actors/controller/observation';
import { heartbeat, hosted, leaderStatus, observe, status } from './fixtures';

const members = { voters: [1, 2, 3], learners: [4] };

describe('controller/observation', () => {
  it('finds each partition\'s leader among the heartbeats', () => {
    const observed = observe(
      heartbeat('n0', { replicas: [leaderStatus(0, 1, 'n0', members), status(1, 1, 'n0')] }),
      heartbeat('n1', { replicas: [status(0, 2, 'n1'), leaderStatus(1, 2, 'n1', members)] }),
    );
    expect(observed.leaderOf(0)).to.equal(1);
    expect(observed.leaderOf(1)).to.equal(2);
    expect(observed.leader(1)?.node).to.equal('n1');
    expect(observed.leaderOf(2), 'no status for partition 2').to.equal(null);
    expect(observed.leader(2)).to.equal(undefined);
  });

  it('a partition whose replicas are all followers or candidates has no leader', () => {
    const observed = observe(
      heartbeat('n0', { replicas: [status(0, 1, 'n0', { role: 'candidate', term: 9 })] }),
      heartbeat('n1', { replicas: [status(0, 2, 'n1', { role: 'follower', term: 9 })] }),
    );
    expect(observed.leaderOf(0)).to.equal(null);
  });

  it('two nodes claiming the lead: the newer term wins, whichever heartbeat comes first', () => {
    const old = heartbeat('n0', { replicas: [leaderStatus(0, 1, 'n0', { voters: [1, 2, 3], learners: [] }, { term: 4 })] });
    const fresh = heartbeat('n1', { replicas: [leaderStatus(0, 2, 'n1', { voters: [1, 2, 3], learners: [4] }, { term: 5 })] });
    for (const order of [[old, fresh], [fresh, old]]) {
      const observed = observe(...order);
      expect(observed.leaderOf(0), `order ${order.map((beat) => beat.node)}`).to.equal(2);
      expect(observed.leader(0)?.term).to.equal(5);
      expect(observed.leader(0)?.members).to.deep.equal({ voters: [1, 2, 3], learners: [4] });
    }
  });

  it('a stopped replica is not running and cannot be the leader', () => {
    const observed = observe(
      heartbeat('n0', { replicas: [status(0, 1, 'n0', { role: 'stopped', term: 9 })], hosted: hosted([0, 1]) }),
      heartbeat('n1', { replicas: [leaderStatus(0, 2, 'n1', members, { term: 3 })] }),
    );
    expect(observed.isRunning(0, 1)).to.equal(false);
    expect(observed.isRunning(0, 2)).to.equal(true);
    expect(observed.leaderOf(0), 'the stopped replica\'s higher term does not count').to.equal(2);
    expect(observed.hostedOn('n0', 0), 'a stopped replica is still hosted').to.equal(1);
  });

  it('isRunning: only replicas some heartbeat reports in a non-stopped role', () => {
    const observed = observe(heartbeat('n0', { replicas: [status(3, 7, 'n0', { role: 'pre-candidate' })], hosted: hosted([3, 7], [4, 1]) }));
    expect(observed.isRunning(3, 7)).to.equal(true);
    expect(observed.isRunning(4, 1), 'hosted but not reported').to.equal(false);
    expect(observed.isRunning(3, 1), 'another replica id').to.equal(false);
  });

  it('hostedOn: the replica id a node holds for a partition, running or not', () => {
    const observed = observe(heartbeat('n0', { hosted: hosted([0, 3], [5, 1]) }), heartbeat('n1', { hosted: hosted([0, 2]) }));
    expect(observed.hostedOn('n0', 0)).to.equal(3);
    expect(observed.hostedOn('n0', 5)).to.equal(1);
    expect(observed.hostedOn('n1', 0)).to.equal(2);
    expect(observed.hostedOn('n1', 5)).to.equal(undefined);
    expect(observed.hostedOn('n9', 0), 'no heartbeat from n9').to.equal(undefined);
  });

  describe('caughtUp', () => {
    const observedWithLag = (lag: number, learnerRole: 'follower' | 'stopped' | 'unreported' = 'follower') =>
      observe(
        heartbeat('n0', { replicas: [leaderStatus(0, 1, 'n0', members, { followerLag: { '1': 0, '2': 0, '3': 0, '4': lag } })] }),
        heartbeat('n3', { hosted: hosted([0, 4]), replicas: learnerRole === 'unreported' ? [] : [status(0, 4, 'n3', { role: learnerRole })] }),
      );

    it(`a running replica at most ${CAUGHT_UP_LAG_MAX} entries behind the leader is caught up`, () => {
      expect(observedWithLag(0).caughtUp(0, 4)).to.equal(true);
      expect(observedWithLag(CAUGHT_UP_LAG_MAX).caughtUp(0, 4)).to.equal(true);
    });

    it('one entry more behind is not', () => {
      expect(observedWithLag(CAUGHT_UP_LAG_MAX + 1).caughtUp(0, 4)).to.equal(false);
      expect(observedWithLag(100_000).caughtUp(0, 4)).to.equal(false);
    });

    it('a replica the leader reports no lag for is not', () => {
      expect(observedWithLag(0).caughtUp(0, 5)).to.equal(false);
    });

    it('the replica must be running: stopped or unreported replicas are not caught up, whatever the lag', () => {
      expect(observedWithLag(0, 'stopped').caughtUp(0, 4)).to.equal(false);
      expect(observedWithLag(0, 'unreported').caughtUp(0, 4)).to.equal(false);
    });

    it('without a leader nothing is caught up', () => {
      const observed = observe(heartbeat('n3', { replicas: [status(0, 4, 'n3')] }), heartbeat('n0', { replicas: [status(0, 1, 'n0')] }));
      expect(observed.caughtUp(0, 4)).to.equal(false);
    });

    it('the lag is read from the newest-term leader', () => {
      const observed = observe(
        heartbeat('n0', { replicas: [leaderStatus(0, 1, 'n0', members, { term: 2, followerLag: { '4': 0 } })] }),
        heartbeat('n1', { replicas: [leaderStatus(0, 2, 'n1', members, { term: 3, followerLag: { '4': 500 } })] }),
        heartbeat('n3', { replicas: [status(0, 4, 'n3')] }),
      );
      expect(observed.caughtUp(0, 4)).to.equal(false);
    });
  });
});
