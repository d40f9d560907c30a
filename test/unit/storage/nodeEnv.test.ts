// The node env (storage/nodeEnv.ts): many replicas' dbs in one LMDB environment, their writes of one
// event-loop turn committed as one transaction, each replica's data its own.

import { expect } from 'chai';
import { mkdirSync } from 'fs';
import { join } from 'path';
import { NodeEnv } from '../../../storage/nodeEnv';
import { ReplicaStore, replicaPlace } from '../../../storage/replicaStore';
import { ReplicaEnv } from '../../../storage/replicaEnv';
import { StorageFailedError } from '../../../storage/errors';
import { TempDirs, VOTERS_THREE, expectRejection, writeCommitted } from './support';

describe('NodeEnv', () => {
  const dirs = new TempDirs();
  const opened: NodeEnv[] = [];

  function openNode(path: string): NodeEnv {
    const node = NodeEnv.open({ path });
    opened.push(node);
    return node;
  }

  async function closeNode(node: NodeEnv): Promise<void> {
    opened.splice(opened.indexOf(node), 1);
    await node.close();
  }

  const openReplica = (node: NodeEnv, partition: number) => ReplicaStore.open({ node, partition, bootstrapConfState: VOTERS_THREE });

  afterEach(async () => {
    for (const node of opened.splice(0)) await node.close();
    dirs.removeAll();
  });

  it('keeps each replica its own log and state machine, across a reopen', async () => {
    const path = join(dirs.make(), 'store');
    let node = openNode(path);
    const [a, b] = [await openReplica(node, 1), await openReplica(node, 2)];
    await writeCommitted(a, 1, [{ op: 'put', key: 'k', value: 'from-1' }]);
    await writeCommitted(b, 1, [{ op: 'put', key: 'k', value: 'from-2' }, { op: 'put', key: 'only-2', value: 'x' }]);
    await closeNode(node);

    node = openNode(path);
    const [a2, b2] = [await openReplica(node, 1), await openReplica(node, 2)];
    expect(a2.stateMachine.get('k')?.value).to.equal('from-1');
    expect(a2.stateMachine.get('only-2')).to.equal(undefined);
    expect(b2.stateMachine.get('k')?.value).to.equal('from-2');
    expect([a2.log.lastIndex(), b2.log.lastIndex()]).to.deep.equal([1, 2]);
    expect(node.partitions()).to.deep.equal([1, 2]);
  });

  it('commits the writes of all its replicas in one event-loop turn as one transaction', async () => {
    const node = openNode(join(dirs.make(), 'store'));
    const replicas = await Promise.all([1, 2, 3, 4].map((partition) => openReplica(node, partition)));
    const before = node.lastTransactionId();
    await Promise.all(replicas.map((replica) => writeCommitted(replica, 1, [{ op: 'put', key: 'k', value: 'v' }])));
    // Each replica writes twice (persist, then apply): two commits in all, not eight.
    expect(node.lastTransactionId() - before).to.equal(2);
    for (const replica of replicas) expect(replica.stateMachine.get('k')?.value).to.equal('v');
  });

  it('drops one replica for good; the others keep their data, and the partition can come back empty', async () => {
    const node = openNode(join(dirs.make(), 'store'));
    const [a, b] = [await openReplica(node, 1), await openReplica(node, 2)];
    await writeCommitted(a, 1, [{ op: 'put', key: 'k', value: 'a' }]);
    await writeCommitted(b, 1, [{ op: 'put', key: 'k', value: 'b' }]);
    await a.close();
    await node.dropReplica(1);
    expect(node.partitions()).to.deep.equal([2]);
    expect(b.stateMachine.get('k')?.value).to.equal('b');
    const again = await openReplica(node, 1);
    expect(again.log.lastIndex()).to.equal(0);
    expect(again.stateMachine.get('k')).to.equal(undefined);
  });

  it('poisons only the replica whose write threw; its neighbours go on writing', async () => {
    const node = openNode(join(dirs.make(), 'store'));
    const [bad, good] = [node.replica(1), node.replica(2)];
    await expectRejection(bad.write(() => { throw new Error('disk on fire'); }), Error, /disk on fire/);
    await expectRejection(bad.write(() => undefined), StorageFailedError, /refus|fail/i);
    await good.write(() => good.log.putSync(Buffer.from([1]), Buffer.from([2])));
    expect(good.log.get(Buffer.from([1]))).to.deep.equal(Buffer.from([2]));
  });

  it('leaves a replica an older cairn node kept in an environment of its own where it is', async () => {
    const root = dirs.make();
    const node = openNode(join(root, 'store'));
    const own = join(root, 'p3');
    const legacy = ReplicaEnv.open({ path: own });
    await legacy.close();
    expect(replicaPlace(node, 3, own)).to.deep.equal({ path: own });
    mkdirSync(join(root, 'p4'));
    expect(replicaPlace(node, 4, join(root, 'p4'))).to.deep.equal({ node, partition: 4 });
  });
});
