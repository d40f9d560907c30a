import { expect } from 'chai';
import { Heartbeat, decodeHeartbeat, encodeHeartbeat } from '../../../actors/controller/heartbeat';
import { WEIGHT_MAX } from '../../../actors/controller/commands';
import { heartbeat, hosted, leaderStatus, status } from './fixtures';

/** A heartbeat with a leader (members, lags, confCommitted), a follower and a stopped replica. */
function full(): Heartbeat {
  return heartbeat('node-a.1', {
    weight: 2.5,
    drained: true,
    hosted: hosted([0, 1], [3, 2], [65535, 1]),
    replicas: [
      leaderStatus(0, 1, 'node-a.1', { voters: [1, 2, 3], learners: [4] }, { confCommitted: false, followerLag: { '1': 0, '2': 3, '3': 70, '4': 1200 } }),
      status(3, 2, 'node-a.1', { term: 7, leader: 1 }),
      status(65535, 1, 'node-a.1', { role: 'stopped' }),
    ],
  });
}

/** The bytes of `full()` with `patch` applied to its JSON form. */
function patched(patch: (value: Record<string, any>) => void): Uint8Array {
  const value = JSON.parse(JSON.stringify(full()));
  patch(value);
  return Buffer.from(JSON.stringify(value));
}

describe('controller/heartbeat', () => {
  it('round-trips a heartbeat with leader, follower and stopped replicas', () => {
    const original = full();
    expect(decodeHeartbeat(encodeHeartbeat(original))).to.deep.equal(original);
  });

  it('round-trips an idle node (nothing hosted)', () => {
    const idle = heartbeat('n0');
    expect(decodeHeartbeat(encodeHeartbeat(idle))).to.deep.equal(idle);
  });

  it('accepts the weight bounds (0, WEIGHT_MAX]', () => {
    expect(decodeHeartbeat(patched((v) => (v.weight = WEIGHT_MAX)))?.weight).to.equal(WEIGHT_MAX);
    expect(decodeHeartbeat(patched((v) => (v.weight = 0.01)))?.weight).to.equal(0.01);
  });

  it('malformed JSON or a non-object body -> undefined', () => {
    for (const text of ['', '{', '{"node":"n0",', 'not json', 'null', '[]', '"n0"', '42', 'true']) {
      expect(decodeHeartbeat(Buffer.from(text)), JSON.stringify(text)).to.equal(undefined);
    }
    expect(decodeHeartbeat(new Uint8Array([0xff, 0xfe, 0x00]))).to.equal(undefined);
  });

  it('a missing or bad node id -> undefined', () => {
    for (const node of [undefined, '', ' n0', 'n 0', '-n0', '.n0', 'n/0', 'x'.repeat(65), 7, null, ['n0']]) {
      expect(decodeHeartbeat(patched((v) => (v.node = node))), JSON.stringify(node)).to.equal(undefined);
    }
    expect(decodeHeartbeat(patched((v) => (v.node = 'x'.repeat(64))))?.node, 'a 64-character id is fine').to.equal('x'.repeat(64));
  });

  it('a weight out of range or not a number -> undefined', () => {
    for (const weight of [0, -1, WEIGHT_MAX + 0.001, WEIGHT_MAX + 1, 1e9, '1', null, undefined, [1]]) {
      expect(decodeHeartbeat(patched((v) => (v.weight = weight))), JSON.stringify(weight)).to.equal(undefined);
    }
  });

  it('a drained flag that is not a boolean -> undefined', () => {
    for (const drained of [undefined, 'true', 1, 0, null]) {
      expect(decodeHeartbeat(patched((v) => (v.drained = drained))), JSON.stringify(drained)).to.equal(undefined);
    }
  });

  it('bad hosted entries -> undefined', () => {
    const bad: unknown[] = [
      undefined,
      {},
      'p0/r1',
      [null],
      [[0, 1]],
      [{ partition: 0 }],
      [{ replica: 1 }],
      [{ partition: -1, replica: 1 }],
      [{ partition: 0, replica: 1.5 }],
      [{ partition: '0', replica: 1 }],
      [{ partition: 0, replica: 1 }, { partition: 1, replica: -2 }],
    ];
    for (const value of bad) expect(decodeHeartbeat(patched((v) => (v.hosted = value))), JSON.stringify(value)).to.equal(undefined);
  });

  it('bad members in a replica status -> undefined', () => {
    const bad: unknown[] = [
      null,
      [1, 2, 3],
      'voters',
      { voters: [1, 2, 3] },
      { learners: [] },
      { voters: '1,2,3', learners: [] },
      { voters: [1, 2, 3], learners: {} },
      { voters: [1, '2', 3], learners: [] },
      { voters: [1, 2, 3], learners: [-4] },
      { voters: [1, 2.5], learners: [] },
      { voters: [1, null], learners: [] },
    ];
    for (const members of bad) expect(decodeHeartbeat(patched((v) => (v.replicas[0].members = members))), JSON.stringify(members)).to.equal(undefined);
  });

  it('other bad replica statuses -> undefined', () => {
    const patches: [string, (v: Record<string, any>) => void][] = [
      ['replicas not an array', (v) => (v.replicas = { 0: v.replicas[0] })],
      ['a status that is not an object', (v) => v.replicas.push(7)],
      ['no partition', (v) => delete v.replicas[1].partition],
      ['negative replica', (v) => (v.replicas[1].replica = -1)],
      ['term as a string', (v) => (v.replicas[1].term = '7')],
      ['no commit', (v) => delete v.replicas[1].commit],
      ['role not a string', (v) => (v.replicas[1].role = 1)],
      ['followerLag not an object', (v) => (v.replicas[0].followerLag = [0, 3])],
      ['a follower lag that is not a number', (v) => (v.replicas[0].followerLag['2'] = '3')],
    ];
    for (const [name, patch] of patches) expect(decodeHeartbeat(patched(patch)), name).to.equal(undefined);
  });
});
