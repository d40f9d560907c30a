import { expect } from 'chai';
import { LeaseState, ReadLease, leaseDurationMs } from '../../../actors/replica/readLease';

const leading = (overrides: Partial<LeaseState> = {}): LeaseState => ({
  term: 3, leader: true, termCommitted: true, transferred: false, confPending: false, ...overrides,
});

/** A lease confirmed for a round issued at `issuedAt`. */
function confirmedLease(durationMs = 100, issuedAt = 1_000, state = leading()): ReadLease {
  const lease = new ReadLease(durationMs);
  lease.probeIssued(7, issuedAt, state.term);
  lease.confirmed(7, state);
  return lease;
}

describe('read lease (actors/replica/readLease.ts)', () => {
  it('holds from a confirmed round until its issue time plus the duration, not after', () => {
    const lease = confirmedLease(100, 1_000);
    expect(lease.holds(1_050, leading())).to.equal(true);
    expect(lease.holds(1_099, leading())).to.equal(true);
    expect(lease.holds(1_100, leading())).to.equal(false);
  });

  it('does not hold before any round is confirmed, nor for a round still in flight', () => {
    const lease = new ReadLease(100);
    expect(lease.holds(0, leading())).to.equal(false);
    lease.probeIssued(1, 0, 3);
    expect(lease.holds(10, leading())).to.equal(false);
  });

  it('is measured from when the round was issued, not from when it was confirmed', () => {
    const lease = new ReadLease(100);
    lease.probeIssued(1, 1_000, 3);
    lease.confirmed(1, leading());
    expect(lease.holds(1_099, leading())).to.equal(true);
    expect(lease.holds(1_150, leading()), 'confirmed late, still ends at issue + duration').to.equal(false);
  });

  it('only the confirmation of the probe in flight extends it', () => {
    const lease = new ReadLease(100);
    lease.probeIssued(1, 1_000, 3);
    lease.confirmed(2, leading());
    expect(lease.holds(1_010, leading())).to.equal(false);
  });

  it('does not carry over to another term, and ignores a probe issued in an earlier term', () => {
    const lease = confirmedLease(100, 1_000, leading({ term: 3 }));
    expect(lease.holds(1_010, leading({ term: 4 }))).to.equal(false);
    const stale = new ReadLease(100);
    stale.probeIssued(1, 1_000, 3);
    stale.confirmed(1, leading({ term: 4 }));
    expect(stale.holds(1_010, leading({ term: 4 }))).to.equal(false);
  });

  for (const [what, state] of [
    ['a follower', leading({ leader: false })],
    ['a leader that has not committed an entry of its term', leading({ termCommitted: false })],
    ['a leader that sent TimeoutNow in this term', leading({ transferred: true })],
    ['a leader with a membership change pending', leading({ confPending: true })],
  ] as const) {
    it(`never holds for ${what}, and is forgotten there`, () => {
      const lease = confirmedLease(100, 1_000);
      expect(lease.holds(1_010, state)).to.equal(false);
      expect(lease.holds(1_020, leading()), 'revoked: a new round is needed').to.equal(false);
      expect(lease.wantsProbe(1_020, state)).to.equal(false);
    });
  }

  it('a round confirmed after a revoke does not extend it (a membership change came in between)', () => {
    const lease = new ReadLease(100);
    lease.probeIssued(1, 1_000, 3);
    lease.revoke();
    lease.confirmed(1, leading());
    expect(lease.holds(1_010, leading())).to.equal(false);
  });

  it('asks for a probe when none is in flight and half the lease is used', () => {
    const lease = new ReadLease(100);
    expect(lease.wantsProbe(0, leading()), 'no lease yet').to.equal(true);
    lease.probeIssued(1, 1_000, 3);
    expect(lease.wantsProbe(1_000, leading()), 'one in flight').to.equal(false);
    lease.confirmed(1, leading());
    expect(lease.wantsProbe(1_040, leading())).to.equal(false);
    expect(lease.wantsProbe(1_051, leading())).to.equal(true);
  });

  it('a dropped probe lets the next read start another', () => {
    const lease = new ReadLease(100);
    lease.probeIssued(1, 1_000, 3);
    lease.dropped(1);
    expect(lease.wantsProbe(1_001, leading())).to.equal(true);
  });

  it('with a zero duration never holds and never probes', () => {
    const lease = confirmedLease(0, 1_000);
    expect(lease.holds(1_000, leading())).to.equal(false);
    expect(lease.wantsProbe(1_000, leading())).to.equal(false);
  });

  it('lasts less than the shortest time a replica refuses votes: (electionTicks - 1) ticks, less drift and a tick', () => {
    expect(leaseDurationMs(25, 8)).to.equal(132);
    expect(leaseDurationMs(25, 8)).to.be.below((8 - 1) * 25);
    expect(leaseDurationMs(10, 2), 'too short a timeout leaves no lease').to.equal(0);
  });
});
