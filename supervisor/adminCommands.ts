// `cairn nodes|partitions|leader ...`: operator commands. They read the cluster status and send one
// command to the control subject of the node that must act (supervisor/nodeControl.ts). Human text by
// default, one line of JSON with --json; exit 0 on success, 1 when the cluster refuses or fails.

import { connect, ErrorCode as NatsErrorCode, NatsError } from 'nats';
import type { NatsConnection } from 'nats';
import { KvClient } from '../bus/kvClient';
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
      return nodeRequest(nc, command, partition.leader.node, { command: 'transfer', partition: action.partition, to: action.node });
    }
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
