import { expect } from 'chai';
import { CLOCK_SKEW_ALLOWANCE_MS, DEADLINE_HEADER, deadlineHeaders, deadlineOf, isExpired } from '../../../bus/deadline';
import { headers } from 'nats';

describe('bus/deadline', () => {
  it('round-trips a deadline through the header', () => {
    expect(deadlineOf({ headers: deadlineHeaders(1_700_000_000_123.4) })).to.equal(1_700_000_000_124);
  });

  it('ignores a missing or malformed header (the request is then served as before)', () => {
    expect(deadlineOf({ headers: undefined })).to.equal(undefined);
    for (const bad of ['', 'soon', '-5', '1e12', '12345678901234567']) {
      const h = headers();
      h.set(DEADLINE_HEADER, bad);
      expect(deadlineOf({ headers: h }), JSON.stringify(bad)).to.equal(undefined);
    }
  });

  it('expires only past the deadline plus the clock-skew allowance', () => {
    expect(isExpired(undefined, 10 ** 13)).to.equal(false);
    expect(isExpired(1_000, 1_000 + CLOCK_SKEW_ALLOWANCE_MS)).to.equal(false);
    expect(isExpired(1_000, 1_001 + CLOCK_SKEW_ALLOWANCE_MS)).to.equal(true);
  });
});
