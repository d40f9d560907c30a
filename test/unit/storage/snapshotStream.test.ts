import { expect } from 'chai';
import { SnapshotMeta } from '../../../actors/raft/types';
import { SnapshotTransferError } from '../../../storage/errors';
import { KvCommand } from '../../../storage/kvCommand';
import { KvRecord } from '../../../storage/kvRecord';
import { ReplicaStore } from '../../../storage/replicaStore';
import { SnapshotFrame, decodeSnapshotFrame, encodeSnapshotFrame } from '../../../storage/snapshotFrame';
import { SnapshotReceiver } from '../../../storage/snapshotStream';
import { OpenStores, commandEntry, expectRejection, writeCommitted } from './support';

const KEY_COUNT = 5000;
const CHUNK_BYTES = 16 * 1024;

/** Every key of a store's state machine with its record, read through the public get(). */
function contents(store: ReplicaStore, keys: string[]): Map<string, KvRecord | undefined> {
  return new Map(keys.map((key) => [key, store.stateMachine.get(key)]));
}

/** All frames of a transfer, passed through the bus codec as they would travel. */
async function collectFrames(source: ReplicaStore, chunkBytesMax = CHUNK_BYTES): Promise<SnapshotFrame[]> {
  const frames: SnapshotFrame[] = [];
  for await (const frame of source.streamSnapshot({ chunkBytesMax })) frames.push(decodeSnapshotFrame(encodeSnapshotFrame(frame)));
  return frames;
}

async function deliver(receiver: SnapshotReceiver, frames: SnapshotFrame[]): Promise<SnapshotMeta | undefined> {
  let installed: SnapshotMeta | undefined;
  for (const frame of frames) installed = await receiver.receive(frame);
  return installed;
}

describe('snapshot streaming', () => {
  const stores = new OpenStores();
  let source: ReplicaStore;
  let target: ReplicaStore;
  const sourceKeys = Array.from({ length: KEY_COUNT }, (_, i) => `key-${String(i).padStart(5, '0')}`);
  const targetKeys = ['old-1', 'old-2', 'key-00001'];

  beforeEach(async function () {
    this.timeout(60_000);
    source = await stores.open();
    target = await stores.open();
    // Source: 5,000 keys in batches of 500 (term 2), then a few overwrites and deletes (term 3).
    for (let batch = 0; batch < KEY_COUNT / 500; batch++) {
      const commands: KvCommand[] = sourceKeys.slice(batch * 500, batch * 500 + 500).map((key) => ({ op: 'put', key, value: `value of ${key} `.repeat(3) }));
      await writeCommitted(source, 2, commands);
    }
    await writeCommitted(source, 3, [{ op: 'put', key: 'key-00007', value: 'rewritten' }, { op: 'del', key: 'key-00008' }]);
    // Target: an older, different state with a log of its own.
    await writeCommitted(target, 1, targetKeys.map((key) => ({ op: 'put', key, value: 'old' })));
    await target.log.persist({ entries: [commandEntry(4, 1, { op: 'put', key: 'old-3', value: 'uncommitted' })] });
  });

  afterEach(async () => {
    await stores.closeAll();
  });

  it('moves the state machine into another replica in several chunks', async () => {
    const frames = await collectFrames(source);
    const chunks = frames.filter((frame) => frame.kind === 'chunk');
    expect(chunks.length).to.be.greaterThan(5);
    for (const chunk of chunks) expect(chunk.kind === 'chunk' && chunk.payload.byteLength).to.be.at.most(CHUNK_BYTES);
    const installed = await deliver(target.receiveSnapshot(), frames);

    const index = source.stateMachine.applied();
    expect(installed).to.deep.equal({ index, term: 3, confState: source.stateMachine.confState() });
    expect(contents(target, sourceKeys)).to.deep.equal(contents(source, sourceKeys));
    for (const key of ['old-1', 'old-2', 'old-3']) expect(target.stateMachine.get(key)).to.equal(undefined);
    expect(target.stateMachine.applied()).to.equal(index);
    expect(target.log.firstIndex()).to.equal(index + 1);
    expect(target.log.lastIndex()).to.equal(index);
    expect(target.log.term(index)).to.equal(3);
    expect(target.log.snapshot().meta).to.deep.equal(installed);
    expect(target.log.hardState().commit).to.equal(index);
    // The old copy was cleared after the flip; only the new one holds data.
    const counts = [target.environment.kv('a').getCount({}), target.environment.kv('b').getCount({})].sort((x, y) => x - y);
    expect(counts).to.deep.equal([0, KEY_COUNT - 1]);
  });

  it('survives a restart after install and keeps going from index + 1', async () => {
    const installed = await deliver(target.receiveSnapshot(), await collectFrames(source));
    const index = installed?.index ?? -1;
    target = await stores.reopen(target);
    expect(target.stateMachine.applied()).to.equal(index);
    expect(target.log.firstIndex()).to.equal(index + 1);
    expect(contents(target, sourceKeys.slice(0, 50))).to.deep.equal(contents(source, sourceKeys.slice(0, 50)));
    const [result] = await writeCommitted(target, 3, [{ op: 'put', key: 'key-00000', value: 'after' }]);
    expect(result).to.deep.equal({ op: 'put', revision: index + 1 });
    expect(target.stateMachine.get('key-00000')).to.deep.include({ value: 'after', createRevision: 1 });
  });

  it('streams one consistent view even while the source keeps applying', async () => {
    const expected = contents(source, sourceKeys);
    const frames: SnapshotFrame[] = [];
    for await (const frame of source.streamSnapshot({ chunkBytesMax: CHUNK_BYTES })) {
      frames.push(frame);
      if (frames.length === 2) {
        await writeCommitted(source, 3, [{ op: 'put', key: 'key-04999', value: 'later' }, { op: 'del', key: 'key-04998' }]);
      }
    }
    await deliver(target.receiveSnapshot(), frames);
    expect(contents(target, sourceKeys)).to.deep.equal(expected);
    expect(target.stateMachine.applied()).to.equal(source.stateMachine.applied() - 2);
  });

  it('leaves the old state intact when a transfer is aborted, and a later one still works', async () => {
    const before = contents(target, targetKeys);
    const frames = await collectFrames(source);
    const receiver = target.receiveSnapshot();
    await deliver(receiver, frames.slice(0, 4));
    await receiver.abort();
    expectUnchanged(target, before);
    await deliver(target.receiveSnapshot(), frames);
    expect(target.stateMachine.applied()).to.equal(source.stateMachine.applied());
  });

  it('leaves the old state intact after a crash mid-transfer', async () => {
    const before = contents(target, targetKeys);
    const frames = await collectFrames(source);
    await deliver(target.receiveSnapshot(), frames.slice(0, 5));
    target = await stores.reopen(target); // no abort: the staging copy holds leftovers
    expectUnchanged(target, before);
    await deliver(target.receiveSnapshot(), frames);
    expect(contents(target, sourceKeys)).to.deep.equal(contents(source, sourceKeys));
  });

  it('refuses a transfer whose content does not match the digest', async () => {
    const before = contents(target, targetKeys);
    const frames = await collectFrames(source);
    const tampered = frames.map((frame) => {
      if (frame.kind !== 'chunk' || frame.sequence !== 2) return frame;
      const payload = Buffer.from(frame.payload);
      payload[payload.indexOf('value of')] = 'V'.charCodeAt(0);
      return { ...frame, payload };
    });
    await expectTransferError(deliver(target.receiveSnapshot(), tampered), 'SNAPSHOT_DIGEST_MISMATCH');
    expectUnchanged(target, before);
  });

  it('refuses chunks out of order or missing', async () => {
    const frames = await collectFrames(source);
    const swapped = [frames[0], frames[2], frames[1], ...frames.slice(3)];
    await expectTransferError(deliver(target.receiveSnapshot(), swapped), 'SNAPSHOT_SEQUENCE');
    const missing = frames.filter((frame) => !(frame.kind === 'chunk' && frame.sequence === frames.length - 3));
    await expectTransferError(deliver(target.receiveSnapshot(), missing), 'SNAPSHOT_SEQUENCE');
    const receiver = target.receiveSnapshot();
    await expectTransferError(receiver.receive(frames[1]), 'SNAPSHOT_SEQUENCE');
    expect(target.stateMachine.applied()).to.equal(3);
  });

  it('refuses a snapshot that is not ahead of the replica', async () => {
    const frames = await collectFrames(target);
    await expectTransferError(deliver(source.receiveSnapshot(), frames), 'SNAPSHOT_STALE');
    expect(source.stateMachine.get('old-1')).to.equal(undefined);
  });

  it('refuses malformed frames and payloads', async () => {
    expect(() => decodeSnapshotFrame(Uint8Array.from([0x93, 0x02, 0x00]))).to.throw(SnapshotTransferError, /SNAPSHOT_MALFORMED/);
    const frames = await collectFrames(source);
    const receiver = target.receiveSnapshot();
    await receiver.receive(frames[0]);
    await expectTransferError(receiver.receive({ kind: 'chunk', sequence: 0, payload: Uint8Array.from([0x91, 0x01]) }), 'SNAPSHOT_MALFORMED');
    expect(target.stateMachine.applied()).to.equal(3);
  });

  function expectUnchanged(store: ReplicaStore, before: Map<string, KvRecord | undefined>): void {
    expect(contents(store, targetKeys)).to.deep.equal(before);
    expect(store.stateMachine.applied()).to.equal(3);
    expect(store.log.firstIndex()).to.equal(1);
    expect(store.log.lastIndex()).to.equal(4);
    expect(store.stateMachine.get('key-00002')).to.equal(undefined);
  }
});

async function expectTransferError(promise: Promise<unknown>, code: string): Promise<void> {
  await expectRejection(promise, SnapshotTransferError, new RegExp(code));
}
