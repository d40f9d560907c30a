// bench/reshard.ts: the keys and what each one should read back, the initial load, the closed-loop
// client load that runs through the reshards, and the final read-back.
//
// Each loop of the client load owns the keys whose index is its own modulo the loop count, so a key has
// one writer at a time and its last acknowledged put is well defined: a linearizable get must return
// exactly that value and revision. A put that fails with an indeterminate code (TIMEOUT, UNAVAILABLE,
// INTERNAL, or a transport error) may or may not have been applied; its value is kept as a possible
// outcome until the key's next acknowledged put.

import { performance } from 'node:perf_hooks';
import type { KvClient } from '../../bus/kvClient';
import { KvError } from '../../bus/kvClient';
import { isInterrupted } from '../kv/lifecycle';
import { errorMessage, seedState, xorshift32 } from '../kv/workload';
import { log, round1 } from './options';

const LOAD_ATTEMPTS = 5;
const VERIFY_ATTEMPTS = 5;
const SAMPLES_MAX = 20;
/** Codes that prove nothing was applied (bus/protocol.ts, bus/kvClient.ts). */
const DEFINITE_CODES = new Set(['BAD_REQUEST', 'KEY_TOO_LARGE', 'VALUE_TOO_LARGE', 'NOT_LEADER', 'WRONG_PARTITION', 'DEADLINE_EXCEEDED', 'NO_RESPONDERS']);

// ---------------------------------------------------------------------------------------------------
// What every key should read back

export class KeyBook {
  readonly keys: readonly string[];
  /** The last acknowledged value of each key, and the revision its put returned. */
  readonly acknowledged: string[];
  readonly revisions: Float64Array;
  /** Values of puts after the last acknowledged one whose outcome is unknown, by key index. */
  readonly uncertain = new Map<number, string[]>();
  private readonly versions: Uint32Array;
  private readonly filler: string;

  constructor(count: number, readonly valueBytes: number) {
    const width = String(count - 1).length;
    this.keys = Array.from({ length: count }, (_unused, index) => `key-${String(index).padStart(width, '0')}`);
    this.acknowledged = new Array<string>(count).fill('');
    this.revisions = new Float64Array(count);
    this.versions = new Uint32Array(count);
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let filler = '';
    for (let index = 0; index < valueBytes; index++) filler += alphabet[(index * 7) % alphabet.length];
    this.filler = filler;
  }

  /** A value of exactly valueBytes ASCII bytes, distinct per (key, write). */
  nextValue(index: number): string {
    const version = this.versions[index]!;
    this.versions[index] = version + 1;
    const head = `${this.keys[index]}#${version}#`;
    if (head.length > this.valueBytes) throw new Error(`--value-bytes ${this.valueBytes} is too small for ${JSON.stringify(head)}`);
    return head + this.filler.slice(head.length);
  }

  acknowledge(index: number, value: string, revision: number): void {
    this.acknowledged[index] = value;
    this.revisions[index] = revision;
    this.uncertain.delete(index);
  }

  /** A put failed: remember its value if it may have been applied. */
  failed(index: number, value: string, error: unknown): void {
    if (isDefinite(error)) return;
    const values = this.uncertain.get(index);
    if (values === undefined) this.uncertain.set(index, [value]);
    else values.push(value);
  }

  /** 'ok': the last acknowledged value and revision; 'uncertain': a put of unknown outcome; else what is wrong. */
  check(index: number, value: string | null, revision: number): 'ok' | 'uncertain' | 'missing' | 'stale' {
    if (value === this.acknowledged[index] && revision === this.revisions[index]) return 'ok';
    if (value !== null && (this.uncertain.get(index) ?? []).includes(value)) return 'uncertain';
    return value === null ? 'missing' : 'stale';
  }

  describe(index: number, value: string | null, revision: number): string {
    const shown = (text: string | null): string => (text === null ? 'absent' : JSON.stringify(text.split('#').slice(0, 2).join('#')));
    return `${this.keys[index]}: read ${shown(value)} rev ${revision}, last acknowledged ${shown(this.acknowledged[index]!)} rev ${this.revisions[index]}`;
  }
}

function isDefinite(error: unknown): boolean {
  return error instanceof KvError && DEFINITE_CODES.has(error.code);
}

function codeOf(error: unknown): string {
  return error instanceof KvError ? error.code : 'ERROR';
}

// ---------------------------------------------------------------------------------------------------
// The initial load

export interface LoadResult {
  keys: number;
  seconds: number;
  keysPerSecond: number;
  concurrency: number;
  retries: number;
  retrySamples: string[];
}

/** Writes every key once through `clients` (cluster-aware), retrying a failed put (same value: idempotent). */
export async function load(clients: readonly KvClient[], book: KeyBook, concurrency: number): Promise<LoadResult> {
  const started = performance.now();
  let next = 0;
  let written = 0;
  let retries = 0;
  const retrySamples: string[] = [];
  const progress = setInterval(() => log(`load: ${written}/${book.keys.length} keys`), 10_000);
  const loop = async (loopIndex: number): Promise<void> => {
    const client = clients[loopIndex % clients.length]!;
    while (next < book.keys.length) {
      if (isInterrupted()) throw new Error('interrupted');
      const index = next++;
      const value = book.nextValue(index);
      for (let attempt = 1; ; attempt++) {
        try {
          const reply = await client.put(book.keys[index]!, value);
          book.acknowledge(index, value, reply.revision);
          written++;
          break;
        } catch (error) {
          const message = errorMessage(error);
          if (attempt >= LOAD_ATTEMPTS) throw new Error(`load: put of ${book.keys[index]} failed ${attempt} times, last: ${message}`, { cause: error });
          retries++;
          if (retrySamples.length < 3 && !retrySamples.includes(message)) retrySamples.push(message);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, (_unused, index) => loop(index)));
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1000;
  return { keys: book.keys.length, seconds: round1(seconds), keysPerSecond: Math.round(book.keys.length / seconds), concurrency, retries, retrySamples };
}

// ---------------------------------------------------------------------------------------------------
// The client load

/** Every operation of the client load, in completion order: parallel arrays, times from performance.now(). */
export class OperationLog {
  readonly startedMs: number[] = [];
  readonly durationMs: number[] = [];
  readonly keyIndex: number[] = [];
  readonly failed: boolean[] = [];

  get count(): number {
    return this.startedMs.length;
  }

  record(startedMs: number, finishedMs: number, keyIndex: number, failed: boolean): void {
    this.startedMs.push(startedMs);
    this.durationMs.push(finishedMs - startedMs);
    this.keyIndex.push(keyIndex);
    this.failed.push(failed);
  }
}

export interface ClientProblem {
  /** performance.now() when it happened. */
  atMs: number;
  text: string;
}

export class ClientLoad {
  readonly operations = new OperationLog();
  readonly errors: ClientProblem[] = [];
  errorCount = 0;
  readonly errorCodes = new Map<string, number>();
  /**
   * Answers that contradict the acknowledged writes: a get with another value or revision than the last
   * acknowledged put (or a put of unknown outcome), a put whose revision is not above the previous one.
   */
  readonly wrongAnswers: ClientProblem[] = [];
  wrongAnswerCount = 0;
  reads = 0;
  writes = 0;
  private running = true;
  private loops: Promise<void> | undefined;

  constructor(
    private readonly clients: readonly KvClient[],
    private readonly book: KeyBook,
    private readonly concurrency: number,
    private readonly readFraction: number,
    private readonly seed: number,
  ) {}

  start(): void {
    if (this.loops !== undefined) throw new Error('the client load runs already');
    this.loops = Promise.all(Array.from({ length: this.concurrency }, (_unused, index) => this.loop(index))).then(() => undefined);
  }

  /** Stops every loop after its current operation. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loops;
  }

  private async loop(loopIndex: number): Promise<void> {
    const client = this.clients[loopIndex % this.clients.length]!;
    const book = this.book;
    const owned = Math.ceil((book.keys.length - loopIndex) / this.concurrency);
    const readThreshold = Math.floor(this.readFraction * 4294967296);
    let state = seedState(this.seed + loopIndex);
    while (this.running && !isInterrupted()) {
      state = xorshift32(state);
      const index = loopIndex + this.concurrency * (state % owned);
      state = xorshift32(state);
      const isRead = state < readThreshold;
      const key = book.keys[index]!;
      const started = performance.now();
      let failed = false;
      if (isRead) {
        try {
          const reply = await client.get(key);
          this.reads++;
          const verdict = book.check(index, reply.value, reply.revision);
          if (verdict === 'missing' || verdict === 'stale') {
            this.wrongAnswerCount++;
            if (this.wrongAnswers.length < SAMPLES_MAX) this.wrongAnswers.push({ atMs: performance.now(), text: book.describe(index, reply.value, reply.revision) });
          }
        } catch (error) {
          failed = true;
          this.noteError(started, `get ${key}`, error);
        }
      } else {
        const value = book.nextValue(index);
        try {
          const reply = await client.put(key, value);
          this.writes++;
          if (!(reply.revision > book.revisions[index]!)) {
            this.wrongAnswerCount++;
            if (this.wrongAnswers.length < SAMPLES_MAX) this.wrongAnswers.push({ atMs: performance.now(), text: `${key}: put returned revision ${reply.revision}, not above ${book.revisions[index]}` });
          }
          book.acknowledge(index, value, reply.revision);
        } catch (error) {
          failed = true;
          book.failed(index, value, error);
          this.noteError(started, `put ${key}`, error);
        }
      }
      this.operations.record(started, performance.now(), index, failed);
      // A failing cluster may reject at once; give timers and I/O a turn instead of spinning.
      if (failed) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private noteError(startedMs: number, what: string, error: unknown): void {
    this.errorCount++;
    const code = codeOf(error);
    this.errorCodes.set(code, (this.errorCodes.get(code) ?? 0) + 1);
    if (this.errors.length < SAMPLES_MAX) this.errors.push({ atMs: startedMs, text: `${what} (started here, failed after ${Math.round(performance.now() - startedMs)} ms): ${errorMessage(error)}` });
  }
}


// ---------------------------------------------------------------------------------------------------
// Reading every key back

export interface VerifyResult {
  checked: number;
  /** The last acknowledged value with its revision. */
  ok: number;
  /** The value of a put whose outcome the client does not know (it failed indeterminately). */
  uncertain: number;
  missing: number;
  stale: number;
  /** Every attempt failed. */
  failed: number;
  retries: number;
  seconds: number;
  samples: string[];
}

export async function verify(clients: readonly KvClient[], book: KeyBook, concurrency: number): Promise<VerifyResult> {
  const started = performance.now();
  const result: VerifyResult = { checked: book.keys.length, ok: 0, uncertain: 0, missing: 0, stale: 0, failed: 0, retries: 0, seconds: 0, samples: [] };
  let next = 0;
  const loop = async (loopIndex: number): Promise<void> => {
    const client = clients[loopIndex % clients.length]!;
    while (next < book.keys.length) {
      if (isInterrupted()) throw new Error('interrupted');
      const index = next++;
      for (let attempt = 1; ; attempt++) {
        try {
          const reply = await client.get(book.keys[index]!);
          const verdict = book.check(index, reply.value, reply.revision);
          result[verdict]++;
          if (verdict === 'missing' || verdict === 'stale') {
            if (result.samples.length < SAMPLES_MAX) result.samples.push(book.describe(index, reply.value, reply.revision));
          }
          break;
        } catch (error) {
          if (attempt >= VERIFY_ATTEMPTS) {
            result.failed++;
            if (result.samples.length < SAMPLES_MAX) result.samples.push(`${book.keys[index]}: ${errorMessage(error)}`);
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
