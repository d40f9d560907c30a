// Restores one node's data directory from a backup written by ops/backup.ts:
// `node dist/ops/restore.js --backup BACKUP --data DIR [--node ID] [--force]`.
//
// The node must be stopped: restore refuses while any process has one of the node's LMDB environments
// open (read from LMDB's own lock file). The environments (the node env `store`, and any `p<N>` of an
// older node) are copied into DIR/.restore-<node>-<pid>/, each copy is checked against the manifest's
// size and SHA-256 and every replica in it opened and decoded (every record's CRC32), and only then is
// the staging directory renamed to DIR/<node>/.
// An existing DIR/<node>/ is refused unless --force is given; with --force it is renamed to
// DIR/<node>.pre-restore-<time>/ (kept, not deleted: delete it yourself once the node is healthy). See
// ops/README.md for what a restore means in Raft terms. Exit codes: 0 done, 1 failed or refused, 2 bad command line.

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { ASSIGNMENT_FILE } from '../supervisor/assignment';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NODE_STORE_DIR, replicaDbPrefix } from '../storage/nodeEnv';
import {
  BackupManifest,
  ManifestReplica,
  DATA_FILE,
  LOCK_FILE,
  MANIFEST_FILE,
  fileBytes,
  fsyncPath,
  isNodeId,
  listEnvDirs,
  openReadOnly,
  parseManifest,
  processesUsing,
  replicaName,
  sha256File,
  summarizeReplica,
} from './backupFormat';

const USAGE = `Usage: node dist/ops/restore.js --backup BACKUP_DIR --data DIR [--node ID] [--force]

Restores DIR/ID/ (the replicas of node ID) from a backup made by ops/backup.js. Stop the node first.

  --backup DIR    a backup directory (with ${MANIFEST_FILE})
  --data DIR      the supervisor's --data root
  --node ID       the node to restore; default: the node the backup was taken from
  --force         if DIR/ID/ exists, move it aside to DIR/ID.pre-restore-<time>/ instead of refusing`;

class UsageError extends Error {}

export interface RestoreOptions {
  backup: string;
  data: string;
  node?: string;
  force: boolean;
}

export interface RestoreResult {
  manifest: BackupManifest;
  node: string;
  target: string;
  /** Where the previous DIR/<node>/ was moved, when --force replaced one. */
  movedAside?: string;
}

export function parseRestoreArgs(argv: string[]): RestoreOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { backup: { type: 'string' }, data: { type: 'string' }, node: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
  if (values.help) throw new UsageError('');
  for (const flag of ['backup', 'data']) {
    if (typeof values[flag] !== 'string' || values[flag] === '') throw new UsageError(`--${flag} is required`);
  }
  const node = values.node as string | undefined;
  if (node !== undefined && !isNodeId(node)) throw new UsageError(`--node ${JSON.stringify(node)} is not a node id ([A-Za-z0-9_-]{1,64})`);
  return { backup: path.resolve(values.backup as string), data: path.resolve(values.data as string), node, force: values.force === true };
}

export async function restoreNode(options: RestoreOptions, log: (line: string) => void = () => undefined): Promise<RestoreResult> {
  const manifestPath = path.join(options.backup, MANIFEST_FILE);
  if (!existsSync(manifestPath)) throw new Error(`${manifestPath} does not exist: not a backup made by ops/backup.js`);
  const manifest = parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath);
  const node = options.node ?? manifest.node;
  const target = path.join(options.data, node);
  const occupied = existsSync(target) && readdirSync(target).length > 0;
  if (occupied && !options.force) {
    throw new Error(`${target} already exists; refusing to overwrite it (stop the node, then pass --force to move it aside)`);
  }
  if (occupied) {
    for (const { dir } of listEnvDirs(target)) {
      const pids = await processesUsing(path.join(target, dir));
      if (pids.length > 0) {
        throw new Error(`${path.join(target, dir)} is open in process ${pids.join(', ')}: the node is running; stop it before restoring`);
      }
    }
  }
  // Verify the backup before touching anything.
  for (const env of manifest.envs) {
    const file = path.join(options.backup, env.dir, DATA_FILE);
    if (!existsSync(file)) throw new Error(`the backup is incomplete: ${file} is missing`);
    await checkFile(file, env.bytes, env.sha256, 'backup');
  }

  mkdirSync(options.data, { recursive: true });
  const staging = path.join(options.data, `.restore-${node}-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  try {
    for (const env of manifest.envs) {
      const dir = path.join(staging, env.dir);
      mkdirSync(dir);
      const file = path.join(dir, DATA_FILE);
      copyFileSync(path.join(options.backup, env.dir, DATA_FILE), file);
      fsyncPath(file);
      fsyncPath(dir);
      await checkFile(file, env.bytes, env.sha256, 'restored copy');
      await checkReplicas(dir, manifest.replicas.filter((replica) => replica.dir === env.dir), log);
      rmSync(path.join(dir, LOCK_FILE), { force: true }); // made by the check above; the node makes its own
    }
    if (manifest.hosted !== undefined && node === manifest.node) {
      // Which replicas the node hosts comes back with them (a replica moved here stays here). Restored
      // onto another node, the record would name the source's replica ids: that node recomputes its own
      // from the placement instead.
      const hostedFile = path.join(staging, ASSIGNMENT_FILE);
      writeFileSync(hostedFile, `${JSON.stringify(manifest.hosted, null, 1)}\n`);
      fsyncPath(hostedFile);
    }
    fsyncPath(staging);
    let movedAside: string | undefined;
    if (existsSync(target)) {
      if (occupied) {
        movedAside = `${target}.pre-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        renameSync(target, movedAside);
        log(`moved the previous ${target} to ${movedAside}`);
      } else {
        rmSync(target, { recursive: true });
      }
    }
    renameSync(staging, target);
    fsyncPath(options.data);
    return { manifest, node, target, movedAside };
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Opens a restored environment and decodes every replica the manifest puts in it. */
async function checkReplicas(dir: string, replicas: ManifestReplica[], log: (line: string) => void): Promise<void> {
  const env = openReadOnly(dir);
  try {
    for (const replica of replicas) {
      const summary = summarizeReplica(env, replica.dir === NODE_STORE_DIR ? replicaDbPrefix(replica.partition) : '');
      const name = replicaName(replica.dir, replica.partition);
      if (summary.applied !== replica.applied) throw new Error(`${name}: applied ${summary.applied}, the manifest says ${replica.applied}`);
      log(`${name}: restored (applied ${replica.applied}, commit ${replica.hardState.commit}, ${replica.keys} keys)`);
    }
  } finally {
    await env.close();
  }
}

async function checkFile(file: string, bytes: number, sha256: string, what: string): Promise<void> {
  const size = fileBytes(file);
  if (size !== bytes) throw new Error(`${what} ${file} has ${size} bytes, the manifest says ${bytes}`);
  const digest = await sha256File(file);
  if (digest !== sha256) throw new Error(`${what} ${file} does not match the manifest's SHA-256 (corrupt or changed)`);
}

export async function main(argv: string[]): Promise<number> {
  let options: RestoreOptions;
  try {
    options = parseRestoreArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.message === '') {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      }
      process.stderr.write(`restore: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  try {
    const result = await restoreNode(options, (line) => process.stdout.write(`restore: ${line}\n`));
    process.stdout.write(
      `restore: node ${result.node}: ${result.manifest.replicas.length} replica(s) restored into ${result.target} ` +
        `from a backup of ${result.manifest.node} taken ${result.manifest.createdAt}\n` +
        'restore: start the node; its replicas are behind and catch up from their leaders (see ops/README.md)\n',
    );
    return 0;
  } catch (error) {
    process.stderr.write(`restore: failed: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
