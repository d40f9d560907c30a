// `cairn put|get|del|cas|status`: one request of the public protocol through KvClient, printed for a
// human (default) or as one line of JSON (--json). Returns the exit code; never throws for expected
// failures (no connection, error replies, timeouts).

import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { KvClient, KvError } from '../bus/kvClient';
import type { KvErrorCode } from '../bus/kvClient';
import type { CasReply, DelReply, GetReply, PutReply } from '../bus/protocol';
import { validateKey, validateValue } from '../bus/protocol';
import { EXIT_CAS_REFUSED, EXIT_ERROR, EXIT_OK } from './args';
import type { ClientCommand } from './args';
import type { ClusterStatus, PartitionStatus, ReplicaStatus } from './statusTypes';

export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Codes the CLI adds to the protocol's: the NATS connection could not be opened (nothing was sent). */
export type CliErrorCode = KvErrorCode | 'CONNECT_FAILED';

/** Indeterminate outcomes: a write that ended this way may or may not have been applied. */
const INDETERMINATE: readonly CliErrorCode[] = ['TIMEOUT', 'UNAVAILABLE', 'INTERNAL'];

export async function runClientCommand(command: ClientCommand, output: Output): Promise<number> {
  const invalid = validateArguments(command);
  if (invalid !== undefined) return reportError(command, invalid.code, invalid.message, output);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: command.client.natsUrl.split(','),
      name: `cairn-cli-${command.name}`,
      timeout: command.client.timeoutMs,
      reconnect: false,
    });
  } catch (error) {
    const message = `cannot connect to NATS at ${command.client.natsUrl}: ${(error as Error).message ?? String(error)}`;
    return reportError(command, 'CONNECT_FAILED', message, output);
  }
  try {
    const kv = new KvClient(nc, { prefix: command.client.prefix, timeoutMs: command.client.timeoutMs });
    return await execute(command, kv, output);
  } catch (error) {
    if (error instanceof KvError) return reportError(command, error.code, error.message, output, error.leader);
    return reportError(command, 'INTERNAL', `unexpected failure: ${String(error)}`, output);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function execute(command: ClientCommand, kv: KvClient, output: Output): Promise<number> {
  switch (command.name) {
    case 'put':
      return printPut(await kv.put(command.key, command.value), command.client.json, output);
    case 'get':
      return printGet(await kv.get(command.key, { consistency: command.stale ? 'stale' : 'linearizable' }), command.client.json, output);
    case 'del':
      return printDel(await kv.del(command.key), command.client.json, output);
    case 'cas':
      return printCas(await kv.cas(command.key, command.value, command.expected), command.client.json, output);
    case 'status': {
      const status = await kv.status();
      if (command.client.json) output.stdout(JSON.stringify(status) + '\n');
      else output.stdout(isClusterStatus(status) ? formatStatus(status) : `status reply of an unknown shape:\n${JSON.stringify(status, null, 2)}\n`);
      return EXIT_OK;
    }
  }
}

function printPut(reply: PutReply, json: boolean, output: Output): number {
  output.stdout(json ? JSON.stringify(reply) + '\n' : `OK (revision ${reply.revision})\n`);
  return EXIT_OK;
}

/** etcdctl's behaviour: the value and a newline, or nothing at all for an absent key; exit 0 either way. */
function printGet(reply: GetReply, json: boolean, output: Output): number {
  if (json) output.stdout(JSON.stringify(reply) + '\n');
  else if (reply.value !== null) output.stdout(reply.value + '\n');
  return EXIT_OK;
}

function printDel(reply: DelReply, json: boolean, output: Output): number {
  if (json) output.stdout(JSON.stringify(reply) + '\n');
  else output.stdout(`${reply.deleted ? 'deleted' : 'absent'} (revision ${reply.revision})\n`);
  return EXIT_OK;
}

function printCas(reply: CasReply, json: boolean, output: Output): number {
  if (json) output.stdout(JSON.stringify(reply) + '\n');
  else if (reply.ok) output.stdout(`OK (revision ${reply.revision})\n`);
  else output.stdout(reply.value === null ? 'refused: key is absent\n' : `refused: key is at revision ${reply.revision}\n`);
  return reply.ok ? EXIT_OK : EXIT_CAS_REFUSED;
}

/** The checks the server makes, before connecting: a bad key fails fast with the server's code. */
function validateArguments(command: ClientCommand): { code: KvErrorCode; message: string } | undefined {
  if (command.name === 'status') return undefined;
  const error =
    validateKey(command.key) ??
    (command.name === 'put' || command.name === 'cas' ? validateValue(command.value) : undefined) ??
    (command.name === 'cas' && 'value' in command.expected && command.expected.value !== null ? validateValue(command.expected.value, 'expectedValue') : undefined);
  return error === undefined ? undefined : { code: error.code, message: error.message };
}

function reportError(command: ClientCommand, code: CliErrorCode, message: string, output: Output, leader?: number): number {
  const isWrite = command.name === 'put' || command.name === 'del' || command.name === 'cas';
  const note = isWrite && INDETERMINATE.includes(code) ? ' (the write may or may not have been applied)' : '';
  if (command.client.json) {
    const error: Record<string, unknown> = { code, message };
    if (leader !== undefined) error.leader = leader;
    output.stderr(JSON.stringify({ error }) + '\n');
  } else {
    const hint = leader !== undefined && leader > 0 ? ` (leader hint: replica ${leader})` : '';
    output.stderr(`cairn ${command.name}: ${code}: ${message}${hint}${note}\n`);
  }
  return EXIT_ERROR;
}

/** True when `value` has the ClusterStatus shape well enough to be printed as tables. */
export function isClusterStatus(value: unknown): value is ClusterStatus {
  if (typeof value !== 'object' || value === null) return false;
  const status = value as Record<string, unknown>;
  return Array.isArray(status.nodes) && Array.isArray(status.partitions) && status.partitions.every(isPartitionStatus);
}

function isPartitionStatus(value: unknown): value is PartitionStatus {
  if (typeof value !== 'object' || value === null) return false;
  const partition = value as Record<string, unknown>;
  return Array.isArray(partition.replicas) && (partition.leader === null || typeof partition.leader === 'object');
}

/** The readable form of a cluster status: nodes, then partitions with their replicas. */
export function formatStatus(status: ClusterStatus): string {
  const nodeRows = [['NODE', 'PID', 'HTTP', 'UPTIME', 'STATE', 'HEALTH', 'REPLICAS', 'RESTARTS', 'FAILED']];
  const failures: string[] = [];
  const judged = new Map((status.controller?.nodes ?? []).map((node) => [node.id, node]));
  for (const node of status.nodes) {
    const failed = Array.isArray(node.failed) ? node.failed : []; // older supervisors do not report it
    for (const failure of failed) failures.push(`${node.id} ${failure.actor}: ${failure.error}`);
    nodeRows.push([
      node.id,
      String(node.pid),
      node.httpPort === undefined ? '-' : String(node.httpPort),
      formatDuration(node.uptimeMs),
      judged.get(node.id)?.state ?? '-',
      judged.get(node.id)?.health ?? '-',
      String(node.replicas),
      String(node.restarts),
      String(failed.length),
    ]);
  }
  // Registered nodes that did not answer: the controller still knows them (down, or removed).
  for (const node of judged.values()) {
    if (!status.nodes.some((answering) => answering.id === node.id)) nodeRows.push([node.id, '-', '-', '-', node.state, node.health, '-', '-', '-']);
  }
  const partitionRows = [['PARTITION', 'LEADER', 'REPLICA', 'NODE', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG']];
  for (const partition of status.metadata ? [...status.partitions, status.metadata] : status.partitions) {
    const leader = partition.leader === null ? 'NONE' : `r${partition.leader.replica}@${partition.leader.node} t${partition.leader.term}`;
    const name = partition === status.metadata ? 'meta' : String(partition.id);
    const replicas = [...partition.replicas].sort((a, b) => a.replica - b.replica);
    if (replicas.length === 0) partitionRows.push([name, leader, '-', '-', '-', '-', '-', '-', '-']);
    replicas.forEach((replica, i) => {
      partitionRows.push([
        i === 0 ? name : '',
        i === 0 ? leader : '',
        String(replica.replica),
        replica.node,
        replica.role,
        String(replica.term),
        String(replica.commit),
        String(replica.applied),
        lagOf(partition, replica),
      ]);
    });
  }
  const withLeader = status.partitions.filter((partition) => partition.leader !== null).length;
  const lines = [
    `${status.nodes.length} node(s), ${status.partitions.length} partition(s), ${withLeader} with a leader`,
    formatController(status),
    '',
    formatTable(nodeRows),
    '',
    formatTable(partitionRows),
  ];
  if (failures.length > 0) lines.push('', 'stopped for good (not restarted):', ...failures.map((failure) => `  ${failure}`));
  if (status.missing.length > 0) lines.push('', `no answer from: ${status.missing.join(', ')}`);
  return lines.join('\n') + '\n';
}

function formatController(status: ClusterStatus): string {
  const controller = status.controller;
  if (!controller) return 'controller: none answering (an election may be under way)';
  const work = controller.balanced ? 'nothing to do' : `${controller.changing} partition(s) changing`;
  const blocked = controller.blocked.length > 0 ? `; blocked: ${controller.blocked.map((entry) => entry.message).join('; ')}` : '';
  const ring = controller.ring ? `\nkey ring: epoch ${controller.ring.epoch}, partitions ${controller.ring.partitions.join(' ')}` : '';
  const reshard = controller.reshard ? ` (${controller.reshard.kind === 'create' ? 'creating' : 'deleting'} partition ${controller.reshard.partitionId}: ${controller.reshard.phase})` : '';
  return `controller: ${controller.node} (epoch ${controller.epoch}), ${work}${blocked}${ring}${reshard}`;
}

/** Entries the replica is behind its leader's last index, as the leader reports it; "-" when unknown. */
function lagOf(partition: PartitionStatus, replica: ReplicaStatus): string {
  if (replica.role === 'leader') return '0';
  const leader = partition.replicas.find((candidate) => candidate.role === 'leader');
  const lag = leader?.followerLag === undefined ? undefined : new Map(Object.entries(leader.followerLag)).get(String(replica.replica));
  return lag === undefined ? '-' : String(lag);
}

export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd()).join('\n');
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const seconds = Math.floor(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`;
  if (minutes > 0) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${seconds}s`;
}
