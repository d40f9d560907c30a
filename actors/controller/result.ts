// Expected refusals are values with stable codes, never exceptions (STYLE.md habit 7): the controller's
// commands arrive through Raft and over NATS, and a refusal must tell the caller that nothing changed.

export type ControllerErrorCode =
  /** A field is missing, of the wrong type or out of range. */
  | 'INVALID_COMMAND'
  /** Bytes that do not decode to a valid command, state or routing table. */
  | 'BAD_ENCODING'
  | 'NODE_UNKNOWN'
  | 'NODE_EXISTS'
  /** The node id was removed; ids are never reused, since its old replicas' data may still exist. */
  | 'NODE_REMOVED'
  /** The node is draining or removed and takes no new replicas. */
  | 'NODE_NOT_ACTIVE'
  /** The node already holds as many replicas as its capacity allows. */
  | 'NODE_FULL'
  | 'PARTITION_EXISTS'
  | 'PARTITION_UNKNOWN'
  /** The partition id was deleted; ids are never reused (replica ids and storage paths would collide). */
  | 'PARTITION_RETIRED'
  /** The node already holds a replica of this partition. */
  | 'SAME_NODE'
  | 'NOT_ENOUGH_NODES'
  | 'REPLICA_UNKNOWN'
  | 'NOT_LEARNER'
  | 'NOT_VOTER'
  /** The partition already has a membership change in progress (a learner, or a replacement not finished). */
  | 'CHANGE_IN_FLIGHT'
  | 'LAST_VOTER'
  /** A leader report older than (or conflicting with) the one recorded. */
  | 'STALE_TERM'
  /** The planner found no node that may take a replica. */
  | 'NO_CANDIDATE'
  /** A malformed operator request. */
  | 'BAD_REQUEST'
  /** No active controller could take the request (an election or a hand-over is under way). */
  | 'UNAVAILABLE'
  /** Another partition is being created or deleted; one reshard at a time. */
  | 'RESHARD_IN_PROGRESS'
  /** Deleting the only partition that serves keys. */
  | 'LAST_PARTITION'
  /** A reshard phase change for a partition that is not being resharded... */
  | 'NO_RESHARD'
  /** ...or out of order. */
  | 'WRONG_PHASE';

export interface ControllerError {
  readonly code: ControllerErrorCode;
  readonly message: string;
}

export interface Refusal {
  readonly ok: false;
  readonly error: ControllerError;
}

export type Result<T> = ({ readonly ok: true } & T) | Refusal;

export function refuse(code: ControllerErrorCode, message: string): Refusal {
  return { ok: false, error: { code, message } };
}
