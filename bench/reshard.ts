// Resharding under load: how long `cairn partitions create` and `cairn partitions delete P` take, phase
// by phase, and what clients see meanwhile.
//
//   npm run bench:reshard -- --keys 10000 [--concurrency 16] [--delete on|off] ...
//
// Starts its own nats-server (free port) and a cairn cluster (3 supervisor processes, 4 partitions, 3
// replicas), loads N keys (100-byte values) through the cluster-aware client, then starts a closed-loop
// load: 16 loops of put/get 50/50 on those keys through the routers (KvClient without `partitions`),
// each loop owning its own keys so that every get can be checked against the last acknowledged put.
// Once the controller is idle and the load has run --baseline-ms (5 s), it asks the active controller
// for a new partition (`<prefix>.ctl.controller` {"op":"create"}) and polls its state every 50 ms,
// timing each phase (fence, copy, adopt, purge = the ring switch and the givers' purge) until the
// reshard record is cleared and the ring holds the new partition. Then, with --delete on (default),
// it deletes that partition the same way. Afterwards it stops the load and reads every key back with a
// cluster-aware client: each must hold its last acknowledged value (or that of a put whose outcome the
// client never learnt). Client errors must be 0. Prints one JSON document, then tables; everything it
// started is stopped and its temporary data directory deleted, also on error or Ctrl-C.
// See docs/benchmarks.md, "Resharding (cairn partitions create / delete)".

import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { KvClient } from '../bus/kvClient';
import { cleanupAll, installSignalHandlers, isInterrupted, onCleanup } from './kv/lifecycle';
import { machine } from './kv/report';
import { CairnTarget, keepSupervisorLogs } from './kv/targets/cairn';
import { errorMessage, sleep } from './kv/workload';
import { describePartition } from './repair/view';
import { ClientLoad, KeyBook, load, verify } from './reshard/load';
import { ReshardClock, ReshardKind, reshardLog, runReshard, waitIdle } from './reshard/measure';
import { Options, log, parseArgs } from './reshard/options';
import { ReshardReport, clientView, movedKeys, printReshardReport } from './reshard/report';

/** A controller line reaches its supervisor's log file a moment after the phase it reports; wait that long. */
const LOG_SETTLE_MS = 500;

interface Clients {
  control: NatsConnection;
  /** Through the routers: the load during the reshards. */
  routed: KvClient[];
  /** Cluster-aware (following the key ring): the initial load and the read-back. */
  direct: KvClient[];
}

async function openClients(target: CairnTarget, options: Options): Promise<Clients> {
  const connections: NatsConnection[] = [];
  const direct: KvClient[] = [];
  onCleanup('bench clients', async () => {
    for (const client of direct) client.close();
    await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  });
  for (let index = 0; index <= options.connections; index++) {
    connections.push(await connect({ servers: target.cluster.natsUrl, name: `cairn-bench-reshard-${index}`, timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 100, noAsyncTraces: true }));
  }
  const workload = connections.slice(1);
  for (const nc of workload) direct.push(await KvClient.direct(nc, { prefix: options.prefix, timeoutMs: options.timeoutMs }));
  const routed = workload.map((nc) => new KvClient(nc, { prefix: options.prefix, timeoutMs: options.timeoutMs }));
  return { control: connections[0]!, routed, direct };
}

/** Waits for an idle controller, lets the load run the baseline, then runs one reshard. */
async function reshardUnderLoad(target: CairnTarget, clients: Clients, kind: ReshardKind, body: object, options: Options): Promise<{ report: ReshardReport; clock: ReshardClock }> {
  const idle = await waitIdle(clients.control, target.cluster, options.prefix, options.nodes, options.settleTimeoutMs);
  log(`${kind}: controller ${idle.view.controller} idle after ${idle.waitedMs} ms (ring epoch ${idle.view.ring.epoch}: ${idle.view.ring.partitions.join(',')}); load runs ${options.baselineMs} ms first`);
  await sleep(options.baselineMs);
  if (isInterrupted()) throw new Error('interrupted');
  const { measurement, clock, follower } = await runReshard(clients.control, target.cluster, options.prefix, kind, body, idle.view, options.pollMs, options.reshardTimeoutMs);
  await sleep(LOG_SETTLE_MS);
  follower.poll();
  const report: ReshardReport = { ...measurement, keysMoved: null, log: reshardLog(follower) };
  report.partitionsBefore = idle.view.partitions.map((partition) => `p${partition.id}: ${describePartition(partition)}`);
  return { report, clock };
}


/** What a run must not show; each one makes the bench fail. */
function problems(document: Record<string, unknown>, traffic: ClientLoad | undefined, reshards: ReshardReport[]): string[] {
  const found: string[] = [];
  if (traffic !== undefined && traffic.errorCount > 0) found.push(`${traffic.errorCount} client errors (${[...traffic.errorCodes].map(([code, count]) => `${code}: ${count}`).join(', ')}): ${traffic.errors.slice(0, 3).map((error) => error.text).join(' | ')}`);
  if (traffic !== undefined && traffic.wrongAnswerCount > 0) found.push(`${traffic.wrongAnswerCount} wrong answers: ${traffic.wrongAnswers.slice(0, 3).map((problem) => problem.text).join(' | ')}`);
  const verified = document.verify as { checked: number; ok: number; uncertain: number; samples: string[] } | undefined;
  if (verified !== undefined && verified.ok + verified.uncertain !== verified.checked) found.push(`read-back: ${verified.checked - verified.ok - verified.uncertain} of ${verified.checked} keys wrong: ${verified.samples.slice(0, 3).join(' | ')}`);
  for (const reshard of reshards) if (reshard.error !== undefined) found.push(`${reshard.kind} p${reshard.partition ?? '?'}: ${reshard.error}`);
  return found;
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  installSignalHandlers();
  const options = parseArgs(process.argv.slice(2));
  const loadAtStart = loadavg().map((value) => Math.round(value * 100) / 100);
  const book = new KeyBook(options.keys, options.valueBytes);
  const document: Record<string, unknown> = {
    title: `cairn resharding under load: ${options.keys} keys, ${options.nodes} nodes, ${options.partitions} partitions x ${options.replicas} replicas, ${options.concurrency} router client loops (${Math.round(options.readFraction * 100)}% gets)`,
    machine: { ...machine(), loadAverageAtStart: loadAtStart },
    options,
  };
  const reshards: ReshardReport[] = [];
  const clocks: ReshardClock[] = [];
  let target: CairnTarget | undefined;
  let traffic: ClientLoad | undefined;
  try {
    log(`starting nats-server and ${options.nodes} supervisors`);
    const startedAt = performance.now();
    target = await CairnTarget.start({
      connections: 1, value: '', prefix: options.prefix, nodes: options.nodes, partitions: options.partitions, replicas: options.replicas,
      readyTimeoutMs: options.readyTimeoutMs, timeoutMs: options.timeoutMs,
    });
    document.setup = { natsUrl: target.cluster.natsUrl, dataDir: target.cluster.dataDir, leadersAfterMs: Math.round(performance.now() - startedAt) };
    const clients = await openClients(target, options);

    log(`loading ${options.keys} keys, ${options.loadConcurrency} puts in flight (cluster-aware client)`);
    const loaded = await load(clients.direct, book, options.loadConcurrency);
    document.load = loaded;
    log(`load: ${loaded.keys} keys in ${loaded.seconds} s = ${loaded.keysPerSecond} keys/s, ${loaded.retries} puts retried`);

    traffic = new ClientLoad(clients.routed, book, options.concurrency, options.readFraction, options.seed);
    traffic.start();
    log(`client load: ${options.concurrency} loops through the routers`);
    const created = await reshardUnderLoad(target, clients, 'create', { op: 'create', ...(options.newReplicas === undefined ? {} : { replicas: options.newReplicas }) }, options);
    reshards.push(created.report);
    clocks.push(created.clock);
    if (created.report.error === undefined && options.delete) {
      const deleted = await reshardUnderLoad(target, clients, 'delete', { op: 'delete', partition: created.report.partition }, options);
      reshards.push(deleted.report);
      clocks.push(deleted.clock);
    }
    await sleep(options.afterMs);
    await traffic.stop();
    log(`client load stopped: ${traffic.operations.count} operations, ${traffic.errorCount} errors, ${traffic.wrongAnswerCount} wrong answers`);

    log('reading every key back (cluster-aware client)');
    const verified = await verify(clients.direct, book, options.verifyConcurrency);
    document.verify = verified;
    log(`read back ${verified.checked} keys in ${verified.seconds} s: ${verified.ok} ok, ${verified.uncertain} a put of unknown outcome, ${verified.missing} missing, ${verified.stale} stale, ${verified.failed} failed`);
  } catch (error) {
    document.error = errorMessage(error);
    log(`FAILED: ${error instanceof Error && error.stack !== undefined ? error.stack : document.error}`);
    if (target !== undefined) log(`last supervisor log lines:\n${target.cluster.logTails()}`);
  } finally {
    await traffic?.stop();
    if (target !== undefined && options.keepLogs !== undefined) keepSupervisorLogs(target, log, options.keepLogs);
    log('stopping the cluster and deleting its data directory');
    await cleanupAll();
  }
  document.machine = { ...machine(), loadAverageAtStart: loadAtStart };
  complete(document, book, traffic, reshards, clocks, options);
  printReshardReport(document, reshards);
  return document.error !== undefined || document.problems !== undefined ? 1 : 0;
}

/** Adds what the operation log says about each reshard, the client totals and the problems found. */
function complete(document: Record<string, unknown>, book: KeyBook, traffic: ClientLoad | undefined, reshards: ReshardReport[], clocks: ReshardClock[], options: Options): void {
  reshards.forEach((reshard, index) => {
    const moved = movedKeys(book, reshard);
    reshard.keysMoved = moved === undefined ? null : moved.reduce((total, flag) => total + flag, 0);
    if (traffic !== undefined) reshard.clients = clientView(traffic.operations, clocks[index]!, reshard, moved, options.baselineMs);
  });
  document.reshards = reshards;
  if (traffic !== undefined) {
    document.clients = {
      operations: traffic.operations.count, reads: traffic.reads, writes: traffic.writes, errors: traffic.errorCount, errorCodes: Object.fromEntries(traffic.errorCodes),
      errorSamples: traffic.errors.map((error) => ({ ...error, atMs: relative(error.atMs, clocks) })),
      wrongAnswers: traffic.wrongAnswerCount, wrongAnswerSamples: traffic.wrongAnswers.map((problem) => ({ ...problem, atMs: relative(problem.atMs, clocks) })),
    };
  }
  const found = problems(document, traffic, reshards);
  if (found.length > 0) document.problems = found;
}

/** A moment as "create+1234" (ms after that reshard's request) for the report. */
function relative(at: number, clocks: ReshardClock[]): string {
  const names = ['create', 'delete'];
  for (let index = clocks.length - 1; index >= 0; index--) {
    if (at >= clocks[index]!.requestedAt - 10_000) return `${names[index]}${at >= clocks[index]!.requestedAt ? '+' : ''}${Math.round(at - clocks[index]!.requestedAt)} ms`;
  }
  return 'before the first reshard';
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  async (error: unknown) => {
    process.stderr.write(`bench failed: ${errorMessage(error)}\n`);
    await cleanupAll();
    process.exitCode = 1;
  },
);
