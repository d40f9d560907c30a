// Repair after a node is lost: how long the controller takes to notice a dead node and to re-create its
// replicas elsewhere, with N keys in the cluster.
//
//   npm run bench:repair -- --keys 100000 [--value-bytes 100] [--node-down-after 10000] ...
//
// Starts its own nats-server (free port) and a 4-node cairn cluster (4 supervisor processes, 8
// partitions, 3 replicas), loads N keys through the cluster-aware client (many requests in flight),
// reads a sample back, then kill -9s one supervisor that does not run the active controller and keeps
// it down. It polls the controller's state (`<prefix>.ctl.controller`, {"op":"state"}) every 100 ms:
//   t_down   = kill -> the state shows the node's health 'down'
//   t_repair = 'down' -> every partition has replicaCount voters, none on the dead node, is settled,
//              and `changing` is 0; the first poll of a stretch in which that held for --stable-ms
//              (2 s = four controller rounds), because a single round can show a partition settled
//              before the dead replica's removal has committed (see docs/benchmarks.md)
// While it waits, a passive NATS subscriber counts what the repair moves to each new replica (Raft
// appends, snapshot frames). Afterwards it reads every key back (a sample above --verify-sample) and
// stops everything; the temporary data directory is deleted. Prints one JSON document, then tables.
// See docs/benchmarks.md, "Repair after a node is lost".

import { readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import type { ControllerView } from '../actors/controller/controllerRequests';
import { PartitionMap } from '../actors/router/layout';
import type { ClusterStatus } from '../supervisor/statusTypes';
import { cleanupAll, installSignalHandlers, isInterrupted } from './kv/lifecycle';
import { machine } from './kv/report';
import { RepairTraffic } from './kv/repairTraffic';
import { CairnTarget, keepSupervisorLogs } from './kv/targets/cairn';
import { errorMessage, makeKeys, makeValue, sleep } from './kv/workload';
import { Options, parseArgs, log, round1 } from './repair/options';
import { SAMPLES_MAX, load, verify, sample } from './repair/load';
import { controllerState, partitionRepairProblem, idleProblem, describePartition, RepairMeasurement, chooseVictim } from './repair/view';
import { partitionReport, mib, printRepairReport } from './repair/report';


async function measureRepair(target: CairnTarget, nc: NatsConnection, before: ControllerView, keyCounts: Map<number, number>, options: Options, logOffsets: Map<string, number>): Promise<RepairMeasurement> {
  const cluster = target.cluster;
  const victim = chooseVictim(before, options.victim);
  const victimNode = before.nodes.find((node) => node.id === victim)!;
  const traffic = new RepairTraffic(nc, options.prefix);
  await traffic.ready();
  for (const supervisor of cluster.supervisors) logOffsets.set(supervisor.nodeId, fileSize(supervisor.logPath));
  const result: RepairMeasurement = {
    controller: before.controller, victim, victimReplicas: victimNode.replicas, victimLeaders: victimNode.leaders, exitObservedMs: 0,
    suspectAfterKillMs: null, downAfterKillMs: null, repairAfterDownMs: null, repairedAfterKillMs: null, firstWholeAfterDownMs: null, flaps: 0, balancedAfterDownMs: null,
    pollErrors: 0, pollErrorSamples: [], timeline: [], partitions: [], trafficUndecodable: 0, nodeInboxMiB: {}, directRaftMiB: 0,
  };
  log(`killing ${victim} (${victimNode.replicas} replicas, ${victimNode.leaders} leaders); the active controller runs on ${before.controller}`);
  const killedAt = performance.now();
  await cluster.supervisor(victim).kill();
  result.exitObservedMs = round1(performance.now() - killedAt);

  const since = (at: number): number => Math.round(at - killedAt);
  const event = (at: number, text: string): void => {
    result.timeline.push({ atMs: since(at), event: text });
    log(`+${(since(at) / 1000).toFixed(1)} s: ${text}`);
  };
  const described = new Map<number, string>(before.partitions.map((partition) => [partition.id, describePartition(partition)]));
  const repairedAt = new Map<number, number>();
  let health: string = before.nodes.find((node) => node.id === victim)!.health;
  let controller = before.controller;
  let downAt: number | undefined;
  let repairedAtAll: number | undefined;
  /** The first poll of the current stretch in which every partition is whole. */
  let wholeSince: number | undefined;
  let balancedSince: number | undefined;
  let last: ControllerView | undefined;
  try {
    for (;;) {
      const polledAt = performance.now();
      cluster.checkAlive();
      if (isInterrupted()) throw new Error('interrupted');
      if (downAt === undefined && polledAt - killedAt > options.downTimeoutMs) throw new Error(`${victim} not reported down within ${options.downTimeoutMs} ms of the kill`);
      if (downAt !== undefined && repairedAtAll === undefined && polledAt - downAt > options.repairTimeoutMs) {
        const stuck = (last?.partitions ?? []).map((partition) => [partition.id, partitionRepairProblem(partition, victim)] as const).filter(([, problem]) => problem !== undefined);
        throw new Error(
          `repair not finished within ${options.repairTimeoutMs} ms of 'down': ` +
            `${stuck.map(([id, problem]) => `partition ${id}: ${problem}`).join('; ') || 'every partition whole'}; changing ${last?.changing}; blocked ${JSON.stringify(last?.blocked ?? [])}`,
        );
      }
      if (repairedAtAll !== undefined && (options.balanceWaitMs === 0 || polledAt - repairedAtAll > options.balanceWaitMs)) break;
      let view: ControllerView;
      try {
        view = await controllerState(nc, options.prefix);
      } catch (error) {
        result.pollErrors++;
        const message = errorMessage(error);
        if (result.pollErrorSamples.length < SAMPLES_MAX && !result.pollErrorSamples.includes(message)) result.pollErrorSamples.push(message);
        await sleep(options.pollMs);
        continue;
      }
      const at = performance.now();
      last = view;
      if (view.controller !== controller) {
        event(at, `the active controller is now ${view.controller} (was ${controller})`);
        controller = view.controller;
      }
      const node = view.nodes.find((candidate) => candidate.id === victim);
      const nowHealth = node?.health ?? '(not listed)';
      if (nowHealth !== health) {
        event(at, `${victim}: ${health} -> ${nowHealth}${node !== undefined && node.state !== 'active' ? ` (state ${node.state})` : ''}`);
        health = nowHealth;
        if (nowHealth === 'suspect' && result.suspectAfterKillMs === null) result.suspectAfterKillMs = since(at);
        if (nowHealth === 'down' && downAt === undefined) {
          downAt = at;
          result.downAfterKillMs = since(at);
        }
      }
      for (const partition of view.partitions) {
        const text = describePartition(partition);
        if (described.get(partition.id) !== text) {
          event(at, `partition ${partition.id}: ${text}`);
          described.set(partition.id, text);
        }
        if (downAt === undefined) continue;
        const whole = partitionRepairProblem(partition, victim) === undefined;
        const touched = before.partitions.find((candidate) => candidate.id === partition.id)?.replicas.some((replica) => replica.node === victim) ?? false;
        if (whole && !repairedAt.has(partition.id)) {
          repairedAt.set(partition.id, at);
          if (touched) event(at, `partition ${partition.id} whole again`);
        } else if (!whole && repairedAt.has(partition.id)) {
          // Counted from the start of the last stretch in which it stayed whole.
          repairedAt.delete(partition.id);
          if (touched) event(at, `partition ${partition.id} not whole any more: ${partitionRepairProblem(partition, victim)}`);
        }
      }
      const allWhole = downAt !== undefined && view.changing === 0 && view.partitions.every((partition) => partitionRepairProblem(partition, victim) === undefined);
      if (repairedAtAll === undefined) {
        if (allWhole && wholeSince === undefined) {
          wholeSince = at;
          if (result.firstWholeAfterDownMs === null) result.firstWholeAfterDownMs = Math.round(at - downAt!);
          event(at, `whole: every partition has its voters, none on ${victim}, settled, changing 0 (balanced ${view.balanced}); must hold ${options.stableMs} ms`);
        } else if (!allWhole && wholeSince !== undefined) {
          result.flaps++;
          const broken = view.partitions.map((partition) => [partition.id, partitionRepairProblem(partition, victim)] as const).filter(([, problem]) => problem !== undefined);
          event(at, `not whole any more (the previous poll was): changing ${view.changing}; ${broken.map(([id, problem]) => `partition ${id}: ${problem}`).join('; ')}`);
          wholeSince = undefined;
        }
        if (wholeSince !== undefined && at - wholeSince >= options.stableMs) {
          repairedAtAll = wholeSince;
          result.repairAfterDownMs = Math.round(wholeSince - downAt!);
          result.repairedAfterKillMs = since(wholeSince);
          event(at, `repaired: whole since +${(since(wholeSince) / 1000).toFixed(1)} s and still whole`);
        }
      }
      // 'balanced' (nothing planned either, e.g. no leader moves) counts from its first poll in the stretch.
      if (wholeSince === undefined) balancedSince = undefined;
      else if (view.balanced) balancedSince ??= at;
      else balancedSince = undefined;
      if (repairedAtAll !== undefined && balancedSince !== undefined) {
        result.balancedAfterDownMs = Math.round(balancedSince - downAt!);
        event(at, `balanced since +${(since(balancedSince) / 1000).toFixed(1)} s`);
        break;
      }
      const elapsed = performance.now() - polledAt;
      if (elapsed < options.pollMs) await sleep(options.pollMs - elapsed);
    }
  } catch (error) {
    // Kept with everything measured so far (t_down, the timeline, the traffic); the caller reports it.
    result.error = errorMessage(error);
  } finally {
    traffic.stop();
    result.finalState = last;
    result.partitions = partitionReport(before, last, victim, keyCounts, traffic, repairedAt, downAt);
    result.trafficUndecodable = traffic.undecodable;
    for (const [node, bytes] of traffic.nodeInboxBytes) result.nodeInboxMiB[node] = mib(bytes);
    result.directRaftMiB = mib(traffic.directBytes);
  }
  return result;
}


function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * The supervisors' `controller:` log lines: with `after`, those written after its per-node offsets; with
 * `before`, those written before them; else all of them.
 */
function controllerLogLines(target: CairnTarget, offsets: { after?: Map<string, number>; before?: Map<string, number> }, limit = 400): string[] {
  const lines: string[] = [];
  for (const supervisor of target.cluster.supervisors) {
    let text: string;
    try {
      const bytes = readFileSync(supervisor.logPath);
      text = bytes.subarray(offsets.after?.get(supervisor.nodeId) ?? 0, offsets.before?.get(supervisor.nodeId) ?? bytes.byteLength).toString('utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) if (line.includes('controller:')) lines.push(line);
  }
  return lines.length > limit ? [...lines.slice(0, limit / 2), `... ${lines.length - limit} lines left out ...`, ...lines.slice(-limit / 2)] : lines;
}


async function waitIdle(nc: NatsConnection, target: CairnTarget, options: Options): Promise<{ view: ControllerView; waitedMs: number }> {
  const started = performance.now();
  let problem = 'no reply yet';
  while (performance.now() - started < options.settleTimeoutMs) {
    target.cluster.checkAlive();
    if (isInterrupted()) throw new Error('interrupted');
    try {
      const view = await controllerState(nc, options.prefix);
      const found = idleProblem(view, options.nodes);
      if (found === undefined) return { view, waitedMs: Math.round(performance.now() - started) };
      problem = found;
    } catch (error) {
      problem = errorMessage(error);
    }
    await sleep(250);
  }
  throw new Error(`the controller did not settle within ${options.settleTimeoutMs} ms before the kill: ${problem}`);
}

async function finalStatus(target: CairnTarget, victim: string): Promise<RepairMeasurement['finalStatus']> {
  const status = (await target.control.status({ timeoutMs: 5000 })) as unknown as ClusterStatus;
  const groups = [...status.partitions, ...(status.metadata ? [status.metadata] : [])];
  return groups.map((partition) => {
    const leader = partition.replicas.find((replica) => replica.role === 'leader');
    return {
      partition: partition.id,
      leader: partition.leader === null ? null : `${partition.leader.node}:${partition.leader.replica}`,
      replicas: partition.replicas
        .filter((replica) => replica.node !== victim)
        .map((replica) => `${replica.node}:${replica.replica} ${replica.role} applied ${replica.applied}${leader ? `/${leader.commit}` : ''} first ${replica.firstIndex} snaps ${replica.snapshotsInstalled}`)
        .join('; '),
    };
  });
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  installSignalHandlers();
  const options = parseArgs(process.argv.slice(2));
  const loadAtStart = loadavg().map((value) => Math.round(value * 100) / 100);
  const keys = makeKeys(options.keys);
  const value = makeValue(options.valueBytes);
  const partitionMap = new PartitionMap(options.partitions);
  const keyCounts = new Map<number, number>();
  for (const key of keys) {
    const partition = partitionMap.partitionOf(key);
    keyCounts.set(partition, (keyCounts.get(partition) ?? 0) + 1);
  }
  const supervisorArgs = [
    ...(options.nodeDownAfterMs !== undefined ? ['--node-down-after', String(options.nodeDownAfterMs)] : []),
    ...(options.compactEntries !== undefined ? ['--compact-entries', String(options.compactEntries)] : []),
    ...(options.compactKeep !== undefined ? ['--compact-keep', String(options.compactKeep)] : []),
  ];
  const document: Record<string, unknown> = {
    title: `cairn repair bench: ${options.nodes} nodes, ${options.partitions} partitions x ${options.replicas} replicas, ${options.keys} keys of ${options.valueBytes} bytes`,
    date: new Date().toISOString(),
    command: `node dist/bench/repair.js ${process.argv.slice(2).join(' ')}`,
    machine: { ...machine(), loadAverageAtStart: loadAtStart },
    options,
    supervisorArgs,
  };
  let target: CairnTarget | undefined;
  let nc: NatsConnection | undefined;
  let measurement: RepairMeasurement | undefined;
  const logOffsets = new Map<string, number>();
  let failed = false;
  try {
    log(`starting nats-server and ${options.nodes} supervisors`);
    const startedAt = performance.now();
    target = await CairnTarget.start({
      connections: options.connections, value, prefix: options.prefix, nodes: options.nodes, partitions: options.partitions, replicas: options.replicas,
      readyTimeoutMs: options.readyTimeoutMs, timeoutMs: options.timeoutMs, direct: true, supervisorArgs,
    });
    document.setup = { ...target.describe(), leadersAfterMs: Math.round(performance.now() - startedAt) };
    log(`up: ${JSON.stringify(document.setup)}`);
    nc = await connect({ servers: target.cluster.natsUrl, name: 'cairn-bench-repair', timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 100, noAsyncTraces: true });

    log(`loading ${options.keys} keys, ${options.loadConcurrency} puts in flight over ${options.connections} connections (cluster-aware client)`);
    const loaded = await load(target.workers, keys, options);
    document.load = loaded;
    log(`load: ${loaded.written} keys in ${loaded.seconds} s = ${loaded.keysPerSecond} keys/s, ${loaded.retries} puts retried${loaded.retrySamples.length ? ` (${loaded.retrySamples.join(' | ')})` : ''}`);
    if (loaded.gaveUp !== undefined) throw new Error(`load stopped: ${loaded.gaveUp} (${loaded.written} keys written, ${loaded.keysPerSecond} keys/s); no kill`);
    const loadCheck = await verify(target.workers, sample(keys, options.loadCheckSample, options.seed), value, options.verifyConcurrency);
    document.loadCheck = loadCheck;
    log(`read back ${loadCheck.checked} random keys: ${loadCheck.ok} ok, ${loadCheck.missing} missing, ${loadCheck.wrong} wrong, ${loadCheck.failed} failed`);
    if (loadCheck.ok !== loadCheck.checked) throw new Error(`read-back after the load failed: ${loadCheck.samples.join(' | ')}`);

    const idle = await waitIdle(nc, target, options);
    document.before = {
      settleWaitMs: idle.waitedMs, controller: idle.view.controller, epoch: idle.view.epoch, balanced: idle.view.balanced, nodes: idle.view.nodes,
      partitions: idle.view.partitions.map((partition) => ({ id: partition.id, leader: partition.leader, replicas: describePartition(partition) })),
    };
    log(`controller ${idle.view.controller} idle after ${idle.waitedMs} ms (balanced ${idle.view.balanced}); nodes ${idle.view.nodes.map((node) => `${node.id}: ${node.replicas} replicas, ${node.leaders} leaders`).join('; ')}`);

    try {
      measurement = await measureRepair(target, nc, idle.view, keyCounts, options, logOffsets);
    } finally {
      document.controllerLogBeforeKill = controllerLogLines(target, { before: logOffsets }, 200);
      document.controllerLog = controllerLogLines(target, { after: logOffsets });
    }
    document.repair = measurement;
    if (measurement.error !== undefined) {
      failed = true;
      document.error = measurement.error;
      log(`FAILED: ${measurement.error}`);
      const lines = document.controllerLog as string[];
      log(lines.length > 0 ? `controller log lines since the kill:\n${lines.join('\n')}` : `last supervisor log lines:\n${target.cluster.logTails()}`);
    }
    try {
      measurement.finalStatus = await finalStatus(target, measurement.victim);
    } catch (error) {
      log(`final cluster status failed: ${errorMessage(error)}`);
    }

    const toVerify = sample(keys, options.verifySample, options.seed + 1);
    log(`reading back ${toVerify.length === keys.length ? 'every key' : `${toVerify.length} random keys of ${keys.length}`}`);
    const verified = await verify(target.workers, toVerify, value, options.verifyConcurrency);
    document.verify = { ...verified, all: toVerify.length === keys.length };
    log(`read back ${verified.checked} keys in ${verified.seconds} s: ${verified.ok} ok, ${verified.missing} missing, ${verified.wrong} wrong, ${verified.failed} failed`);
    if (verified.ok !== verified.checked) failed = true;
  } catch (error) {
    failed = true;
    document.error = errorMessage(error);
    log(`FAILED: ${error instanceof Error && error.stack !== undefined ? error.stack : document.error}`);
    if (target !== undefined) {
      document.controllerLog ??= controllerLogLines(target, { after: logOffsets });
      const lines = document.controllerLog as string[];
      if (lines.length > 0) log(`controller log lines since the kill:\n${lines.join('\n')}`);
      else log(`last supervisor log lines:\n${target.cluster.logTails()}`);
    }
  } finally {
    if (measurement === undefined && document.repair === undefined && target !== undefined) document.repair = null;
    await nc?.close().catch(() => undefined);
    if (target !== undefined) {
      if (options.keepLogs !== undefined) keepSupervisorLogs(target, log, options.keepLogs);
      log('stopping the cluster and deleting its data directory');
      await target.close();
    }
    await cleanupAll();
  }
  printRepairReport(document, measurement);
  return failed ? 1 : 0;
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

