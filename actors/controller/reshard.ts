// Resharding in the metadata: the key ring (which partitions serve keys, and its epoch) and the one
// partition creation or deletion in progress, moved through its phases by the active controller
// (resharder.ts). Pure; applied through clusterState.ts's applyCommand.
//
//   fence  the partitions that give keys away adopt the next ring: from that entry on they refuse them
//   copy   the keys that move are copied into the partitions that receive them
//   adopt  the receiving partitions adopt the next ring: they serve the keys now
//   purge  the metadata's ring is the next one (routers follow); givers delete what they gave away
//
// Only the switch to `purge` changes the ring the routers use, and by then every partition that serves a
// moved key already holds it; between `fence` and that switch a moved key is refused everywhere, so no
// two partitions ever both accept it (docs/resharding.md).

import type { AdvanceReshard, BeginReshard, ReshardPhase } from './commands';
import type { ControllerErrorCode } from './result';

/** Partition ids from here up (the metadata partition is 65535) never serve client keys. */
export const KEY_PARTITION_ID_LIMIT = 65535;

export interface ReshardRecord {
  readonly kind: 'create' | 'delete';
  readonly partitionId: number;
  readonly phase: ReshardPhase;
}

export interface KeyRing {
  readonly epoch: number;
  /** Ascending. */
  readonly partitions: readonly number[];
}

/** The slice of the cluster state resharding reads. */
export interface RingState {
  readonly ringEpoch: number;
  readonly reshard: ReshardRecord | null;
  readonly partitions: ReadonlyMap<number, unknown>;
}

export const RESHARD_PHASES: readonly ReshardPhase[] = ['fence', 'copy', 'adopt', 'purge'];

/** The ring routers and clients use: every key partition, except one still being created. */
export function keyRing(state: RingState): KeyRing {
  const creating = state.reshard?.kind === 'create' && state.reshard.phase !== 'purge' ? state.reshard.partitionId : undefined;
  const partitions = [...state.partitions.keys()].filter((id) => id < KEY_PARTITION_ID_LIMIT && id !== creating).sort((a, b) => a - b);
  return { epoch: state.ringEpoch, partitions };
}

/** The ring a reshard in progress moves to, until the switch; undefined otherwise. */
export function nextRing(state: RingState): KeyRing | undefined {
  const reshard = state.reshard;
  if (reshard === null || reshard.phase === 'purge') return undefined;
  const current = keyRing(state).partitions;
  const partitions = reshard.kind === 'create' ? [...current, reshard.partitionId].sort((a, b) => a - b) : current.filter((id) => id !== reshard.partitionId);
  return { epoch: state.ringEpoch + 1, partitions };
}

/** Partitions that give keys away (fence, purge) and that receive them (copy, adopt). */
export function reshardRoles(state: RingState): { givers: number[]; receivers: number[] } {
  const reshard = state.reshard;
  if (reshard === null) return { givers: [], receivers: [] };
  const serving = keyRing(state).partitions.filter((id) => id !== reshard.partitionId);
  return reshard.kind === 'create' ? { givers: serving, receivers: [reshard.partitionId] } : { givers: [reshard.partitionId], receivers: serving };
}

export type ReshardCheck = { ok: true } | { ok: false; code: ControllerErrorCode; message: string };

export function checkBegin(state: RingState, command: BeginReshard): ReshardCheck {
  if (state.reshard !== null) {
    return { ok: false, code: 'RESHARD_IN_PROGRESS', message: `partition ${state.reshard.partitionId} is being ${state.reshard.kind}d (${state.reshard.phase}); one reshard at a time` };
  }
  if (command.partitionId >= KEY_PARTITION_ID_LIMIT) return { ok: false, code: 'INVALID_COMMAND', message: `key partitions have ids below ${KEY_PARTITION_ID_LIMIT}` };
  if (command.kind === 'delete') {
    if (!state.partitions.has(command.partitionId)) return { ok: false, code: 'PARTITION_UNKNOWN', message: `no partition ${command.partitionId}` };
    if (keyRing(state).partitions.length < 2) return { ok: false, code: 'LAST_PARTITION', message: `partition ${command.partitionId} is the last one serving keys` };
  }
  return { ok: true };
}

/** The reshard after `command`, or why it is refused. */
export function checkAdvance(state: RingState, command: AdvanceReshard): ReshardCheck {
  const reshard = state.reshard;
  if (reshard === null || reshard.partitionId !== command.partitionId) return { ok: false, code: 'NO_RESHARD', message: `partition ${command.partitionId} is not being resharded` };
  const next = RESHARD_PHASES[RESHARD_PHASES.indexOf(reshard.phase) + 1] ?? 'done';
  if (command.phase !== next) return { ok: false, code: 'WRONG_PHASE', message: `partition ${command.partitionId} is in ${reshard.phase}; the next phase is ${next}` };
  return { ok: true };
}
