// Exactly-once writes for retried requests (Raft thesis §6.3). Every write that carries a request id is
// recorded under a reserved key with its result; the same id applied again within REQUEST_IDS_KEPT
// entries answers the recorded result and changes nothing. That includes writes that changed nothing
// (a refused cas, a delete of an absent key): run again later, against a key that changed meanwhile,
// they could succeed after their client was told they had not (found by the Jepsen-style runs: a
// delete answered `deleted:false` was re-sent by its router and deleted a later write).
// The records live in the state machine itself, so snapshots carry them and every replica decides alike.
// A record names the key its write touched, so that resharding moves it with the key: a retry that
// reaches the key's new partition finds the first result there (docs/resharding.md).

import { REQUEST_ID_PATTERN, RESERVED_KEY_PREFIX } from './kvCommand';
import type { KvResult } from './kvStateMachine';
import type { KvRecord } from './kvRecord';

/** How many entries a request id is remembered for; a router retries for seconds, not for 100k entries. */
export const REQUEST_IDS_KEPT = 100_000;
/** Bound on expired records deleted per applied batch, so one batch never does unbounded work. */
const EXPIRED_PER_BATCH_MAX = 512;

export const RESULT_PREFIX = `${RESERVED_KEY_PREFIX}r${RESERVED_KEY_PREFIX}`;
/** Just past every result key: the end of their range. */
export const RESULT_PREFIX_END = `${RESERVED_KEY_PREFIX}r\u0001`;
export const EXPIRY_PREFIX = `${RESERVED_KEY_PREFIX}x${RESERVED_KEY_PREFIX}`;

export function resultKey(id: string): string {
  return RESULT_PREFIX + id;
}

/** Ordered by index (zero-padded), so the oldest records come first in a key range. */
export function expiryKey(index: number, id: string): string {
  return `${EXPIRY_PREFIX}${String(index).padStart(16, '0')}${RESERVED_KEY_PREFIX}${id}`;
}

/** Upper bound (exclusive) of the expiry keys of entries before `index`. */
export function expiryKeyBefore(index: number): string {
  return `${EXPIRY_PREFIX}${String(Math.max(0, index)).padStart(16, '0')}`;
}

export function idOfExpiryKey(key: string): string {
  return key.slice(key.lastIndexOf(RESERVED_KEY_PREFIX) + 1);
}

/** True for the stored key of a request-id record with a well-formed id. */
export function isResultKey(key: string): boolean {
  return key.startsWith(RESULT_PREFIX) && REQUEST_ID_PATTERN.test(key.slice(RESULT_PREFIX.length));
}

export function idOfResultKey(key: string): string {
  return key.slice(RESULT_PREFIX.length);
}

/** `key`: the key the write touched (recorded since resharding; older records have none). */
export function recordOf(result: KvResult, index: number, key?: string): KvRecord {
  return { value: JSON.stringify(key === undefined ? result : { ...result, key }), revision: index, createRevision: index };
}

export function resultOf(record: KvRecord): KvResult {
  const { key: _key, ...result } = JSON.parse(record.value) as KvResult & { key?: string };
  return result as KvResult;
}

/** The key a request-id record's write touched, if recorded. */
export function keyOfResult(record: KvRecord): string | undefined {
  try {
    const key = (JSON.parse(record.value) as { key?: unknown }).key;
    return typeof key === 'string' ? key : undefined;
  } catch {
    return undefined;
  }
}

export { EXPIRED_PER_BATCH_MAX };
