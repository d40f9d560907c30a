// A strict reader of the Prometheus text exposition format (0.0.4), for tests: every line must be a
// comment (# HELP / # TYPE with a known type) or a sample `name{labels} value`; anything else throws.

export interface Sample {
  name: string;
  labels: Map<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): Sample[] {
  if (!text.endsWith('\n')) throw new Error('exposition text must end with a newline');
  const samples: Sample[] = [];
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (name === undefined || !TYPES.has(type ?? '')) throw new Error(`bad TYPE line: ${line}`);
      if (typed.has(name)) throw new Error(`TYPE given twice for ${name}`);
      typed.add(name);
      continue;
    }
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`bad sample line: ${JSON.stringify(line)}`);
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    if (Number.isNaN(value) && match[3] !== 'NaN') throw new Error(`bad value in: ${line}`);
    samples.push({ name: match[1]!, labels: parseLabels(match[2] ?? ''), value });
  }
  return samples;
}

function parseLabels(text: string): Map<string, string> {
  const labels = new Map<string, string>();
  let rest = text;
  while (rest.length > 0) {
    const match = LABEL.exec(rest);
    if (match === null) throw new Error(`bad labels: ${text}`);
    const value = match[2]!.replace(/\\([\\"n])/g, (_, escaped: string) => (escaped === 'n' ? '\n' : escaped));
    if (labels.has(match[1]!)) throw new Error(`label ${match[1]} given twice`);
    labels.set(match[1]!, value);
    rest = rest.slice(match[0].length);
  }
  return labels;
}

/** The sum of every sample named `name` whose labels include `labels`. */
export function sumOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((sample) => sample.name === name && Object.entries(labels).every(([label, value]) => sample.labels.get(label) === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}
