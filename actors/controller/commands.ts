// The metadata state machine's commands: a discriminated union on a stable `type`. They travel in the
// metadata Raft group's log as JSON, so every field is validated on decode and again before apply
// (`validateCommand`): a corrupt or hostile entry is refused whole, never half-applied.

import { Result, refuse } from './result';

export type AdminState = 'active' | 'draining' | 'removed';
export type ReplicaRole = 'voter' | 'learner';

export interface RegisterNode {
  readonly type: 'registerNode';
  readonly nodeId: string;
  /** Where the node's supervisor can be reached (opaque to the controller, e.g. its NATS control subject). */
  readonly address: string;
  /** Share of the placement ring; positive, at most WEIGHT_MAX. */
  readonly weight: number;
  /** Most replicas the node may host. */
  readonly capacityReplicas: number;
}
/** Drain (or undrain) a node; removal has its own command because it is final. */
export interface SetNodeState {
  readonly type: 'setNodeState';
  readonly nodeId: string;
  readonly state: 'active' | 'draining';
}
/** The node is gone for good; its remaining replicas count as lost and are re-created elsewhere. */
export interface RemoveNode {
  readonly type: 'removeNode';
  readonly nodeId: string;
}
/** Initial replicas, all voters, replica ids 1..n in the given order (as actors/router/layout.ts does). */
export interface CreatePartition {
  readonly type: 'createPartition';
  readonly partitionId: number;
  readonly replicaCount: number;
  readonly nodeIds: readonly string[];
}
export interface DeletePartition {
  readonly type: 'deletePartition';
  readonly partitionId: number;
}
/** A new learner on `nodeId`, with a fresh replica id; `replaces` names the voter it will take over from. */
export interface AddReplica {
  readonly type: 'addReplica';
  readonly partitionId: number;
  readonly nodeId: string;
  readonly replaces?: number;
  /** An operator's explicit move: rebalancing leaves the replica on this node (drain and repair still move it). */
  readonly pinned?: true;
}
export interface PromoteReplica {
  readonly type: 'promoteReplica';
  readonly partitionId: number;
  readonly replicaId: number;
}
export interface RemoveReplica {
  readonly type: 'removeReplica';
  readonly partitionId: number;
  readonly replicaId: number;
}
/** Who leads a partition, as its replicas report it; `replicaId: null` means no known leader. */
export interface RecordLeader {
  readonly type: 'recordLeader';
  readonly partitionId: number;
  readonly replicaId: number | null;
  readonly term: number;
}

export type ReshardPhase = 'fence' | 'copy' | 'adopt' | 'purge';

/**
 * Start creating (a new partition, placed on `nodeIds`) or deleting a key partition (reshard.ts). Creating
 * records the partition at once; it serves keys only after the reshard's switch.
 */
export interface BeginReshard {
  readonly type: 'beginReshard';
  readonly kind: 'create' | 'delete';
  readonly partitionId: number;
  /** create only */
  readonly replicaCount?: number;
  /** create only */
  readonly nodeIds?: readonly string[];
}
/** The reshard in progress reached its next phase; `done` ends it. */
export interface AdvanceReshard {
  readonly type: 'advanceReshard';
  readonly partitionId: number;
  readonly phase: Exclude<ReshardPhase, 'fence'> | 'done';
}

export type ClusterCommand =
  | RegisterNode
  | SetNodeState
  | RemoveNode
  | CreatePartition
  | DeletePartition
  | AddReplica
  | PromoteReplica
  | RemoveReplica
  | RecordLeader
  | BeginReshard
  | AdvanceReshard;

export type ClusterCommandType = ClusterCommand['type'];

export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ADDRESS_BYTES_MAX = 256;
export const WEIGHT_MAX = 100;
export const CAPACITY_REPLICAS_MAX = 1_000_000;
export const PARTITION_ID_MAX = 2 ** 31 - 1;
export const REPLICA_COUNT_MAX = 7;
/** Replica ids travel as uint32 in Raft conf changes (actors/raft/confChange.ts). */
export const REPLICA_ID_MAX = 2 ** 32 - 1;
export const COMMAND_BYTES_MAX = 64 * 1024;

type Fields = Record<string, unknown>;
type Check = (fields: Fields) => string | undefined;

const isNodeId = (value: unknown) => typeof value === 'string' && NODE_ID_PATTERN.test(value);
const isIntegerIn = (value: unknown, low: number, high: number) =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= low && value <= high;
const isPartitionId = (value: unknown) => isIntegerIn(value, 0, PARTITION_ID_MAX);
const isReplicaId = (value: unknown) => isIntegerIn(value, 1, REPLICA_ID_MAX);

function nodeIdField(fields: Fields): string | undefined {
  return isNodeId(fields.nodeId) ? undefined : `nodeId must match ${NODE_ID_PATTERN}`;
}
function partitionField(fields: Fields): string | undefined {
  return isPartitionId(fields.partitionId) ? undefined : `partitionId must be an integer in [0, ${PARTITION_ID_MAX}]`;
}
function replicaField(fields: Fields): string | undefined {
  return isReplicaId(fields.replicaId) ? undefined : `replicaId must be an integer in [1, ${REPLICA_ID_MAX}]`;
}

function registerFields(fields: Fields): string | undefined {
  const { address, weight, capacityReplicas } = fields;
  if (typeof address !== 'string' || address.length === 0 || Buffer.byteLength(address) > ADDRESS_BYTES_MAX) {
    return `address must be a non-empty string of at most ${ADDRESS_BYTES_MAX} bytes`;
  }
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > WEIGHT_MAX) {
    return `weight must be a number in (0, ${WEIGHT_MAX}]`;
  }
  if (!isIntegerIn(capacityReplicas, 1, CAPACITY_REPLICAS_MAX)) return `capacityReplicas must be an integer in [1, ${CAPACITY_REPLICAS_MAX}]`;
  return undefined;
}

function createFields(fields: Fields): string | undefined {
  const { replicaCount, nodeIds } = fields;
  if (!isIntegerIn(replicaCount, 1, REPLICA_COUNT_MAX)) return `replicaCount must be an integer in [1, ${REPLICA_COUNT_MAX}]`;
  if (!Array.isArray(nodeIds) || nodeIds.length > REPLICA_COUNT_MAX || !nodeIds.every(isNodeId)) {
    return `nodeIds must be an array of at most ${REPLICA_COUNT_MAX} node ids`;
  }
  return undefined;
}

function addReplicaFields(fields: Fields): string | undefined {
  if (fields.replaces !== undefined && !isReplicaId(fields.replaces)) return 'replaces, when present, must be a replica id';
  if (fields.pinned !== undefined && fields.pinned !== true) return 'pinned, when present, must be true';
  return undefined;
}

function leaderFields(fields: Fields): string | undefined {
  if (fields.replicaId !== null && !isReplicaId(fields.replicaId)) return 'replicaId must be a replica id or null';
  return isIntegerIn(fields.term, 0, Number.MAX_SAFE_INTEGER) ? undefined : 'term must be a non-negative integer';
}

/** Field checks per type, and the exact set of fields each type may carry (extra fields are refused). */
const SCHEMAS: Record<ClusterCommandType, { fields: readonly string[]; checks: readonly Check[] }> = {
  registerNode: { fields: ['nodeId', 'address', 'weight', 'capacityReplicas'], checks: [nodeIdField, registerFields] },
  setNodeState: {
    fields: ['nodeId', 'state'],
    checks: [nodeIdField, (f) => (f.state === 'active' || f.state === 'draining' ? undefined : "state must be 'active' or 'draining'")],
  },
  removeNode: { fields: ['nodeId'], checks: [nodeIdField] },
  createPartition: { fields: ['partitionId', 'replicaCount', 'nodeIds'], checks: [partitionField, createFields] },
  deletePartition: { fields: ['partitionId'], checks: [partitionField] },
  addReplica: { fields: ['partitionId', 'nodeId', 'replaces', 'pinned'], checks: [partitionField, nodeIdField, addReplicaFields] },
  promoteReplica: { fields: ['partitionId', 'replicaId'], checks: [partitionField, replicaField] },
  removeReplica: { fields: ['partitionId', 'replicaId'], checks: [partitionField, replicaField] },
  recordLeader: { fields: ['partitionId', 'replicaId', 'term'], checks: [partitionField, leaderFields] },
  beginReshard: { fields: ['kind', 'partitionId', 'replicaCount', 'nodeIds'], checks: [partitionField, beginReshardFields] },
  advanceReshard: {
    fields: ['partitionId', 'phase'],
    checks: [partitionField, (f) => (['copy', 'adopt', 'purge', 'done'].includes(f.phase as string) ? undefined : "phase must be 'copy', 'adopt', 'purge' or 'done'")],
  },
};

function beginReshardFields(fields: Fields): string | undefined {
  if (fields.kind === 'delete') return fields.replicaCount === undefined && fields.nodeIds === undefined ? undefined : 'delete takes no replicaCount or nodeIds';
  if (fields.kind !== 'create') return "kind must be 'create' or 'delete'";
  return createFields(fields);
}

function isPlainObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Check shape and ranges of every field; returns a frozen copy holding only the known fields. */
export function validateCommand(value: unknown): Result<{ command: ClusterCommand }> {
  if (!isPlainObject(value)) return refuse('INVALID_COMMAND', 'a command must be an object');
  const type = value.type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(SCHEMAS, type)) {
    return refuse('INVALID_COMMAND', `unknown command type ${JSON.stringify(type)}`);
  }
  const schema = SCHEMAS[type as ClusterCommandType];
  for (const key of Object.keys(value)) {
    if (key !== 'type' && !schema.fields.includes(key)) return refuse('INVALID_COMMAND', `${type}: unexpected field ${JSON.stringify(key)}`);
  }
  for (const check of schema.checks) {
    const problem = check(value);
    if (problem !== undefined) return refuse('INVALID_COMMAND', `${type}: ${problem}`);
  }
  const copy: Fields = { type };
  for (const key of schema.fields) {
    if (value[key] === undefined) continue;
    copy[key] = Array.isArray(value[key]) ? Object.freeze([...(value[key] as unknown[])]) : value[key];
  }
  return { ok: true, command: Object.freeze(copy) as unknown as ClusterCommand };
}

/** JSON: metadata commands are small and rare, and JSON is readable in a log dump. */
export function encodeCommand(command: ClusterCommand): Uint8Array {
  return Buffer.from(JSON.stringify(command), 'utf8');
}

export function decodeCommand(bytes: Uint8Array): Result<{ command: ClusterCommand }> {
  if (bytes.byteLength > COMMAND_BYTES_MAX) return refuse('BAD_ENCODING', `command of ${bytes.byteLength} bytes exceeds ${COMMAND_BYTES_MAX}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return refuse('BAD_ENCODING', `command is not UTF-8 JSON: ${(error as Error).message}`);
  }
  return validateCommand(parsed);
}
