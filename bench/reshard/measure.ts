// bench/reshard.ts: one reshard (create or delete) asked of the active controller and followed phase by
// phase through its state, and what the controller logged while it ran.

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { NatsConnection } from 'nats';
import { ErrorCode as NatsErrorCode, NatsError } from 'nats';
import type { ControllerView } from '../../actors/controller/controllerRequests';
import type { KeyRing } from '../../actors/controller/reshard';
import { subjects } from '../../bus/subjects';
import { isInterrupted } from '../kv/lifecycle';
import type { CairnCluster } from '../kv/targets/cairn';
import { errorMessage, sleep } from '../kv/workload';
import { controllerState, idleProblem } from '../repair/view';
import { log } from './options';

const REQUEST_TIMEOUT_MS = 10_000;
const POLL_ERROR_SAMPLES_MAX = 5;

export type ReshardKind = 'create' | 'delete';

/** A phase as the polls saw it: from its first poll (fence: from the request) to the next phase's. */
export interface PhaseTiming {
  /** fence, copy, adopt, purge (the ring switch, then the givers' purge). */
  phase: string;
  /** Milliseconds since the request was sent. */
  startMs: number;
  durationMs: number;
}

export interface ReshardMeasurement {
  kind: ReshardKind;
  partition: number | null;
  message: string;
  /** Request sent -> reply (the reshard recorded in the metadata). */
  replyMs: number | null;
  /** Request sent -> the first poll with the reshard done (record cleared, ring changed). */
  totalMs: number | null;
  /**
   * The phases in the order seen: fence from the request, each later one from its first poll. A phase
   * shorter than a poll may not be seen; its time then goes to the one before.
   */
  phases: PhaseTiming[];
  phasesNotSeen: string[];
  ringBefore: KeyRing;
  ringAfter: KeyRing | null;
  polls: number;
  pollErrors: number;
  pollErrorSamples: string[];
  /** Set when the reshard was refused, not seen to finish, or the bench was interrupted. */
  error?: string;
}

/** performance.now() of the request and of the end, for the latency windows (not printed). */
export interface ReshardClock {
  requestedAt: number;
  /** Phase starts (performance.now()), in the order of `phases`, then the end. */
  boundaries: number[];
  doneAt: number | undefined;
}

const PHASES = ['fence', 'copy', 'adopt', 'purge'];

/** Sends the request, then polls the controller's state every pollMs until the reshard is done. */
export async function runReshard(nc: NatsConnection, cluster: CairnCluster, prefix: string, kind: ReshardKind, body: object, before: ControllerView, pollMs: number, timeoutMs: number): Promise<{ measurement: ReshardMeasurement; clock: ReshardClock; follower: LogFollower }> {
  const measurement: ReshardMeasurement = {
    kind, partition: null, message: '', replyMs: null, totalMs: null, phases: [], phasesNotSeen: [], ringBefore: before.ring, ringAfter: null, polls: 0, pollErrors: 0, pollErrorSamples: [],
  };
  const requestedAt = performance.now();
  // Only reads the log files: a NATS subscriber on the shard subjects would turn the resharder's
  // "no responders" (no leader yet: retried after 20 ms) into 5 s request timeouts.
  const follower = new LogFollower(cluster, requestedAt);
  const clock: ReshardClock = { requestedAt, boundaries: [], doneAt: undefined };
  const since = (at: number): number => Math.round(at - requestedAt);
  try {
    const reply = await controllerRequest(nc, prefix, body);
    measurement.replyMs = since(performance.now());
    if (!reply.ok) throw new Error(`the controller refused ${JSON.stringify(body)}: ${reply.error.code}: ${reply.error.message}`);
    if (reply.partition === undefined) throw new Error(`the controller did not say which partition: ${JSON.stringify(reply)}`);
    const partition = reply.partition;
    measurement.partition = partition;
    measurement.message = reply.message;
    log(`${kind} partition ${partition}: ${reply.message} (reply after ${measurement.replyMs} ms)`);
    const finished = (view: ControllerView): boolean => view.reshard?.partitionId !== partition && view.ring.partitions.includes(partition) === (kind === 'create');
    // The reshard is recorded in fence (clusterState.ts beginReshard), so fence counts from the request.
    let phase = 'fence';
    measurement.phases.push({ phase, startMs: 0, durationMs: 0 });
    clock.boundaries.push(requestedAt);
    for (;;) {
      cluster.checkAlive();
      if (isInterrupted()) throw new Error('interrupted');
      const polledAt = performance.now();
      if (polledAt - requestedAt > timeoutMs) throw new Error(`${kind} partition ${partition} not done within ${timeoutMs} ms (last phase seen: ${phase})`);
      let view: ControllerView;
      try {
        view = await controllerState(nc, prefix, 2000);
        measurement.polls++;
      } catch (error) {
        notePollError(measurement, error);
        await sleep(pollMs);
        continue;
      }
      const at = performance.now();
      follower.poll();
      if (view.reshard?.partitionId === partition && view.reshard.phase !== phase) {
        phase = view.reshard.phase;
        measurement.phases.push({ phase, startMs: since(at), durationMs: 0 });
        clock.boundaries.push(at);
        log(`${kind} partition ${partition}: ${phase} from +${since(at)} ms`);
      }
      if (finished(view)) {
        clock.doneAt = at;
        measurement.totalMs = since(at);
        measurement.ringAfter = view.ring;
        log(`${kind} partition ${partition}: done at +${measurement.totalMs} ms (ring epoch ${view.ring.epoch}: ${view.ring.partitions.join(',')})`);
        break;
      }
      const elapsed = performance.now() - polledAt;
      if (elapsed < pollMs) await sleep(pollMs - elapsed);
    }
  } catch (error) {
    measurement.error = errorMessage(error);
  }
  closePhases(measurement, clock);
  return { measurement, clock, follower };
}

function notePollError(measurement: ReshardMeasurement, error: unknown): void {
  measurement.pollErrors++;
  const message = errorMessage(error);
  if (measurement.pollErrorSamples.length < POLL_ERROR_SAMPLES_MAX && !measurement.pollErrorSamples.includes(message)) measurement.pollErrorSamples.push(message);
}

/** Each phase lasts until the next one's first poll, the last one until done (or until now, if never done). */
function closePhases(measurement: ReshardMeasurement, clock: ReshardClock): void {
  const end = clock.doneAt ?? performance.now();
  measurement.phases.forEach((timing, index) => {
    timing.durationMs = Math.round((clock.boundaries[index + 1] ?? end) - clock.boundaries[index]!);
  });
  const seen = new Set(measurement.phases.map((timing) => timing.phase));
  measurement.phasesNotSeen = clock.doneAt === undefined ? [] : PHASES.filter((name) => !seen.has(name));
}

type ControllerReply = { ok: true; message: string; epoch: number; partition?: number } | { ok: false; error: { code: string; message: string } };

/** One request to the active controller, sent again only while nobody answers (a controller election). */
async function controllerRequest(nc: NatsConnection, prefix: string, body: object): Promise<ControllerReply> {
  const deadline = performance.now() + REQUEST_TIMEOUT_MS;
  for (;;) {
    try {
      const reply = await nc.request(subjects(prefix).control('controller'), Buffer.from(JSON.stringify(body)), { timeout: REQUEST_TIMEOUT_MS });
      return JSON.parse(Buffer.from(reply.data).toString()) as ControllerReply;
    } catch (error) {
      // A timeout is not sent again: the first request may have been recorded.
      const noResponders = error instanceof NatsError && error.code === NatsErrorCode.NoResponders;
      if (!noResponders || performance.now() > deadline) throw error;
    }
    await sleep(100);
  }
}

/** Waits until the controller is idle: every node alive, every partition whole and settled, changing 0, no reshard. */
export async function waitIdle(nc: NatsConnection, cluster: CairnCluster, prefix: string, nodes: number, timeoutMs: number): Promise<{ view: ControllerView; waitedMs: number }> {
  const started = performance.now();
  let problem = 'no reply yet';
  while (performance.now() - started < timeoutMs) {
    cluster.checkAlive();
    if (isInterrupted()) throw new Error('interrupted');
    try {
      const view = await controllerState(nc, prefix);
      const found = view.reshard !== null ? `reshard in progress: ${JSON.stringify(view.reshard)}` : idleProblem(view, nodes);
      if (found === undefined) return { view, waitedMs: Math.round(performance.now() - started) };
      problem = found;
    } catch (error) {
      problem = errorMessage(error);
    }
    await sleep(100);
  }
  throw new Error(`the controller did not settle within ${timeoutMs} ms: ${problem}`);
}

// ---------------------------------------------------------------------------------------------------
// The supervisors' logs

/**
 * Reads what the supervisors append to their logs from now on, at every poll, and keeps the active
 * controller's `reshard` lines with the time they were first seen (the lines carry no timestamp).
 */
export class LogFollower {
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, string>();
  readonly lines: { atMs: number; line: string }[] = [];

  constructor(private readonly cluster: CairnCluster, private readonly origin: number) {
    for (const supervisor of cluster.supervisors) this.offsets.set(supervisor.nodeId, fileSize(supervisor.logPath));
  }

  poll(): void {
    const atMs = Math.round(performance.now() - this.origin);
    for (const supervisor of this.cluster.supervisors) {
      const offset = this.offsets.get(supervisor.nodeId) ?? 0;
      const size = fileSize(supervisor.logPath);
      if (size <= offset) continue;
      const bytes = Buffer.alloc(size - offset);
      const descriptor = openSync(supervisor.logPath, 'r');
      try {
        readSync(descriptor, bytes, 0, bytes.byteLength, offset);
      } finally {
        closeSync(descriptor);
      }
      this.offsets.set(supervisor.nodeId, size);
      const text = (this.partial.get(supervisor.nodeId) ?? '') + bytes.toString('utf8');
      const lines = text.split('\n');
      this.partial.set(supervisor.nodeId, lines.pop()!);
      for (const line of lines) if (line.includes('controller:') && line.includes('reshard') && this.lines.length < LOG_LINES_MAX) this.lines.push({ atMs, line });
    }
  }
}

const LOG_LINES_MAX = 200;

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export interface ReshardLog {
  /** Sum of the `reshard: copied N keys out of partition P` lines (keys and request-id records; a copy run again counts again). */
  recordsCopied: number | null;
  copiedByPartition: Record<string, number>;
  /** `... failed (...); will retry` lines: phases given up and run again. */
  phaseRetries: number;
  /** The controllers' `reshard` lines, each with when the bench first saw it (ms after the request, +- one poll). */
  lines: { atMs: number; line: string }[];
}

export function reshardLog(follower: LogFollower): ReshardLog {
  const lines = follower.lines;
  const copiedByPartition: Record<string, number> = {};
  let recordsCopied: number | null = null;
  for (const { line } of lines) {
    const match = /reshard: copied (\d+) keys out of partition (\d+)/.exec(line);
    if (match === null) continue;
    recordsCopied = (recordsCopied ?? 0) + Number(match[1]);
    copiedByPartition[match[2]!] = (copiedByPartition[match[2]!] ?? 0) + Number(match[1]);
  }
  const phaseRetries = lines.filter(({ line }) => line.includes('failed (') && line.includes('will retry')).length;
  return { recordsCopied, copiedByPartition, phaseRetries, lines };
}
