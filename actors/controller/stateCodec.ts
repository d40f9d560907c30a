// The metadata state as JSON, for the metadata group's snapshots. Written in a canonical order (nodes by
// id, partitions and replicas by id) so equal states encode to equal bytes, which lets replicas of the
// metadata group compare digests. Decoding validates every field and every invariant: a snapshot that
// decodes is a state `applyCommand` could have produced.

import { ADDRESS_BYTES_MAX, CAPACITY_REPLICAS_MAX, NODE_ID_PATTERN, PARTITION_ID_MAX, REPLICA_COUNT_MAX, REPLICA_ID_MAX, WEIGHT_MAX } from './commands';
import { ClusterState, NodeRecord, PartitionRecord, ReplicaRecord, checkInvariants, sortedNodes, sortedPartitions } from './clusterState';
import { Result, refuse } from './result';
import { RESHARD_PHASES, ReshardRecord } from './reshard';

export const STATE_FORMAT_VERSION = 1;
export const STATE_BYTES_MAX = 64 * 1024 * 1024;

export function encodeClusterState(state: ClusterState): Uint8Array {
  const document = {
    version: STATE_FORMAT_VERSION,
    epoch: state.epoch,
    nodes: sortedNodes(state),
    partitions: sortedPartitions(state),
    retiredPartitionIds: [...state.retiredPartitionIds].sort((left, right) => left - right),
    ringEpoch: state.ringEpoch,
    reshard: state.reshard,
  };
  return Buffer.from(JSON.stringify(document), 'utf8');
}

class DecodeProblem extends Error {}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new DecodeProblem(message);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isInteger = (value: unknown, low: number, high: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= low && value <= high;

function decodeNode(value: unknown): NodeRecord {
  expect(isObject(value), 'node must be an object');
  const { id, address, weight, capacityReplicas, state } = value;
  expect(typeof id === 'string' && NODE_ID_PATTERN.test(id), `bad node id ${JSON.stringify(id)}`);
  expect(typeof address === 'string' && address.length > 0 && Buffer.byteLength(address) <= ADDRESS_BYTES_MAX, `node ${id}: bad address`);
  expect(typeof weight === 'number' && Number.isFinite(weight) && weight > 0 && weight <= WEIGHT_MAX, `node ${id}: bad weight`);
  expect(isInteger(capacityReplicas, 1, CAPACITY_REPLICAS_MAX), `node ${id}: bad capacityReplicas`);
  expect(state === 'active' || state === 'draining' || state === 'removed', `node ${id}: bad state`);
  return Object.freeze({ id, address, weight, capacityReplicas, state });
}

function decodeReplica(value: unknown, partitionId: number): ReplicaRecord {
  expect(isObject(value), `partition ${partitionId}: replica must be an object`);
  const { node, replicaId, role, replaces, pinned } = value;
  expect(typeof node === 'string' && NODE_ID_PATTERN.test(node), `partition ${partitionId}: bad replica node`);
  expect(isInteger(replicaId, 1, REPLICA_ID_MAX), `partition ${partitionId}: bad replica id`);
  expect(role === 'voter' || role === 'learner', `partition ${partitionId}: bad role`);
  expect(replaces === undefined || isInteger(replaces, 1, REPLICA_ID_MAX), `partition ${partitionId}: bad replaces`);
  expect(pinned === undefined || pinned === true, `partition ${partitionId}: bad pinned`);
  return Object.freeze({ node, replicaId, role, ...(replaces === undefined ? {} : { replaces }), ...(pinned ? { pinned: true as const } : {}) }) as ReplicaRecord;
}

function decodePartition(value: unknown): PartitionRecord {
  expect(isObject(value), 'partition must be an object');
  const { id, replicaCount, replicas, nextReplicaId, leader, leaderTerm } = value;
  expect(isInteger(id, 0, PARTITION_ID_MAX), `bad partition id ${JSON.stringify(id)}`);
  expect(isInteger(replicaCount, 1, REPLICA_COUNT_MAX), `partition ${id}: bad replicaCount`);
  expect(Array.isArray(replicas) && replicas.length <= 2 * REPLICA_COUNT_MAX, `partition ${id}: bad replicas`);
  expect(isInteger(nextReplicaId, 2, REPLICA_ID_MAX + 1), `partition ${id}: bad nextReplicaId`);
  expect(leader === null || isInteger(leader, 1, REPLICA_ID_MAX), `partition ${id}: bad leader`);
  expect(isInteger(leaderTerm, 0, Number.MAX_SAFE_INTEGER), `partition ${id}: bad leaderTerm`);
  const decoded = replicas.map((replica) => decodeReplica(replica, id)).sort((left, right) => left.replicaId - right.replicaId);
  return Object.freeze({ id, replicaCount, replicas: Object.freeze(decoded), nextReplicaId, leader, leaderTerm });
}

function decodeDocument(document: unknown): ClusterState {
  expect(isObject(document), 'state must be an object');
  expect(document.version === STATE_FORMAT_VERSION, `unsupported state version ${JSON.stringify(document.version)}`);
  expect(isInteger(document.epoch, 0, Number.MAX_SAFE_INTEGER), 'bad epoch');
  expect(Array.isArray(document.nodes) && Array.isArray(document.partitions) && Array.isArray(document.retiredPartitionIds), 'bad lists');
  const nodes = new Map<string, NodeRecord>();
  for (const node of document.nodes.map(decodeNode)) {
    expect(!nodes.has(node.id), `node ${node.id} appears twice`);
    nodes.set(node.id, node);
  }
  const partitions = new Map<number, PartitionRecord>();
  for (const partition of document.partitions.map(decodePartition)) {
    expect(!partitions.has(partition.id), `partition ${partition.id} appears twice`);
    partitions.set(partition.id, partition);
  }
  const retired = new Set<number>();
  for (const id of document.retiredPartitionIds) {
    expect(isInteger(id, 0, PARTITION_ID_MAX), `bad retired partition id ${JSON.stringify(id)}`);
    retired.add(id);
  }
  // ringEpoch and reshard arrived with resharding; a state written before them has ring epoch 0.
  const ringEpoch = document.ringEpoch ?? 0;
  expect(isInteger(ringEpoch, 0, Number.MAX_SAFE_INTEGER), 'bad ringEpoch');
  return Object.freeze({ epoch: document.epoch, nodes, partitions, retiredPartitionIds: retired, ringEpoch, reshard: decodeReshard(document.reshard ?? null) });
}

function decodeReshard(value: unknown): ReshardRecord | null {
  if (value === null) return null;
  expect(isObject(value), 'reshard must be an object or null');
  const { kind, partitionId, phase } = value;
  expect(kind === 'create' || kind === 'delete', 'bad reshard kind');
  expect(isInteger(partitionId, 0, PARTITION_ID_MAX), 'bad reshard partitionId');
  expect(typeof phase === 'string' && (RESHARD_PHASES as readonly string[]).includes(phase), 'bad reshard phase');
  return Object.freeze({ kind, partitionId, phase: phase as ReshardRecord['phase'] });
}

export function decodeClusterState(bytes: Uint8Array): Result<{ state: ClusterState }> {
  if (bytes.byteLength > STATE_BYTES_MAX) return refuse('BAD_ENCODING', `state of ${bytes.byteLength} bytes exceeds ${STATE_BYTES_MAX}`);
  try {
    const state = decodeDocument(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)));
    const problem = checkInvariants(state);
    if (problem !== undefined) return refuse('BAD_ENCODING', `state breaks an invariant: ${problem}`);
    return { ok: true, state };
  } catch (error) {
    return refuse('BAD_ENCODING', `state does not decode: ${(error as Error).message}`);
  }
}
