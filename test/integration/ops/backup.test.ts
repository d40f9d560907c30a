// ops/backup.js and ops/restore.js as child processes against a real 3-process cluster: a hot backup of
// n1 under write load, the refusals of restore, and two restores started as real clusters again: n1 from
// the backup next to copies of n2/n3 (it catches up; every acknowledged key is there), and every node
// from that one backup (the cluster is rolled back to it).

import { expect } from 'chai';
import { cpSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync, closeSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackupManifest } from '../../../ops/backupFormat';
import { CairnCluster } from '../../support/cairnCluster';
import { BACKUP, RESTORE, SupervisorProcesses, caughtUp, runNode, until } from './supervisorProcesses';

const PARTITIONS = 4;
const NODES = ['n1', 'n2', 'n3'];
const BEFORE = 200;
const AFTER = 100;
const keyBefore = (i: number) => `before/${i}`;
const keyAfter = (i: number) => `after/${i}`;

describe('ops/backup.js and ops/restore.js (real 3-process cluster)', function () {
  this.timeout(180_000);
  let cluster: CairnCluster;
  let restarted: SupervisorProcesses | undefined;
  const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-ops-backup-'));
  const backupDir = path.join(work, 'backup-n1');
  let manifest: BackupManifest;

  before(async () => {
    cluster = await CairnCluster.start({ nodes: 3, partitions: PARTITIONS });
    for (let i = 0; i < BEFORE; i++) await cluster.kv.put(keyBefore(i), `v${i}`);
    for (let i = 0; i < BEFORE; i += 10) await cluster.kv.put(keyBefore(i), `v${i}-second`);
    // An acknowledged write is on a majority, not necessarily on n1 yet: wait until n1 applied all of it.
    await until(async () => caughtUp(await cluster.status(), 'n1'), 20_000, 'n1 to apply every committed entry');
  });

  after(async () => {
    await restarted?.stop();
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('backs up a running node under write load: one verified copy of its store and a manifest of every replica in it', async () => {
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) await cluster.kv.put(`during/${written}`, String(written++));
    })();
    const run = await runNode(BACKUP, ['--data', cluster.dataDir, '--node', 'n1', '--out', backupDir]);
    writing = false;
    await writer;
    expect(run.code, run.stderr).to.equal(0);
    expect(written, 'writes went on during the backup').to.be.greaterThan(0);
    expect(run.stdout).to.contain(`node n1: ${PARTITIONS + 1} replica(s) written to ${backupDir}`);

    manifest = JSON.parse(readFileSync(path.join(backupDir, 'manifest.json'), 'utf8')) as BackupManifest;
    expect(manifest.format).to.equal('cairn-node-backup');
    expect(manifest.node).to.equal('n1');
    expect(manifest.replicas.map((replica) => replica.partition), 'the key partitions and the metadata partition').to.deep.equal([0, 1, 2, 3, 65535]);
    expect(manifest.envs.map((env) => env.dir)).to.deep.equal(['store']);
    expect(readdirSync(path.join(backupDir, 'store'))).to.deep.equal(['data.mdb']);
    expect(statSync(path.join(backupDir, 'store', 'data.mdb')).size).to.equal(manifest.envs[0]!.bytes);
    for (const replica of manifest.replicas) {
      expect(replica.dir).to.equal('store');
      expect(replica.applied).to.be.greaterThan(0);
      expect(replica.voters).to.deep.equal([1, 2, 3]);
      expect(replica.log.lastIndex).to.be.at.least(replica.applied);
    }
    // Every key written before the backup was applied on n1 before it started (see before()).
    const keys = manifest.replicas.reduce((sum, replica) => sum + replica.keys, 0);
    expect(keys).to.be.at.least(BEFORE);
    expect(existsSync(`${backupDir}.partial-${process.pid}`)).to.equal(false);
  });

  it('backup refuses a bad command line (exit 2), an --out that is not empty and a node without replicas (exit 1)', async () => {
    const missing = await runNode(BACKUP, ['--data', cluster.dataDir, '--out', path.join(work, 'x')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain('--node is required');
    const unknown = await runNode(BACKUP, ['--data', cluster.dataDir, '--node', 'n1', '--out', path.join(work, 'x'), '--fast']);
    expect(unknown.code).to.equal(2);
    const exists = await runNode(BACKUP, ['--data', cluster.dataDir, '--node', 'n1', '--out', backupDir]);
    expect(exists.code).to.equal(1);
    expect(exists.stderr).to.contain('already exists and is not empty');
    const noNode = await runNode(BACKUP, ['--data', cluster.dataDir, '--node', 'n9', '--out', path.join(work, 'x')]);
    expect(noNode.code).to.equal(1);
    expect(noNode.stderr).to.contain('does not exist');
    expect(existsSync(path.join(work, 'x'))).to.equal(false);
  });

  it('restore refuses an existing node directory without --force, and a running node even with --force', async () => {
    const plain = await runNode(RESTORE, ['--backup', backupDir, '--data', cluster.dataDir]);
    expect(plain.code).to.equal(1);
    expect(plain.stderr).to.contain(`${path.join(cluster.dataDir, 'n1')} already exists; refusing to overwrite it`);
    const forced = await runNode(RESTORE, ['--backup', backupDir, '--data', cluster.dataDir, '--force']);
    expect(forced.code).to.equal(1);
    expect(forced.stderr).to.match(/is open in process \d+: the node is running; stop it before restoring/);
    expect(readdirSync(cluster.dataDir).sort()).to.deep.equal(NODES);
    // The node never noticed.
    expect((await cluster.kv.get(keyBefore(0))).value).to.equal('v0-second');
  });

  it('restore refuses a backup whose data does not match its manifest, and writes nothing', async () => {
    const corrupt = path.join(work, 'corrupt');
    cpSync(backupDir, corrupt, { recursive: true });
    const file = path.join(corrupt, 'store', 'data.mdb');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0xff, 0x00, 0xff]), 0, 3, Math.floor(statSync(file).size / 2));
    closeSync(fd);
    const target = path.join(work, 'corrupt-target');
    const run = await runNode(RESTORE, ['--backup', corrupt, '--data', target]);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.contain("does not match the manifest's SHA-256");
    expect(existsSync(target), 'the backup is checked before anything is created').to.equal(false);
  });

  it('restoring n1 from the backup next to copies of n2 and n3: every acknowledged key is served and n1 catches up', async () => {
    for (let i = 0; i < AFTER; i++) await cluster.kv.put(keyAfter(i), `w${i}`);
    for (const id of NODES) await cluster.kill(id, 'SIGTERM');
    const fresh = path.join(work, 'fresh');
    const run = await runNode(RESTORE, ['--backup', backupDir, '--data', fresh]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.contain(`node n1: ${PARTITIONS + 1} replica(s) restored into ${path.join(fresh, 'n1')}`);
    expect(readdirSync(path.join(fresh, 'n1')), 'the record of which replicas n1 hosts comes back with them').to.include('replicas.json');
    for (const id of ['n2', 'n3']) cpSync(path.join(cluster.dataDir, id), path.join(fresh, id), { recursive: true });
    expect(readdirSync(fresh).sort()).to.deep.equal(NODES);

    restarted = await SupervisorProcesses.start(fresh, NODES, PARTITIONS);
    await expectKeys(restarted, { before: true, after: true });
    await until(async () => caughtUp(await restarted!.status(), 'n1'), 30_000, 'the restored n1 to catch up');
    // n1 now holds what n2 and n3 hold: with n3 gone, n1 and n2 are a majority that still has every key.
    await restarted.kill('n3');
    await until(async () => (await restarted!.status()).partitions.every((p) => p.leader !== null && p.leader.node !== 'n3'), 20_000, 'leaders on n1/n2');
    await expectKeys(restarted, { before: true, after: true });
    await restarted.stop();
    restarted = undefined;
  });

  it('restoring every node from that one backup rolls the cluster back to the backup', async () => {
    const rollback = path.join(work, 'rollback');
    for (const id of NODES) {
      const run = await runNode(RESTORE, ['--backup', backupDir, '--data', rollback, '--node', id]);
      expect(run.code, run.stderr).to.equal(0);
    }
    restarted = await SupervisorProcesses.start(rollback, NODES, PARTITIONS);
    await expectKeys(restarted, { before: true, after: false });
  });

  it('restore --force moves an existing node directory aside instead of deleting it', async () => {
    const rollback = path.join(work, 'rollback');
    await restarted!.stop();
    restarted = undefined;
    const run = await runNode(RESTORE, ['--backup', backupDir, '--data', rollback, '--node', 'n2', '--force']);
    expect(run.code, run.stderr).to.equal(0);
    const aside = readdirSync(rollback).filter((name) => name.startsWith('n2.pre-restore-'));
    expect(aside).to.have.length(1);
    expect(readdirSync(path.join(rollback, aside[0]!)).sort()).to.deep.equal(['replicas.json', 'store']);
    expect(readdirSync(path.join(rollback, 'n2', 'store'))).to.deep.equal(['data.mdb']);
    expect(readdirSync(path.join(rollback, 'n2')), "n1's record of its replicas is not n2's: n2 recomputes its own").to.not.include('replicas.json');
  });
});

async function expectKeys(cluster: SupervisorProcesses, expected: { before: boolean; after: boolean }): Promise<void> {
  for (let i = 0; i < BEFORE; i++) {
    const reply = await cluster.kv.get(keyBefore(i));
    expect(reply.value, keyBefore(i)).to.equal(expected.before ? (i % 10 === 0 ? `v${i}-second` : `v${i}`) : null);
  }
  for (let i = 0; i < AFTER; i++) {
    const reply = await cluster.kv.get(keyAfter(i));
    expect(reply.value, keyAfter(i)).to.equal(expected.after ? `w${i}` : null);
  }
}
