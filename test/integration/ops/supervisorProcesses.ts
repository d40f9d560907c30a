// Supervisor child processes on a data root the test chose (test/support/cairnCluster.ts makes its own
// temp root, but a restore test must start nodes on directories it assembled), plus small helpers to
// run the ops scripts as child processes.

import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { connect, NatsConnection } from 'nats';
import { KvClient } from '../../../bus/kvClient';
import { ClusterStatus } from '../../../supervisor/statusTypes';
import { NatsServerHandle, startNatsServer } from '../../support/natsServer';

const DIST = path.join(__dirname, '..', '..', '..');
export const CLI = path.join(DIST, 'supervisor', 'cli.js');
export const BACKUP = path.join(DIST, 'ops', 'backup.js');
export const RESTORE = path.join(DIST, 'ops', 'restore.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runNode(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export class SupervisorProcesses {
  readonly children = new Map<string, { child: ChildProcess; exited: Promise<number | null>; output: string[] }>();
  nc!: NatsConnection;
  kv!: KvClient;
  private server!: NatsServerHandle;

  private constructor(readonly dataDir: string, readonly nodeIds: string[], readonly partitions: number) {}

  /** A nats-server of its own and one supervisor per node id on `dataDir`; resolves when every partition has a leader. */
  static async start(dataDir: string, nodeIds: string[], partitions: number): Promise<SupervisorProcesses> {
    const cluster = new SupervisorProcesses(dataDir, nodeIds, partitions);
    cluster.server = await startNatsServer({});
    cluster.nc = await connect({ servers: cluster.server.url });
    cluster.kv = new KvClient(cluster.nc, { timeoutMs: 5_000 });
    for (const id of nodeIds) {
      const args = [
        CLI, 'supervisor', '--node-id', id, '--nats', cluster.server.url, '--data', dataDir,
        '--initial-cluster', nodeIds.join(','), '--partitions', String(partitions), '--replicas', String(nodeIds.length),
      ];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const output: string[] = [];
      const collect = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter((line) => line !== ''));
      child.stdout!.on('data', collect);
      child.stderr!.on('data', collect);
      cluster.children.set(id, { child, output, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) });
    }
    try {
      await until(async () => {
        const status = await cluster.status().catch(() => undefined);
        return status !== undefined && status.partitions.length === partitions && status.partitions.every((p) => p.leader !== null);
      }, 30_000, 'every partition to have a leader');
    } catch (error) {
      const output = [...cluster.children].map(([id, node]) => node.output.slice(-10).map((line) => `${id}| ${line}`).join('\n')).join('\n');
      await cluster.stop();
      throw new Error(`${(error as Error).message}; last output:\n${output}`);
    }
    return cluster;
  }

  async status(): Promise<ClusterStatus> {
    return (await this.kv.status()) as unknown as ClusterStatus;
  }

  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const node = this.children.get(id)!;
    if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill(signal);
    await node.exited;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.children.values()].map(async (node) => {
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGTERM');
      const timer = setTimeout(() => node.child.kill('SIGKILL'), 10_000);
      await node.exited;
      clearTimeout(timer);
    }));
    await this.nc?.close().catch(() => undefined);
    await this.server?.stop();
  }
}

/**
 * True when, in every partition, the replica on `node` has applied everything its leader has committed
 * (call it while no writes are in flight).
 */
export function caughtUp(status: ClusterStatus, node: string): boolean {
  return status.partitions.every((partition) => {
    const leader = partition.replicas.find((replica) => replica.role === 'leader');
    const mine = partition.replicas.find((replica) => replica.node === node);
    return leader !== undefined && mine !== undefined && mine.applied >= leader.commit;
  });
}
