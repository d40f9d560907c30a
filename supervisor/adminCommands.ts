// `cairn nodes|partitions|leader ...`: operator commands. They read the cluster status and send one
// command to the control subject of the node that must act (supervisor/nodeControl.ts). Human text by
// default, one line of JSON with --json; exit 0 on success, 1 when the cluster refuses or fails.

import { connect, ErrorCode as NatsErrorCode, NatsError } from 'nats';
import type { NatsConnection } from 'nats';
import { KvClient } from '../bus/kvClient';
import type { ControllerView } from '../actors/controller/controllerRequests';
import { subjects } from '../bus/subjects';
import { EXIT_ERROR, EXIT_OK } from './args';
import type { AdminAction, AdminCommand } from './args';
import { formatDuration, formatStatus, formatTable, isClusterStatus } from './clientCommands';
import type { Output } from './clientCommands';
import type { ClusterStatus } from './statusTypes';
import { reshard } from './reshardCommands';

export type Reply = { ok: true; message: string } | { ok: false; error: { code: string; message: string } };

export async function runAdminCommand(command: AdminCommand, output: Output): Promise<number> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: command.client.natsUrl.split(','), name: `cairn-cli-${command.action.kind}`, timeout: command.client.timeoutMs, reconnect: false });
  } catch (error) {
    return report(command, { ok: false, error: { code: 'CONNECT_FAILED', message: `cannot connect to NATS at ${command.client.natsUrl}: ${(error as Error).message}` } }, output);
  }
  try {
    const status = await new KvClient(nc, { prefix: command.client.prefix, timeoutMs: command.client.timeoutMs }).status();
    if (!isClusterStatus(status)) return report(command, { ok: false, error: { code: 'INTERNAL', message: 'the cluster status has an unknown shape' } }, output);
    if (command.action.kind === 'nodes-list') return list(command, { nodes: status.nodes, controller: status.controller ?? null }, formatNodes(status), output);
    if (command.action.kind === 'partitions-list') return list(command, { partitions: status.partitions }, formatPartitions(status), output);
    return report(command, await act(nc, command, command.action, status), output);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return report(command, { ok: false, error: { code: typeof code === 'string' ? code : 'INTERNAL', message: (error as Error).message ?? String(error) } }, output);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function act(nc: NatsConnection, command: AdminCommand, action: AdminAction, status: ClusterStatus): Promise<Reply> {
  switch (action.kind) {
    case 'drain':
    case 'undrain':
    case 'remove': {
      const recorded = await controllerRequest(nc, command, { op: action.kind, node: action.node });
      if (!recorded.ok || !action.wait) return recorded;
      return waitFor(nc, command, (view) => view.nodes.find((node) => node.id === action.node)?.replicas === 0 && view.balanced,
        `node ${action.node} is drained: it holds no replica and leads nothing`, `node ${action.node} to be empty`);
    }
    case 'stop':
    case 'start':
      return nodeRequest(nc, command, action.node, { command: action.kind, partition: action.partition });
    case 'transfer': {
      const partition = status.partitions.find((candidate) => candidate.id === action.partition);
      if (!partition) return refuse('NOT_FOUND', `the cluster has no partition ${action.partition}`);
      if (!partition.replicas.some((replica) => replica.node === action.node)) return refuse('NOT_FOUND', `partition ${action.partition} has no running replica on ${action.node}`);
      if (!partition.leader) return refuse('UNAVAILABLE', `partition ${action.partition} has no leader right now; try again`);
      if (partition.leader.node === action.node) return { ok: true, message: `partition ${action.partition} is already led by ${action.node}` };
      const replica = partition.replicas.find((candidate) => candidate.node === action.node)!.replica;
      return nodeRequest(nc, command, partition.leader.node, { command: 'transfer', partition: action.partition, to: action.node, replica });
    }
    case 'move':
      return moveReplica(nc, command, action);
    case 'rebalance':
      return rebalance(nc, command);
    case 'create':
    case 'delete':
      return reshard(nc, command, action);
    case 'balance-leaders':
      return balanceLeaders(nc, command, status);
    default:
      return refuse('INTERNAL', 'not an action');
  }
}

async function nodeRequest(nc: NatsConnection, command: AdminCommand, node: string, body: object): Promise<Reply> {
  try {
    const reply = await nc.request(subjects(command.client.prefix).control(`node-${node}`), Buffer.from(JSON.stringify(body)), { timeout: command.client.timeoutMs });
    return JSON.parse(Buffer.from(reply.data).toString()) as Reply;
  } catch (error) {
    if (error instanceof NatsError && error.code === NatsErrorCode.NoResponders) return refuse('NOT_FOUND', `node ${node} is not running (no supervisor answers on its control subject)`);
    if (error instanceof NatsError && error.code === NatsErrorCode.Timeout) return refuse('TIMEOUT', `node ${node} did not answer within ${command.client.timeoutMs} ms`);
    throw error;
  }
}

export const refuse = (code: string, message: string): Reply => ({ ok: false, error: { code, message } });

/** How long `move`, `rebalance` and `drain --wait` follow the controller's work. */
export const FOLLOW_TIMEOUT_MS = 300_000;
export const POLL_MS = 250;

/** One request to the active controller, retried while none answers (its election takes a moment). */
export async function controllerRequest(nc: NatsConnection, command: AdminCommand, body: object): Promise<Reply & { view?: ControllerView; partition?: number }> {
  const deadline = Date.now() + Math.max(command.client.timeoutMs, 5_000);
  for (;;) {
    try {
      const reply = await nc.request(subjects(command.client.prefix).control('controller'), Buffer.from(JSON.stringify(body)), { timeout: command.client.timeoutMs });
      const answer = JSON.parse(Buffer.from(reply.data).toString()) as (ControllerView & { ok: true; message?: string; partition?: number }) | { ok: false; error: { code: string; message: string } };
      if (!answer.ok) return answer;
      return { ok: true, message: answer.message ?? '', view: answer.message === undefined ? answer : undefined, ...(answer.partition === undefined ? {} : { partition: answer.partition }) };
    } catch (error) {
      if (!(error instanceof NatsError) || Date.now() > deadline) {
        return refuse('UNAVAILABLE', `no controller answered on ${subjects(command.client.prefix).control('controller')}: ${(error as Error).message}`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export async function controllerView(nc: NatsConnection, command: AdminCommand): Promise<ControllerView | undefined> {
  const answer = await controllerRequest(nc, command, { op: 'state' });
  return answer.ok ? answer.view : undefined;
}

/** Polls the controller until `done`, printing each change of the partitions it reports. */
async function waitFor(nc: NatsConnection, command: AdminCommand, done: (view: ControllerView) => boolean, message: string, what: string, watch?: number): Promise<Reply> {
  const deadline = Date.now() + FOLLOW_TIMEOUT_MS;
  let previous = new Map<number, string>();
  while (Date.now() < deadline) {
    const view = await controllerView(nc, command);
    if (view) {
      const current = new Map(view.partitions.filter((partition) => watch === undefined || partition.id === watch).map((partition) => [partition.id, describeReplicas(partition)]));
      for (const [id, line] of current) if (previous.size > 0 && previous.get(id) !== line && !command.client.json) process.stderr.write(`  partition ${id}: ${line}\n`);
      previous = current;
      if (done(view)) return { ok: true, message };
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return refuse('TIMEOUT', `gave up waiting for ${what} after ${FOLLOW_TIMEOUT_MS / 1000} s; the controller keeps working on it (cairn status)`);
}

function describeReplicas(partition: ControllerView['partitions'][number]): string {
  return partition.replicas.map((replica) => `r${replica.replica}@${replica.node}${replica.role === 'learner' ? ' (learner)' : ''}${replica.replaces ? ` replacing r${replica.replaces}` : ''}`).join(', ');
}

/**
 * Asks the controller to move P's replica from one node to another and follows the move: a new empty
 * replica on the target joins as a learner, catches up (by snapshot if needed), is promoted; if the
 * source leads it hands leadership over; then the source's replica is removed, stopped and deleted.
 */
async function moveReplica(nc: NatsConnection, command: AdminCommand, action: { partition: number; from: string; to: string }): Promise<Reply> {
  const recorded = await controllerRequest(nc, command, { op: 'move', partition: action.partition, from: action.from, to: action.to });
  if (!recorded.ok) return recorded;
  if (!command.client.json) process.stderr.write(`  ${recorded.message}\n`);
  const moved = (view: ControllerView) => {
    const partition = view.partitions.find((candidate) => candidate.id === action.partition);
    return !!partition && partition.settled && !partition.replicas.some((replica) => replica.node === action.from || replica.replaces !== undefined || replica.role === 'learner');
  };
  const result = await waitFor(nc, command, moved, '', `the move of partition ${action.partition}`, action.partition);
  if (!result.ok) return result;
  const target = (await controllerView(nc, command))?.partitions.find((candidate) => candidate.id === action.partition)?.replicas.find((replica) => replica.node === action.to);
  return { ok: true, message: `partition ${action.partition}: replica moved from ${action.from} to ${action.to}${target ? ` (r${target.replica})` : ''}` };
}

async function rebalance(nc: NatsConnection, command: AdminCommand): Promise<Reply> {
  const before = await controllerView(nc, command);
  if (!before) return refuse('UNAVAILABLE', 'no controller answered');
  if (before.balanced) return { ok: true, message: 'balanced: every replica is where the placement wants it' };
  const result = await waitFor(nc, command, (view) => view.balanced, '', 'the controller to finish rebalancing');
  if (!result.ok) return result;
  const after = (await controllerView(nc, command))!;
  const placed = (view: ControllerView) => new Set(view.partitions.flatMap((partition) => partition.replicas.map((replica) => `${partition.id}/${replica.node}`)));
  const moved = [...placed(after)].filter((key) => !placed(before).has(key)).length;
  return { ok: true, message: `rebalanced: ${moved} replica(s) moved` };
}

/** Leader transfers that leave every undrained node leading its share, within one (pure, greedy). */
export function planLeaderBalance(status: ClusterStatus): { partition: number; from: string; to: string; replica: number }[] {
  const nodes = status.nodes.filter((node) => !node.drained).map((node) => node.id);
  const leading = new Map(nodes.map((node) => [node, 0]));
  const leaders = new Map<number, string>();
  for (const partition of status.partitions) {
    if (partition.leader && leading.has(partition.leader.node)) {
      leaders.set(partition.id, partition.leader.node);
      leading.set(partition.leader.node, leading.get(partition.leader.node)! + 1);
    }
  }
  const transfers: { partition: number; from: string; to: string; replica: number }[] = [];
  for (let guard = 0; guard < status.partitions.length; guard++) {
    const move = bestLeaderMove(status, leaders, leading);
    if (!move) break;
    transfers.push(move);
    leaders.set(move.partition, move.to);
    leading.set(move.from, leading.get(move.from)! - 1);
    leading.set(move.to, leading.get(move.to)! + 1);
  }
  return transfers;
}

/** From the busiest node to the least busy one that holds a replica of one of its partitions, if that narrows the spread. */
function bestLeaderMove(status: ClusterStatus, leaders: Map<number, string>, leading: Map<string, number>) {
  const byLoad = [...leading].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [from, count] of byLoad) {
    for (const [to, other] of [...byLoad].reverse()) {
      if (count - other < 2) break;
      for (const partition of status.partitions) {
        if (leaders.get(partition.id) !== from) continue;
        const replica = partition.replicas.find((candidate) => candidate.node === to);
        if (replica) return { partition: partition.id, from, to, replica: replica.replica };
      }
    }
  }
  return undefined;
}

async function balanceLeaders(nc: NatsConnection, command: AdminCommand, status: ClusterStatus): Promise<Reply> {
  const transfers = planLeaderBalance(status);
  if (transfers.length === 0) return { ok: true, message: 'balanced: every node leads its share' };
  for (const transfer of transfers) {
    if (!command.client.json) process.stderr.write(`  partition ${transfer.partition}: ${transfer.from} -> ${transfer.to}\n`);
    const moved = await nodeRequest(nc, command, transfer.from, { command: 'transfer', partition: transfer.partition, to: transfer.to, replica: transfer.replica });
    if (!moved.ok) return moved;
  }
  return { ok: true, message: `balanced: ${transfers.length} leadership(s) moved` };
}

function list(command: AdminCommand, json: object, text: string, output: Output): number {
  output.stdout(command.client.json ? JSON.stringify(json) + '\n' : text);
  return EXIT_OK;
}

function report(command: AdminCommand, reply: Reply, output: Output): number {
  if (command.client.json) {
    (reply.ok ? output.stdout : output.stderr)(JSON.stringify(reply) + '\n');
  } else if (reply.ok) {
    output.stdout(reply.message + '\n');
  } else {
    output.stderr(`cairn ${command.action.kind}: ${reply.error.code}: ${reply.error.message}\n`);
  }
  return reply.ok ? EXIT_OK : EXIT_ERROR;
}

export function formatNodes(status: ClusterStatus): string {
  const rows = [['NODE', 'STATE', 'HEALTH', 'PID', 'UPTIME', 'REPLICAS', 'LEADERS', 'RESTARTS', 'STOPPED', 'FAILED']];
  const judged = new Map((status.controller?.nodes ?? []).map((node) => [node.id, node]));
  for (const node of status.nodes) {
    const leaders = status.partitions.filter((partition) => partition.leader?.node === node.id).length;
    const verdict = judged.get(node.id);
    rows.push([
      node.id, verdict?.state ?? (node.drained ? 'draining' : '-'), verdict?.health ?? '-', String(node.pid), formatDuration(node.uptimeMs), String(node.replicas), String(leaders), String(node.restarts),
      (node.stopped ?? []).join(' ') || '-', (node.failed ?? []).map((failure) => failure.actor).join(' ') || '-',
    ]);
  }
  for (const verdict of judged.values()) {
    if (!status.nodes.some((node) => node.id === verdict.id)) rows.push([verdict.id, verdict.state, verdict.health, '-', '-', String(verdict.replicas), '0', '-', '-', '-']);
  }
  const controller = status.controller ? `controller: ${status.controller.node} (epoch ${status.controller.epoch})\n` : 'controller: none answering\n';
  const missing = status.missing.length > 0 ? `\nno answer from: ${status.missing.join(', ')}\n` : '';
  return controller + formatTable(rows) + '\n' + missing;
}

/** The partition table of `cairn status`, alone. */
export function formatPartitions(status: ClusterStatus): string {
  const text = formatStatus(status);
  const start = text.indexOf('PARTITION');
  return start === -1 ? text : text.slice(start);
}
