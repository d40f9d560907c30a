// `cairn nodes|partitions|leader ...`: operator commands. They read the cluster status and send one
// command to the control subject of the node that must act (supervisor/nodeControl.ts). Human text by
// default, one line of JSON with --json; exit 0 on success, 1 when the cluster refuses or fails.

import { connect, ErrorCode as NatsErrorCode, NatsError } from 'nats';
import type { NatsConnection } from 'nats';
import { KvClient } from '../bus/kvClient';
import { placeReplicas } from '../actors/router/placement';
import { subjects } from '../bus/subjects';
import { EXIT_ERROR, EXIT_OK } from './args';
import type { AdminAction, AdminCommand } from './args';
import { formatDuration, formatStatus, formatTable, isClusterStatus } from './clientCommands';
import type { Output } from './clientCommands';
import type { ClusterStatus } from './statusTypes';

type Reply = { ok: true; message: string } | { ok: false; error: { code: string; message: string } };

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
    if (command.action.kind === 'nodes-list') return list(command, { nodes: status.nodes }, formatNodes(status), output);
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
      return nodeRequest(nc, command, action.node, { command: action.kind });
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
      return moveReplica(nc, command, action, status);
    case 'rebalance':
      return rebalance(nc, command, status);
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

const refuse = (code: string, message: string): Reply => ({ ok: false, error: { code, message } });

/** How far behind the leader a learner may be when it is promoted (entries). */
const CAUGHT_UP_LAG_MAX = 64;
const CATCH_UP_TIMEOUT_MS = 120_000;

/**
 * Moves P's replica from one node to another, one membership change at a time, so the group always has
 * a majority of caught-up voters and no request fails: a new empty replica on the target joins as a
 * learner, catches up (by snapshot if needed), is promoted; if the source leads it hands leadership
 * over; then the source's replica is removed from the group, stopped and deleted.
 */
async function moveReplica(nc: NatsConnection, command: AdminCommand, action: { partition: number; from: string; to: string }, status: ClusterStatus): Promise<Reply> {
  const { partition: id, from, to } = action;
  const partition = status.partitions.find((candidate) => candidate.id === id);
  if (!partition) return refuse('NOT_FOUND', `the cluster has no partition ${id}`);
  const source = partition.replicas.find((replica) => replica.node === from);
  if (!source) return refuse('NOT_FOUND', `partition ${id} has no running replica on ${from}`);
  if (partition.replicas.some((replica) => replica.node === to)) return refuse('CONFLICT', `partition ${id} already has a replica on ${to}`);
  if (!partition.leader) return refuse('UNAVAILABLE', `partition ${id} has no leader right now; try again`);
  const known = partition.replicas.flatMap((replica) => [replica.replica, ...Object.keys(replica.followerLag ?? {}).map(Number)]);
  const target = Math.max(...known) + 1;
  const steps: string[] = [];
  const step = (line: string) => {
    steps.push(line);
    if (!command.client.json) process.stderr.write(`  ${line}\n`);
  };
  const added = await nodeRequest(nc, command, to, { command: 'add', partition: id, replica: target });
  if (!added.ok) return added;
  step(`started empty replica r${target} on ${to}`);
  const learner = await leaderConf(nc, command, id, 'addLearner', target);
  if (!learner.ok) return learner;
  step(`r${target} joined as a learner`);
  const caughtUp = await waitCaughtUp(nc, command, id, target);
  if (!caughtUp.ok) return caughtUp;
  step(caughtUp.message);
  const promoted = await leaderConf(nc, command, id, 'promote', target);
  if (!promoted.ok) return promoted;
  step(`r${target} promoted to voter`);
  const leader = (await currentStatus(nc, command)).partitions.find((candidate) => candidate.id === id)?.leader;
  if (leader?.node === from) {
    const moved = await nodeRequest(nc, command, from, { command: 'transfer', partition: id, to, replica: target });
    if (!moved.ok) return moved;
    step(`leadership handed from ${from} to ${to}`);
  }
  const removed = await leaderConf(nc, command, id, 'remove', source.replica);
  if (!removed.ok) return removed;
  step(`r${source.replica} removed from the group`);
  const deleted = await nodeRequest(nc, command, from, { command: 'remove', partition: id });
  if (!deleted.ok) return deleted;
  step(`r${source.replica} stopped and its data deleted on ${from}`);
  return { ok: true, message: `partition ${id}: replica moved from ${from} (r${source.replica}) to ${to} (r${target})` };
}

/** The moves that bring every partition to its weighted consistent-hashing placement (pure). */
export function planRebalance(status: ClusterStatus): { moves: { partition: number; from: string; to: string }[]; skipped: string[] } {
  const nodes = status.nodes.filter((node) => !node.drained).map((node) => ({ id: node.id, weight: node.weight ?? 1 }));
  const moves: { partition: number; from: string; to: string }[] = [];
  const skipped: string[] = [];
  if (nodes.length === 0) return { moves, skipped: ['no node is up and undrained'] };
  for (const partition of status.partitions) {
    const current = partition.replicas.map((replica) => replica.node);
    const target = placeReplicas([`p${partition.id}`], nodes, current.length).assignments.get(`p${partition.id}`) ?? [];
    const leaving = current.filter((node) => !target.includes(node));
    const arriving = target.filter((node) => !current.includes(node));
    if (leaving.length !== arriving.length) skipped.push(`partition ${partition.id}: ${current.length} replica(s) answering, not enough nodes to place them`);
    for (let i = 0; i < Math.min(leaving.length, arriving.length); i++) moves.push({ partition: partition.id, from: leaving[i]!, to: arriving[i]! });
  }
  return { moves, skipped };
}

async function rebalance(nc: NatsConnection, command: AdminCommand, status: ClusterStatus): Promise<Reply> {
  const { moves, skipped } = planRebalance(status);
  for (const line of skipped) process.stderr.write(`  skipped ${line}\n`);
  if (moves.length === 0) return { ok: true, message: 'balanced: every replica is where the placement wants it' };
  const done: string[] = [];
  for (const move of moves) {
    if (!command.client.json) process.stderr.write(`moving partition ${move.partition} from ${move.from} to ${move.to}\n`);
    const result = await moveReplica(nc, command, move, await currentStatus(nc, command));
    if (!result.ok) return { ok: false, error: { code: result.error.code, message: `${result.error.message} (after ${done.length} of ${moves.length} moves: ${done.join('; ') || 'none'})` } };
    done.push(`p${move.partition} ${move.from}->${move.to}`);
  }
  return { ok: true, message: `rebalanced: ${done.length} replica(s) moved (${done.join(', ')})` };
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

/** A membership change on P's leader, retried while leadership moves or another change is in flight. */
async function leaderConf(nc: NatsConnection, command: AdminCommand, partition: number, type: string, replica: number): Promise<Reply> {
  const subject = `${subjects(command.client.prefix).partitionLead(partition)}.conf`;
  const deadline = Date.now() + command.client.timeoutMs * 4;
  let last: Reply = refuse('UNAVAILABLE', `no leader of partition ${partition} answered`);
  while (Date.now() < deadline) {
    try {
      const reply = await nc.request(subject, Buffer.from(JSON.stringify({ type, replica })), { timeout: command.client.timeoutMs });
      const answer = JSON.parse(Buffer.from(reply.data).toString()) as { ok?: true; error?: { code: string; message: string } };
      if (answer.ok) return { ok: true, message: `${type} r${replica}` };
      last = { ok: false, error: answer.error ?? { code: 'INTERNAL', message: 'unexpected reply' } };
      if (last.error.code === 'BAD_REQUEST') return alreadyDone(nc, command, partition, type, replica, last);
    } catch (error) {
      if (!(error instanceof NatsError)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return last;
}

/** A change refused as already made (e.g. a retry after an indeterminate answer) counts as done. */
async function alreadyDone(nc: NatsConnection, command: AdminCommand, partition: number, type: string, replica: number, refusal: Reply): Promise<Reply> {
  const status = (await currentStatus(nc, command)).partitions.find((candidate) => candidate.id === partition);
  const present = status?.replicas.some((candidate) => candidate.replica === replica) || Object.keys(status?.replicas.find((r) => r.role === 'leader')?.followerLag ?? {}).includes(String(replica));
  if (type === 'remove' && !present) return { ok: true, message: `r${replica} already removed` };
  return refusal;
}

async function waitCaughtUp(nc: NatsConnection, command: AdminCommand, partition: number, replica: number): Promise<Reply> {
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const status = (await currentStatus(nc, command)).partitions.find((candidate) => candidate.id === partition);
    const leader = status?.replicas.find((candidate) => candidate.role === 'leader');
    const lag = leader?.followerLag?.[String(replica)];
    const learner = status?.replicas.find((candidate) => candidate.replica === replica);
    if (lag !== undefined && lag <= CAUGHT_UP_LAG_MAX && learner !== undefined) return { ok: true, message: `r${replica} caught up (${lag} entries behind, ${learner.snapshotsInstalled} snapshot(s) installed)` };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return refuse('TIMEOUT', `r${replica} did not catch up within ${CATCH_UP_TIMEOUT_MS} ms`);
}

async function currentStatus(nc: NatsConnection, command: AdminCommand): Promise<ClusterStatus> {
  const status = await new KvClient(nc, { prefix: command.client.prefix, timeoutMs: command.client.timeoutMs }).status();
  if (!isClusterStatus(status)) throw new Error('the cluster status has an unknown shape');
  return status;
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
  const rows = [['NODE', 'PID', 'UPTIME', 'REPLICAS', 'LEADERS', 'RESTARTS', 'DRAINED', 'STOPPED', 'FAILED']];
  for (const node of status.nodes) {
    const leaders = status.partitions.filter((partition) => partition.leader?.node === node.id).length;
    rows.push([
      node.id, String(node.pid), formatDuration(node.uptimeMs), String(node.replicas), String(leaders), String(node.restarts),
      node.drained ? 'yes' : 'no', (node.stopped ?? []).join(' ') || '-', (node.failed ?? []).map((failure) => failure.actor).join(' ') || '-',
    ]);
  }
  const missing = status.missing.length > 0 ? `\nno answer from: ${status.missing.join(', ')}\n` : '';
  return formatTable(rows) + '\n' + missing;
}

/** The partition table of `cairn status`, alone. */
export function formatPartitions(status: ClusterStatus): string {
  const text = formatStatus(status);
  const start = text.indexOf('PARTITION');
  return start === -1 ? text : text.slice(start);
}
