// The closed-loop key-value workload shared by every target: C independent async loops, each issuing
// one request, awaiting it, and issuing the next. Keys, the value and the random stream are prepared
// before measuring, so a loop iteration allocates nothing beyond what the target's client does.

import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from './latency';
import type { LatencySummary } from './latency';

/** One client of a store, bound to one connection. The value written is the target's fixed value. */
export interface KvWorker {
  put(key: string): Promise<unknown>;
  get(key: string): Promise<unknown>;
}

export interface KvTarget {
  readonly name: string;
  /** What a read returns, for the report (e.g. "linearizable (ReadIndex)"). */
  readonly readConsistency: string;
  /** When a write is acknowledged, for the report. */
  readonly writeDurability: string;
  /** One worker per connection; loop i uses workers[i % workers.length]. */
  readonly workers: KvWorker[];
  /** Facts about the setup worth keeping with the numbers (URLs, versions, options). */
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface Mix {
  name: string;
  readFraction: number;
}

export const MIXES: Record<string, Mix> = {
  write: { name: 'write', readFraction: 0 },
  read90: { name: 'read90', readFraction: 0.9 },
};

export interface CellOptions {
  concurrency: number;
  mix: Mix;
  seconds: number;
  warmupSeconds: number;
  keys: readonly string[];
  /** Seed of the loops' random streams; loop i uses seed + i. */
  seed: number;
}

export interface CellResult extends LatencySummary {
  mix: string;
  concurrency: number;
  seconds: number;
  opsPerSecond: number;
  reads: number;
  writes: number;
  errors: number;
  /** The first few distinct error messages of the cell. */
  errorSamples: string[];
}

const ERROR_SAMPLES_MAX = 3;

export function makeKeys(count: number): string[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_unused, index) => `key-${String(index).padStart(width, '0')}`);
}

/** A printable value of exactly `bytes` ASCII bytes (the same string for every write). */
export function makeValue(bytes: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let value = '';
  for (let index = 0; index < bytes; index++) value += alphabet[(index * 7) % alphabet.length];
  return value;
}

export interface PreloadResult {
  seconds: number;
  /** Puts that failed and were sent again (a put of the same value is idempotent, so that is safe). */
  retries: number;
  retrySamples: string[];
}

const PRELOAD_ATTEMPTS = 5;

/** Writes every key once, `concurrency` at a time, retrying a failed put; throws when one keeps failing. */
export async function preload(target: KvTarget, keys: readonly string[], concurrency: number): Promise<PreloadResult> {
  const started = performance.now();
  let next = 0;
  let retries = 0;
  const retrySamples: string[] = [];
  const loop = async (loopIndex: number): Promise<void> => {
    const worker = target.workers[loopIndex % target.workers.length]!;
    while (next < keys.length) {
      const key = keys[next++]!;
      for (let attempt = 1; ; attempt++) {
        try {
          await worker.put(key);
          break;
        } catch (error) {
          const message = errorMessage(error);
          if (attempt >= PRELOAD_ATTEMPTS) {
            throw new Error(`${target.name}: preload put of ${key} failed ${attempt} times, last: ${message}`, { cause: error });
          }
          retries++;
          if (retrySamples.length < ERROR_SAMPLES_MAX && !retrySamples.includes(message)) retrySamples.push(message);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_unused, index) => loop(index)));
  return { seconds: Math.round((performance.now() - started) / 10) / 100, retries, retrySamples };
}

/**
 * Runs one cell: warm-up, then `seconds` of measurement. An operation counts (latency, throughput,
 * error) when it started and finished inside the measuring window.
 */
export async function runCell(target: KvTarget, options: CellOptions): Promise<CellResult> {
  const histogram = new LatencyHistogram();
  const { keys, mix } = options;
  const keyCount = keys.length;
  const readThreshold = Math.floor(mix.readFraction * 4294967296);
  const measureStart = performance.now() + options.warmupSeconds * 1000;
  const measureEnd = measureStart + options.seconds * 1000;
  let reads = 0;
  let writes = 0;
  let errors = 0;
  const errorSamples: string[] = [];

  const loop = async (loopIndex: number): Promise<void> => {
    const worker = target.workers[loopIndex % target.workers.length]!;
    let state = seedState(options.seed + loopIndex);
    for (;;) {
      const started = performance.now();
      if (started >= measureEnd) return;
      state = xorshift32(state);
      const key = keys[state % keyCount]!;
      state = xorshift32(state);
      const isRead = state < readThreshold;
      let failed = false;
      try {
        if (isRead) await worker.get(key);
        else await worker.put(key);
      } catch (error) {
        failed = true;
        if (started >= measureStart && errorSamples.length < ERROR_SAMPLES_MAX) {
          const message = errorMessage(error);
          if (!errorSamples.includes(message)) errorSamples.push(message);
        }
      }
      const finished = performance.now();
      if (started >= measureStart && finished <= measureEnd) {
        if (failed) errors++;
        else {
          histogram.recordMs(finished - started);
          if (isRead) reads++;
          else writes++;
        }
      }
      // A failing store may reject at once; give timers and I/O a turn instead of spinning.
      if (failed) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, (_unused, index) => loop(index)));
  const summary = histogram.summary();
  return {
    mix: mix.name,
    concurrency: options.concurrency,
    seconds: options.seconds,
    opsPerSecond: summary.count / options.seconds,
    reads,
    writes,
    errors,
    errorSamples,
    ...summary,
  };
}

/** xorshift32: a fast, allocation-free random stream (uint32 state, never 0). */
export function xorshift32(state: number): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return state >>> 0;
}

export function seedState(seed: number): number {
  // Spread nearby seeds apart (a multiplicative hash), and avoid the fixed point 0.
  const mixed = Math.imul(seed + 1, 0x9e3779b1) >>> 0;
  return mixed === 0 ? 0x6d2b79f5 : mixed;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code !== undefined && !error.message.includes(String(code)) ? `${String(code)}: ${error.message}` : error.message;
  }
  return String(error);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
