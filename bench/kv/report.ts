// Output of bench/kv.ts: one JSON document with everything (stdout), then tables for people, with the
// targets side by side. Same shape as bench/report.ts's printReport, which prints one row set only.

import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import type { FailoverResult } from './failover';
import type { CellResult, PreloadResult } from './workload';

export interface TargetResult {
  target: string;
  setup?: Record<string, unknown>;
  readConsistency?: string;
  writeDurability?: string;
  preload?: PreloadResult;
  cells: CellResult[];
  failover?: FailoverResult;
  /** Set when the target could not be run (or stopped part-way). */
  error?: string;
}

export function machine(): Record<string, unknown> {
  const cores = cpus();
  return {
    cpus: cores.length,
    cpuModel: cores[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${release()}`,
    /** 1/5/15-minute load averages when the report was written: other work on the machine skews results. */
    loadAverage: loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

export function printTable(title: string, rows: Record<string, unknown>[]): void {
  console.log(`\n${title}`);
  if (rows.length === 0) {
    console.log('(no rows)');
    return;
  }
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const text = (row: Record<string, unknown>, column: string): string => (row[column] === undefined ? '' : String(row[column]));
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => text(row, column).length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padStart(widths[i]!)).join('  ');
  console.log(line(columns));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(columns.map((column) => text(row, column))));
}

const ms = (value: number | null | undefined): string => (value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(2));

/** One row per (mix, C); per target: ops/s, p50, p99, errors. */
export function workloadRows(results: TargetResult[]): Record<string, unknown>[] {
  const cells = new Map<string, Record<string, unknown>>();
  for (const result of results) {
    for (const cell of result.cells) {
      const id = `${cell.mix}/${cell.concurrency}`;
      let row = cells.get(id);
      if (row === undefined) {
        row = { mix: cell.mix, C: cell.concurrency };
        cells.set(id, row);
      }
      row[`${result.target} ops/s`] = Math.round(cell.opsPerSecond);
      row[`${result.target} p50 ms`] = ms(cell.p50Ms);
      row[`${result.target} p99 ms`] = ms(cell.p99Ms);
      row[`${result.target} err`] = cell.errors;
    }
  }
  return [...cells.values()];
}

/** One row per target over its trials (cairn: each trial's slowest partition). */
export function failoverRows(results: TargetResult[]): Record<string, unknown>[] {
  return results.flatMap((result) => {
    const failover = result.failover;
    if (failover === undefined) return [];
    return [
      {
        target: result.target,
        trials: failover.trials.length,
        'p50 ms': ms(failover.p50Ms),
        'p99 ms': ms(failover.p99Ms),
        'max ms': ms(failover.maxMs),
        'timed out': failover.timedOut,
        [`<= ${failover.barMs} ms`]: `${failover.withinBar}/${failover.trials.length}`,
      },
    ];
  });
}

/** One row per target over every (trial, partition) sample (nats-kv: one per trial). */
export function failoverSampleRows(results: TargetResult[]): Record<string, unknown>[] {
  return results.flatMap((result) => {
    const failover = result.failover;
    if (failover?.samples === undefined) return [];
    const samples = failover.samples;
    return [
      {
        target: result.target,
        samples: samples.count,
        'p50 ms': ms(samples.p50Ms),
        'p99 ms': ms(samples.p99Ms),
        'max ms': ms(samples.maxMs),
        'timed out': samples.timedOut,
        [`<= ${failover.barMs} ms`]: `${samples.withinBar}/${samples.count}`,
      },
    ];
  });
}

/** One row per trial: what was killed, which partitions it led, and each one's time. */
export function failoverTrialRows(results: TargetResult[]): Record<string, unknown>[] {
  return results.flatMap((result) =>
    (result.failover?.trials ?? []).map((trial) => ({
      target: result.target,
      trial: trial.trial + 1,
      killed: trial.killed,
      'led at kill': trial.partitions === undefined ? '-' : trial.partitions.map((partition) => `p${partition.partition}`).join(' '),
      'first write ms': trial.partitions === undefined ? ms(trial.firstWriteMs) : trial.partitions.map((partition) => ms(partition.firstWriteMs)).join(' '),
      'max ms': ms(trial.firstWriteMs),
      attempts: trial.attempts,
      'healthy ms': ms(trial.recoveryMs),
    })),
  );
}

export function printKvReport(document: Record<string, unknown>, results: TargetResult[]): void {
  console.log(JSON.stringify(document, null, 2));
  const workload = workloadRows(results);
  if (workload.length > 0) printTable(String(document.title), workload);
  const failover = failoverRows(results);
  if (failover.length > 0) {
    const title = `${String(document.title)}: time from kill -9 of the leader's process to the first acknowledged write`;
    printTable(`${title}, per trial (cairn: on every partition the killed node led, so the slowest of them)`, failover);
    printTable(`${title}, per (trial, partition) sample (nats-kv: one stream, one sample per trial)`, failoverSampleRows(results));
    printTable('failover trials', failoverTrialRows(results));
  }
  for (const result of results) {
    if (result.error !== undefined) console.log(`\n${result.target}: FAILED: ${result.error.split('\n')[0]}`);
    for (const cell of result.cells) {
      if (cell.errorSamples.length > 0) console.log(`${result.target} ${cell.mix} C=${cell.concurrency} errors: ${cell.errorSamples.join(' | ')}`);
    }
  }
}
