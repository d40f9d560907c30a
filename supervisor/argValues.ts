// Values of `cairn` command-line flags: the pure checks every subcommand shares. A bad value throws
// UsageError, which parseCommandLine turns into a result.

import { SubjectError, validatePrefix } from '../bus/subjects';
import { SUPERVISOR_DEFAULTS } from './options';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const NODES_MAX = 64;
export const DEFAULT_HTTP_HOST = '127.0.0.1';
const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const NATS_SCHEMES = ['nats:', 'tls:', 'ws:', 'wss:'];

export class UsageError extends Error {}

export type Environment = Readonly<Record<string, string | undefined>>;
export type FlagValues = Record<string, string | boolean | undefined>;

export function exactPositionals(positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) throw new UsageError(`missing ${names.slice(positionals.length).join(' ')}`);
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[names.length])} (quote a value that contains spaces)`);
  }
  return positionals;
}

export function stringOption(values: FlagValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function requiredString(values: FlagValues, name: string): string {
  const value = stringOption(values, name);
  if (value === undefined) throw new UsageError(`--${name} is required`);
  return value;
}

export function integerOption(values: FlagValues, name: string, fallback: number, min: number, max: number): number {
  const text = stringOption(values, name);
  return text === undefined ? fallback : integerOf(text, `--${name}`, min, max);
}

export function integerOf(text: string, flag: string, min: number, max: number): number {
  const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

export function portOf(text: string, flag: string): number {
  return integerOf(text, flag, 0, 65535);
}

export function nodeIdOf(text: string, flag: string): string {
  // Node ids end up in subjects, directory names and metric labels: keep them to one plain token.
  if (!NODE_ID_PATTERN.test(text)) throw new UsageError(`${flag} ${JSON.stringify(text)} must be 1..64 of [A-Za-z0-9_-]`);
  return text;
}

export function nodeListOf(text: string): string[] {
  const nodes = text.split(',').map((node) => nodeIdOf(node.trim(), '--initial-cluster node'));
  if (new Set(nodes).size !== nodes.length) throw new UsageError(`--initial-cluster ${JSON.stringify(text)} lists a node twice`);
  if (nodes.length > NODES_MAX) throw new UsageError(`--initial-cluster lists ${nodes.length} nodes, at most ${NODES_MAX}`);
  return nodes;
}

export function prefixOf(values: FlagValues): string {
  const prefix = stringOption(values, 'prefix') ?? SUPERVISOR_DEFAULTS.prefix;
  try {
    validatePrefix(prefix);
  } catch (error) {
    if (error instanceof SubjectError) throw new UsageError(`--prefix: ${error.message}`);
    throw error;
  }
  return prefix;
}

export function hostOf(values: FlagValues, name: string): string {
  const host = stringOption(values, name) ?? DEFAULT_HTTP_HOST;
  if (host.length === 0 || host.length > 255 || /[\s/]/.test(host)) throw new UsageError(`--${name} ${JSON.stringify(host)} is not a host name or address`);
  return host;
}

export function natsUrlOf(values: FlagValues, env: Environment): string {
  const given = stringOption(values, 'nats');
  if (given !== undefined) return natsUrlsOf(given);
  const fromEnv = env.NATS_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    try {
      return natsUrlsOf(fromEnv);
    } catch (error) {
      throw new UsageError(`NATS_URL: ${(error as Error).message}`);
    }
  }
  return DEFAULT_NATS_URL;
}

/** Validates comma-separated NATS URLs; "host:port" gets the nats:// scheme. Returns them joined by ",". */
export function natsUrlsOf(text: string): string {
  const urls = text.split(',').map((part) => part.trim());
  return urls
    .map((part) => {
      if (part === '') throw new UsageError(`--nats ${JSON.stringify(text)} contains an empty URL`);
      const withScheme = part.includes('://') ? part : `nats://${part}`;
      let url: URL;
      try {
        url = new URL(withScheme);
      } catch {
        throw new UsageError(`--nats ${JSON.stringify(part)} is not a URL (expected e.g. nats://127.0.0.1:4222)`);
      }
      if (!NATS_SCHEMES.includes(url.protocol)) {
        throw new UsageError(`--nats ${JSON.stringify(part)}: scheme must be one of ${NATS_SCHEMES.map((scheme) => scheme + '//').join(', ')}`);
      }
      if (url.hostname === '') throw new UsageError(`--nats ${JSON.stringify(part)} has no host`);
      if (url.port === '0') throw new UsageError(`--nats ${JSON.stringify(part)}: port 0 is not a server port`);
      return withScheme;
    })
    .join(',');
}
