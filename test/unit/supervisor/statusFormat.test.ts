import { expect } from 'chai';
import { formatDuration, formatStatus, isClusterStatus } from '../../../supervisor/clientCommands';
import { SAMPLE_STATUS } from './sampleStatus';

describe('supervisor/clientCommands formatStatus', () => {
  it('prints nodes, then partitions with leader and replicas sorted, lag from the leader', () => {
    const text = formatStatus(SAMPLE_STATUS);
    expect(text).to.equal(
      [
        '2 node(s), 2 partition(s), 1 with a leader',
        'controller: none answering (an election may be under way)',
        '',
        'NODE  PID  HTTP  UPTIME  STATE  HEALTH  REPLICAS  RESTARTS  FAILED',
        'n1    101  8080  1m05s   -      -       2         0         0',
        'n2    102  -     4s      -      -       1         3         1',
        '',
        'PARTITION  LEADER    REPLICA  NODE  ROLE       TERM  COMMIT  APPLIED  LAG',
        '0          r1@n1 t4  1        n1    leader     4     10      10       0',
        '                     2        n2    follower   4     10      9        2',
        '1          NONE      1        n1    candidate  7     0       0        -',
        '',
        'stopped for good (not restarted):',
        '  n2 p1/r2: StorageCorruptionError: bad checksum',
        '',
        'no answer from: p1/r2',
        '',
      ].join('\n'),
    );
  });

  it("shows the controller's verdict on each node, nodes that no longer answer, and the metadata partition", () => {
    const text = formatStatus({
      ...SAMPLE_STATUS,
      metadata: { id: 65535, leader: { replica: 2, node: 'n2', term: 3 }, replicas: [{ ...SAMPLE_STATUS.partitions[0].replicas[1], partition: 65535, replica: 2, node: 'n1', role: 'leader' }] },
      controller: {
        node: 'n2', epoch: 14, changing: 1, balanced: false, blocked: [],
        nodes: [
          { id: 'n1', weight: 1, state: 'active', health: 'alive', replicas: 2, leaders: 1 },
          { id: 'n2', weight: 1, state: 'draining', health: 'alive', replicas: 1, leaders: 0 },
          { id: 'n3', weight: 1, state: 'active', health: 'down', replicas: 1, leaders: 0 },
        ],
      },
    });
    expect(text).to.contain('controller: n2 (epoch 14), 1 partition(s) changing');
    expect(text).to.match(/n2 +102 +- +4s +draining +alive/);
    expect(text).to.match(/n3 +- +- +- +active +down/);
    expect(text).to.match(/\nmeta +r2@n2 t3 +2 +n1 +leader/);
  });

  it('shows the key ring and the reshard in progress', () => {
    const controller = { node: 'n1', epoch: 20, changing: 1, balanced: false, blocked: [], nodes: [], ring: { epoch: 2, partitions: [0, 2, 3] } };
    const text = formatStatus({ ...SAMPLE_STATUS, controller: { ...controller, reshard: { kind: 'create', partitionId: 4, phase: 'copy' } } });
    expect(text).to.contain('\nkey ring: epoch 2, partitions 0 2 3 (creating partition 4: copy)\n');
    expect(formatStatus({ ...SAMPLE_STATUS, controller: { ...controller, reshard: null } })).to.contain('\nkey ring: epoch 2, partitions 0 2 3\n');
  });

  it('recognizes the status shape', () => {
    expect(isClusterStatus(SAMPLE_STATUS)).to.equal(true);
    expect(isClusterStatus({ keys: 0, revision: 2 })).to.equal(false);
    expect(isClusterStatus({ nodes: [], partitions: [{ leader: 3 }] })).to.equal(false);
    expect(isClusterStatus(null)).to.equal(false);
  });

  it('formats durations', () => {
    expect(formatDuration(0)).to.equal('0s');
    expect(formatDuration(59_999)).to.equal('59s');
    expect(formatDuration(7_260_000)).to.equal('2h01m');
    expect(formatDuration(-1)).to.equal('-');
  });
});
