// What a shard entry (storage/shardCommand.ts) does to the state machine. Pure apart from the record
// lookups it is handed: the state machine calls it while computing a batch, against the same overlay of
// committed and in-flight records that client commands see.

import type { KvRecord } from './kvRecord';
import { expiryKey, idOfResultKey, isResultKey, keyOfResult } from './requestIds';
import type { ShardCommand } from './shardCommand';
import { Ownership, ShardState, ownsKey } from './shardState';

export interface ShardResult {
  readonly op: 'shard';
  /** The ring epoch after the entry. */
  readonly epoch: number;
  /** Keys written (ingest) or deleted (purge); 1 when a ring was adopted. */
  readonly changed: number;
}

export function applyShardCommand(
  command: ShardCommand,
  index: number,
  shard: ShardState,
  ownership: Ownership | undefined,
  current: (key: string) => KvRecord | undefined,
  write: (key: string, record: KvRecord | null) => void,
): { shard: ShardState; result: ShardResult } {
  switch (command.op) {
    case 'ring': {
      if (command.epoch <= shard.epoch) return { shard, result: { op: 'shard', epoch: shard.epoch, changed: 0 } };
      const next = { ...shard, epoch: command.epoch, partitions: command.partitions };
      return { shard: next, result: { op: 'shard', epoch: next.epoch, changed: 1 } };
    }
    case 'ingest': {
      // The receiver adopts the ring after the copy: a copy for a ring it already has is late.
      if (shard.epoch >= command.epoch) return { shard, result: { op: 'shard', epoch: shard.epoch, changed: 0 } };
      let changed = 0;
      // A key deleted in the giver is not copied; its delete's revision is below the giver's floor.
      let revisionMax = command.floor ?? 0;
      for (const [key, value, revision, createRevision] of command.records) {
        const record = { value, revision, createRevision };
        const subject = subjectKey(key, record);
        // A key this partition owns is live here: a late or repeated copy must never overwrite it.
        if (subject === undefined || ownsKey(ownership, shard, subject)) continue;
        write(key, record);
        changed++;
        // A request id's record expires here as if it had been written now.
        if (isResultKey(key)) write(expiryKey(index, idOfResultKey(key)), { value: '', revision: index, createRevision: index });
        else revisionMax = Math.max(revisionMax, revision);
      }
      const revisionBase = Math.max(shard.revisionBase, revisionMax - index);
      const next = revisionBase === shard.revisionBase ? shard : { ...shard, revisionBase };
      return { shard: next, result: { op: 'shard', epoch: shard.epoch, changed } };
    }
    case 'purge': {
      // Only what was given away in the move to this very ring: a later move's keys are still to be copied.
      if (shard.epoch !== command.epoch) return { shard, result: { op: 'shard', epoch: shard.epoch, changed: 0 } };
      let changed = 0;
      for (const key of command.keys) {
        const record = current(key);
        const subject = record === undefined ? undefined : subjectKey(key, record);
        if (subject === undefined || ownsKey(ownership, shard, subject)) continue;
        write(key, null);
        changed++;
      }
      return { shard, result: { op: 'shard', epoch: shard.epoch, changed } };
    }
  }
}

/** The client key a stored key stands for: itself, or the key a request-id record's write touched. */
export function subjectKey(key: string, record: KvRecord): string | undefined {
  return isResultKey(key) ? keyOfResult(record) : key;
}
