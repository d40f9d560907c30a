// The routing table: the view of the metadata that routers and cluster-aware clients need, with each
// replica's health as the active controller sees it.
//
// Versioning. `epoch` is the metadata epoch: it bumps on every replicated change (membership, leader,
// nodes), and replicas stamp it on their replies so a router learns that its table is stale. Health is
// local to the active controller (nodeHealth.ts) and changes without a metadata change, so a table also
// carries `controllerTerm` (the metadata group's Raft term when it was built: a new controller leader
// always has a higher one) and `healthRevision` (the failure detector's revision within that term). Tables
// are ordered by (epoch, controllerTerm, healthRevision): a new metadata change always wins, and between
// two tables of the same epoch the newer controller, then the newer health, wins.

import { ClusterState, sortedPartitions } from './clusterState';
import { NODE_ID_PATTERN, PARTITION_ID_MAX, REPLICA_ID_MAX, ReplicaRole } from './commands';
import { NodeHealth } from './nodeHealth';
import { Result, refuse } from './result';

export interface RoutingReplica {
  readonly node: string;
  readonly replicaId: number;
  readonly role: ReplicaRole;
  /** The node is alive by the controller's failure detector (suspect and down are not healthy). */
  readonly healthy: boolean;
}

export interface RoutingPartition {
  readonly id: number;
  /** Sorted by replica id. */
  readonly replicas: readonly RoutingReplica[];
  /** Replica id of the recorded leader, or null while unknown. */
  readonly leader: number | null;
}

export interface RoutingVersion {
  readonly epoch: number;
  readonly controllerTerm: number;
  readonly healthRevision: number;
}

export interface RoutingTable extends RoutingVersion {
  /** Sorted by id. */
  readonly partitions: readonly RoutingPartition[];
}

export const ROUTING_TABLE_BYTES_MAX = 16 * 1024 * 1024;

/** Build the table from the metadata and the active controller's view of health. */
export function buildRoutingTable(
  state: ClusterState,
  health: (nodeId: string) => NodeHealth,
  version: { controllerTerm: number; healthRevision: number },
): RoutingTable {
  const partitions = sortedPartitions(state).map((partition) => ({
    id: partition.id,
    replicas: partition.replicas.map(({ node, replicaId, role }) => ({
      node,
      replicaId,
      role,
      healthy: state.nodes.get(node)?.state !== 'removed' && health(node) === 'alive',
    })),
    leader: partition.leader,
  }));
  return { epoch: state.epoch, controllerTerm: version.controllerTerm, healthRevision: version.healthRevision, partitions };
}

/** -1, 0 or 1 as version `left` is older than, equal to or newer than `right`. */
export function compareRoutingVersions(left: RoutingVersion, right: RoutingVersion): -1 | 0 | 1 {
  for (const field of ['epoch', 'controllerTerm', 'healthRevision'] as const) {
    if (left[field] !== right[field]) return left[field] < right[field] ? -1 : 1;
  }
  return 0;
}

// ---------------------------------------------------------------- codec

export function encodeRoutingTable(table: RoutingTable): string {
  return JSON.stringify(table);
}

class TableProblem extends Error {}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new TableProblem(message);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown, high = Number.MAX_SAFE_INTEGER): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= high;

function decodeReplica(value: unknown, partitionId: number): RoutingReplica {
  expect(isObject(value), `partition ${partitionId}: replica must be an object`);
  const { node, replicaId, role, healthy } = value;
  expect(typeof node === 'string' && NODE_ID_PATTERN.test(node), `partition ${partitionId}: bad node`);
  expect(isCount(replicaId, REPLICA_ID_MAX) && replicaId >= 1, `partition ${partitionId}: bad replicaId`);
  expect(role === 'voter' || role === 'learner', `partition ${partitionId}: bad role`);
  expect(typeof healthy === 'boolean', `partition ${partitionId}: bad healthy`);
  return { node, replicaId, role, healthy };
}

function decodePartition(value: unknown): RoutingPartition {
  expect(isObject(value), 'partition must be an object');
  const { id, replicas, leader } = value;
  expect(isCount(id, PARTITION_ID_MAX), `bad partition id ${JSON.stringify(id)}`);
  expect(Array.isArray(replicas) && replicas.length > 0 && replicas.length <= 64, `partition ${id}: bad replicas`);
  const decoded = replicas.map((replica) => decodeReplica(replica, id));
  expect(new Set(decoded.map((r) => r.replicaId)).size === decoded.length, `partition ${id}: duplicate replica id`);
  expect(new Set(decoded.map((r) => r.node)).size === decoded.length, `partition ${id}: two replicas on one node`);
  expect(leader === null || decoded.some((r) => r.replicaId === leader && r.role === 'voter'), `partition ${id}: leader is not a voter`);
  return { id, replicas: decoded.sort((left, right) => left.replicaId - right.replicaId), leader: leader as number | null };
}

export function decodeRoutingTable(text: string): Result<{ table: RoutingTable }> {
  if (typeof text !== 'string' || Buffer.byteLength(text) > ROUTING_TABLE_BYTES_MAX) return refuse('BAD_ENCODING', 'routing table too large or not text');
  try {
    const document: unknown = JSON.parse(text);
    expect(isObject(document), 'table must be an object');
    const { epoch, controllerTerm, healthRevision, partitions } = document;
    expect(isCount(epoch) && isCount(controllerTerm) && isCount(healthRevision), 'bad version');
    expect(Array.isArray(partitions), 'partitions must be an array');
    const decoded = partitions.map(decodePartition);
    expect(new Set(decoded.map((p) => p.id)).size === decoded.length, 'duplicate partition id');
    decoded.sort((left, right) => left.id - right.id);
    return { ok: true, table: { epoch, controllerTerm, healthRevision, partitions: decoded } };
  } catch (error) {
    return refuse('BAD_ENCODING', `routing table does not decode: ${(error as Error).message}`);
  }
}
