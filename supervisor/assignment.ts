// Which replicas this node hosts, kept in `<data>/<node>/replicas.json` so that a replica moved here
// (`cairn partitions move`) or away survives a restart: the node's own record wins over the placement
// that --initial-cluster would compute. A node without the file (a new cluster) computes it once from
// the placement and writes it.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';

export interface HostedReplica {
  partition: number;
  replica: number;
  /** The partition's initial voters: a new replica bootstraps with them and replays the log from index 1. */
  voters: number[];
  /** Node of each replica id this node knows of (for batching Raft traffic per node). */
  nodeOfReplica: Record<string, string>;
}

export const ASSIGNMENT_FILE = 'replicas.json';

export function assignmentPath(dataDir: string, nodeId: string): string {
  return path.join(dataDir, nodeId, ASSIGNMENT_FILE);
}

/** The stored assignment, or `initial()` written down as the first one. */
export function loadOrCreateAssignment(dataDir: string, nodeId: string, initial: () => HostedReplica[]): HostedReplica[] {
  const file = assignmentPath(dataDir, nodeId);
  if (!existsSync(file)) {
    const hosted = initial();
    saveAssignment(dataDir, nodeId, hosted);
    return hosted;
  }
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(parsed) || !parsed.every(isHostedReplica)) throw new Error(`${file} is not a list of hosted replicas; repair or remove it`);
  return parsed;
}

/** Atomic replace: a crash leaves the old file or the new one, never half of one. */
export function saveAssignment(dataDir: string, nodeId: string, hosted: readonly HostedReplica[]): void {
  const file = assignmentPath(dataDir, nodeId);
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, 'w');
  try {
    writeSync(fd, JSON.stringify(hosted, null, 1) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}

function isHostedReplica(value: unknown): value is HostedReplica {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return Number.isSafeInteger(record.partition) && Number.isSafeInteger(record.replica) && (record.replica as number) > 0
    && Array.isArray(record.voters) && record.voters.every((id) => Number.isSafeInteger(id) && id > 0)
    && typeof record.nodeOfReplica === 'object' && record.nodeOfReplica !== null;
}
