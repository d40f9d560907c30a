// The public surface of storage/: an explicit list, like nats.js's mod.ts.

export { ReplicaPlace, ReplicaStore, ReplicaStoreOptions, replicaPlace } from './replicaStore';
export { NodeEnv, NODE_STORE_DIR } from './nodeEnv';
export { DurabilityMode, DURABILITY_DEFAULT, MAP_BYTES_DEFAULT } from './replicaEnv';
export { LogStore, PersistRequest } from './logStore';
export { KvStateMachine, KvResult, applyCommand } from './kvStateMachine';
export { KvRecord } from './kvRecord';
export {
  KvCommand,
  KvCommandError,
  KvCommandErrorCode,
  KEY_BYTES_MAX,
  VALUE_BYTES_MAX,
  checkKey,
  checkValue,
  decodeKvCommand,
  encodeKvCommand,
} from './kvCommand';
export { SnapshotReceiver, SnapshotSendOptions } from './snapshotStream';
export {
  SnapshotFrame,
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
  decodeSnapshotFrame,
  encodeSnapshotFrame,
} from './snapshotFrame';
export { StorageCorruptionError, StorageFailedError, SnapshotTransferError, SnapshotTransferErrorCode } from './errors';
export { EntryCommand, IngestRecord, ShardCommand, decodeEntryCommand, encodeShardCommand, isShardCommand } from './shardCommand';
export { Ownership, ShardState } from './shardState';
