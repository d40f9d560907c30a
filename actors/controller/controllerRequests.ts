// The active controller's request subject, `<prefix>.ctl.controller` (JSON):
//
//   {"op":"state"}                                  the controller's view (ControllerView)
//   {"op":"drain","node":N} / {"op":"undrain",...}  move N's leaders and replicas away / let them back
//   {"op":"remove","node":N}                        N is gone for good; its replicas are re-created elsewhere
//   {"op":"move","partition":P,"from":A,"to":B}     move P's replica from A to B (learner, catch-up, promote, remove)
//   {"op":"create","replicas":R}                    a new partition (R replicas, default as many as the others
//                                                   have) that takes its share of the keys (docs/resharding.md)
//   {"op":"delete","partition":P}                   P's keys go to the other partitions, then P is deleted
//
// Replies: {"ok":true,"message":M,"epoch":E} once the change is recorded in the metadata (the controller
// then carries it out; watch `state`), or {"ok":false,"error":{"code":C,"message":M}} and nothing changed.
// Only the active controller subscribes, so "no responders" means a controller election is under way.
// The same view is published on `<prefix>.ctl.routing` whenever the metadata epoch or a leader changes.

import type { ClusterCommand } from './commands';
import { NODE_ID_PATTERN } from './commands';
import { ClusterState, changeInFlight } from './clusterState';
import type { NodeHealth } from './nodeHealth';
import type { Observation } from './observation';
import { BlockedPartition, Plan, planCreatePartition, planMove } from './planner';
import { KEY_PARTITION_ID_LIMIT, KeyRing, ReshardRecord, keyRing } from './reshard';
import { Refusal, refuse } from './result';

export type ControllerRequest =
  | { op: 'state' }
  | { op: 'drain' | 'undrain' | 'remove'; node: string }
  | { op: 'move'; partition: number; from: string; to: string }
  | { op: 'create'; replicas?: number }
  | { op: 'delete'; partition: number };

export interface ControllerView {
  controller: string;
  epoch: number;
  nodes: { id: string; weight: number; state: string; health: NodeHealth; replicas: number; leaders: number }[];
  partitions: { id: number; replicaCount: number; leader: number | null; settled: boolean; replicas: { node: string; replica: number; role: string; replaces?: number }[] }[];
  blocked: readonly BlockedPartition[];
  /** Partitions with a membership change recorded and not yet carried out. */
  changing: number;
  /** Nothing planned and every partition matches the metadata. */
  balanced: boolean;
  /** The key ring routers and cluster-aware clients use. */
  ring: KeyRing;
  /** The partition creation or deletion in progress. */
  reshard: ReshardRecord | null;
}

export type ControllerReply = ({ ok: true } & ({ message: string; epoch: number; partition?: number } | ControllerView)) | Refusal;

const bad = (message: string): Refusal => refuse('BAD_REQUEST', message);

export function parseControllerRequest(data: Uint8Array): { ok: true; request: ControllerRequest } | Refusal {
  let body: unknown;
  try {
    body = data.byteLength === 0 ? { op: 'state' } : JSON.parse(Buffer.from(data).toString());
  } catch {
    return bad('body must be JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('body must be a JSON object');
  const request = body as Record<string, unknown>;
  const isNode = (value: unknown): value is string => typeof value === 'string' && NODE_ID_PATTERN.test(value);
  switch (request.op) {
    case 'state':
      return { ok: true, request: { op: 'state' } };
    case 'drain':
    case 'undrain':
    case 'remove':
      if (!isNode(request.node)) return bad(`${request.op} needs "node", a node id`);
      return { ok: true, request: { op: request.op, node: request.node } };
    case 'create':
      if (request.replicas !== undefined && (!Number.isSafeInteger(request.replicas) || (request.replicas as number) < 1 || (request.replicas as number) > 7)) return bad('create: "replicas" must be an integer in [1, 7]');
      return { ok: true, request: { op: 'create', ...(request.replicas === undefined ? {} : { replicas: request.replicas as number }) } };
    case 'delete':
      if (!Number.isSafeInteger(request.partition) || (request.partition as number) < 0) return bad('delete needs "partition", a non-negative integer');
      return { ok: true, request: { op: 'delete', partition: request.partition as number } };
    case 'move':
      if (!Number.isSafeInteger(request.partition) || (request.partition as number) < 0) return bad('move needs "partition", a non-negative integer');
      if (!isNode(request.from) || !isNode(request.to)) return bad('move needs "from" and "to", node ids');
      return { ok: true, request: { op: 'move', partition: request.partition as number, from: request.from, to: request.to } };
    default:
      return bad('"op" must be one of state, drain, undrain, remove, move, create, delete');
  }
}

/** The metadata command an operator request asks for, checked against the state and node health. */
export type PlannedRequest = { ok: true; command: ClusterCommand; message: string; partition?: number } | Refusal;

export function requestCommand(state: ClusterState, health: (node: string) => NodeHealth, request: Exclude<ControllerRequest, { op: 'state' }>): PlannedRequest {
  switch (request.op) {
    case 'drain':
    case 'undrain': {
      const draining = request.op === 'drain';
      return {
        ok: true, command: { type: 'setNodeState', nodeId: request.node, state: draining ? 'draining' : 'active' },
        message: draining ? `node ${request.node} is draining: its leaders and replicas move to other nodes` : `node ${request.node} is active again`,
      };
    }
    case 'remove':
      return { ok: true, command: { type: 'removeNode', nodeId: request.node }, message: `node ${request.node} removed: its replicas are re-created on other nodes` };
    case 'move': {
      const planned = planMove(state, health, request.partition, request.from, request.to);
      if (!planned.ok) return planned;
      return { ok: true, command: planned.command, message: `partition ${request.partition}: moving its replica from ${request.from} to ${request.to}` };
    }
    case 'create':
      return createCommand(state, health, request.replicas);
    case 'delete':
      if (!keyRing(state).partitions.includes(request.partition)) return refuse('PARTITION_UNKNOWN', `no partition ${request.partition} serves keys`);
      return {
        ok: true, command: { type: 'beginReshard', kind: 'delete', partitionId: request.partition }, partition: request.partition,
        message: `partition ${request.partition} is being deleted: its keys move to the other partitions`,
      };
  }
}

/** The next unused id, placed like any partition, with as many replicas as the others by default. */
function createCommand(state: ClusterState, health: (node: string) => NodeHealth, replicas: number | undefined): PlannedRequest {
  const used = [...state.partitions.keys(), ...state.retiredPartitionIds].filter((id) => id < KEY_PARTITION_ID_LIMIT);
  const partitionId = used.length === 0 ? 0 : Math.max(...used) + 1;
  if (partitionId >= KEY_PARTITION_ID_LIMIT) return refuse('INVALID_COMMAND', `partition ids are used up (below ${KEY_PARTITION_ID_LIMIT})`);
  const counts = keyRing(state).partitions.map((id) => state.partitions.get(id)!.replicaCount);
  const replicaCount = replicas ?? (counts.length === 0 ? 3 : Math.max(...counts));
  const placed = planCreatePartition(state, health, partitionId, replicaCount);
  if (!placed.ok) return placed;
  return {
    ok: true, command: { type: 'beginReshard', kind: 'create', partitionId, replicaCount, nodeIds: placed.command.nodeIds }, partition: partitionId,
    message: `partition ${partitionId} is being created on ${placed.command.nodeIds.join(', ')}: it takes its share of the keys`,
  };
}

export function stateView(controller: string, state: ClusterState, health: (node: string) => NodeHealth, observed: Observation, settled: ReadonlySet<number>, plan: Plan): ControllerView {
  const partitions = [...state.partitions.values()].sort((a, b) => a.id - b.id);
  const nodes = [...state.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((node) => ({
    id: node.id, weight: node.weight, state: node.state, health: health(node.id),
    replicas: partitions.filter((partition) => partition.replicas.some((replica) => replica.node === node.id)).length,
    leaders: partitions.filter((partition) => {
      const leader = observed.leaderOf(partition.id);
      return partition.replicas.some((replica) => replica.node === node.id && replica.replicaId === leader);
    }).length,
  }));
  const changing = partitions.filter((partition) => changeInFlight(partition) || !settled.has(partition.id)).length;
  return {
    controller, epoch: state.epoch, nodes,
    partitions: partitions.map((partition) => ({
      id: partition.id, replicaCount: partition.replicaCount, leader: observed.leaderOf(partition.id), settled: settled.has(partition.id),
      replicas: partition.replicas.map((replica) => ({ node: replica.node, replica: replica.replicaId, role: replica.role, ...(replica.replaces ? { replaces: replica.replaces } : {}) })),
    })),
    blocked: plan.blocked,
    changing,
    balanced: changing === 0 && plan.actions.length === 0,
    ring: keyRing(state),
    reshard: state.reshard,
  };
}
