// Target "nats-kv": a 3-server NATS cluster with JetStream, one KV bucket with 3 replicas, driven
// through nats.js (kv.put / kv.get). Also knows how to kill -9 the bucket's stream leader and restart
// it with the same name, ports, routes and store, for the failover measurement.

import { readFileSync } from 'node:fs';
import { connect } from 'nats';
import type { JetStreamManager, KV, NatsConnection } from 'nats';
import { startNatsCluster, startNatsServer } from '../../../bus/natsServerProcess';
import type { NatsServerHandle } from '../../../bus/natsServerProcess';
import { onCleanup } from '../lifecycle';
import { sleep } from '../workload';
import type { KvTarget, KvWorker } from '../workload';

export const BUCKET = 'bench';
export const STREAM = `KV_${BUCKET}`;
const CLUSTER_NAME = 'cairn-bench';
const CLUSTER_SIZE = 3;

export interface NatsKvOptions {
  connections: number;
  value: string;
  /**
   * nats.js default on a 2.9+ server: direct gets ($JS.API.DIRECT.GET), answered by any replica of
   * the stream. false: STREAM.MSG.GET, answered by the stream leader.
   */
  allowDirect: boolean;
  /** Deadline of each KV call in milliseconds. */
  timeoutMs: number;
}

/**
 * The servers of the cluster, restartable one at a time. A restarted server keeps its name, client
 * port, route port, routes and store directory.
 */
export class NatsKvCluster {
  private readonly current: NatsServerHandle[];
  /** Handles of killed servers: stopped last, since stop() removes the work dir holding the store. */
  private readonly retired: NatsServerHandle[] = [];
  private readonly commandLines = new Map<string, string[]>();

  private constructor(servers: NatsServerHandle[]) {
    this.current = [...servers];
    for (const server of servers) this.commandLines.set(server.serverName, readCommandLine(server.pid));
  }

  static async start(): Promise<NatsKvCluster> {
    const cluster = await startNatsCluster(CLUSTER_SIZE, { jetstream: true, name: CLUSTER_NAME });
    try {
      return new NatsKvCluster(cluster.servers);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  get urls(): string[] {
    return this.current.map((server) => server.url);
  }

  get servers(): readonly NatsServerHandle[] {
    return this.current;
  }

  serverNamed(name: string): NatsServerHandle {
    const server = this.current.find((candidate) => candidate.serverName === name);
    if (server === undefined) throw new Error(`no running server named ${name} (have ${this.current.map((s) => s.serverName).join(', ')})`);
    return server;
  }

  /** kill -9; resolves once the process is gone. */
  async kill(name: string): Promise<void> {
    await this.serverNamed(name).kill();
  }

  /** Starts a killed server again with its original flags and store. */
  async restart(name: string): Promise<void> {
    const old = this.serverNamed(name);
    const args = this.commandLines.get(name)!;
    const clusterPort = Number(new URL(flagValue(args, '--cluster').replace(/^nats:/, 'http:')).port);
    const routes = flagValue(args, '--routes').split(',');
    const server = await startNatsServer({
      port: old.port,
      serverName: name,
      jetstream: true,
      storeDir: old.storeDir,
      cluster: { name: flagValue(args, '--cluster_name'), port: clusterPort, routes },
    });
    this.current[this.current.indexOf(old)] = server;
    this.retired.push(old);
  }

  async stop(): Promise<void> {
    await Promise.all(this.current.map((server) => server.stop()));
    await Promise.all(this.retired.map((server) => server.stop()));
  }
}

/** The process's argv (Linux /proc), so a killed server can be started again identically. */
function readCommandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
  } catch (error) {
    throw new Error(`cannot read /proc/${pid}/cmdline (the nats-kv failover restart needs Linux /proc): ${String(error)}`);
  }
}

function flagValue(args: string[], flag: string): string {
  const index = args.indexOf(flag);
  if (index < 0 || index + 1 >= args.length) throw new Error(`nats-server command line has no ${flag}: ${args.join(' ')}`);
  return args[index + 1]!;
}

export class NatsKvTarget implements KvTarget {
  readonly name = 'nats-kv';
  readonly readConsistency: string;
  readonly writeDurability =
    'acknowledged once stored by a majority (2 of 3) of the stream replicas; not fsynced before the ack (JetStream sync_interval default 2 min)';
  readonly workers: KvWorker[];

  private constructor(
    readonly cluster: NatsKvCluster,
    private readonly connections: NatsConnection[],
    readonly jsm: JetStreamManager,
    private readonly options: NatsKvOptions,
    buckets: KV[],
    private readonly serverVersion: string,
    private readonly closeOnce: () => Promise<void>,
  ) {
    this.readConsistency = options.allowDirect
      ? 'kv.get with allow_direct (nats.js default): $JS.API.DIRECT.GET answered by any replica; may be stale, not linearizable'
      : 'kv.get without allow_direct: STREAM.MSG.GET answered by the stream leader (no read barrier: a deposed leader may answer briefly)';
    const value = options.value;
    this.workers = buckets.map((kv) => ({
      put: (key: string) => kv.put(key, value),
      get: (key: string) => kv.get(key),
    }));
  }

  /** Starts the cluster, creates the bucket and opens the connections; close() undoes it all. */
  static async start(options: NatsKvOptions): Promise<NatsKvTarget> {
    const cluster = await NatsKvCluster.start();
    const connections: NatsConnection[] = [];
    // Runs on close(), on a failed start, or on Ctrl-C, whichever comes first.
    const closeOnce = onCleanup('nats-kv cluster', async () => {
      await closeAll(connections);
      await cluster.stop();
    });
    try {
      for (let index = 0; index < options.connections; index++) {
        connections.push(await connect({ servers: cluster.urls, name: `cairn-bench-${index}`, timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true }));
      }
      const first = connections[0]!;
      const kvOptions = { replicas: CLUSTER_SIZE, history: 1, allow_direct: options.allowDirect, timeout: options.timeoutMs };
      const buckets: KV[] = [await first.jetstream({ timeout: options.timeoutMs }).views.kv(BUCKET, kvOptions)];
      for (const nc of connections.slice(1)) {
        buckets.push(await nc.jetstream({ timeout: options.timeoutMs }).views.kv(BUCKET, { ...kvOptions, bindOnly: true }));
      }
      const jsm = await first.jetstreamManager({ timeout: 5000 });
      return new NatsKvTarget(cluster, connections, jsm, options, buckets, first.info?.version ?? 'unknown', closeOnce);
    } catch (error) {
      await closeOnce();
      throw error;
    }
  }

  describe(): Record<string, unknown> {
    return {
      servers: this.cluster.servers.map((server) => ({ name: server.serverName, url: server.url })),
      natsServerVersion: this.serverVersion,
      bucket: BUCKET,
      replicas: CLUSTER_SIZE,
      allowDirect: this.options.allowDirect,
      connections: this.connections.length,
    };
  }

  /** Closes the connections and stops every server. */
  close(): Promise<void> {
    return this.closeOnce();
  }

  /** The server name of the bucket stream's Raft leader, or undefined while it has none. */
  async streamLeader(): Promise<string | undefined> {
    const info = await this.jsm.streams.info(STREAM);
    return info.cluster?.leader;
  }

  /** Waits until the stream has a leader and every other replica is current and online. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      try {
        const info = await this.jsm.streams.info(STREAM);
        const peers = info.cluster?.replicas ?? [];
        const healthy =
          info.cluster?.leader !== undefined && peers.length === CLUSTER_SIZE - 1 && peers.every((peer) => peer.current && !peer.offline);
        if (healthy) return;
        last = JSON.stringify(info.cluster);
      } catch (error) {
        last = String(error);
      }
      await sleep(100);
    }
    throw new Error(`nats-kv: stream ${STREAM} not healthy within ${timeoutMs} ms: ${last}`);
  }
}

async function closeAll(connections: NatsConnection[]): Promise<void> {
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
}
