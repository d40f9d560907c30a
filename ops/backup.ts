// Hot backup of one cairn node: `node dist/ops/backup.js --data DIR --node ID --out BACKUP [--compact]`.
//
// Copies the node's LMDB environment DIR/<node>/store/ (every replica of the node; storage/nodeEnv.ts),
// and any replica environment of its own under DIR/<node>/p*/ that an older cairn node made, with LMDB's own
// copy (mdb_env_copy through lmdb-js `backup()`). It runs inside one read transaction, so the copy of
// the store is one consistent point of every replica in it, taken while the supervisor keeps writing
// (readers never block the writer). Then each copy is opened read-only and every record decoded (which
// verifies its CRC32), and BACKUP/manifest.json records the size and SHA-256 of each copied file and,
// per replica, the applied index, hard state, log range and key count.
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
  EnvDir,
  LOCK_FILE,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  ManifestEnv,
  ManifestReplica,
  fileBytes,
  fsyncPath,
  isNodeId,
  listEnvDirs,
  openReadOnly,
  replicaName,
  replicasIn,
  sha256File,
  summarizeReplica,
} from './backupFormat';

const USAGE = `Usage: node dist/ops/backup.js --data DIR --node ID --out BACKUP_DIR [--compact]

Hot-copies the LMDB environment of node ID (DIR/ID/store/, and any DIR/ID/p*/ of an older node) into
BACKUP_DIR while the node runs, verifies each copy and writes BACKUP_DIR/${MANIFEST_FILE}.

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
  const envDirs = listEnvDirs(nodeDir);
  if (envDirs.length === 0) throw new Error(`no replica environments (store/${DATA_FILE} or p<N>/${DATA_FILE}) under ${nodeDir}`);
  if (existsSync(options.out) && readdirSync(options.out).length > 0) throw new Error(`${options.out} already exists and is not empty`);

  const staging = `${options.out}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const envs: ManifestEnv[] = [];
    const replicas: ManifestReplica[] = [];
    for (const env of envDirs) {
      const copied = await copyEnv(path.join(nodeDir, env.dir), path.join(staging, env.dir), env, options.compact);
      envs.push(copied.env);
      for (const replica of copied.replicas) {
        replicas.push(replica);
        log(`${replicaName(env.dir, replica.partition)}: applied ${replica.applied}, commit ${replica.hardState.commit}, term ${replica.hardState.term}, ` +
          `${replica.keys} keys, ${replica.log.entries} log entries`);
      }
      log(`${env.dir}: ${copied.env.bytes} bytes`);
    }
    if (replicas.length === 0) throw new Error(`no replicas in the environments under ${nodeDir}`);
    const manifest: BackupManifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      node: options.node,
      source: options.data,
      createdAt: new Date().toISOString(),
      compact: options.compact,
      envs,
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

/** Copies one environment, verifies the copy by decoding every replica in it, and fsyncs it. */
async function copyEnv(from: string, to: string, env: EnvDir, compact: boolean): Promise<{ env: ManifestEnv; replicas: ManifestReplica[] }> {
  mkdirSync(to);
  const source = openReadOnly(from);
  try {
    await source.backup(to, compact);
  } finally {
    await source.close();
  }
  const copy = openReadOnly(to);
  const replicas: ManifestReplica[] = [];
  try {
    for (const { partition, prefix } of replicasIn(copy, env)) {
      try {
        replicas.push({ partition, dir: env.dir, ...summarizeReplica(copy, prefix) });
      } catch (error) {
        throw new Error(`the copy of ${env.dir}, partition ${partition}, does not verify: ${(error as Error).message}`, { cause: error });
      }
    }
  } finally {
    await copy.close();
  }
  // Opening the copy created a lock file; a backup is only the data file.
  rmSync(path.join(to, LOCK_FILE), { force: true });
  const dataFile = path.join(to, DATA_FILE);
  fsyncPath(dataFile);
  fsyncPath(to);
  return { env: { dir: env.dir, bytes: fileBytes(dataFile), sha256: await sha256File(dataFile) }, replicas };
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
