import { expect } from 'chai';
import {
  HashRing,
  RingMember,
  VNODES_PER_UNIT_WEIGHT_DEFAULT,
  hashString,
  partitionMembers,
  pointCountForWeight,
  virtualPointHash,
  xxHash32,
} from '../../../actors/router/hashRing';
import { expectRingError, shuffled } from './helpers';

const keys20k = Array.from({ length: 20_000 }, (_unused, index) => `user:${index}`);

describe('router/hashRing: xxHash32 known answers', () => {
  // Values from the reference C implementation (libxxhash 0.8.1, XXH32()).
  // If one of these fails, keys would move between partitions: that is a
  // protocol change, not a refactor.
  const vectors: Array<[string, number, number]> = [
    ['', 0, 0x02cc5d05],
    ['a', 0, 0x550d7456],
    ['abc', 0, 0x32d153ff],
    ['p0#0', 0, 0x7f3bc70d],
    ['key-0', 0, 0x8143042f],
    ['0123456789abcdef', 0, 0xc2c45b69],
    ['Nobody inspects the spammish repetition', 0, 0xe2293b2f],
    ['0123456789abcdefghijklmnopqrstuvwxyz0123', 7, 0x81b62e06],
    ['xxhash', 20141025, 0x67bb40dd],
    ['héllo wörld', 0, 0xcea5b2a4],
    ['日本語キー', 0, 0x7c0222ff],
    ['🪨cairn', 0, 0x2ff99824],
    ['\uFFFD', 0, 0x759d8851],
  ];
  for (const [text, seed, expected] of vectors) {
    it(`hashString(${JSON.stringify(text)}, ${seed}) = 0x${expected.toString(16).padStart(8, '0')}`, () => {
      expect(hashString(text, seed)).to.equal(expected);
      expect(xxHash32(Buffer.from(text, 'utf8'), seed)).to.equal(expected);
    });
  }

  it('returns an unsigned 32-bit integer', () => {
    for (const key of keys20k.slice(0, 1000)) {
      const hash = hashString(key);
      expect(Number.isInteger(hash) && hash >= 0 && hash <= 0xffffffff).to.equal(true);
    }
  });

  it('hashes the UTF-8 bytes: agrees with Buffer encoding for multi-byte and long strings', () => {
    const samples = ['ü'.repeat(7), '€'.repeat(33), '𝄞'.repeat(50), 'x'.repeat(5000), 'mixed ascii é € 𝄞 end'];
    for (const text of samples) {
      expect(hashString(text)).to.equal(xxHash32(Buffer.from(text, 'utf8')));
    }
  });

  it('encodes a lone surrogate as U+FFFD (documented; the protocol refuses them upstream)', () => {
    expect(hashString('\uD800')).to.equal(hashString('\uFFFD'));
    expect(hashString('a\uDC00b')).to.equal(hashString('a\uFFFDb'));
  });

  it('names virtual points "<member id>#<decimal index>"', () => {
    expect(virtualPointHash('p0', 0)).to.equal(0x7f3bc70d);
    expect(virtualPointHash('node-1', 17)).to.equal(hashString('node-1#17'));
  });
});

describe('router/hashRing: ring', () => {
  it('matches golden lookups for the default 8-partition ring (derived by an independent reference)', () => {
    const ring = HashRing.build(partitionMembers(8));
    expect(VNODES_PER_UNIT_WEIGHT_DEFAULT).to.equal(256);
    expect(ring.pointCount).to.equal(8 * 256);
    const golden: Array<[string, string[]]> = [
      ['', ['p0', 'p4', 'p2']],
      ['a', ['p0', 'p4', 'p2']],
      ['user:1', ['p1', 'p4', 'p6']],
      ['user:42', ['p7', 'p0', 'p3']],
      ['__proto__', ['p7', 'p3', 'p2']],
      ['日本語キー', ['p7', 'p1', 'p6']],
      ['🪨cairn', ['p2', 'p7', 'p6']],
    ];
    for (const [key, expected] of golden) {
      expect(ring.lookupN(key, 3), key).to.deep.equal(expected);
      expect(ring.lookup(key), key).to.equal(expected[0]);
    }
  });

  it('binary search agrees with a brute-force scan of the documented point rule', () => {
    const members: RingMember[] = [
      { id: 'a', weight: 1 },
      { id: 'b', weight: 0.5 },
      { id: 'c', weight: 2 },
    ];
    const ring = HashRing.build(members, { vnodesPerUnitWeight: 8 });
    const points: Array<[number, string]> = [];
    for (const member of members) {
      for (let index = 0; index < pointCountForWeight(member.weight, 8); index++) {
        points.push([virtualPointHash(member.id, index), member.id]);
      }
    }
    points.sort((left, right) => left[0] - right[0] || (left[1] < right[1] ? -1 : 1));
    for (const key of keys20k.slice(0, 2000)) {
      const hash = hashString(key);
      const owner = (points.find(([point]) => point >= hash) ?? points[0])[1];
      expect(ring.lookup(key)).to.equal(owner);
    }
  });

  it('wraps around: a hash past the last point belongs to the first point', () => {
    const ring = HashRing.build(partitionMembers(8));
    expect(ring.lookupHash(0xffffffff)).to.equal(ring.lookupHash(0));
  });

  it('does not depend on the order members are given in', () => {
    const members = Array.from({ length: 40 }, (_unused, index) => ({ id: `node-${index}`, weight: 1 + (index % 3) }));
    const reference = HashRing.build(members, { vnodesPerUnitWeight: 64 });
    for (const seed of [1, 2, 3]) {
      const ring = HashRing.build(shuffled(members, seed), { vnodesPerUnitWeight: 64 });
      for (const key of keys20k.slice(0, 5000)) expect(ring.lookupN(key, 3)).to.deep.equal(reference.lookupN(key, 3));
    }
  });

  it('lookupN returns distinct members, starting with lookup, capped at the member count', () => {
    const ring = HashRing.build(partitionMembers(8));
    for (const key of keys20k.slice(0, 2000)) {
      for (const count of [1, 3, 5, 8]) {
        const found = ring.lookupN(key, count);
        expect(found).to.have.length(count);
        expect(new Set(found).size).to.equal(count);
        expect(found[0]).to.equal(ring.lookup(key));
      }
      const all = ring.lookupN(key, 100);
      expect([...all].sort()).to.deep.equal(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    }
    expect(HashRing.build([{ id: 'only', weight: 1 }]).lookupN('k', 3)).to.deep.equal(['only']);
  });

  it('lookupN refuses a count that is not a positive integer', () => {
    const ring = HashRing.build(partitionMembers(2));
    for (const count of [0, -1, 1.5, Number.NaN]) expectRingError(() => ring.lookupN('k', count), 'INVALID_COUNT');
  });

  it('8 -> 9 partitions moves < 0.2 of 20,000 keys, every moved key to the new partition', () => {
    const before = HashRing.build(partitionMembers(8));
    const after = HashRing.build(partitionMembers(9));
    let moved = 0;
    for (const key of keys20k) {
      const ownerAfter = after.lookup(key);
      if (before.lookup(key) === ownerAfter) continue;
      moved++;
      expect(ownerAfter, key).to.equal('p8');
    }
    expect(moved / keys20k.length).to.be.lessThan(0.2);
    expect(moved / keys20k.length).to.be.greaterThan(0.05);
  });

  it('removing a member moves only the keys it owned', () => {
    const before = HashRing.build(partitionMembers(9));
    const after = before.withoutMember('p4');
    for (const key of keys20k) {
      const ownerBefore = before.lookup(key);
      if (ownerBefore !== 'p4') expect(after.lookup(key)).to.equal(ownerBefore);
      else expect(after.lookup(key)).to.not.equal('p4');
    }
  });

  it('spreads 20,000 keys over 8 equal partitions within 25% of the mean', () => {
    const ring = HashRing.build(partitionMembers(8));
    const counts = new Map<string, number>();
    for (const key of keys20k) counts.set(ring.lookup(key), (counts.get(ring.lookup(key)) ?? 0) + 1);
    const mean = keys20k.length / 8;
    expect(counts.size).to.equal(8);
    for (const count of counts.values()) expect(Math.abs(count / mean - 1)).to.be.lessThan(0.25);
  });

  it('gives members ring shares in proportion to their weights', () => {
    const ring = HashRing.build([
      { id: 'w1', weight: 1 },
      { id: 'w2', weight: 2 },
      { id: 'w3', weight: 3 },
      { id: 'w4', weight: 4 },
    ]);
    const shares = ring.ownership();
    let total = 0;
    for (const [id, share] of shares) {
      const expected = Number(id.slice(1)) / 10;
      expect(Math.abs(share / expected - 1), id).to.be.lessThan(0.15);
      total += share;
    }
    expect(total).to.be.closeTo(1, 1e-9);
  });

  it('gives a member of tiny weight at least one point', () => {
    const ring = HashRing.build([{ id: 'tiny', weight: 1e-9 }, { id: 'big', weight: 1 }]);
    expect(ring.pointCount).to.equal(257);
    expect(ring.ownership().get('tiny')).to.be.greaterThan(0);
  });

  it('is immutable: changes build a new ring and leave the old one as it was', () => {
    const ring = HashRing.build(partitionMembers(3));
    const grown = ring.withMember({ id: 'p3', weight: 1 });
    expect(Object.isFrozen(ring)).to.equal(true);
    expect(ring.memberCount).to.equal(3);
    expect(grown.memberCount).to.equal(4);
    expect(grown.has('p3') && !ring.has('p3')).to.equal(true);
    const reweighted = grown.withMember({ id: 'p3', weight: 2 });
    expect(reweighted.memberCount).to.equal(4);
    expect(reweighted.pointCount).to.equal(5 * 256);
    const members = ring.members();
    (members[0] as { weight: number }).weight = 99;
    expect(ring.members()[0].weight).to.equal(1);
    expectRingError(() => ring.withoutMember('nope'), 'UNKNOWN_MEMBER');
    expectRingError(() => HashRing.build([{ id: 'x', weight: 1 }]).withoutMember('x'), 'EMPTY_RING');
  });

  it('refuses an empty ring, bad weights, bad ids, duplicates and bad vnode counts with clear errors', () => {
    expect(expectRingError(() => HashRing.build([]), 'EMPTY_RING').message).to.match(/at least one member/);
    for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = expectRingError(() => HashRing.build([{ id: 'a', weight: 1 }, { id: 'b', weight }]), 'INVALID_WEIGHT');
      expect(error.message).to.contain('"b"').and.to.contain('positive');
    }
    expectRingError(() => HashRing.build([{ id: 'a', weight: '1' as unknown as number }]), 'INVALID_WEIGHT');
    expectRingError(() => HashRing.build([{ id: '', weight: 1 }]), 'INVALID_MEMBER_ID');
    expectRingError(() => HashRing.build([{ id: 'a', weight: 1 }, { id: 'a', weight: 2 }]), 'DUPLICATE_MEMBER');
    for (const vnodesPerUnitWeight of [0, -4, 2.5]) {
      expectRingError(() => HashRing.build(partitionMembers(2), { vnodesPerUnitWeight }), 'INVALID_VNODES');
    }
    expectRingError(() => HashRing.build([{ id: 'a', weight: 1e6 }]), 'TOO_MANY_POINTS');
    expectRingError(() => partitionMembers(0), 'INVALID_COUNT');
  });

  it('treats keys that are Object.prototype names as plain keys', () => {
    const ring = HashRing.build(partitionMembers(8));
    for (const key of ['__proto__', 'constructor', 'hasOwnProperty', 'toString']) {
      expect(ring.lookup(key)).to.match(/^p[0-7]$/);
    }
  });
});
