// bench/repair.ts: loading the keys before the kill, reading them all back after the repair.

import { performance } from 'node:perf_hooks';
import type { GetReply } from '../../bus/protocol';
import { isInterrupted } from '../kv/lifecycle';
import { errorMessage } from '../kv/workload';
import type { KvWorker } from '../kv/workload';
import { Options, log, round1 } from './options';

// ---------------------------------------------------------------------------------------------------
// Load and verify

export interface LoadResult {
  keys: number;
  /** Keys written (all of them unless the load gave up). */
  written: number;
  seconds: number;
  keysPerSecond: number;
  concurrency: number;
  retries: number;
  retrySamples: string[];
  /** Seconds into the load at which the first failed puts failed (up to 20). */
  retryAtSeconds: number[];
  /** Set when the load stopped before writing every key. */
  gaveUp?: string;
}

export const ATTEMPTS = 5;
export const SAMPLES_MAX = 3;

export async function load(workers: KvWorker[], keys: readonly string[], options: Options): Promise<LoadResult> {
  const started = performance.now();
  let next = 0;
  let written = 0;
  let retries = 0;
  let gaveUp: string | undefined;
  const retrySamples: string[] = [];
  const retryAtSeconds: number[] = [];
  const progress = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    log(`load: ${written}/${keys.length} keys after ${seconds.toFixed(0)} s (${Math.round(written / seconds)} keys/s)`);
    if (seconds > options.maxLoadSeconds && gaveUp === undefined) gaveUp = `the load took more than --max-load-seconds ${options.maxLoadSeconds}`;
  }, 10_000);
  const loop = async (loopIndex: number): Promise<void> => {
    const worker = workers[loopIndex % workers.length]!;
    while (next < keys.length && gaveUp === undefined && !isInterrupted()) {
      const key = keys[next++]!;
      for (let attempt = 1; ; attempt++) {
        try {
          await worker.put(key);
          written++;
          break;
        } catch (error) {
          const message = errorMessage(error);
          // A put of the same value is idempotent, so sending it again is safe.
          if (attempt >= ATTEMPTS) throw new Error(`load: put of ${key} failed ${attempt} times, last: ${message}`, { cause: error });
          retries++;
          if (retrySamples.length < SAMPLES_MAX && !retrySamples.includes(message)) retrySamples.push(message);
          if (retryAtSeconds.length < 20) retryAtSeconds.push(round1((performance.now() - started) / 1000));
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.loadConcurrency }, (_unused, index) => loop(index)));
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    keys: keys.length, written, seconds: round1(seconds), keysPerSecond: Math.round(written / seconds), concurrency: options.loadConcurrency,
    retries, retrySamples, retryAtSeconds, ...(gaveUp !== undefined ? { gaveUp } : isInterrupted() ? { gaveUp: 'interrupted' } : {}),
  };
}

export interface VerifyResult {
  checked: number;
  ok: number;
  /** Read back as absent (value null). */
  missing: number;
  /** Read back with another value. */
  wrong: number;
  /** Every attempt failed (error or timeout). */
  failed: number;
  retries: number;
  seconds: number;
  samples: string[];
}

export async function verify(workers: KvWorker[], keys: readonly string[], value: string, concurrency: number): Promise<VerifyResult> {
  const started = performance.now();
  const result: VerifyResult = { checked: keys.length, ok: 0, missing: 0, wrong: 0, failed: 0, retries: 0, seconds: 0, samples: [] };
  const note = (line: string): void => {
    if (result.samples.length < 10) result.samples.push(line);
  };
  let next = 0;
  const loop = async (loopIndex: number): Promise<void> => {
    const worker = workers[loopIndex % workers.length]!;
    while (next < keys.length && !isInterrupted()) {
      const key = keys[next++]!;
      for (let attempt = 1; ; attempt++) {
        try {
          const reply = (await worker.get(key)) as GetReply;
          if (reply.value === value) result.ok++;
          else if (reply.value === null) {
            result.missing++;
            note(`${key}: absent`);
          } else {
            result.wrong++;
            note(`${key}: ${reply.value.length}-byte value differs (revision ${reply.revision})`);
          }
          break;
        } catch (error) {
          if (attempt >= ATTEMPTS) {
            result.failed++;
            note(`${key}: ${errorMessage(error)}`);
            break;
          }
          result.retries++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_unused, index) => loop(index)));
  result.seconds = round1((performance.now() - started) / 1000);
  return result;
}

/** `count` distinct keys chosen at random (all of them, in order, when count >= keys.length). */
export function sample(keys: readonly string[], count: number, seed: number): string[] {
  if (count >= keys.length) return [...keys];
  const indexes = new Int32Array(keys.length);
  for (let index = 0; index < indexes.length; index++) indexes[index] = index;
  let state = (Math.imul(seed + 1, 0x9e3779b1) >>> 0) || 0x6d2b79f5;
  const chosen: string[] = [];
  for (let index = 0; index < count; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const pick = index + (state % (indexes.length - index));
    const swap = indexes[pick]!;
    indexes[pick] = indexes[index]!;
    indexes[index] = swap;
    chosen.push(keys[swap]!);
  }
  return chosen;
}

