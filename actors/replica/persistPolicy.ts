// What the replica's driver writes and sends, and when, for one Ready. Pure decisions, kept apart from
// the driver's I/O so each rule sits next to its reason.

import { HardState, Message, MessageType, Ready } from '../raft';

/** How long computed applies may wait for a log persist to share its transaction. */
export const APPLY_FLUSH_DELAY_MS = 5;

/** A leader's appends and heartbeats may leave in parallel with its own fsync (see Ready in raft/types.ts). */
export function sendableBeforePersist(message: Message): boolean {
  return message.type === MessageType.Append || message.type === MessageType.Heartbeat;
}

/**
 * The hard state to write with this Ready's entries, or undefined for none. The commit index alone need
 * not reach the disk before anything else happens (Raft recomputes it, and whatever was applied counts
 * as committed on restart), so a Ready that changes only the commit index costs no fsync; it rides
 * along with the next write. `current` is the core's hard state, `durable` what the disk holds.
 */
export function hardStateToPersist(ready: Ready, current: HardState, durable: HardState): HardState | undefined {
  const hardState = ready.hardState ?? (ready.entries.length > 0 ? current : undefined);
  if (!hardState) return undefined;
  const termOrVoteChanged = hardState.term !== durable.term || hardState.vote !== durable.vote;
  return termOrVoteChanged || ready.entries.length > 0 ? hardState : undefined;
}
