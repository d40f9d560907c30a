// Jepsen-style clients: closed loops of put / get / del / cas on a few keys at a time, spoken as plain
// JSON over NATS request/reply (as a client in any language would, no cairn library), each operation
// recorded with its invocation and completion time for the linearizability checker.
//
// Every value written is unique, so a read names the write it saw. Keys rotate: a key takes a bounded
// number of operations and is then retired for a fresh one, which keeps each key's history small enough
// to search exhaustively (Jepsen's "independent" keys).

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode as NatsErrorCode, NatsConnection, NatsError } from 'nats';
import type { Operation } from './linearizability';
import type { RegisterInput, RegisterOutput } from './registerModel';
import type { SeededRandom } from '../../actors/raft/random';

/** Codes that prove nothing was applied (bus/protocol.ts); anything else leaves the outcome unknown. */
const DEFINITE_CODES = new Set(['BAD_REQUEST', 'KEY_TOO_LARGE', 'VALUE_TOO_LARGE', 'NOT_LEADER', 'WRONG_PARTITION', 'DEADLINE_EXCEEDED']);

const REFUSAL_PAUSE_MS = 20;

export interface WorkloadOptions {
  clients: number;
  /** Keys in use at once. */
  keys: number;
  /** Operations issued on a key before it is retired. */
  opsPerKey: number;
  /** Client-side deadline of each request. */
  timeoutMs: number;
  /** Key prefix, unique per run. */
  keyPrefix: string;
  prefix: string;
  /** Consistency of gets; `stale` is for control runs that must fail the check. */
  reads: 'linearizable' | 'stale';
}

/** What happened to one request, Jepsen's way: ok, fail (definitely not applied) or info (unknown). */
export type Outcome = { type: 'ok'; output: RegisterOutput } | { type: 'fail'; code: string } | { type: 'info'; code: string };

export interface WorkloadCounts {
  ok: Record<RegisterInput['f'], number>;
  fail: Record<string, number>;
  info: Record<string, number>;
}

export class Workload {
  readonly operations: Operation[] = [];
  readonly counts: WorkloadCounts = { ok: { put: 0, get: 0, del: 0, cas: 0 }, fail: {}, info: {} };
  private running = true;
  private readonly generation: number[];
  private readonly issued: number[];
  private nextOpId = 1;
  private nextValue = 1;
  /** The last value and revision seen of each key, so that a cas has a fair chance to win. */
  private readonly lastSeen = new Map<string, { value: string | null; revision: number }>();

  constructor(
    private readonly connections: NatsConnection[],
    private readonly options: WorkloadOptions,
    private readonly random: SeededRandom,
  ) {
    this.generation = Array.from({ length: options.keys }, () => 0);
    this.issued = Array.from({ length: options.keys }, () => 0);
  }

  /** Runs every client until stop(); resolves when the last request has finished. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.options.clients }, (_, client) => this.loop(client)));
  }

  stop(): void {
    this.running = false;
  }

  /** One read of `key` by a fresh client, recorded like any other (used for the final reads). */
  async read(key: string, client: number): Promise<Outcome> {
    return this.invoke(client, key, { f: 'get' });
  }

  /** Every key the run used. */
  keys(): string[] {
    const keys: string[] = [];
    this.generation.forEach((last, slot) => {
      for (let generation = 0; generation <= last; generation++) keys.push(this.keyOf(slot, generation));
    });
    return keys;
  }

  private async loop(firstClient: number): Promise<void> {
    // After an unknown outcome the request may still be in flight, so the client continues under a new
    // id, as Jepsen's processes do: one client never has two operations open.
    let client = firstClient;
    while (this.running) {
      const key = this.pickKey();
      const outcome = await this.invoke(client, key, this.pickInput(key));
      if (outcome.type === 'info') client += this.options.clients;
      // A refusal comes back at once (no leader, no router yet): do not spin on it.
      if (outcome.type === 'fail') await sleep(REFUSAL_PAUSE_MS);
    }
  }

  private pickKey(): string {
    const slot = this.random.nextInt(this.options.keys);
    if (++this.issued[slot] > this.options.opsPerKey) {
      this.issued[slot] = 1;
      this.generation[slot]++;
    }
    return this.keyOf(slot, this.generation[slot]);
  }

  private keyOf(slot: number, generation: number): string {
    return `${this.options.keyPrefix}-${slot}-${generation}`;
  }

  private pickInput(key: string): RegisterInput {
    const roll = this.random.nextInt(100);
    if (roll < 40) return { f: 'get' };
    const value = `v${this.nextValue++}`;
    if (roll < 70) return { f: 'put', value };
    if (roll < 78) return { f: 'del' };
    const seen = this.lastSeen.get(key) ?? { value: null, revision: 0 };
    if (roll < 89) return { f: 'cas', value, expect: { revision: seen.revision } };
    return { f: 'cas', value, expect: { value: seen.value } };
  }

  private async invoke(client: number, key: string, input: RegisterInput): Promise<Outcome> {
    const connection = this.connections[client % this.connections.length];
    const invokedAt = performance.now();
    const outcome = await this.request(connection, key, input);
    const completedAt = performance.now();
    if (outcome.type === 'fail') {
      this.counts.fail[outcome.code] = (this.counts.fail[outcome.code] ?? 0) + 1;
      return outcome;
    }
    const id = this.nextOpId++;
    if (outcome.type === 'info') {
      this.counts.info[outcome.code] = (this.counts.info[outcome.code] ?? 0) + 1;
      this.operations.push({ id, client, key, input, output: undefined, invokedAt, completedAt: Infinity });
      return outcome;
    }
    this.counts.ok[input.f]++;
    const output = outcome.output;
    this.lastSeen.set(key, seenAfter(input, output));
    this.operations.push({ id, client, key, input, output, invokedAt, completedAt });
    return outcome;
  }

  private async request(connection: NatsConnection, key: string, input: RegisterInput): Promise<Outcome> {
    const body: Record<string, unknown> = { key };
    if (input.f === 'get' && this.options.reads === 'stale') body.consistency = 'stale';
    if (input.f === 'put' || input.f === 'cas') body.value = input.value;
    if (input.f === 'cas') {
      if ('revision' in input.expect) body.expectedRevision = input.expect.revision;
      else body.expectedValue = input.expect.value;
    }
    let data: Uint8Array;
    try {
      data = (await connection.request(`${this.options.prefix}.kv.${input.f}`, JSON.stringify(body), { timeout: this.options.timeoutMs })).data;
    } catch (error) {
      if (error instanceof NatsError && error.code === NatsErrorCode.NoResponders) return { type: 'fail', code: 'NO_RESPONDERS' };
      if (error instanceof NatsError && error.code === NatsErrorCode.Timeout) return { type: 'info', code: 'CLIENT_TIMEOUT' };
      return { type: 'info', code: `CLIENT_ERROR ${error instanceof Error ? error.message : String(error)}` };
    }
    // A reply that is not the protocol's JSON fails the run: it is a bug, not an unknown outcome.
    return outcomeOf(input, JSON.parse(new TextDecoder().decode(data)));
  }
}

function seenAfter(input: RegisterInput, output: RegisterOutput): { value: string | null; revision: number } {
  if (output.f === 'get' || (output.f === 'cas' && !output.ok)) return { value: output.value, revision: output.revision };
  if (output.f === 'del') return { value: null, revision: 0 };
  return { value: (input as { value: string }).value, revision: output.revision };
}

/** Reads a reply as the protocol documents it; a shape the protocol does not allow fails the run. */
function outcomeOf(input: RegisterInput, reply: unknown): Outcome {
  const object = reply as Record<string, unknown>;
  const error = object?.error as { code?: unknown } | undefined;
  if (error !== undefined) {
    const code = String(error.code);
    return DEFINITE_CODES.has(code) ? { type: 'fail', code } : { type: 'info', code };
  }
  const revision = object.revision;
  if (typeof revision !== 'number') throw new Error(`reply to ${input.f} without a revision: ${JSON.stringify(reply)}`);
  switch (input.f) {
    case 'put':
      return { type: 'ok', output: { f: 'put', revision } };
    case 'get':
      return { type: 'ok', output: { f: 'get', value: object.value as string | null, revision } };
    case 'del':
      return { type: 'ok', output: { f: 'del', deleted: object.deleted as boolean, revision } };
    case 'cas':
      if (object.ok === true) return { type: 'ok', output: { f: 'cas', ok: true, revision } };
      return { type: 'ok', output: { f: 'cas', ok: false, value: object.value as string | null, revision } };
  }
}
