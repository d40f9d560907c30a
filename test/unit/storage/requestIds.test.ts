import { expect } from 'chai';
import { KvCommand, KvCommandError, decodeKvCommand, encodeKvCommand } from '../../../storage/kvCommand';
import { ReplicaStore } from '../../../storage/replicaStore';
import { decodeSnapshotFrame, encodeSnapshotFrame } from '../../../storage/snapshotFrame';
import { REQUEST_IDS_KEPT, resultKey } from '../../../storage/requestIds';
import { kvKey } from '../../../storage/kvRecord';
import { OpenStores, catchError, writeCommitted } from './support';

describe('request ids (exactly-once retries)', () => {
  const stores = new OpenStores();
  let store: ReplicaStore;

  beforeEach(async () => {
    store = await stores.open();
  });

  afterEach(async () => {
    await stores.closeAll();
  });

  it('encodes the id and refuses a malformed one', () => {
    const command: KvCommand = { op: 'put', key: 'a', value: '1', id: 'r1-abc_9' };
    expect(decodeKvCommand(encodeKvCommand(command))).to.deep.equal(command);
    expect(catchError(() => encodeKvCommand({ op: 'put', key: 'a', value: '1', id: 'has space' }))).to.be.instanceOf(KvCommandError);
    expect(catchError(() => encodeKvCommand({ op: 'put', key: 'a', value: '1', id: '' }))).to.be.instanceOf(KvCommandError);
  });

  it('refuses client keys in the reserved U+0000 namespace', () => {
    expect(catchError(() => encodeKvCommand({ op: 'put', key: '\u0000r\u0000x', value: '1' }))).to.include({ code: 'BAD_REQUEST' });
    expect(catchError(() => store.stateMachine.get('\u0000r\u0000x'))).to.include({ code: 'BAD_REQUEST' });
  });

  it('applies a write once: the same id again answers the first result and changes nothing', async () => {
    const [first] = await writeCommitted(store, 1, [{ op: 'put', key: 'a', value: 'one', id: 'req-1' }]);
    await writeCommitted(store, 1, [{ op: 'put', key: 'a', value: 'two' }]);
    const [again] = await writeCommitted(store, 1, [{ op: 'put', key: 'a', value: 'one', id: 'req-1' }]);
    expect(again).to.deep.equal(first);
    expect(store.stateMachine.get('a')!.value, 'the retry did not overwrite the later write').to.equal('two');
  });

  it('a retried cas that succeeded the first time reports its success, not a refusal', async () => {
    await writeCommitted(store, 1, [{ op: 'put', key: 'k', value: 'v0' }]);
    const cas: KvCommand = { op: 'cas', key: 'k', value: 'v1', expectedValue: 'v0', id: 'cas-1' };
    const [first, retry] = await writeCommitted(store, 1, [cas, cas]);
    expect(first).to.deep.include({ op: 'cas', ok: true });
    expect(retry).to.deep.equal(first);
  });

  it('records writes that changed nothing too: a retry after the key changed answers the refusal and changes nothing', async () => {
    const del: KvCommand = { op: 'del', key: 'k', id: 'del-1' };
    const [first] = await writeCommitted(store, 1, [del]);
    expect(first).to.deep.include({ op: 'del', deleted: false });
    await writeCommitted(store, 1, [{ op: 'put', key: 'k', value: 'later' }]);
    const [again] = await writeCommitted(store, 1, [del]);
    expect(again).to.deep.equal(first);
    expect(store.stateMachine.get('k')?.value, 'the retried delete did not delete the later write').to.equal('later');

    const cas: KvCommand = { op: 'cas', key: 'c', value: 'mine', expectedRevision: 0, id: 'cas-0' };
    await writeCommitted(store, 1, [{ op: 'put', key: 'c', value: 'there' }]);
    const [refused] = await writeCommitted(store, 1, [cas]);
    expect(refused).to.deep.include({ op: 'cas', ok: false });
    await writeCommitted(store, 1, [{ op: 'del', key: 'c' }]);
    const [retried] = await writeCommitted(store, 1, [cas]);
    expect(retried).to.deep.equal(refused);
    expect(store.stateMachine.get('c'), 'the retried cas did not write once the key was gone').to.equal(undefined);
  });

  it('carries the records in snapshots, so a replica that installed one decides duplicates alike', async () => {
    const [first] = await writeCommitted(store, 1, [{ op: 'put', key: 'a', value: 'one', id: 'snap-1' }]);
    const target = await stores.open();
    const receiver = target.receiveSnapshot();
    for await (const frame of store.streamSnapshot()) await receiver.receive(decodeSnapshotFrame(encodeSnapshotFrame(frame)));
    const [again] = await writeCommitted(target, 1, [{ op: 'put', key: 'a', value: 'one', id: 'snap-1' }]);
    expect(again).to.deep.equal(first);
  });

  it(`forgets ids after ${REQUEST_IDS_KEPT} entries`, async function () {
    this.timeout(120_000);
    await writeCommitted(store, 1, [{ op: 'put', key: 'a', value: 'one', id: 'old-1' }]);
    const filler: KvCommand[] = Array.from({ length: 5000 }, (_, i) => ({ op: 'put', key: `f${i % 10}`, value: 'x' }));
    for (let written = 0; written <= REQUEST_IDS_KEPT; written += filler.length) await writeCommitted(store, 1, filler);
    expect(store.environment.kv('a').get(kvKey(resultKey('old-1')))).to.equal(undefined);
    const [again] = await writeCommitted(store, 1, [{ op: 'put', key: 'a', value: 'one', id: 'old-1' }]);
    expect(again).to.deep.include({ op: 'put' });
    expect((again as { revision: number }).revision).to.be.greaterThan(REQUEST_IDS_KEPT);
  });
});
