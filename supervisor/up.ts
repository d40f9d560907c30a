// `cairn up`: a whole cluster on one machine, for trying cairn out and for end-to-end tests. Starts a
// nats-server (unless --nats is given), N supervisor processes, waits until every partition has a
// leader (observed through cairn.cluster.status, never a fixed sleep), prints where everything is,
// and on SIGINT/SIGTERM stops the supervisors (SIGTERM, SIGKILL after a grace period) and the
// nats-server. It does not restart a supervisor that dies (each supervisor restarts its own workers);
// it says so and keeps the others running.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { KvClient } from '../bus/kvClient';
import { findFreePorts, NatsServerError, startNatsServer } from '../bus/natsServerProcess';
import { EXIT_ERROR, EXIT_OK } from './args';
import type { UpOptions } from './args';
import { isClusterStatus } from './clientCommands';
import type { Output } from './clientCommands';

/** How long a supervisor gets between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 10_000;
const POLL_INTERVAL_MS = 250;
const PROGRESS_INTERVAL_MS = 3000;

interface Nats {
  url: string;
  /** undefined when the server was given with --nats (not ours to stop). */
  pid?: number;
  stop(): Promise<void>;
}

interface SupervisorChild {
  nodeId: string;
  httpPort?: number;
  child: ChildProcess;
  /** Resolves when the process has exited (and its output has been relayed). */
  exited: Promise<void>;
}

type Outcome = { kind: 'ready' } | { kind: 'failed'; message: string } | { kind: 'signal'; signal: NodeJS.Signals };

export async function runUp(options: UpOptions, output: Output): Promise<number> {
  const signals = signalWaiter();
  process.on('exit', killLiveChildren);
  const say = (line: string): void => output.stdout(`cairn up: ${line}\n`);
  let nats: Nats | undefined;
  const children: SupervisorChild[] = [];
  const shutdown = { started: false };
  let code = EXIT_OK;
  try {
    nats = await startOrUseNats(options, say);
    const httpPorts = await httpPortsOf(options);
    for (let i = 1; i <= options.nodes; i++) children.push(spawnSupervisor(options, nats.url, i, httpPorts[i - 1], output, shutdown));
    const waiting = { cancelled: false };
    const outcome = await Promise.race([waitForLeaders(options, nats.url, children, say, waiting), signals.next]);
    waiting.cancelled = true;
    if (outcome.kind === 'failed') {
      output.stderr(`cairn up: ${outcome.message}\n`);
      code = EXIT_ERROR;
    } else if (outcome.kind === 'ready') {
      printReady(options, nats, children, output);
      const signal = await signals.next;
      say(`${signal.kind === 'signal' ? signal.signal : 'signal'}: stopping`);
    } else {
      say(`${outcome.signal}: stopping before the cluster was ready`);
    }
  } catch (error) {
    output.stderr(`cairn up: ${describeStartError(error)}\n`);
    code = EXIT_ERROR;
  } finally {
    shutdown.started = true;
    signals.onSecond(() => children.forEach(({ child }) => child.kill('SIGKILL')));
    await stopAll(children, say);
    await nats?.stop();
    signals.dispose();
    process.off('exit', killLiveChildren);
    say('stopped');
  }
  return code;
}

async function startOrUseNats(options: UpOptions, say: (line: string) => void): Promise<Nats> {
  if (options.natsUrl !== undefined) {
    say(`using NATS at ${options.natsUrl}`);
    return { url: options.natsUrl, stop: async () => undefined };
  }
  const server = await startNatsServer();
  say(`started nats-server at ${server.url} (pid ${server.pid})`);
  return { url: server.url, pid: server.pid, stop: () => server.stop() };
}

async function httpPortsOf(options: UpOptions): Promise<number[]> {
  if (options.httpPort !== 0) return Array.from({ length: options.nodes }, (_, i) => options.httpPort + i);
  // Free a moment ago; a supervisor that loses the race fails loudly and `up` reports it.
  return findFreePorts(options.nodes, options.httpHost);
}

function spawnSupervisor(
  options: UpOptions,
  natsUrl: string,
  index: number,
  httpPort: number | undefined,
  output: Output,
  shutdown: { started: boolean },
): SupervisorChild {
  const nodeId = `n${index}`;
  const initialCluster = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`).join(',');
  const args = [
    join(__dirname, 'cli.js'),
    'supervisor',
    ...['--node-id', nodeId, '--nats', natsUrl, '--data', options.dataDir, '--initial-cluster', initialCluster],
    ...['--partitions', String(options.partitions), '--replicas', String(options.replicas), '--prefix', options.prefix],
    ...['--tick-ms', String(options.tickMs), '--http-host', options.httpHost],
    ...(httpPort === undefined ? [] : ['--http', String(httpPort)]),
  ];
  // Its own process group: a terminal's Ctrl-C reaches only `up`, which then stops each supervisor
  // with one SIGTERM (a second signal would make a supervisor exit without its clean stop).
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  liveChildren.add(child);
  const relayed = [relayLines(child.stdout!, `[${nodeId}] `, output.stdout), relayLines(child.stderr!, `[${nodeId}] `, output.stderr)];
  const exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      output.stderr(`cairn up: cannot start ${nodeId}: ${error.message}\n`);
      liveChildren.delete(child);
      resolve();
    });
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      void Promise.all(relayed).then(() => {
        const outcome = `supervisor ${nodeId} (pid ${child.pid}) exited (code ${code}, signal ${signal})`;
        if (shutdown.started) output.stdout(`cairn up: ${outcome}\n`);
        else output.stderr(`cairn up: ${outcome}; it is not restarted (the other nodes keep running)\n`);
        resolve();
      });
    });
  });
  output.stdout(`cairn up: started supervisor ${nodeId} (pid ${child.pid}${httpPort === undefined ? '' : `, http ${httpPort}`})\n`);
  return { nodeId, httpPort, child, exited };
}

function relayLines(stream: NodeJS.ReadableStream, prefix: string, write: (text: string) => void): Promise<void> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  // The supervisor may already tag its lines with its node id; do not tag them twice.
  lines.on('line', (line) => write((line.startsWith(prefix) ? '' : prefix) + line + '\n'));
  return new Promise((resolve) => lines.once('close', resolve));
}

/** Polls cairn.cluster.status until every partition has a leader, the deadline, or every child died. */
async function waitForLeaders(
  options: UpOptions,
  natsUrl: string,
  children: SupervisorChild[],
  say: (line: string) => void,
  waiting: { cancelled: boolean },
): Promise<Outcome> {
  const deadline = Date.now() + options.readyTimeoutMs;
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: natsUrl.split(','), name: 'cairn-up', timeout: Math.min(10_000, options.readyTimeoutMs) });
  } catch (error) {
    return { kind: 'failed', message: `cannot connect to NATS at ${natsUrl}: ${(error as Error).message}` };
  }
  try {
    const kv = new KvClient(nc, { prefix: options.prefix, timeoutMs: 2000 });
    let lastReport = '';
    let lastReportAtMs = 0;
    while (Date.now() < deadline && !waiting.cancelled) {
      if (children.every(({ child }) => child.exitCode !== null || child.signalCode !== null)) {
        return { kind: 'failed', message: 'every supervisor exited before the cluster was ready' };
      }
      const progress = await leaderProgress(kv, options.partitions);
      if (progress.ready) return { kind: 'ready' };
      if (waiting.cancelled) break;
      if (progress.text !== lastReport || Date.now() - lastReportAtMs >= PROGRESS_INTERVAL_MS) {
        say(`waiting for the cluster: ${progress.text}`);
        lastReport = progress.text;
        lastReportAtMs = Date.now();
      }
      await sleep(Math.min(POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())));
    }
    return { kind: 'failed', message: `not every partition had a leader after ${options.readyTimeoutMs} ms (--ready-timeout)` };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function leaderProgress(kv: KvClient, partitions: number): Promise<{ ready: boolean; text: string }> {
  let status: unknown;
  try {
    status = await kv.status();
  } catch (error) {
    return { ready: false, text: `status not answered yet (${(error as Error).message})` };
  }
  if (!isClusterStatus(status)) return { ready: false, text: 'status reply of an unknown shape' };
  const led = status.partitions.filter((partition) => partition.leader !== null).length;
  return { ready: status.partitions.length >= partitions && led >= partitions, text: `${led}/${partitions} partitions have a leader` };
}

function printReady(options: UpOptions, nats: Nats, children: SupervisorChild[], output: Output): void {
  // A wildcard bind address is not where a browser should go; show the loopback address instead.
  const reachable = options.httpHost === '0.0.0.0' ? '127.0.0.1' : options.httpHost === '::' ? '::1' : options.httpHost;
  const host = reachable.includes(':') ? `[${reachable}]` : reachable;
  const httpUrls = children.filter((child) => child.httpPort !== undefined).map((child) => `http://${host}:${child.httpPort}`);
  const pids = children.map((child) => `${child.nodeId}=${child.child.pid}`).join(',');
  // One machine-readable line first (tests and scripts wait for it), then the human summary.
  output.stdout(`cairn up: ready nats=${nats.url} http=${httpUrls.join(',')} pids=${pids}${nats.pid === undefined ? '' : ` nats-pid=${nats.pid}`}\n`);
  const lines = [
    '',
    `  cairn is up: ${options.nodes} node(s), ${options.partitions} partition(s), ${options.replicas} replica(s) each`,
    `  NATS:       ${nats.url}`,
    ...children.map((child) => `  ${child.nodeId}:         ${child.httpPort === undefined ? '(no HTTP)' : `http://${host}:${child.httpPort}`}  pid ${child.child.pid}`),
    ...(httpUrls.length > 0 ? [`  dashboard:  ${httpUrls[0]}/`] : []),
    `  data:       ${options.dataDir}`,
    '',
    '  try:',
    `    cairn put a 1 --nats ${nats.url}`,
    `    cairn get a --nats ${nats.url}`,
    `    cairn status --nats ${nats.url}`,
    ...(httpUrls.length > 0 ? [`    curl -X PUT --data-binary 1 ${httpUrls[0]}/v1/kv/a`] : []),
    '',
    '  Ctrl-C stops everything.',
    '',
  ];
  output.stdout(lines.join('\n'));
}

async function stopAll(children: SupervisorChild[], say: (line: string) => void): Promise<void> {
  const running = children.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  if (running.length > 0) say(`stopping ${running.length} supervisor(s)`);
  await Promise.all(
    children.map(async ({ child, exited }) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(grace);
    }),
  );
}

function describeStartError(error: unknown): string {
  if (error instanceof NatsServerError && error.code === 'BINARY_NOT_FOUND') {
    return [
      error.message,
      'Install nats-server, then run cairn up again:',
      '  Debian/Ubuntu:  apt-get install nats-server',
      '  macOS:          brew install nats-server',
      '  any system:     a release from https://github.com/nats-io/nats-server/releases',
      'or point cairn up at a running server with --nats nats://HOST:PORT.',
    ].join('\n');
  }
  return error instanceof Error ? error.message : String(error);
}

/** The first SIGINT/SIGTERM resolves `next`; a second one calls the `onSecond` callback (force). */
function signalWaiter(): { next: Promise<Outcome>; onSecond(callback: () => void): void; dispose(): void } {
  let received = 0;
  let force: () => void = () => undefined;
  let resolveNext: (outcome: Outcome) => void = () => undefined;
  const next = new Promise<Outcome>((resolve) => (resolveNext = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    received++;
    if (received === 1) resolveNext({ kind: 'signal', signal });
    else force();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    next,
    onSecond: (callback) => {
      force = callback;
    },
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

// If `up` itself dies without its shutdown path (an uncaught error), take the supervisors with it.
const liveChildren = new Set<ChildProcess>();

function killLiveChildren(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
