// Typed errors of the storage layer. Expected conditions get a class with a stable `code`; broken
// invariants (programmer errors) are AssertionErrors from actors/raft/assert.

/**
 * Bytes read back from disk do not match what was written (checksum, framing or shape).
 * Never recovered from silently: the replica must stop and be repaired (e.g. rebuilt by a snapshot).
 */
export class StorageCorruptionError extends Error {
  override readonly name = 'StorageCorruptionError';
  readonly code = 'STORAGE_CORRUPT' as const;
  /** The named database the bad record lives in (`log`, `meta`, `conf`, `kv-a`, ...). */
  readonly store: string;
  /** The Raft index of the record when it has one (log entries, committed commands), else undefined. */
  readonly index: number | undefined;

  constructor(store: string, index: number | undefined, detail: string, options?: { cause?: unknown }) {
    super(`corrupt record in ${store}${index === undefined ? '' : ` at index ${index}`}: ${detail}`, options);
    this.store = store;
    this.index = index;
  }
}

export type SnapshotTransferErrorCode =
  /** A frame arrived out of order, twice, or after the transfer ended. */
  | 'SNAPSHOT_SEQUENCE'
  /** A frame does not decode into the expected shape. */
  | 'SNAPSHOT_MALFORMED'
  /** The received content does not hash to the digest the sender computed. */
  | 'SNAPSHOT_DIGEST_MISMATCH'
  /** The state machine has already applied the snapshot's index (or more): installing would go back. */
  | 'SNAPSHOT_STALE';

/** An InstallSnapshot transfer was refused. Nothing was installed; the old state is intact. */
export class SnapshotTransferError extends Error {
  override readonly name = 'SnapshotTransferError';
  readonly code: SnapshotTransferErrorCode;

  constructor(code: SnapshotTransferErrorCode, detail: string, options?: { cause?: unknown }) {
    super(`${code}: ${detail}`, options);
    this.code = code;
  }
}

/**
 * A write failed earlier and the in-memory view of this replica may no longer match the disk.
 * The actor must be restarted from durable state; every later write is refused with this error.
 */
export class StorageFailedError extends Error {
  override readonly name = 'StorageFailedError';
  readonly code = 'STORAGE_FAILED' as const;

  constructor(options: { cause: unknown }) {
    super('replica storage refused a write after an earlier failure; restart from durable state', options);
  }
}
