// A real cairn cluster for integration tests: one nats-server and N supervisor child processes started
// with the real CLI, each with its own data directory under one temp root.

import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, NatsConnection } from 'nats';
import { KvClient } from '../../bus/kvClient';
import { startNatsServer } from './natsServer';
import { ClusterStatus } from '../../supervisor/statusTypes';

const CLI = path.join(__dirname, '..', '..', 'supervisor', 'cli.js');

export interface CairnClusterOptions {
  nodes?: number;
  partitions?: number;
  replicas?: number;
  /** Extra supervisor flags, e.g. ['--compact-entries', '200']. */
  flags?: string[];
  /** Node ids that serve HTTP (on a free port each). */
  http?: string[];
}

interface NodeProcess {
  id: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  output: string[];
  httpPort?: number;
}

export class CairnCluster {
  readonly nodes = new Map<string, NodeProcess>();
  readonly dataDir = mkdtempSync(path.join(os.tmpdir(), 'cairn-cluster-'));
  nc!: NatsConnection;
  kv!: KvClient;
  private server!: Awaited<ReturnType<typeof startNatsServer>>;
  readonly nodeIds: string[];
  private readonly joined = new Set<string>();

  private constructor(readonly options: Required<Omit<CairnClusterOptions, 'http'>> & { http: string[] }) {
    this.nodeIds = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  }

  static async start(options: CairnClusterOptions = {}): Promise<CairnCluster> {
    const cluster = new CairnCluster({ nodes: 3, partitions: 4, replicas: 3, flags: [], http: [], ...options });
    cluster.server = await startNatsServer({});
    cluster.nc = await connect({ servers: cluster.server.url });
    cluster.kv = new KvClient(cluster.nc, { timeoutMs: 5_000 });
    for (const id of cluster.nodeIds) await cluster.startNode(id);
    await cluster.waitHealthy();
    return cluster;
  }

  get natsUrl(): string {
    return this.server.url;
  }

  async startNode(id: string): Promise<void> {
    const o = this.options;
    const shape = this.joined.has(id)
      ? ['--join']
      : ['--initial-cluster', this.nodeIds.filter((node) => !this.joined.has(node)).join(','), '--partitions', String(o.partitions), '--replicas', String(o.replicas)];
    const args = [
      CLI, 'supervisor', '--node-id', id, '--nats', this.server.url, '--data', this.dataDir, ...shape,
      ...(o.http.includes(id) ? ['--http', '0'] : []), ...o.flags,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // A restarted node keeps the output of its earlier lives, after a marker line.
    const output = this.nodes.get(id)?.output ?? [];
    if (output.length > 0) output.push(`--- restarted at ${new Date().toISOString()} ---`);
    const node: NodeProcess = { id, child, output, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        node.output.push(line);
        const http = /http on (\d+)/.exec(line);
        if (http) node.httpPort = Number(http[1]);
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    this.nodes.set(id, node);
    if (o.http.includes(id)) await this.until(() => node.httpPort !== undefined, 20_000, `${id} http port`);
  }

  /** kill -9 (or another signal) one supervisor process; resolves when it is gone. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const node = this.nodes.get(id)!;
    node.child.kill(signal);
    return node.exited;
  }

  /** Starts a node that is not in the initial cluster with `--join` (restarts keep using `--join`). */
  async join(id: string): Promise<void> {
    this.joined.add(id);
    this.nodeIds.push(id);
    await this.startNode(id);
  }

  async restart(id: string): Promise<void> {
    await this.startNode(id);
  }

  async status(): Promise<ClusterStatus> {
    return (await this.kv.status()) as unknown as ClusterStatus;
  }

  /** Every partition has a leader and every live node's replicas answer. */
  async waitHealthy(timeoutMs = 30_000, replicasExpected?: number): Promise<ClusterStatus> {
    const expected = replicasExpected ?? this.options.partitions * this.options.replicas;
    let last: ClusterStatus | undefined;
    await this.until(async () => {
      last = await this.status().catch(() => undefined);
      if (!last || last.partitions.length !== this.options.partitions) return false;
      const answered = last.partitions.reduce((sum, p) => sum + p.replicas.length, 0);
      return answered >= expected && last.partitions.every((p) => p.leader !== null);
    }, timeoutMs, 'a healthy cluster');
    return last!;
  }

  /** Polls `condition` until it holds; a condition that throws (e.g. a status call timing out) is retried. */
  async until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      try {
        if (await condition()) return;
      } catch (error) {
        lastError = error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const why = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
    throw new Error(`timed out waiting for ${what}${why}; last output:\n${this.recentOutput()}`);
  }

  recentOutput(): string {
    return [...this.nodes.values()].map((node) => node.output.slice(-15).map((line) => `${node.id}| ${line}`).join('\n')).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map(async (node) => {
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGTERM');
      const timer = setTimeout(() => node.child.kill('SIGKILL'), 10_000);
      await node.exited;
      clearTimeout(timer);
    }));
    await this.nc?.close().catch(() => undefined);
    await this.server?.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
