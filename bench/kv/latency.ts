// An HDR-like latency histogram: log-linear buckets over integer microseconds, preallocated, so that
// recording an operation allocates nothing. With SUB_BITS = 7 every power of two is split into 128
// buckets: a value is reported as its bucket's midpoint, within 0.4% of the true value (exact below
// 128 µs). Range: 0 µs to 2^31 µs (about 36 minutes); larger values are clamped and counted.

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
const MAX_MICROS = 2 ** 31 - 1;
/** Highest floor(log2) of a recordable value is 30, so (30 - SUB_BITS + 2) groups of SUB buckets. */
const BUCKETS = (30 - SUB_BITS + 2) * SUB;

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private sumMicros = 0;
  private maxMicros = 0;
  /** Values above the range, recorded as the maximum. */
  clamped = 0;

  /** Records one latency given in milliseconds (e.g. a difference of performance.now() readings). */
  recordMs(ms: number): void {
    let micros = Math.round(ms * 1000);
    if (!(micros >= 0)) micros = 0;
    if (micros > MAX_MICROS) {
      micros = MAX_MICROS;
      this.clamped++;
    }
    this.counts[bucketOf(micros)]++;
    this.total++;
    this.sumMicros += micros;
    if (micros > this.maxMicros) this.maxMicros = micros;
  }

  get count(): number {
    return this.total;
  }

  /** The latency (ms) at quantile q in [0, 1]: the midpoint of the bucket holding rank ceil(q * count). */
  quantileMs(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let index = 0; index < BUCKETS; index++) {
      seen += this.counts[index];
      if (seen >= rank) return Math.min(bucketMidpoint(index), this.maxMicros) / 1000;
    }
    return this.maxMicros / 1000;
  }

  summary(): LatencySummary {
    return {
      count: this.total,
      meanMs: this.total === 0 ? NaN : this.sumMicros / this.total / 1000,
      p50Ms: this.quantileMs(0.5),
      p90Ms: this.quantileMs(0.9),
      p99Ms: this.quantileMs(0.99),
      p999Ms: this.quantileMs(0.999),
      maxMs: this.total === 0 ? NaN : this.maxMicros / 1000,
    };
  }
}

/** Bucket of a non-negative integer number of microseconds (< 2^31). */
export function bucketOf(micros: number): number {
  if (micros < SUB) return micros;
  const exponent = 31 - Math.clz32(micros); // floor(log2), >= SUB_BITS
  const shift = exponent - SUB_BITS;
  return (shift + 1) * SUB + ((micros >>> shift) - SUB);
}

/** Smallest value of bucket `index`, and its width. */
export function bucketRange(index: number): { lower: number; width: number } {
  if (index < SUB) return { lower: index, width: 1 };
  const group = Math.floor(index / SUB); // = shift + 1
  const width = 2 ** (group - 1);
  return { lower: ((index % SUB) + SUB) * width, width };
}

function bucketMidpoint(index: number): number {
  const { lower, width } = bucketRange(index);
  return lower + (width - 1) / 2;
}

/** Exact quantiles of a small sample (e.g. failover trials): nearest rank. */
export function sampleQuantile(sortedAscending: readonly number[], q: number): number {
  if (sortedAscending.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * sortedAscending.length));
  return sortedAscending[rank - 1]!;
}
