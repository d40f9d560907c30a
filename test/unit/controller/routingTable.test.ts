import { expect } from 'chai';
import {
  RoutingTable,
  WAIT_QUEUE_DEFAULTS,
  admitToWaitQueue,
  buildRoutingTable,
  decodeRoutingTable,
  encodeRoutingTable,
  expireWaiting,
  findPartition,
  isStale,
  pickReadReplica,
  shouldAcceptTable,
} from '../../../actors/controller';
import { SimCluster } from './harness';

function sampleTable(): { cluster: SimCluster; table: RoutingTable } {
  const cluster = new SimCluster();
  for (const nodeId of ['n0', 'n1', 'n2', 'n3']) cluster.addNode(nodeId);
  cluster.createPartitions(3);
  cluster.setHealth('n1', 'suspect');
  return { cluster, table: buildRoutingTable(cluster.state, cluster.healthOf, { controllerTerm: 7, healthRevision: 2 }) };
}

describe('controller/routingTable', () => {
  it('derives replicas, roles, health and leader per partition, stamped with the metadata epoch', () => {
    const { cluster, table } = sampleTable();
    expect(table.epoch).to.equal(cluster.state.epoch);
    expect(table.partitions.map((p) => p.id)).to.deep.equal([0, 1, 2]);
    for (const partition of table.partitions) {
      const record = cluster.state.partitions.get(partition.id)!;
      expect(partition.leader).to.equal(record.leader);
      expect(partition.replicas.map((r) => [r.node, r.replicaId, r.role, r.healthy])).to.deep.equal(
        record.replicas.map((r) => [r.node, r.replicaId, r.role, r.node !== 'n1']),
      );
    }
  });

  it('round-trips through JSON and refuses malformed tables', () => {
    const { table } = sampleTable();
    const decoded = decodeRoutingTable(encodeRoutingTable(table));
    expect(decoded.ok && decoded.table).to.deep.equal(table);
    const good = JSON.parse(encodeRoutingTable(table));
    const first = good.partitions[0];
    for (const variant of [
      '[]',
      'nope',
      JSON.stringify({ ...good, epoch: -1 }),
      JSON.stringify({ ...good, partitions: [first, first] }),
      JSON.stringify({ ...good, partitions: [{ ...first, leader: 99 }] }),
      JSON.stringify({ ...good, partitions: [{ ...first, replicas: [first.replicas[0], first.replicas[0]] }] }),
      JSON.stringify({ ...good, partitions: [{ ...first, replicas: [{ ...first.replicas[0], healthy: 'yes' }] }] }),
    ]) {
      const result = decodeRoutingTable(variant);
      expect(result.ok === false && result.error.code, variant).to.equal('BAD_ENCODING');
    }
  });

  it('a router accepts only newer tables: epoch, then controller term, then health revision', () => {
    const base = { epoch: 5, controllerTerm: 3, healthRevision: 4 };
    expect(shouldAcceptTable(undefined, base)).to.equal(true);
    expect(shouldAcceptTable(base, base)).to.equal(false);
    expect(shouldAcceptTable(base, { ...base, epoch: 4, controllerTerm: 9 })).to.equal(false);
    expect(shouldAcceptTable(base, { ...base, epoch: 6, controllerTerm: 1, healthRevision: 0 })).to.equal(true);
    expect(shouldAcceptTable(base, { ...base, controllerTerm: 4, healthRevision: 0 })).to.equal(true);
    expect(shouldAcceptTable(base, { ...base, healthRevision: 5 })).to.equal(true);
    expect(shouldAcceptTable(base, { ...base, healthRevision: 3 })).to.equal(false);
  });

  it('a reply with a newer epoch marks the table stale', () => {
    const version = { epoch: 5, controllerTerm: 1, healthRevision: 0 };
    expect(isStale(version, 6)).to.equal(true);
    expect(isStale(version, 5)).to.equal(false);
    expect(isStale(version, 4)).to.equal(false);
    expect(isStale(undefined, 0)).to.equal(true);
  });

  it('reads go round-robin over healthy replicas only', () => {
    const { table } = sampleTable();
    const partition = findPartition(table, 1)!;
    expect(partition.id).to.equal(1);
    expect(findPartition(table, 9)).to.equal(undefined);
    const healthy = partition.replicas.filter((r) => r.healthy).map((r) => r.replicaId);
    const seen: number[] = [];
    let cursor = 0;
    for (let index = 0; index < healthy.length * 2; index++) {
      const pick = pickReadReplica(partition, cursor)!;
      seen.push(pick.replica.replicaId);
      cursor = pick.nextCursor;
    }
    expect(seen).to.deep.equal([...healthy, ...healthy]);
    expect(pickReadReplica({ ...partition, replicas: partition.replicas.map((r) => ({ ...r, healthy: false })) }, 0)).to.equal(undefined);
  });

  it('bounds the wait queue of a leaderless partition by count and by age', () => {
    const spec = { countMax: 2, ageMsMax: 100 };
    expect(admitToWaitQueue([], spec)).to.equal(true);
    expect(admitToWaitQueue([{ enqueuedAtMs: 0 }], spec)).to.equal(true);
    expect(admitToWaitQueue([{ enqueuedAtMs: 0 }, { enqueuedAtMs: 1 }], spec)).to.equal(false);
    const { kept, expired } = expireWaiting([{ enqueuedAtMs: 0 }, { enqueuedAtMs: 1 }, { enqueuedAtMs: 50 }], 101, spec);
    expect(expired).to.deep.equal([{ enqueuedAtMs: 0 }, { enqueuedAtMs: 1 }]);
    expect(kept).to.deep.equal([{ enqueuedAtMs: 50 }]);
    expect(WAIT_QUEUE_DEFAULTS).to.deep.equal({ countMax: 1000, ageMsMax: 1000 });
  });
});
