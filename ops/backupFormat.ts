// What ops/backup.ts writes and ops/restore.ts reads: the manifest of a node backup, the listing of a
// node's replica environments, and a read-only inspection of one replica environment that decodes (and
// so checksum-verifies) every record, the way the replica itself would read it.
//
// A backup directory looks like
//   BACKUP/manifest.json
//   BACKUP/store/data.mdb   a consistent LMDB copy of DATA/<node>/store/, the node env holding every
//                           replica as `p<partition>/<db>` (storage/nodeEnv.ts); no lock file
//   BACKUP/p3/data.mdb      a copy of DATA/<node>/p3/, for a replica an older cairn node kept in an
//                           environment of its own (one db set, no prefix)
// Version 1 manifests (every replica in its own environment) are still read.

import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsyncSync, openSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { open, RootDatabase } from 'lmdb';
import { decodeEntry, LOG_STORE_NAME } from '../storage/logEntryCodec';
import { NODE_ENV_MAX_DBS, NODE_STORE_DIR, partitionsIn, replicaDbPrefix } from '../storage/nodeEnv';
import { ENV_DATA_FILE } from '../storage/replicaEnv';
import { decodeKvRecord } from '../storage/kvRecord';
import {
  CONF_STORE_NAME,
  META_KEY,
  META_STORE_NAME,
  decodeConfState,
  decodeCopyName,
  decodeCount,
  decodeHardState,
  decodeSnapshotMeta,
} from '../storage/metaRecords';
import { keyIndex } from '../storage/uint53';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'cairn-node-backup';
export const MANIFEST_VERSION = 2;
/** LMDB's data file inside an environment directory (lmdb-js opens `p<N>` as a directory: no extension). */
export const DATA_FILE = ENV_DATA_FILE;
export const LOCK_FILE = 'lock.mdb';
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const REPLICA_DIR = /^p(\d{1,5})$/;

/** What one replica environment holds, read in one read transaction. */
export interface ReplicaSummary {
  /** Layout version of the environment (storage/metaRecords.ts ENV_FORMAT_VERSION). */
  envFormat: number;
  /** Raft index of the last entry applied to the state machine. */
  applied: number;
  hardState: { term: number; vote: number; commit: number };
  /** Compaction point: entries up to this index live only in the state machine. */
  snapshotIndex: number;
  snapshotTerm: number;
  /** Voters and learners (replica ids) of the latest membership the log knows. */
  voters: number[];
  learners: number[];
  /** Raft log entries present: firstIndex..lastIndex, or null when the log is empty. */
  log: { entries: number; firstIndex: number | null; lastIndex: number | null };
  /** Keys in the live state-machine copy. */
  keys: number;
}

export interface ManifestReplica extends ReplicaSummary {
  partition: number;
  /** The environment directory inside the backup holding it: `store`, or `p3` for an environment of its own. */
  dir: string;
}

/** One copied environment: its directory inside the backup, and its data file's size and SHA-256. */
export interface ManifestEnv {
  dir: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  node: string;
  /** Absolute data root the backup was taken from (the `--data` of the supervisor). */
  source: string;
  createdAt: string;
  /** Whether LMDB compacted while copying (free pages dropped; same content). */
  compact: boolean;
  envs: ManifestEnv[];
  replicas: ManifestReplica[];
  /** The node's `replicas.json` (which replicas it hosts, supervisor/assignment.ts), when it had one. */
  hosted?: unknown[];
}

export function isNodeId(value: string): boolean {
  return NODE_ID.test(value);
}

/** An environment directory under DATA/<node>/: the node env `store`, or `p<N>` holding one replica of its own. */
export interface EnvDir {
  dir: string;
  /** The partition of a `p<N>` environment; undefined for the node env. */
  partition?: number;
}

/** The environment directories (with an LMDB data file) under DATA/<node>/: `store` first, then `p<N>` by partition. */
export function listEnvDirs(nodeDir: string): EnvDir[] {
  const entries = readdirSync(nodeDir, { withFileTypes: true }).filter((entry) => entry.isDirectory() && existsSync(path.join(nodeDir, entry.name, DATA_FILE)));
  const own = entries
    .filter((entry) => REPLICA_DIR.test(entry.name))
    .map((entry) => ({ partition: Number(REPLICA_DIR.exec(entry.name)![1]), dir: entry.name }))
    .sort((a, b) => a.partition - b.partition);
  return entries.some((entry) => entry.name === NODE_STORE_DIR) ? [{ dir: NODE_STORE_DIR }, ...own] : own;
}

/** `store/p3` for a replica in the node env, `p3` for one in an environment of its own. */
export function replicaName(dir: string, partition: number): string {
  return dir === `p${partition}` ? dir : `${dir}/p${partition}`;
}

/** Opens an environment directory read-only, with room for every db a node env may hold. */
export function openReadOnly(envPath: string): RootDatabase<Buffer, string> {
  return open<Buffer, string>(envPath, { readOnly: true, maxDbs: NODE_ENV_MAX_DBS, compression: false, encoding: 'binary', cache: false });
}

/** The replicas an open environment holds, with the db name prefix of each. */
export function replicasIn(root: RootDatabase<Buffer, string>, env: EnvDir): { partition: number; prefix: string }[] {
  if (env.partition !== undefined) return [{ partition: env.partition, prefix: '' }];
  return partitionsIn(root).map((partition) => ({ partition, prefix: replicaDbPrefix(partition) }));
}

/**
 * Decodes every record of a replica environment in one read transaction: meta, membership history, the
 * whole log and the live kv copy. Every decoder verifies the record's CRC32, so a summary that returns is
 * also an integrity check of the copy. Throws StorageCorruptionError (or an LMDB error) otherwise.
 */
export function summarizeReplica(root: RootDatabase<Buffer, string>, prefix = ''): ReplicaSummary {
  const binary = { encoding: 'binary', keyEncoding: 'binary', compression: false, cache: false } as const;
  const meta = root.openDB<Buffer, string>(prefix + META_STORE_NAME, { encoding: 'binary', keyEncoding: 'ordered-binary', compression: false, cache: false });
  const log = root.openDB<Buffer, Buffer>(prefix + LOG_STORE_NAME, binary);
  const conf = root.openDB<Buffer, Buffer>(prefix + CONF_STORE_NAME, binary);
  // Every db is opened before the read transaction starts: lmdb-js resets the current read transaction
  // when it opens a db.
  const kvCopies = { a: root.openDB<Buffer, Buffer>(`${prefix}kv-a`, binary), b: root.openDB<Buffer, Buffer>(`${prefix}kv-b`, binary) };
  // The copy is static and opened read-only, yet one read transaction keeps the summary self-consistent
  // even when this is pointed at a live environment.
  const transaction = root.useReadTransaction();
  const required = (key: string): Buffer => {
    const value = meta.get(key, { transaction });
    if (value === undefined) throw new Error(`meta record ${JSON.stringify(key)} is missing: the replica was never bootstrapped`);
    return value;
  };
  try {
    const envFormat = decodeCount(required(META_KEY.format));
    const hardState = decodeHardState(required(META_KEY.hardState));
    const snapshot = decodeSnapshotMeta(required(META_KEY.snapshot));
    const applied = decodeCount(required(META_KEY.applied));
    const active = decodeCopyName(required(META_KEY.active));
    let membership = snapshot.confState;
    for (const { key, value } of conf.getRange({ transaction })) {
      membership = decodeConfState(value, keyIndex(key));
    }
    let entries = 0;
    let firstIndex: number | null = null;
    let lastIndex: number | null = null;
    for (const { key, value } of log.getRange({ transaction })) {
      const index = keyIndex(key);
      if (index === undefined) throw new Error(`log key ${Buffer.from(key).toString('hex')} is not an index`);
      decodeEntry(value, index);
      entries++;
      firstIndex ??= index;
      lastIndex = index;
    }
    const kvName = `kv-${active}`;
    let keys = 0;
    for (const { value } of kvCopies[active].getRange({ transaction })) {
      decodeKvRecord(value, kvName);
      keys++;
    }
    return {
      envFormat,
      applied,
      hardState,
      snapshotIndex: snapshot.index,
      snapshotTerm: snapshot.term,
      voters: [...membership.voters],
      learners: [...membership.learners],
      log: { entries, firstIndex, lastIndex },
      keys,
    };
  } finally {
    transaction.done();
  }
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

export function fileBytes(file: string): number {
  return statSync(file).size;
}

/** fsync a file or a directory (so a rename or a new entry in it is durable). */
export function fsyncPath(target: string): void {
  const fd = openSync(target, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Parses and checks a manifest (a version 1 one is read as version 2); throws an Error naming the first problem. */
export function parseManifest(text: string, where: string): BackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where} is not JSON: ${(error as Error).message}`);
  }
  const manifest = upgradeManifest(value) as Partial<BackupManifest> | null;
  if (manifest === null || typeof manifest !== 'object') throw new Error(`${where} is not an object`);
  if (manifest.format !== MANIFEST_FORMAT || manifest.version !== MANIFEST_VERSION) {
    throw new Error(`${where} is not a ${MANIFEST_FORMAT} v1 or v${MANIFEST_VERSION} manifest`);
  }
  if (typeof manifest.node !== 'string' || !isNodeId(manifest.node)) throw new Error(`${where}: bad node id`);
  if (!Array.isArray(manifest.envs) || manifest.envs.length === 0) throw new Error(`${where}: no environments`);
  const dirs = new Set<string>();
  for (const env of manifest.envs) {
    const ok = env !== null && typeof env === 'object' && (env.dir === NODE_STORE_DIR || REPLICA_DIR.test(env.dir)) && !dirs.has(env.dir) &&
      Number.isSafeInteger(env.bytes) && typeof env.sha256 === 'string' && /^[0-9a-f]{64}$/.test(env.sha256);
    if (!ok) throw new Error(`${where}: bad environment entry ${JSON.stringify(env).slice(0, 200)}`);
    dirs.add(env.dir);
  }
  if (!Array.isArray(manifest.replicas) || manifest.replicas.length === 0) throw new Error(`${where}: no replicas`);
  const seen = new Set<number>();
  for (const replica of manifest.replicas) {
    const ok =
      replica !== null &&
      typeof replica === 'object' &&
      Number.isSafeInteger(replica.partition) &&
      (replica.dir === NODE_STORE_DIR || replica.dir === `p${replica.partition}`) &&
      dirs.has(replica.dir) &&
      !seen.has(replica.partition);
    if (!ok) throw new Error(`${where}: bad replica entry ${JSON.stringify(replica).slice(0, 200)}`);
    seen.add(replica.partition);
  }
  if (manifest.hosted !== undefined && !Array.isArray(manifest.hosted)) throw new Error(`${where}: "hosted" must be a list`);
  return manifest as BackupManifest;
}

/** Version 1 kept each replica's size and SHA-256 on the replica, every replica in an environment of its own. */
function upgradeManifest(value: unknown): unknown {
  const v1 = value as { format?: unknown; version?: unknown; replicas?: unknown } | null;
  if (v1 === null || typeof v1 !== 'object' || v1.format !== MANIFEST_FORMAT || v1.version !== 1 || !Array.isArray(v1.replicas)) return value;
  const replicas = v1.replicas as (ManifestReplica & { bytes?: unknown; sha256?: unknown })[];
  const envs = replicas.map((replica) => ({ dir: replica?.dir, bytes: replica?.bytes, sha256: replica?.sha256 }));
  return { ...v1, version: MANIFEST_VERSION, envs, replicas };
}

/**
 * Process ids (other than this one) that have the LMDB environment at `envPath` open, read from its lock
 * file's reader table. Opening the environment ourselves makes this reliable: when no other process has
 * it open, LMDB takes the lock file exclusively and clears stale slots left by a crashed process, so every
 * slot still listed belongs to a live process. A running replica always holds a slot.
 */
export async function processesUsing(envPath: string): Promise<number[]> {
  if (!existsSync(path.join(envPath, DATA_FILE))) return [];
  const root = openReadOnly(envPath);
  try {
    const pids = new Set<number>();
    for (const line of root.readerList().split('\n')) {
      const match = /^\s*(\d+)\s+[0-9a-f]+\s/.exec(line);
      if (match !== null && Number(match[1]) !== process.pid) pids.add(Number(match[1]));
    }
    return [...pids];
  } finally {
    await root.close();
  }
}
