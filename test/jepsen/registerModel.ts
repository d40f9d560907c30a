// The sequential specification of one cairn key, for the linearizability checker: what each operation may
// answer in a given state, and the state after it. Pure.
//
// A key's state is its value and its revision (the partition revision of its last write, 0 when absent).
// Revisions are partition-wide and grow with every write, so a write must answer a revision above every
// write linearized before it. An operation whose outcome is unknown (Jepsen's `info`: a timeout, an
// UNAVAILABLE) may have taken effect with a revision nobody saw; the state then keeps `revision: null`
// and `floor`, a revision the unseen one is above.

/** A cas compares the key's revision (0 = absent) or its value (null = absent). */
export type CasExpectation = { revision: number } | { value: string | null };

export type RegisterInput =
  | { f: 'put'; value: string }
  | { f: 'get' }
  | { f: 'del' }
  | { f: 'cas'; value: string; expect: CasExpectation };

/** A reply as the public protocol gives it. */
export type RegisterOutput =
  | { f: 'put'; revision: number }
  | { f: 'get'; value: string | null; revision: number }
  | { f: 'del'; deleted: boolean; revision: number }
  | { f: 'cas'; ok: true; revision: number }
  | { f: 'cas'; ok: false; value: string | null; revision: number };

export interface RegisterState {
  value: string | null;
  /** The key's revision, null when an unseen write set it; 0 when absent. */
  revision: number | null;
  /** Every write linearized so far has a revision <= floor, and an unseen one (revision null) is above it. */
  floor: number;
}

export const INITIAL_STATE: RegisterState = { value: null, revision: 0, floor: 0 };

/**
 * The states `input` may lead to from `state` when it answered `output` (undefined: outcome unknown, so
 * it may have taken effect or not). An empty list: that answer is impossible in that state.
 */
export function step(state: RegisterState, input: RegisterInput, output: RegisterOutput | undefined): RegisterState[] {
  if (output !== undefined && output.f !== input.f) return [];
  switch (input.f) {
    case 'get':
      return output === undefined ? [state] : observe(state, output as RegisterOutput & { f: 'get' });
    case 'put':
      return output === undefined ? [unseenWrite(state, input.value)] : written(state, input.value, (output as { revision: number }).revision);
    case 'del':
      return output === undefined ? [deletedUnseen(state)] : deleted(state, output as RegisterOutput & { f: 'del' });
    case 'cas':
      return casStep(state, input, output as (RegisterOutput & { f: 'cas' }) | undefined);
  }
}

/** A read of (value, revision): possible when the state could be exactly that. */
function observe(state: RegisterState, seen: { value: string | null; revision: number }): RegisterState[] {
  if (seen.value !== state.value) return [];
  if (state.value === null) return seen.revision === 0 ? [state] : [];
  if (state.revision !== null) return seen.revision === state.revision ? [state] : [];
  return seen.revision > state.floor ? [{ value: seen.value, revision: seen.revision, floor: seen.revision }] : [];
}

function written(state: RegisterState, value: string, revision: number): RegisterState[] {
  if (!isNewRevision(state, revision)) return [];
  return [{ value, revision, floor: revision }];
}

function isNewRevision(state: RegisterState, revision: number): boolean {
  return revision > state.floor && (state.revision === null || revision > state.revision);
}

function unseenWrite(state: RegisterState, value: string): RegisterState {
  return { value, revision: null, floor: state.floor };
}

function deleted(state: RegisterState, output: { deleted: boolean; revision: number }): RegisterState[] {
  if (state.value === null) return !output.deleted && output.revision === 0 ? [state] : [];
  if (!output.deleted || !isNewRevision(state, output.revision)) return [];
  return [{ value: null, revision: 0, floor: output.revision }];
}

function deletedUnseen(state: RegisterState): RegisterState {
  return state.value === null ? state : { value: null, revision: 0, floor: state.floor };
}

/** Whether the expectation holds in `state`; 'maybe' when it compares an unseen revision. */
function matches(state: RegisterState, expect: CasExpectation): boolean | 'maybe' {
  if ('value' in expect) return state.value === expect.value;
  if (state.revision !== null) return state.revision === expect.revision;
  return expect.revision > state.floor ? 'maybe' : false;
}

function casStep(state: RegisterState, input: RegisterInput & { f: 'cas' }, output: (RegisterOutput & { f: 'cas' }) | undefined): RegisterState[] {
  const match = matches(state, input.expect);
  const pinned = (): RegisterState => ('revision' in input.expect ? { ...state, revision: input.expect.revision, floor: input.expect.revision } : state);
  if (output === undefined) {
    if (match === true) return [unseenWrite(state, input.value)];
    if (match === false) return [state];
    return [unseenWrite(pinned(), input.value), state];
  }
  if (output.ok) return match === false ? [] : written(pinned(), input.value, output.revision);
  if (match === true) return [];
  if ('revision' in input.expect && output.revision === input.expect.revision) return [];
  return observe(state, output);
}

/** A short, stable text of a state, for memoizing the search. */
export function stateKey(state: RegisterState): string {
  return `${state.revision ?? '?'}/${state.floor}/${state.value === null ? '-' : `=${state.value}`}`;
}
