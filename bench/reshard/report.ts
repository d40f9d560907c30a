// bench/reshard.ts: the clients' view of each reshard (latency windows from the operation log) and the
// printed report (JSON, then tables).

import { PartitionMap } from '../../actors/router/layout';
import { sampleQuantile } from '../kv/latency';
import { printTable } from '../kv/report';
import type { KeyBook, OperationLog, VerifyResult } from './load';
import type { ReshardClock, ReshardLog, ReshardMeasurement } from './measure';

export interface LatencyWindow {
  /** Operations in the window that succeeded (the quantiles are of their latencies) and that failed. */
  operations: number;
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface PhaseClients {
  phase: string;
  startMs: number;
  durationMs: number;
  /** Operations that finished during the phase, and their rate. */
  completed: number;
  completedPerSecond: number;
  /** Latency of the operations that started during the phase (a request stalled by a move counts where it began). */
  started: LatencyWindow;
}

export interface ReshardClients {
  /** The baselineMs before the request: operations that started and finished in it. */
  before: LatencyWindow;
  /** Request -> done: operations that overlap it. */
  during: LatencyWindow;
  /** The same, split by whether the key moves in this reshard. */
  duringMovingKeys: LatencyWindow;
  duringOtherKeys: LatencyWindow;
  phases: PhaseClients[];
}

export interface ReshardReport extends ReshardMeasurement {
  /** The controller's partitions (replicas on nodes) before the request. */
  partitionsBefore?: string[];
  /** Keys of the bench that the ring change gives to another partition. */
  keysMoved: number | null;

  /** From the supervisors' logs. */
  log?: ReshardLog;

  clients?: ReshardClients;
}

export function clientView(operations: OperationLog, clock: ReshardClock, measurement: ReshardMeasurement, moved: Uint8Array | undefined, baselineMs: number): ReshardClients {
  const requestedAt = clock.requestedAt;
  const end = clock.doneAt ?? requestedAt + (measurement.phases.reduce((total, phase) => total + phase.durationMs, 0));
  const finishedAt = (index: number): number => operations.startedMs[index]! + operations.durationMs[index]!;
  const before = latencyWindow(operations, (index) => operations.startedMs[index]! >= requestedAt - baselineMs && finishedAt(index) <= requestedAt);
  const overlaps = (index: number): boolean => finishedAt(index) >= requestedAt && operations.startedMs[index]! <= end;
  const during = latencyWindow(operations, overlaps);
  const isMoving = (index: number): boolean => moved !== undefined && moved[operations.keyIndex[index]!] === 1;
  const duringMovingKeys = latencyWindow(operations, (index) => overlaps(index) && isMoving(index));
  const duringOtherKeys = latencyWindow(operations, (index) => overlaps(index) && !isMoving(index));
  const phases = measurement.phases.map((phase, position): PhaseClients => {
    const from = clock.boundaries[position]!;
    const to = clock.boundaries[position + 1] ?? end;
    let completed = 0;
    for (let index = 0; index < operations.count; index++) if (finishedAt(index) >= from && finishedAt(index) < to) completed++;
    return {
      phase: phase.phase, startMs: phase.startMs, durationMs: phase.durationMs, completed,
      completedPerSecond: to > from ? Math.round((completed * 1000) / (to - from)) : 0,
      started: latencyWindow(operations, (index) => operations.startedMs[index]! >= from && operations.startedMs[index]! < to),
    };
  });
  return { before, during, duringMovingKeys, duringOtherKeys, phases };
}

function latencyWindow(operations: OperationLog, include: (index: number) => boolean): LatencyWindow {
  const latencies: number[] = [];
  let errors = 0;
  for (let index = 0; index < operations.count; index++) {
    if (!include(index)) continue;
    if (operations.failed[index]) errors++;
    else latencies.push(operations.durationMs[index]!);
  }
  latencies.sort((a, b) => a - b);
  const quantile = (q: number): number | null => (latencies.length === 0 ? null : round2(sampleQuantile(latencies, q)));
  return { operations: latencies.length, errors, p50Ms: quantile(0.5), p99Ms: quantile(0.99), maxMs: latencies.length === 0 ? null : round2(latencies[latencies.length - 1]!) };
}

/** 1 for each key the ring change gives to another partition. */
export function movedKeys(book: KeyBook, measurement: ReshardMeasurement): Uint8Array | undefined {
  if (measurement.ringAfter === null) return undefined;
  const before = new PartitionMap(measurement.ringBefore.partitions);
  const after = new PartitionMap(measurement.ringAfter.partitions);
  const moved = new Uint8Array(book.keys.length);
  book.keys.forEach((key, index) => {
    moved[index] = before.partitionOf(key) === after.partitionOf(key) ? 0 : 1;
  });
  return moved;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

// ---------------------------------------------------------------------------------------------------
// Printing

const ms = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : value >= 100 ? value.toFixed(0) : value.toFixed(1));
const seconds = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : (value / 1000).toFixed(2));

export function printReshardReport(document: Record<string, unknown>, reshards: ReshardReport[]): void {
  console.log(JSON.stringify(document, null, 2));
  printTable(String(document.title), reshards.map(summaryRow));
  const baselineSeconds = Number((document.options as { baselineMs: number }).baselineMs) / 1000;
  const windows = reshards.flatMap((reshard) => windowRows(reshard, baselineSeconds));
  if (windows.length > 0) printTable('client latency (router clients, closed loops; latency of the operations that succeeded, errors counted apart)', windows);
  const phases = reshards.flatMap(phaseRows);
  if (phases.length > 0) printTable('per phase (ops done = finished in the phase; errors and latency of the ops that started in it)', phases);
  const timeline = reshards.flatMap((reshard) => (reshard.log?.lines ?? []).map(({ atMs, line }) => ({
    reshard: name(reshard),
    'seen at ms': atMs,
    line: line.replace(/^.*controller: /, `${/^\[(\w+)\]/.exec(line)?.[1] ?? ''}: `),
  })));
  if (timeline.length > 0) printTable('the active controller\'s reshard log lines, as the bench saw them appear (+- one poll)', timeline);
  const verified = document.verify as VerifyResult | undefined;
  const clients = document.clients as { errors: number; wrongAnswers: number; operations: number } | undefined;
  console.log(
    `\nclient load: ${clients?.operations ?? '-'} operations, ${clients?.errors ?? '-'} errors, ${clients?.wrongAnswers ?? '-'} wrong answers; ` +
      `read back: ${verified === undefined ? '-' : `${verified.ok + verified.uncertain}/${verified.checked} (${verified.uncertain} with a put of unknown outcome), ${verified.missing} missing, ${verified.stale} stale, ${verified.failed} failed`}`,
  );
  if (document.error !== undefined) console.log(`\nFAILED: ${String(document.error).split('\n')[0]}`);
  for (const problem of (document.problems as string[] | undefined) ?? []) console.log(`problem: ${problem}`);
}

const name = (reshard: ReshardReport): string => `${reshard.kind} p${reshard.partition ?? '?'}`;

function summaryRow(reshard: ReshardReport): Record<string, unknown> {
  const phaseMs = (phase: string): string => {
    const timing = reshard.phases.find((candidate) => candidate.phase === phase);
    return timing === undefined ? (reshard.phasesNotSeen.includes(phase) ? '(<poll)' : '-') : String(timing.durationMs);
  };
  return {
    reshard: name(reshard),
    'total s': seconds(reshard.totalMs),
    'fence ms': phaseMs('fence'),
    'copy ms': phaseMs('copy'),
    'adopt ms': phaseMs('adopt'),
    'switch+purge ms': phaseMs('purge'),
    'keys moved': reshard.keysMoved ?? '-',
    'copied (log)': reshard.log?.recordsCopied ?? '-',
    'client ops': reshard.clients === undefined ? '-' : reshard.clients.during.operations + reshard.clients.during.errors,
    errors: reshard.clients?.during.errors ?? '-',
  };
}

function windowRows(reshard: ReshardReport, baselineSeconds: number): Record<string, unknown>[] {
  const clients = reshard.clients;
  if (clients === undefined) return [];
  const row = (window: string, stats: LatencyWindow) => ({
    reshard: name(reshard), window, 'ok ops': stats.operations, errors: stats.errors, 'p50 ms': ms(stats.p50Ms), 'p99 ms': ms(stats.p99Ms), 'max ms': ms(stats.maxMs),
  });
  return [
    row(`${baselineSeconds.toFixed(0)} s before`, clients.before),
    row('during', clients.during),
    row('during, keys that move', clients.duringMovingKeys),
    row('during, other keys', clients.duringOtherKeys),
  ];
}

function phaseRows(reshard: ReshardReport): Record<string, unknown>[] {
  return (reshard.clients?.phases ?? []).map((phase) => ({
    reshard: name(reshard),
    phase: phase.phase === 'purge' ? 'switch+purge' : phase.phase,
    'from ms': phase.startMs,
    ms: phase.durationMs,
    'ops done': phase.completed,
    'ops/s': phase.completedPerSecond,
    'started: errors': phase.started.errors,
    'p99 ms': ms(phase.started.p99Ms),
    'max ms': ms(phase.started.maxMs),
  }));
}
