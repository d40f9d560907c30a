// The active controller's request subject, `<prefix>.ctl.controller` (JSON):
//
//   {"op":"state"}                                  the controller's view (ControllerView)
//   {"op":"drain","node":N} / {"op":"undrain",...}  move N's leaders and replicas away / let them back
//   {"op":"remove","node":N}                        N is gone for good; its replicas are re-created elsewhere
//   {"op":"move","partition":P,"from":A,"to":B}     move P's replica from A to B (learner, catch-up, promote, remove)
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
import { BlockedPartition, Plan, planMove } from './planner';
import { Refusal, refuse } from './result';

export type ControllerRequest =
  | { op: 'state' }
  | { op: 'drain' | 'undrain' | 'remove'; node: string }
  | { op: 'move'; partition: number; from: string; to: string };

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
}

export type ControllerReply = ({ ok: true } & ({ message: string; epoch: number } | ControllerView)) | Refusal;

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
    case 'move':
      if (!Number.isSafeInteger(request.partition) || (request.partition as number) < 0) return bad('move needs "partition", a non-negative integer');
      if (!isNode(request.from) || !isNode(request.to)) return bad('move needs "from" and "to", node ids');
      return { ok: true, request: { op: 'move', partition: request.partition as number, from: request.from, to: request.to } };
    default:
      return bad('"op" must be one of state, drain, undrain, remove, move');
  }
}

/** The metadata command an operator request asks for, checked against the state and node health. */
export function requestCommand(state: ClusterState, health: (node: string) => NodeHealth, request: Exclude<ControllerRequest, { op: 'state' }>): { ok: true; command: ClusterCommand; message: string } | Refusal {
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
  }
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
  };
}
