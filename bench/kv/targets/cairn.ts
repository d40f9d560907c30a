// Target "cairn": one nats-server and three supervisor processes (node dist/supervisor/cli.js
// supervisor ...), driven through KvClient over the public protocol. Or, with --nats URL, an already
// running cluster (nothing started, nothing stopped, no failover). Also kills and restarts one
// supervisor, for the failover measurement.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { KvClient } from '../../../bus/kvClient';
import { startNatsServer } from '../../../bus/natsServerProcess';
import type { NatsServerHandle } from '../../../bus/natsServerProcess';
import { SUPERVISOR_DEFAULTS } from '../../../supervisor/options';
import type { ClusterStatus, PartitionStatus } from '../../../supervisor/statusTypes';
import { onCleanup } from '../lifecycle';
import { errorMessage, sleep } from '../workload';
import type { KvTarget, KvWorker } from '../workload';

/** dist/bench/kv/targets -> dist/supervisor/cli.js */
export const SUPERVISOR_CLI = resolve(__dirname, '../../../supervisor/cli.js');
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_LINES = 25;

export interface CairnOptions {
  connections: number;
  value: string;
  /** An already running cluster's NATS URL; undefined to start one. */
  natsUrl?: string;
  prefix: string;
  nodes: number;
  partitions: number;
  replicas: number;
  /** How long the cluster may take to elect every partition's leader. */
  readyTimeoutMs: number;
  /** Deadline of each call in milliseconds. */
  timeoutMs: number;
  /** A cluster-aware client (keys hashed by the client, straight to the leaders) instead of the routers. */
  direct?: boolean;
  /** More flags for every supervisor the bench starts (e.g. --node-down-after 10000). */
  supervisorArgs?: string[];
}

/** One supervisor child process; restartable with the same flags. */
class SupervisorProcess {
  child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Set when the process exits without being asked to (kill or stop). */
  unexpectedExit: string | undefined;
  private expectingExit = false;

  constructor(
    readonly nodeId: string,
    readonly args: string[],
    readonly logPath: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const log = openSync(this.logPath, 'a');
    try {
      const child = spawn(process.execPath, [SUPERVISOR_CLI, ...this.args], { stdio: ['ignore', log, log] });
      this.child = child;
      this.expectingExit = false;
      this.unexpectedExit = undefined;
      trackChild(child);
      this.exited = new Promise<void>((done) => {
        child.once('exit', (code, signal) => {
          if (!this.expectingExit) this.unexpectedExit = `exited with code ${code}, signal ${signal}`;
          done();
        });
        child.once('error', (error) => {
          this.unexpectedExit = `cannot spawn: ${error.message}`;
          done();
        });
      });
    } finally {
      closeSync(log);
    }
  }

  /** kill -9; resolves once the process is gone. */
  async kill(): Promise<void> {
    this.expectingExit = true;
    if (this.running) this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.expectingExit = true;
    if (!this.running) return;
    this.child!.kill('SIGTERM');
    const grace = setTimeout(() => this.child?.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(grace);
  }

  logTail(): string {
    try {
      const lines = readFileSync(this.logPath, 'utf8').split('\n');
      return lines.slice(-LOG_TAIL_LINES).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

// Supervisors die with the benchmark, however it ends.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const live of liveChildren) {
      try {
        live.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** The cluster the bench started (or attached to), with a client for status. */
export class CairnCluster {
  private constructor(
    readonly natsUrl: string,
    private readonly nats: NatsServerHandle | undefined,
    readonly supervisors: SupervisorProcess[],
    private readonly workDir: string | undefined,
    readonly options: CairnOptions,
  ) {}

  get managed(): boolean {
    return this.nats !== undefined;
  }

  get dataDir(): string | undefined {
    return this.workDir === undefined ? undefined : join(this.workDir, 'data');
  }

  static async start(options: CairnOptions): Promise<CairnCluster> {
    if (options.natsUrl !== undefined) return new CairnCluster(options.natsUrl, undefined, [], undefined, options);
    if (!existsSync(SUPERVISOR_CLI)) {
      throw new Error(
        `cairn: ${SUPERVISOR_CLI} does not exist: the supervisor is not built (or not written) yet. ` +
          'Run `npm run build`, or point --nats at a running cairn cluster.',
      );
    }
    const nats = await startNatsServer();
    const workDir = mkdtempSync(join(tmpdir(), 'cairn-bench-'));
    const dataDir = join(workDir, 'data');
    mkdirSync(dataDir);
    const nodeIds = Array.from({ length: options.nodes }, (_unused, index) => `n${index + 1}`);
    const supervisors = nodeIds.map(
      (nodeId) =>
        new SupervisorProcess(
          nodeId,
          [
            'supervisor',
            '--node-id', nodeId,
            '--nats', nats.url,
            '--data', dataDir,
            '--initial-cluster', nodeIds.join(','),
            '--partitions', String(options.partitions),
            '--replicas', String(options.replicas),
            // Only when not the default, so the command line stays the documented one.
            ...(options.prefix === SUPERVISOR_DEFAULTS.prefix ? [] : ['--prefix', options.prefix]),
            ...(options.supervisorArgs ?? []),
          ],
          join(workDir, `${nodeId}.log`),
        ),
    );
    const cluster = new CairnCluster(nats.url, nats, supervisors, workDir, options);
    for (const supervisor of supervisors) supervisor.start();
    return cluster;
  }

  supervisor(nodeId: string): SupervisorProcess {
    const supervisor = this.supervisors.find((candidate) => candidate.nodeId === nodeId);
    if (supervisor === undefined) throw new Error(`cairn: no supervisor process for node ${JSON.stringify(nodeId)} (status names a node the bench did not start)`);
    return supervisor;
  }

  /** Throws with the log tail if a supervisor died on its own. */
  checkAlive(): void {
    for (const supervisor of this.supervisors) {
      if (supervisor.unexpectedExit !== undefined) {
        throw new Error(`cairn: supervisor ${supervisor.nodeId} ${supervisor.unexpectedExit}; last lines of ${supervisor.logPath}:\n${supervisor.logTail()}`);
      }
    }
  }

  logTails(): string {
    return this.supervisors.map((supervisor) => `--- ${supervisor.logPath}\n${supervisor.logTail()}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.supervisors.map((supervisor) => supervisor.stop()));
    await this.nats?.stop();
    if (this.workDir !== undefined) rmSync(this.workDir, { recursive: true, force: true });
  }
}

export type Health = 'leaders' | 'full';

/**
 * Polls cluster status until `health` holds: 'leaders' = every partition has a leader; 'full' = also
 * no missing replicas, every replica of every node running and followers caught up.
 */
export async function waitForCluster(cluster: CairnCluster, client: KvClient, health: Health, timeoutMs: number): Promise<ClusterStatus> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no status reply yet';
  while (Date.now() < deadline) {
    cluster.checkAlive();
    try {
      const status = (await client.status({ timeoutMs: 1000 })) as unknown as ClusterStatus;
      const problem = healthProblem(status, cluster.options, health, cluster.managed);
      if (problem === undefined) return status;
      last = problem;
    } catch (error) {
      last = errorMessage(error);
    }
    await sleep(100);
  }
  throw new Error(
    `cairn: cluster not ${health === 'leaders' ? 'up (every partition with a leader)' : 'healthy'} within ${timeoutMs} ms: ${last}` +
      (cluster.managed ? `\n${cluster.logTails()}` : ''),
  );
}

/** Undefined when healthy, else what is wrong (for the timeout message). */
export function healthProblem(status: ClusterStatus, options: CairnOptions, health: Health, managed: boolean): string | undefined {
  if (!Array.isArray(status?.partitions)) return `status has no partitions: ${JSON.stringify(status).slice(0, 300)}`;
  if (status.partitions.length === 0) return 'status lists no partitions';
  if (managed && status.partitions.length !== options.partitions) return `status lists ${status.partitions.length} of ${options.partitions} partitions`;
  const leaderless = status.partitions.filter((partition) => partition.leader === null).map((partition) => partition.id);
  if (leaderless.length > 0) return `partitions without a leader: ${leaderless.join(', ')}`;
  if (health === 'leaders') return undefined;
  if ((status.missing ?? []).length > 0) return `missing replicas: ${status.missing.join(', ')}`;
  if (managed && (status.nodes ?? []).length !== options.nodes) return `status lists ${(status.nodes ?? []).length} of ${options.nodes} nodes`;
  for (const partition of status.partitions) {
    const problem = partitionProblem(partition, options.replicas);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

const CAUGHT_UP_ENTRIES = 64;

function partitionProblem(partition: PartitionStatus, replicas: number): string | undefined {
  const members = partition.replicas ?? [];
  if (members.length < replicas) return `partition ${partition.id}: ${members.length} of ${replicas} replicas report`;
  const stopped = members.filter((replica) => replica.role === 'stopped');
  if (stopped.length > 0) return `partition ${partition.id}: replica(s) on ${stopped.map((replica) => replica.node).join(', ')} stopped`;
  const leader = members.find((replica) => replica.role === 'leader');
  if (leader === undefined) return undefined;
  for (const [follower, lag] of Object.entries(leader.followerLag ?? {})) {
    if (lag > CAUGHT_UP_ENTRIES) return `partition ${partition.id}: follower ${follower} is ${lag} entries behind`;
  }
  const behind = members.filter((replica) => leader.commit - replica.applied > CAUGHT_UP_ENTRIES);
  if (behind.length > 0) return `partition ${partition.id}: replica(s) on ${behind.map((replica) => replica.node).join(', ')} have not applied up to the commit`;
  return undefined;
}

export class CairnTarget implements KvTarget {
  readonly name = 'cairn';
  readonly readConsistency = 'linearizable (KvClient.get default: ReadIndex on the partition leader)';
  readonly writeDurability = 'acknowledged once committed by a majority (2 of 3) of the partition replicas, each fsynced to LMDB';
  readonly workers: KvWorker[];

  private constructor(
    readonly cluster: CairnCluster,
    connections: NatsConnection[],
    /** A client on its own connection for status and failover (not shared with the workload). */
    readonly control: KvClient,
    private readonly closeOnce: () => Promise<void>,
  ) {
    const value = cluster.options.value;
    const timeoutMs = cluster.options.timeoutMs;
    const partitions = cluster.options.direct ? cluster.options.partitions : undefined;
    this.workers = connections.slice(1).map((nc) => {
      const client = new KvClient(nc, { prefix: cluster.options.prefix, timeoutMs, partitions });
      return { put: (key: string) => client.put(key, value), get: (key: string) => client.get(key) };
    });
  }

  /** Starts (or attaches to) the cluster and waits until every partition has a leader. */
  static async start(options: CairnOptions): Promise<CairnTarget> {
    const cluster = await CairnCluster.start(options);
    const connections: NatsConnection[] = [];
    const closeOnce = onCleanup('cairn cluster', async () => {
      await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
      await cluster.stop();
    });
    try {
      // Connection 0 is the control connection; 1..n carry the workload.
      for (let index = 0; index <= options.connections; index++) {
        connections.push(await connect({ servers: cluster.natsUrl, name: `cairn-bench-${index}`, timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 100, noAsyncTraces: true }));
      }
      const control = new KvClient(connections[0]!, { prefix: options.prefix, timeoutMs: options.timeoutMs });
      await waitForCluster(cluster, control, 'leaders', options.readyTimeoutMs);
      return new CairnTarget(cluster, connections, control, closeOnce);
    } catch (error) {
      await closeOnce();
      throw error;
    }
  }

  describe(): Record<string, unknown> {
    const options = this.cluster.options;
    return {
      natsUrl: this.cluster.natsUrl,
      started: this.cluster.managed,
      nodes: this.cluster.managed ? options.nodes : 'external',
      partitions: options.partitions,
      replicas: options.replicas,
      routing: options.direct ? 'direct (cluster-aware client)' : 'router',
      prefix: options.prefix,
      connections: this.workers.length,
      dataDir: this.cluster.dataDir,
    };
  }

  close(): Promise<void> {
    return this.closeOnce();
  }
}

/** Copies every supervisor's log (stdout and stderr) to `directory` before the data directory goes. */
export function keepSupervisorLogs(target: CairnTarget, log: (line: string) => void, directory: string): void {
  mkdirSync(directory, { recursive: true });
  for (const supervisor of target.cluster.supervisors) {
    try {
      copyFileSync(supervisor.logPath, join(directory, basename(supervisor.logPath)));
    } catch (error) {
      log(`cannot keep ${supervisor.logPath}: ${(error as Error).message ?? String(error)}`);
    }
  }
  log(`supervisor logs copied to ${directory}`);
}
