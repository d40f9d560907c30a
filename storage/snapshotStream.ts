// InstallSnapshot for the LMDB state machine: the state machine is the snapshot.
//
// Sender: one LMDB read transaction is the consistent view; inside it we read the applied index, its
// term and membership, then the key-value pairs, handed out as bounded chunks by an async iterator.
// The read transaction pins old pages for as long as the transfer lasts (LMDB cannot reuse them), which
// is the price of consistency; the chunks bound memory and message size, and `return()` on the iterator
// (a `break` in for-await) ends the transaction at once.
//
// Receiver: two copies of the state machine (`kv-a`, `kv-b`) and a durable `active` pointer. Chunks go
// into the inactive copy; after the digest checks out, ONE transaction flips `active`, sets applied,
// membership, snapshot metadata and commit, and deletes the log. A crash before that transaction leaves
// the old state (the staging copy is garbage, cleared by the next transfer or open); a crash after it
// leaves the new state. The old copy is cleared once readers have moved to the new one. A second copy
// costs disk space only during a transfer.
// The log deletion cannot wait like that (leftover entries above the snapshot point would look like a
// log on restart); it is safe because a core with a pending snapshot does not read entries.

import { Transaction } from 'lmdb';
import { assert } from '../actors/raft/assert';
import { HardState, SnapshotMeta } from '../actors/raft/types';
import { SnapshotTransferError, StorageCorruptionError } from './errors';
import { KvStateMachine } from './kvStateMachine';
import { decodeKvRecord, encodeKvRecord, kvKey } from './kvRecord';
import { LogStore } from './logStore';
import { LOG_STORE_NAME, decodeEntry } from './logEntryCodec';
import {
  readActiveCopy,
  readApplied,
  readConfStateAt,
  readHardState,
  readSnapshotMeta,
  resetConfHistory,
  writeActiveCopy,
  writeApplied,
} from './metaAccess';
import { KvCopyName, copyConfState } from './metaRecords';
import { BinaryDb, ReplicaEnv } from './replicaEnv';
import {
  PAIR_BYTES_MAX,
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
  SnapshotDigest,
  SnapshotFrame,
  SnapshotPair,
  decodeChunkPayload,
  encodeChunkPayload,
  pairBytesEstimate,
} from './snapshotFrame';
import { indexKey } from './uint53';

export interface SnapshotSendOptions {
  /**
   * Upper bound of one chunk's payload in bytes, default 256 KiB. A chunk always carries at least one
   * pair, so a bound below PAIR_BYTES_MAX can be exceeded by a chunk holding one large pair.
   */
  chunkBytesMax?: number;
}

/** Streams the state machine as of its applied index: header, chunks, trailer. */
export async function* streamSnapshot(
  env: ReplicaEnv,
  options: SnapshotSendOptions = {},
): AsyncGenerator<SnapshotFrame> {
  const chunkBytesMax = options.chunkBytesMax ?? SNAPSHOT_CHUNK_BYTES_DEFAULT;
  assert(Number.isSafeInteger(chunkBytesMax) && chunkBytesMax > 0, `bad chunkBytesMax ${chunkBytesMax}`);
  const payloadBytesMax = Math.max(chunkBytesMax, PAIR_BYTES_MAX);
  const transaction = env.beginRead();
  try {
    const meta = readSnapshotPoint(env, transaction);
    const active = readActiveCopy(env, transaction);
    const digest = new SnapshotDigest(meta);
    yield { kind: 'header', meta };
    let after: Buffer | undefined;
    let chunkCount = 0;
    let pairCount = 0;
    for (;;) {
      const chunk = readChunk(env.kv(active), `kv-${active}`, transaction, after, chunkBytesMax);
      if (chunk.pairs.length === 0) break;
      const payload = encodeChunkPayload(chunk.pairs);
      assert(payload.byteLength <= payloadBytesMax, `chunk of ${payload.byteLength} bytes over ${payloadBytesMax}`);
      digest.update(payload);
      yield { kind: 'chunk', sequence: chunkCount, payload };
      chunkCount += 1;
      pairCount += chunk.pairs.length;
      after = chunk.lastKey;
    }
    yield { kind: 'trailer', chunkCount, pairCount, digest: digest.final() };
  } finally {
    transaction.done();
  }
}

/** Index, term and membership of the state machine, read inside the sender's view. */
function readSnapshotPoint(env: ReplicaEnv, transaction: Transaction): SnapshotMeta {
  const index = readApplied(env, transaction);
  const compacted = readSnapshotMeta(env, transaction);
  const confState = readConfStateAt(env, index, transaction);
  if (index === compacted.index) return { index, term: compacted.term, confState };
  const record = env.log.get(indexKey(index), { transaction });
  if (record === undefined) throw new StorageCorruptionError(LOG_STORE_NAME, index, 'applied entry missing from the log');
  return { index, term: decodeEntry(record, index).term, confState };
}

function readChunk(
  db: BinaryDb,
  store: string,
  transaction: Transaction,
  after: Buffer | undefined,
  chunkBytesMax: number,
): { pairs: SnapshotPair[]; lastKey: Buffer | undefined } {
  const pairs: SnapshotPair[] = [];
  let lastKey: Buffer | undefined;
  let bytes = 5; // the payload's array header
  for (const { key, value } of db.getRange({ transaction, start: after, exclusiveStart: after !== undefined })) {
    const record = decodeKvRecord(value, store);
    const keyText = key.toString('utf8');
    bytes += pairBytesEstimate(key.byteLength, Buffer.byteLength(record.value, 'utf8'));
    if (pairs.length > 0 && bytes > chunkBytesMax) break;
    pairs.push({ key: keyText, ...record });
    lastKey = Buffer.from(key);
  }
  return { pairs, lastKey };
}

type ReceiverState = 'awaitingHeader' | 'receiving' | 'installed' | 'aborted';

/**
 * Receives one transfer into the inactive state-machine copy. Feed it frames in order; `receive`
 * resolves with the installed metadata after the trailer, undefined before. A refusal
 * (SnapshotTransferError) discards the staging copy; so does `abort()`. Either way the old state stays.
 */
export class SnapshotReceiver {
  private readonly env: ReplicaEnv;
  private readonly log: LogStore;
  private readonly stateMachine: KvStateMachine;
  private state: ReceiverState = 'awaitingHeader';
  private meta: SnapshotMeta | undefined;
  private digest: SnapshotDigest | undefined;
  private staging: KvCopyName | undefined;
  private sequenceNext = 0;
  private pairCount = 0;
  private lastKey: Buffer | undefined;

  constructor(env: ReplicaEnv, log: LogStore, stateMachine: KvStateMachine) {
    this.env = env;
    this.log = log;
    this.stateMachine = stateMachine;
  }

  async receive(frame: SnapshotFrame): Promise<SnapshotMeta | undefined> {
    switch (frame.kind) {
      case 'header':
        await this.receiveHeader(frame.meta);
        return undefined;
      case 'chunk':
        await this.receiveChunk(frame.sequence, frame.payload);
        return undefined;
      case 'trailer':
        return this.receiveTrailer(frame.chunkCount, frame.pairCount, frame.digest);
    }
  }

  /** Discards the staging copy. Safe to call at any point, also twice. */
  async abort(): Promise<void> {
    if (this.state === 'installed' || this.state === 'aborted') return;
    this.state = 'aborted';
    const staging = this.staging;
    if (staging === undefined) return;
    this.staging = undefined;
    try {
      await this.env.write(() => this.env.kv(staging).clearSync());
    } finally {
      this.stateMachine.endStaging();
    }
  }

  private async receiveHeader(meta: SnapshotMeta): Promise<void> {
    if (this.state !== 'awaitingHeader') return this.refuse('SNAPSHOT_SEQUENCE', `header while ${this.state}`);
    const behind = Math.max(this.stateMachine.applied(), this.log.hardState().commit);
    if (meta.index <= behind) return this.refuse('SNAPSHOT_STALE', `snapshot at ${meta.index}, already at ${behind}`);
    this.meta = { index: meta.index, term: meta.term, confState: copyConfState(meta.confState) };
    this.digest = new SnapshotDigest(this.meta);
    const staging = this.stateMachine.beginStaging();
    this.staging = staging;
    this.state = 'receiving';
    // The staging copy may hold leftovers of a transfer a crash interrupted.
    await this.env.write(() => this.env.kv(staging).clearSync());
  }

  private async receiveChunk(sequence: number, payload: Uint8Array): Promise<void> {
    const { meta, digest, staging } = this.receivingState();
    if (sequence !== this.sequenceNext) return this.refuse('SNAPSHOT_SEQUENCE', `chunk ${sequence}, expected ${this.sequenceNext}`);
    const pairs = await this.decodePairs(payload, meta.index);
    digest.update(payload);
    this.sequenceNext += 1;
    this.pairCount += pairs.length;
    const db = this.env.kv(staging);
    // Keys arrive in ascending order into an empty copy, so LMDB can append.
    const records = pairs.map((pair) => [kvKey(pair.key), encodeKvRecord(pair)] as const);
    await this.env.write(() => records.forEach(([key, record]) => db.putSync(key, record, { append: true })));
  }

  private async receiveTrailer(chunkCount: number, pairCount: number, digest: Uint8Array): Promise<SnapshotMeta> {
    const receiving = this.receivingState();
    if (chunkCount !== this.sequenceNext || pairCount !== this.pairCount) {
      return this.refuse('SNAPSHOT_SEQUENCE', `sent ${chunkCount} chunks/${pairCount} pairs, got ${this.sequenceNext}/${this.pairCount}`);
    }
    if (!receiving.digest.final().equals(digest)) return this.refuse('SNAPSHOT_DIGEST_MISMATCH', 'content differs from the sender');
    const { meta, staging } = receiving;
    const outcome = await this.env.write(() => this.installInTransaction(meta, staging));
    if (outcome.stale) return this.refuse('SNAPSHOT_STALE', `snapshot at ${meta.index} is not ahead of this replica`);
    this.state = 'installed';
    this.staging = undefined;
    this.log.publishSnapshot(meta, outcome.hardState);
    this.stateMachine.publishSnapshot(meta.index, meta.confState, staging);
    // Readers used the old copy until the publish above; only now may it go. A crash before this
    // leaves it as garbage in the inactive copy, which the next transfer (or open) clears.
    await this.env.write(() => this.env.kv(outcome.previous).clearSync());
    return { index: meta.index, term: meta.term, confState: copyConfState(meta.confState) };
  }

  /** The flip: everything that makes the staging copy the state machine, in one transaction. */
  private installInTransaction(
    meta: SnapshotMeta,
    staging: KvCopyName,
  ): { stale: true } | { stale: false; hardState: HardState; previous: KvCopyName } {
    const applied = readApplied(this.env);
    if (meta.index <= Math.max(applied, readHardState(this.env).commit)) return { stale: true };
    const previous = readActiveCopy(this.env);
    assert(previous !== staging, `staging copy ${staging} is the active one`);
    writeActiveCopy(this.env, staging);
    writeApplied(this.env, meta.index);
    resetConfHistory(this.env, meta.index, meta.confState);
    const hardState = this.log.resetToSnapshotInTransaction(meta);
    return { stale: false, hardState, previous };
  }

  private async decodePairs(payload: Uint8Array, indexSnapshot: number): Promise<SnapshotPair[]> {
    let pairs: SnapshotPair[];
    try {
      pairs = decodeChunkPayload(payload, indexSnapshot);
    } catch (error) {
      if (!(error instanceof SnapshotTransferError)) throw error;
      return this.refuse(error.code, error.message);
    }
    for (const pair of pairs) {
      const key = kvKey(pair.key);
      if (this.lastKey !== undefined && Buffer.compare(this.lastKey, key) >= 0) {
        return this.refuse('SNAPSHOT_SEQUENCE', 'keys not in ascending order');
      }
      this.lastKey = key;
    }
    return pairs;
  }

  private receivingState(): { meta: SnapshotMeta; digest: SnapshotDigest; staging: KvCopyName } {
    if (this.state !== 'receiving' || this.meta === undefined || this.digest === undefined || this.staging === undefined) {
      throw new SnapshotTransferError('SNAPSHOT_SEQUENCE', `frame while ${this.state}`);
    }
    return { meta: this.meta, digest: this.digest, staging: this.staging };
  }

  /** Discards what was staged, then throws: a refused transfer leaves the old state. */
  private async refuse(code: SnapshotTransferError['code'], detail: string): Promise<never> {
    await this.abort();
    throw new SnapshotTransferError(code, detail);
  }
}
