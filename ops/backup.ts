// Hot backup of one cairn node: `node dist/ops/backup.js --data DIR --node ID --out BACKUP [--compact]`.
//
// Copies every replica environment under DIR/<node>/p*/ with LMDB's own copy (mdb_env_copy through
// lmdb-js `backup()`), which runs inside one read transaction: each replica's copy is a consistent
// point of that replica, taken while the supervisor keeps writing (readers never block the writer).
// Different partitions are copied one after another, so the backup is NOT one point in time across
// partitions (each partition is its own Raft group anyway). Then each copy is opened read-only and every
// record decoded (which verifies its CRC32), and BACKUP/manifest.json records, per replica, the applied
// index, hard state, log range, key count, size and SHA-256 of the copied file.
//
// The backup is written to BACKUP.partial-<pid> and renamed to BACKUP only when complete, so a BACKUP
// directory that exists is a whole backup. Exit codes: 0 done, 1 failed, 2 bad command line.

import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { ASSIGNMENT_FILE } from '../supervisor/assignment';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  BackupManifest,
  DATA_FILE,
  LOCK_FILE,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  ManifestReplica,
  fileBytes,
  fsyncPath,
  isNodeId,
  listReplicaDirs,
  openReadOnly,
  sha256File,
  summarizeReplica,
} from './backupFormat';

const USAGE = `Usage: node dist/ops/backup.js --data DIR --node ID --out BACKUP_DIR [--compact]

Hot-copies every replica environment of node ID (DIR/ID/p*/) into BACKUP_DIR while the node runs,
verifies each copy and writes BACKUP_DIR/${MANIFEST_FILE}.

  --data DIR      the supervisor's --data root (replicas live under DIR/ID/)
  --node ID       the node id (the supervisor's --node-id)
  --out DIR       where to write the backup; must not exist (or be an empty directory)
  --compact       let LMDB drop free pages while copying (slower, smaller; same content)`;

class UsageError extends Error {}

export interface BackupOptions {
  data: string;
  node: string;
  out: string;
  compact: boolean;
}

export function parseBackupArgs(argv: string[]): BackupOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { data: { type: 'string' }, node: { type: 'string' }, out: { type: 'string' }, compact: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
  if (values.help) throw new UsageError('');
  for (const flag of ['data', 'node', 'out']) {
    if (typeof values[flag] !== 'string' || values[flag] === '') throw new UsageError(`--${flag} is required`);
  }
  const node = values.node as string;
  if (!isNodeId(node)) throw new UsageError(`--node ${JSON.stringify(node)} is not a node id ([A-Za-z0-9_-]{1,64})`);
  return { data: path.resolve(values.data as string), node, out: path.resolve(values.out as string), compact: values.compact === true };
}

/** Takes the backup; returns its manifest. Throws on any failure, leaving no BACKUP directory behind. */
export async function backupNode(options: BackupOptions, log: (line: string) => void = () => undefined): Promise<BackupManifest> {
  const nodeDir = path.join(options.data, options.node);
  if (!existsSync(nodeDir)) throw new Error(`${nodeDir} does not exist: is --data the supervisor's --data and --node its --node-id?`);
  const replicaDirs = listReplicaDirs(nodeDir);
  if (replicaDirs.length === 0) throw new Error(`no replica environments (p<N>/${DATA_FILE}) under ${nodeDir}`);
  if (existsSync(options.out) && readdirSync(options.out).length > 0) throw new Error(`${options.out} already exists and is not empty`);

  const staging = `${options.out}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const replicas: ManifestReplica[] = [];
    for (const { partition, dir } of replicaDirs) {
      const target = path.join(staging, dir);
      mkdirSync(target);
      const source = openReadOnly(path.join(nodeDir, dir));
      try {
        await source.backup(target, options.compact);
      } finally {
        await source.close();
      }
      const copy = openReadOnly(target);
      let summary;
      try {
        summary = summarizeReplica(copy);
      } catch (error) {
        throw new Error(`the copy of ${dir} does not verify: ${(error as Error).message}`, { cause: error });
      } finally {
        await copy.close();
      }
      // Opening the copy created a lock file; a backup is only the data file.
      rmSync(path.join(target, LOCK_FILE), { force: true });
      const dataFile = path.join(target, DATA_FILE);
      fsyncPath(dataFile);
      fsyncPath(target);
      const replica: ManifestReplica = { partition, dir, ...summary, bytes: fileBytes(dataFile), sha256: await sha256File(dataFile) };
      replicas.push(replica);
      log(`${dir}: applied ${summary.applied}, commit ${summary.hardState.commit}, term ${summary.hardState.term}, ${summary.keys} keys, ` +
        `${summary.log.entries} log entries, ${replica.bytes} bytes`);
    }
    const manifest: BackupManifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      node: options.node,
      source: options.data,
      createdAt: new Date().toISOString(),
      compact: options.compact,
      replicas,
    };
    const hostedFile = path.join(nodeDir, ASSIGNMENT_FILE);
    if (existsSync(hostedFile)) manifest.hosted = JSON.parse(readFileSync(hostedFile, 'utf8')) as unknown[];
    const manifestPath = path.join(staging, MANIFEST_FILE);
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    fsyncPath(manifestPath);
    fsyncPath(staging);
    if (existsSync(options.out)) rmSync(options.out, { recursive: true }); // an empty directory, checked above
    renameSync(staging, options.out);
    fsyncPath(path.dirname(options.out));
    return manifest;
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

export async function main(argv: string[]): Promise<number> {
  let options: BackupOptions;
  try {
    options = parseBackupArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.message === '') {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      }
      process.stderr.write(`backup: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  try {
    const manifest = await backupNode(options, (line) => process.stdout.write(`backup: ${line}\n`));
    process.stdout.write(`backup: node ${manifest.node}: ${manifest.replicas.length} replica(s) written to ${options.out}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`backup: failed: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
