// The entries that move keys between partitions (docs/resharding.md), next to the client commands of
// kvCommand.ts in the same log and the same msgpack framing:
//   {op:'ring', epoch, partitions}   adopt this key ring (ignored unless its epoch is newer)
//   {op:'ingest', epoch, records, floor}
//                                    copy in keys this partition does not own yet, with their revisions
//                                    (and the request-id records of writes to them: storage/requestIds.ts),
//                                    for the move to ring `epoch` (ignored once that ring is adopted); later
//                                    writes get revisions above `floor` (the giver's highest, deletes included)
//   {op:'purge', epoch, keys}        delete keys (and such records) this partition gave away in the move
//                                    to ring `epoch` (ignored unless that is its ring)
// Apply never lets one of them touch a key the partition owns, and the epochs keep a request that a
// deposed controller sent late from reaching into a later move: a stale or repeated one is harmless.

import { KvCommand, KvCommandError, checkKey, checkValue, commandPackr, validateKvCommandFields } from './kvCommand';
import { isValidRevisionPair } from './kvRecord';
import { isResultKey } from './requestIds';

/** A copied key: [key, value, revision, createRevision]. */
export type IngestRecord = readonly [string, string, number, number];

export type ShardCommand =
  | { op: 'ring'; epoch: number; partitions: number[] }
  | { op: 'ingest'; epoch: number; records: IngestRecord[]; floor?: number }
  | { op: 'purge'; epoch: number; keys: string[] };

export type EntryCommand = KvCommand | ShardCommand;

export const SHARD_PARTITION_ID_MAX = 2 ** 31 - 1;
export const RING_PARTITIONS_MAX = 65_535;
/** Bound on records or keys per entry; the byte size is bounded by the log's entry limit. */
export const SHARD_BATCH_MAX = 10_000;

export function isShardCommand(command: EntryCommand): command is ShardCommand {
  return command.op === 'ring' || command.op === 'ingest' || command.op === 'purge';
}

export function encodeShardCommand(command: ShardCommand): Uint8Array {
  const validated = validateShard(new Map<unknown, unknown>(Object.entries(command)));
  return commandPackr.pack(new Map<string, unknown>(Object.entries(validated)));
}

/** Decodes either kind of command; throws KvCommandError when the bytes are neither. */
export function decodeEntryCommand(data: Uint8Array): EntryCommand {
  let decoded: unknown;
  try {
    decoded = commandPackr.unpack(data);
  } catch (error) {
    throw new KvCommandError('BAD_REQUEST', 'command is not msgpack', { cause: error });
  }
  if (!(decoded instanceof Map)) throw new KvCommandError('BAD_REQUEST', 'command is not a msgpack map');
  const op = decoded.get('op');
  return op === 'ring' || op === 'ingest' || op === 'purge' ? validateShard(decoded) : validateKvCommandFields(decoded);
}

function bad(message: string): never {
  throw new KvCommandError('BAD_REQUEST', message);
}

function onlyFields(fields: Map<unknown, unknown>, names: string[]): void {
  for (const name of fields.keys()) if (typeof name !== 'string' || !names.includes(name)) bad(`unknown ${String(fields.get('op'))} field ${String(name)}`);
}

export function validateRing(partitions: unknown): number[] {
  if (!Array.isArray(partitions) || partitions.length > RING_PARTITIONS_MAX) bad(`partitions must be an array of at most ${RING_PARTITIONS_MAX} ids`);
  const ids = partitions as unknown[];
  if (!ids.every((id) => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && id <= SHARD_PARTITION_ID_MAX)) bad('partition ids must be integers in [0, 2^31-1]');
  const sorted = [...(ids as number[])].sort((a, b) => a - b);
  if (new Set(sorted).size !== sorted.length) bad('a partition appears twice in the ring');
  return sorted;
}

function validateShard(fields: Map<unknown, unknown>): ShardCommand {
  const list = (name: string): unknown[] => {
    const value = fields.get(name);
    if (!Array.isArray(value) || value.length > SHARD_BATCH_MAX) bad(`${name} must be an array of at most ${SHARD_BATCH_MAX}`);
    return value as unknown[];
  };
  const epochOf = (): number => {
    const epoch = fields.get('epoch');
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) bad('epoch must be a positive integer');
    return epoch;
  };
  switch (fields.get('op')) {
    case 'ring':
      onlyFields(fields, ['op', 'epoch', 'partitions']);
      return { op: 'ring', epoch: epochOf(), partitions: validateRing(fields.get('partitions')) };
    case 'ingest': {
      onlyFields(fields, ['op', 'epoch', 'records', 'floor']);
      const floor = fields.get('floor');
      if (floor !== undefined && (typeof floor !== 'number' || !Number.isSafeInteger(floor) || floor < 0)) bad('floor must be a non-negative integer');
      return { op: 'ingest', epoch: epochOf(), records: list('records').map(validateRecord), ...(floor === undefined ? {} : { floor }) };
    }
    case 'purge':
      onlyFields(fields, ['op', 'epoch', 'keys']);
      return { op: 'purge', epoch: epochOf(), keys: list('keys').map(checkMovableKey) };
    default:
      return bad('unknown shard op');
  }
}

function validateRecord(record: unknown): IngestRecord {
  if (!Array.isArray(record) || record.length !== 4) bad('an ingest record is [key, value, revision, createRevision]');
  const [key, value, revision, createRevision] = record as unknown[];
  if (!isValidRevisionPair(revision, createRevision)) bad('an ingest record needs revisions with 0 < createRevision <= revision');
  return [checkMovableKey(key), checkValue(value), revision, createRevision as number];
}

/** A client key, or a request-id record (they move with the key they wrote). */
function checkMovableKey(key: unknown): string {
  return typeof key === 'string' && isResultKey(key) ? key : checkKey(key);
}
