// Randomness is handed into the core so that a simulation replays exactly from one seed.

export interface RandomSource {
  /** A uniformly distributed integer in [0, bound). */
  nextInt(bound: number): number;
}

/** xorshift128+ style generator over 32-bit halves (sfc32): fast, seedable, good enough for jitter and fault choice. */
export class SeededRandom implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.next32();
  }

  next32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  nextInt(bound: number): number {
    return Math.floor((this.next32() / 0x100000000) * bound);
  }

  /** True with the given probability in [0, 1]. */
  chance(probability: number): boolean {
    return this.next32() / 0x100000000 < probability;
  }
}
