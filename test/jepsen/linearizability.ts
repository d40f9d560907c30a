// A linearizability checker for histories of cairn operations, key by key (Wing & Gong's search with
// Lowe's memoization, the algorithm of Knossos and Porcupine). Pure: it reads a recorded history.
//
// A history is linearizable when every operation can be given one instant between its invocation and
// its completion such that, in the order of those instants, every reply is what the sequential register
// (registerModel.ts) answers. An operation with an unknown outcome never completes: it may be placed at
// any instant after its invocation, including after everything else (which is the same as never having
// happened). A refused one (a definite error) is left out of the history, so a refusal that did change
// the store shows up as a read nobody could have caused.

import { RevisionFrontier } from './revisionFrontier';
import { INITIAL_STATE, RegisterInput, RegisterOutput, RegisterState, stateKey, step } from './registerModel';

export interface Operation {
  /** Unique within the history. */
  id: number;
  /** The client (Jepsen's process) that ran it; a client runs one operation at a time. */
  client: number;
  key: string;
  input: RegisterInput;
  /** The reply; undefined when the outcome is unknown (timeout, UNAVAILABLE, INTERNAL). */
  output: RegisterOutput | undefined;
  /** Monotonic milliseconds. */
  invokedAt: number;
  /** Monotonic milliseconds; Infinity when the outcome is unknown. */
  completedAt: number;
}

export type KeyResult =
  | { key: string; verdict: 'linearizable'; operations: number; steps: number }
  | { key: string; verdict: 'violation'; operations: number; steps: number; witness: Witness }
  | { key: string; verdict: 'unknown'; operations: number; steps: number };

/** Where the search got furthest before every order failed. */
export interface Witness {
  /** How many operations could be linearized at best. */
  linearized: number;
  /** An operation that completed but could not be placed after that prefix. */
  stuck: Operation;
  /** The states the key could be in just before it. */
  states: RegisterState[];
  /** Every operation of the key, in order of invocation, for the report. */
  history: Operation[];
}

export interface CheckOptions {
  /** Search steps allowed per key before giving up with verdict 'unknown'; default 20,000,000 (seconds, at most). */
  stepsMax?: number;
}

const STEPS_MAX_DEFAULT = 20_000_000;

interface Entry {
  op: Operation;
  /** The call's return entry; undefined on return entries. */
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** Checks each key's operations on its own (a key is an independent register). */
export function checkHistory(operations: Operation[], options: CheckOptions = {}): KeyResult[] {
  const byKey = new Map<string, Operation[]>();
  for (const op of operations) {
    const list = byKey.get(op.key);
    if (list) list.push(op);
    else byKey.set(op.key, [op]);
  }
  return [...byKey].map(([key, ops]) => checkKey(key, ops, options));
}

export function checkKey(key: string, operations: Operation[], options: CheckOptions = {}): KeyResult {
  const stepsMax = options.stepsMax ?? STEPS_MAX_DEFAULT;
  const ops = operations.filter((op) => op.output !== undefined || op.input.f !== 'get');
  // First without the writes of unknown outcome whose value nobody saw. Leaving one out means it never
  // took effect, which is always a legal choice for it, so a linearization found this way is one of the
  // whole history; many pending writes otherwise multiply the orders to search. Only when none is found
  // does the whole history decide.
  const unseen = unseenWrites(ops);
  if (unseen.size > 0) {
    const quick = search(key, ops.filter((op) => !unseen.has(op)), stepsMax);
    if (quick.verdict === 'linearizable') return { ...quick, operations: ops.length };
  }
  return search(key, ops, stepsMax);
}

/** Writes of unknown outcome whose value no reply shows and no cas expected. */
function unseenWrites(ops: Operation[]): Set<Operation> {
  const seen = new Set<string | null>();
  for (const op of ops) {
    const output = op.output;
    if (output !== undefined && 'value' in output) seen.add(output.value);
    if (op.input.f === 'cas' && 'value' in op.input.expect) seen.add(op.input.expect.value);
  }
  return new Set(ops.filter((op) => op.output === undefined && (op.input.f === 'put' || op.input.f === 'cas') && !seen.has(op.input.value)));
}

function search(key: string, ops: Operation[], stepsMax: number): KeyResult {
  const head = buildList(ops);
  const slot = new Map(ops.map((op, index) => [op, index]));
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const seen = new Set<string>();
  const frontier = new RevisionFrontier(ops);
  const calls: { entry: Entry; states: RegisterState[] }[] = [];
  let states: RegisterState[] = [INITIAL_STATE];
  let entry = head.next;
  let steps = 0;
  let best: Witness | undefined;
  while (head.next !== undefined) {
    if (++steps > stepsMax) return { key, verdict: 'unknown', operations: ops.length, steps };
    if (entry!.match !== undefined) {
      const next = stepAll(states, entry!.op.input, entry!.op.output);
      const bit = slot.get(entry!.op)!;
      if (next.length > 0) {
        flip(linearized, bit);
        frontier.mark(bit, true);
        const memo = `${linearized.join(',')}|${next.map(stateKey).join(';')}`;
        if (frontier.allows(lowestFloor(next)) && !seen.has(memo)) {
          seen.add(memo);
          calls.push({ entry: entry!, states });
          states = next;
          lift(entry!);
          entry = head.next;
          continue;
        }
        frontier.mark(bit, false);
        flip(linearized, bit);
      }
      entry = entry!.next;
      continue;
    }
    if (best === undefined || calls.length > best.linearized) best = witness(calls.length, entry!.op, states, ops);
    const top = calls.pop();
    if (top === undefined) break;
    states = top.states;
    flip(linearized, slot.get(top.entry.op)!);
    frontier.mark(slot.get(top.entry.op)!, false);
    unlift(top.entry);
    entry = top.entry.next;
  }
  if (head.next === undefined) return { key, verdict: 'linearizable', operations: ops.length, steps };
  return { key, verdict: 'violation', operations: ops.length, steps, witness: best! };
}

function lowestFloor(states: RegisterState[]): number {
  let floor = Infinity;
  for (const state of states) floor = Math.min(floor, state.floor);
  return floor;
}

/** Every state `input` may lead to from any of `states`, without duplicates. */
function stepAll(states: RegisterState[], input: RegisterInput, output: RegisterOutput | undefined): RegisterState[] {
  if (states.length === 1) return step(states[0], input, output);
  const next = new Map<string, RegisterState>();
  for (const state of states) for (const after of step(state, input, output)) next.set(stateKey(after), after);
  return [...next.values()];
}

/** Call and return events in time order (a call before a return at the same instant: overlap wins). */
function buildList(ops: Operation[]): Entry {
  const events: { at: number; call: boolean; entry: Entry }[] = [];
  for (const op of ops) {
    const ret: Entry = { op, match: undefined, prev: undefined, next: undefined };
    const call: Entry = { op, match: ret, prev: undefined, next: undefined };
    events.push({ at: op.invokedAt, call: true, entry: call }, { at: op.completedAt, call: false, entry: ret });
  }
  events.sort((a, b) => a.at - b.at || Number(b.call) - Number(a.call));
  const head: Entry = { op: undefined as unknown as Operation, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const { entry } of events) {
    entry.prev = last;
    last.next = entry;
    last = entry;
  }
  return head;
}

/** Takes a call and its return out of the list (the call is linearized). */
function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts them back where they were, undoing lift (in reverse order of lifts). */
function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

function flip(bits: Uint32Array, bit: number): void {
  bits[bit >>> 5] ^= 1 << (bit & 31);
}

function witness(linearized: number, stuck: Operation, states: RegisterState[], ops: Operation[]): Witness {
  return { linearized, stuck, states, history: [...ops].sort((a, b) => a.invokedAt - b.invokedAt) };
}
