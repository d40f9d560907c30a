import { expect } from 'chai';
import { RingError } from '../../../actors/router/hashRing';

/** Helpers for router tests. Seeded PRNG (mulberry32): tests hand randomness in too. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = mulberry32(seed);
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [copy[index], copy[other]] = [copy[other], copy[index]];
  }
  return copy;
}

/** Run `action`, expect a RingError with `code`, return it. */
export function expectRingError(action: () => unknown, code: string): RingError {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(RingError);
    expect((error as RingError).code).to.equal(code);
    expect((error as RingError).name).to.equal('RingError');
    expect((error as RingError).message).to.contain(code);
    return error as RingError;
  }
  throw new Error(`expected RingError ${code}, nothing was thrown`);
}
