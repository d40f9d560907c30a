// A tiny Prometheus registry: counters, gauges and fixed-bucket histograms rendered in the text
// exposition format (version 0.0.4). No dependency, no timers, no global state except the optional
// process-wide `defaultRegistry` that the HTTP gateway and the supervisor's replica metrics share.
//
// Series are bounded: a metric keeps at most `seriesMax` label combinations; observations of further
// combinations are dropped and counted in cairn_metrics_series_dropped_total, so a bug that puts user
// data (a key) into a label cannot grow memory without bound.

export type Labels = Readonly<Record<string, string>>;

export class MetricsError extends Error {
  override readonly name = 'MetricsError';
}

/** Latency buckets in milliseconds, from sub-millisecond reads to multi-second timeouts. */
export const LATENCY_BUCKETS_MS: readonly number[] = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

const DEFAULT_SERIES_MAX = 1000;
const NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type MetricType = 'counter' | 'gauge' | 'histogram';

interface Metric {
  readonly name: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  render(lines: string[]): void;
}

/** Labels -> series, keyed by the label values in declaration order; bounded by seriesMax. */
class SeriesMap<T> {
  private readonly series = new Map<string, { labels: string[]; value: T }>();

  constructor(
    private readonly metricName: string,
    private readonly labelNames: readonly string[],
    private readonly seriesMax: number,
    private readonly onDropped: () => void,
    private readonly create: () => T,
  ) {}

  /** The series of `labels`, or undefined when a new series would exceed the bound. */
  get(labels: Labels): T | undefined {
    const values = this.labelValues(labels);
    const key = JSON.stringify(values);
    const existing = this.series.get(key);
    if (existing !== undefined) return existing.value;
    if (this.series.size >= this.seriesMax) {
      this.onDropped();
      return undefined;
    }
    const created = { labels: values, value: this.create() };
    this.series.set(key, created);
    return created.value;
  }

  entries(): Array<{ labels: string[]; value: T }> {
    return [...this.series.values()];
  }

  private labelValues(labels: Labels): string[] {
    const given = Object.keys(labels);
    if (given.length !== this.labelNames.length || !this.labelNames.every((name) => Object.prototype.hasOwnProperty.call(labels, name))) {
      throw new MetricsError(`${this.metricName}: labels {${given.join(',')}} differ from declared {${this.labelNames.join(',')}}`);
    }
    return this.labelNames.map((name) => {
      const value = labels[name];
      if (typeof value !== 'string') throw new MetricsError(`${this.metricName}: label ${name} must be a string`);
      return value;
    });
  }
}

export class Counter implements Metric {
  readonly type = 'counter';
  private readonly series: SeriesMap<{ total: number }>;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    seriesMax: number,
    onDropped: () => void,
  ) {
    this.series = new SeriesMap(name, labelNames, seriesMax, onDropped, () => ({ total: 0 }));
  }

  /** Adds `amount` (default 1, must be >= 0: counters only go up). */
  inc(labels: Labels = {}, amount = 1): void {
    if (!(amount >= 0) || !Number.isFinite(amount)) throw new MetricsError(`${this.name}: counter increment must be finite and >= 0, got ${amount}`);
    const series = this.series.get(labels);
    if (series !== undefined) series.total += amount;
  }

  /** The current value of one series (0 when never incremented). */
  value(labels: Labels = {}): number {
    return this.series.entries().find((entry) => sameLabels(entry.labels, this.labelNames, labels))?.value.total ?? 0;
  }

  render(lines: string[]): void {
    renderHeader(lines, this);
    for (const { labels, value } of this.series.entries()) lines.push(`${this.name}${formatLabels(this.labelNames, labels)} ${formatNumber(value.total)}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge';
  private readonly series: SeriesMap<{ current: number }>;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    seriesMax: number,
    onDropped: () => void,
  ) {
    this.series = new SeriesMap(name, labelNames, seriesMax, onDropped, () => ({ current: 0 }));
  }

  set(value: number, labels: Labels = {}): void {
    const series = this.series.get(labels);
    if (series !== undefined) series.current = value;
  }

  inc(labels: Labels = {}, amount = 1): void {
    const series = this.series.get(labels);
    if (series !== undefined) series.current += amount;
  }

  dec(labels: Labels = {}, amount = 1): void {
    this.inc(labels, -amount);
  }

  value(labels: Labels = {}): number {
    return this.series.entries().find((entry) => sameLabels(entry.labels, this.labelNames, labels))?.value.current ?? 0;
  }

  render(lines: string[]): void {
    renderHeader(lines, this);
    for (const { labels, value } of this.series.entries()) lines.push(`${this.name}${formatLabels(this.labelNames, labels)} ${formatNumber(value.current)}`);
  }
}

interface HistogramSeries {
  /** Per-bucket counts (not cumulative); index i counts observations <= buckets[i] and > buckets[i-1]. */
  counts: number[];
  /** Observations above the last bucket. */
  overflow: number;
  sum: number;
  count: number;
}

export class Histogram implements Metric {
  readonly type = 'histogram';
  private readonly series: SeriesMap<HistogramSeries>;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly buckets: readonly number[],
    seriesMax: number,
    onDropped: () => void,
  ) {
    if (labelNames.includes('le')) throw new MetricsError(`${name}: a histogram cannot have a label named "le"`);
    if (buckets.length === 0 || buckets.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= buckets[i - 1]!))) {
      throw new MetricsError(`${name}: buckets must be finite and strictly increasing`);
    }
    this.series = new SeriesMap(name, labelNames, seriesMax, onDropped, () => ({ counts: buckets.map(() => 0), overflow: 0, sum: 0, count: 0 }));
  }

  observe(value: number, labels: Labels = {}): void {
    if (Number.isNaN(value)) throw new MetricsError(`${this.name}: cannot observe NaN`);
    const series = this.series.get(labels);
    if (series === undefined) return;
    const index = this.buckets.findIndex((bound) => value <= bound);
    if (index === -1) series.overflow++;
    else series.counts[index]!++;
    series.sum += value;
    series.count++;
  }

  render(lines: string[]): void {
    renderHeader(lines, this);
    for (const { labels, value } of this.series.entries()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += value.counts[i]!;
        lines.push(`${this.name}_bucket${formatLabels([...this.labelNames, 'le'], [...labels, formatNumber(bound)])} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${formatLabels([...this.labelNames, 'le'], [...labels, '+Inf'])} ${value.count}`);
      lines.push(`${this.name}_sum${formatLabels(this.labelNames, labels)} ${formatNumber(value.sum)}`);
      lines.push(`${this.name}_count${formatLabels(this.labelNames, labels)} ${value.count}`);
    }
  }
}

export interface RegistryOptions {
  /** Label combinations kept per metric; default 1000. */
  seriesMax?: number;
}

export class Registry {
  private readonly metrics = new Map<string, Metric>();
  private readonly seriesMax: number;
  private droppedSeries = 0;

  constructor(options: RegistryOptions = {}) {
    this.seriesMax = options.seriesMax ?? DEFAULT_SERIES_MAX;
  }

  /** Registers a counter, or returns the one already registered under `name` with the same labels. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.register(name, 'counter', labelNames, () => new Counter(name, help, labelNames, this.seriesMax, this.onDropped));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.register(name, 'gauge', labelNames, () => new Gauge(name, help, labelNames, this.seriesMax, this.onDropped));
  }

  /** A histogram with fixed `buckets` (upper bounds, strictly increasing); default LATENCY_BUCKETS_MS. */
  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets: readonly number[] = LATENCY_BUCKETS_MS): Histogram {
    return this.register(name, 'histogram', labelNames, () => new Histogram(name, help, labelNames, buckets, this.seriesMax, this.onDropped));
  }

  /** The whole registry in the Prometheus text format, ending with a newline. */
  render(): string {
    const lines: string[] = [];
    for (const metric of this.metrics.values()) metric.render(lines);
    lines.push('# HELP cairn_metrics_series_dropped_total Observations dropped because a metric reached its series bound.');
    lines.push('# TYPE cairn_metrics_series_dropped_total counter');
    lines.push(`cairn_metrics_series_dropped_total ${this.droppedSeries}`);
    return lines.join('\n') + '\n';
  }

  private readonly onDropped = (): void => {
    this.droppedSeries++;
  };

  private register<T extends Metric>(name: string, type: MetricType, labelNames: readonly string[], create: () => T): T {
    if (!NAME_PATTERN.test(name)) throw new MetricsError(`bad metric name ${JSON.stringify(name)}`);
    for (const label of labelNames) {
      if (!LABEL_NAME_PATTERN.test(label) || label.startsWith('__')) throw new MetricsError(`${name}: bad label name ${JSON.stringify(label)}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new MetricsError(`${name}: duplicate label names`);
    const existing = this.metrics.get(name);
    if (existing !== undefined) {
      const same = existing.type === type && existing.labelNames.join(',') === labelNames.join(',');
      if (!same) throw new MetricsError(`metric ${name} is already registered as a ${existing.type} with labels {${existing.labelNames.join(',')}}`);
      return existing as T;
    }
    const metric = create();
    this.metrics.set(name, metric);
    return metric;
  }
}

/** The process-wide registry: the gateway's request metrics and the supervisor's replica metrics. */
export const defaultRegistry = new Registry();

function renderHeader(lines: string[], metric: { name: string; help: string; type: MetricType }): void {
  lines.push(`# HELP ${metric.name} ${metric.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
  lines.push(`# TYPE ${metric.name} ${metric.type}`);
}

function formatLabels(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  const pairs = names.map((name, i) => `${name}="${escapeLabelValue(values[i]!)}"`);
  return `{${pairs.join(',')}}`;
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function sameLabels(values: readonly string[], names: readonly string[], labels: Labels): boolean {
  return names.every((name, i) => Object.prototype.hasOwnProperty.call(labels, name) && labels[name] === values[i]);
}
