// Starts real nats-server processes: for tests (re-exported by test/support/natsServer.ts), for
// `cairn up` and for the benchmark. A server is "started" when it says so in its log ("Server is
// ready"), and a JetStream cluster when it can create a replicated KV bucket: both are observed, never
// guessed with a fixed sleep.
//
// Children are killed when this process exits, so a crashed test run leaves no servers behind.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect } from 'nats';
import { REPLY_BYTES_MAX } from './protocol';

export type NatsServerErrorCode = 'BINARY_NOT_FOUND' | 'START_FAILED' | 'START_TIMEOUT' | 'JETSTREAM_NOT_READY' | 'BAD_OPTIONS';

export class NatsServerError extends Error {
  override readonly name = 'NatsServerError';
  constructor(
    readonly code: NatsServerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface NatsServerOptions {
  /** Enable JetStream (`-js`), storing under `storeDir`. */
  jetstream?: boolean;
  /** JetStream store directory; default a fresh temporary directory, removed by stop(). */
  storeDir?: string;
  /** Client port; default a free port (and a retry on a bind race). */
  port?: number;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Server name (`-n`); must be unique within a cluster. Default `cairn-<port>`. */
  serverName?: string;
  /**
   * Largest message payload in bytes; default 8 MiB so that every request and reply of the public
   * protocol fits (nats-server's own default of 1 MiB cannot carry a 1 MiB value plus JSON).
   */
  maxPayloadBytes?: number;
  /** Join a cluster: listen for routes on `port`, solicit `routes` (nats-route://host:port URLs). */
  cluster?: { name: string; port: number; routes: string[] };
  /** Path of the nats-server binary; default $CAIRN_NATS_SERVER, then PATH, then /usr/sbin. */
  binaryPath?: string;
  /** How long to wait for "Server is ready", in milliseconds; default 15000. */
  startTimeoutMs?: number;
}

export interface NatsServerHandle {
  /** nats://host:port for clients. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly serverName: string;
  /** The JetStream store directory, when JetStream is on. */
  readonly storeDir?: string;
  /** The last lines the server logged (bounded), for error messages. */
  logTail(): string[];
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. Removes a temporary store dir. */
  stop(): Promise<void>;
  /** SIGKILL: a crash, for tests. Keeps the store directory. */
  kill(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Enable JetStream on every server, each with its own temporary store directory. */
  jetstream?: boolean;
  /** Cluster name; default `cairn-test`. */
  name?: string;
  maxPayloadBytes?: number;
  binaryPath?: string;
  /** How long to wait for servers and JetStream to be ready, in milliseconds; default 30000. */
  readyTimeoutMs?: number;
}

export interface NatsClusterHandle {
  readonly servers: NatsServerHandle[];
  /** Client URLs of every server, for `connect({servers})`. */
  readonly urls: string[];
  stop(): Promise<void>;
}

const DEFAULT_MAX_PAYLOAD_BYTES = Math.max(8 * 1024 * 1024, REPLY_BYTES_MAX);
const DEFAULT_START_TIMEOUT_MS = 15_000;
const DEFAULT_CLUSTER_READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const LOG_TAIL_LINES = 60;
const PORT_RACE_ATTEMPTS = 5;
const FALLBACK_BINARIES = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server', '/usr/bin/nats-server'];

/** Finds the nats-server binary or throws BINARY_NOT_FOUND with what was tried. */
export function findNatsServerBinary(explicitPath?: string): string {
  const candidates: string[] = [];
  if (explicitPath !== undefined) candidates.push(explicitPath);
  else {
    if (process.env.CAIRN_NATS_SERVER) candidates.push(process.env.CAIRN_NATS_SERVER);
    for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir !== '') candidates.push(join(dir, 'nats-server'));
    candidates.push(...FALLBACK_BINARIES);
  }
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new NatsServerError(
    'BINARY_NOT_FOUND',
    `nats-server not found (tried ${explicitPath ?? 'CAIRN_NATS_SERVER, PATH and /usr/sbin'}); install nats-server v2.9+ ` +
      'or set CAIRN_NATS_SERVER to its path',
  );
}

/** Returns `count` distinct ports that were free a moment ago (held together so they differ). */
export async function findFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

/** Starts one nats-server and resolves once it accepts clients. Retries bind races on free ports. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = findNatsServerBinary(options.binaryPath);
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await findFreePorts(1, options.host))[0]!;
    try {
      return await launch(binary, { ...options, port });
    } catch (error) {
      const race = error instanceof NatsServerError && error.code === 'START_FAILED' && /address already in use/i.test(error.message);
      if (!race || options.port !== undefined || attempt >= PORT_RACE_ATTEMPTS) throw error;
    }
  }
}

/**
 * Starts a cluster of `size` servers routed to each other. With JetStream, resolves only when every
 * server answers JetStream API calls and a KV bucket with `size` replicas can be created.
 */
export async function startNatsCluster(size: number, options: NatsClusterOptions = {}): Promise<NatsClusterHandle> {
  if (!Number.isInteger(size) || size < 1) throw new NatsServerError('BAD_OPTIONS', `cluster size must be a positive integer, got ${size}`);
  const deadline = Date.now() + (options.readyTimeoutMs ?? DEFAULT_CLUSTER_READY_TIMEOUT_MS);
  for (let attempt = 1; ; attempt++) {
    let servers: NatsServerHandle[];
    try {
      servers = await launchCluster(size, options, deadline);
    } catch (error) {
      const race = error instanceof NatsServerError && /address already in use/i.test(error.message);
      if (!race || attempt >= PORT_RACE_ATTEMPTS) throw error;
      continue;
    }
    const cluster = clusterHandle(servers);
    try {
      if (options.jetstream === true) await waitForJetStreamCluster(cluster.urls, size, deadline);
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }
}

async function launchCluster(size: number, options: NatsClusterOptions, deadline: number): Promise<NatsServerHandle[]> {
  const binary = findNatsServerBinary(options.binaryPath);
  const ports = await findFreePorts(2 * size);
  const clientPorts = ports.slice(0, size);
  const routePorts = ports.slice(size);
  const name = options.name ?? 'cairn-test';
  const started = await Promise.allSettled(
    clientPorts.map((port, i) =>
      launch(binary, {
        port,
        jetstream: options.jetstream,
        serverName: `${name}-${i + 1}`,
        maxPayloadBytes: options.maxPayloadBytes,
        startTimeoutMs: Math.max(1, deadline - Date.now()),
        cluster: {
          name,
          port: routePorts[i]!,
          routes: routePorts.filter((_, j) => j !== i).map((routePort) => `nats-route://127.0.0.1:${routePort}`),
        },
      }),
    ),
  );
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure !== undefined) {
    await Promise.all(servers.map((server) => server.stop()));
    throw failure.reason;
  }
  return servers;
}

function clusterHandle(servers: NatsServerHandle[]): NatsClusterHandle {
  return {
    servers,
    urls: servers.map((server) => server.url),
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}

/** Polls (with backoff) until each server answers JetStream and an R`size` KV bucket can be created. */
export async function waitForJetStreamCluster(urls: string[], size: number, deadline: number): Promise<void> {
  const bucket = `cairn_ready_${process.pid}_${Date.now().toString(36)}`;
  let lastError: unknown;
  for (let pauseMs = 25; Date.now() < deadline; pauseMs = Math.min(pauseMs * 2, 500)) {
    try {
      for (const url of urls) await checkJetStreamAnswers(url);
      await probeReplicatedBucket(urls, bucket, size);
      return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pauseMs, Math.max(0, deadline - Date.now()))));
  }
  throw new NatsServerError('JETSTREAM_NOT_READY', `JetStream cluster not ready: ${String(lastError)}`, { cause: lastError });
}

async function checkJetStreamAnswers(url: string): Promise<void> {
  const nc = await connect({ servers: url, reconnect: false, timeout: 2000 });
  try {
    const jsm = await nc.jetstreamManager({ timeout: 2000 });
    await jsm.getAccountInfo();
  } finally {
    await nc.close();
  }
}

async function probeReplicatedBucket(urls: string[], bucket: string, replicas: number): Promise<void> {
  const nc = await connect({ servers: urls, reconnect: false, timeout: 2000 });
  try {
    await nc.jetstream({ timeout: 5000 }).views.kv(bucket, { replicas });
    const jsm = await nc.jetstreamManager({ timeout: 5000 });
    await jsm.streams.delete(`KV_${bucket}`);
  } finally {
    await nc.close();
  }
}

/** Spawns one server with a concrete port and waits for its "Server is ready" line. */
async function launch(binary: string, options: NatsServerOptions & { port: number }): Promise<NatsServerHandle> {
  const host = options.host ?? '127.0.0.1';
  const serverName = options.serverName ?? `cairn-${options.port}`;
  const workDir = mkdtempSync(join(tmpdir(), 'cairn-nats-'));
  const storeDir = options.jetstream === true ? options.storeDir ?? join(workDir, 'store') : undefined;
  const args = serverArgs(options, host, serverName, workDir, storeDir);
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  trackChild(child);
  const log = new LogTail(LOG_TAIL_LINES);
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => log.push(chunk));
  try {
    await waitUntilReady(child, log, options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS, `${binary} ${args.join(' ')}`);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
  // Let the caller's process exit without stop(): the exit hook still kills the child.
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  return serverHandle(child, log, { url: `nats://${host}:${options.port}`, port: options.port, serverName, storeDir, workDir });
}

/** Ping every second, drop a client after 3 unanswered pings (see serverArgs). */
export const STALE_CLIENT_SETTINGS = 'ping_interval: "1s"\nping_max: 3\n';

function serverArgs(options: NatsServerOptions & { port: number }, host: string, serverName: string, workDir: string, storeDir?: string): string[] {
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1024 || maxPayloadBytes > 64 * 1024 * 1024) {
    throw new NatsServerError('BAD_OPTIONS', `maxPayloadBytes must be an integer in [1 KiB, 64 MiB], got ${maxPayloadBytes}`);
  }
  // max_payload and the ping settings have no command-line flags; everything else stays on the command
  // line, visible in `ps`. Pings: a client that stops answering (a paused or hung process) is cut off
  // after about 3 s instead of nats-server's default 4 min, so its queue-group subscriptions (a router's
  // share of cairn.kv.*) stop swallowing requests. Recommended for any server cairn runs on.
  const configPath = join(workDir, 'nats-server.conf');
  writeFileSync(configPath, `max_payload: ${maxPayloadBytes}\n${STALE_CLIENT_SETTINGS}`);
  const args = ['-c', configPath, '-a', host, '-p', String(options.port), '-n', serverName];
  if (storeDir !== undefined) args.push('-js', '-sd', storeDir);
  if (options.cluster !== undefined) {
    args.push('--cluster_name', options.cluster.name, '--cluster', `nats://${host}:${options.cluster.port}`);
    if (options.cluster.routes.length > 0) args.push('--routes', options.cluster.routes.join(','));
  }
  return args;
}

function waitUntilReady(child: ChildProcess, log: LogTail, timeoutMs: number, commandLine: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const finish = (error?: NatsServerError): void => {
      clearTimeout(timer);
      log.onLine = undefined;
      child.off('exit', onExit);
      child.off('error', onError);
      if (error === undefined) resolve();
      else reject(error);
    };
    const fail = (code: NatsServerErrorCode, why: string, cause?: unknown): void =>
      finish(new NatsServerError(code, `${commandLine}: ${why}\n${log.lines().join('\n')}`, { cause }));
    const onExit = (code: number | null, signal: string | null): void => fail('START_FAILED', `exited before ready (code ${code}, signal ${signal})`);
    const onError = (error: Error): void => fail('START_FAILED', `cannot spawn: ${error.message}`, error);
    const timer = setTimeout(() => fail('START_TIMEOUT', `not ready after ${timeoutMs} ms`), timeoutMs);
    child.on('exit', onExit);
    child.on('error', onError);
    log.onLine = (line) => {
      if (line.includes('Server is ready')) finish();
    };
  });
}

function serverHandle(
  child: ChildProcess,
  log: LogTail,
  info: { url: string; port: number; serverName: string; storeDir?: string; workDir: string },
): NatsServerHandle {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const terminate = async (signal: NodeJS.Signals, removeWorkDir: boolean): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(grace);
    if (removeWorkDir) rmSync(info.workDir, { recursive: true, force: true });
  };
  return {
    url: info.url,
    port: info.port,
    pid: child.pid!,
    serverName: info.serverName,
    storeDir: info.storeDir,
    logTail: () => log.lines(),
    stop: () => terminate('SIGTERM', true),
    kill: () => terminate('SIGKILL', false),
  };
}

/** Keeps the last `capacity` complete log lines, and reports each line as it completes. */
class LogTail {
  onLine: ((line: string) => void) | undefined;
  private readonly tail: string[] = [];
  private partial = '';

  constructor(private readonly capacity: number) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      this.tail.push(line);
      if (this.tail.length > this.capacity) this.tail.shift();
      this.onLine?.(line);
    }
  }

  lines(): string[] {
    return [...this.tail];
  }
}

const liveChildren = new Set<ChildProcess>();
let exitHooksInstalled = false;

function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      // Only when nobody else handles the signal, i.e. when the process was about to die anyway:
      // then kill the servers and re-raise so the exit status stays "killed by signal". A process
      // with its own handler (e.g. `cairn up` shutting down gracefully) is left alone.
      if (process.listenerCount(signal) > 1) return;
      killAllChildren();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

function killAllChildren(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
