// Command-line parsing of `cairn`: pure (no I/O; the environment is handed in), so every validation
// error is a unit test. A bad command line is an expected condition, returned as a result; the
// caller prints the message and exits with EXIT_USAGE.

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CasExpectation } from '../bus/protocol';
import {
  DEFAULT_HTTP_HOST, DEFAULT_NATS_URL, NODES_MAX, UsageError,
  exactPositionals, stringOption, requiredString, integerOption, integerOf, portOf, nodeIdOf, nodeListOf, prefixOf, hostOf, natsUrlOf, natsUrlsOf,
} from './argValues';
import type { Environment } from './argValues';
import { SUPERVISOR_DEFAULTS } from './options';
import { adminSubcommands } from './adminArgs';
import type { SupervisorOptions } from './options';

export { DEFAULT_HTTP_HOST, DEFAULT_NATS_URL, NODES_MAX } from './argValues';
export type { Environment } from './argValues';

/** Exit codes of every subcommand. */
export const EXIT_OK = 0;
/** The operation failed (error reply, timeout, no connection, server failed to start). */
export const EXIT_ERROR = 1;
/** Bad command line. */
export const EXIT_USAGE = 2;
/** `cas` only: the comparison failed, nothing was written. */
export const EXIT_CAS_REFUSED = 3;

export const DEFAULT_TIMEOUT_MS = 5000;
export const TIMEOUT_MS_MAX = 600_000;
export const PARTITIONS_MAX = 4096;
/** Partition ids an operator command may name: created partitions take ids past the first layout's. */
const KEY_PARTITION_ID_LIMIT = 65535;
export const DEFAULT_UP_HTTP_PORT = 8080;
export const DEFAULT_UP_READY_TIMEOUT_MS = 60_000;


/** Flags shared by the commands that talk to a running cluster. */
export interface ClientFlags {
  /** NATS server URL(s), comma separated. */
  natsUrl: string;
  prefix: string;
  timeoutMs: number;
  /** Print the reply as one line of JSON instead of human text. */
  json: boolean;
}

export type ClientCommand =
  | { name: 'put'; key: string; value: string; client: ClientFlags }
  | { name: 'get'; key: string; stale: boolean; client: ClientFlags }
  | { name: 'del'; key: string; client: ClientFlags }
  | { name: 'cas'; key: string; value: string; expected: CasExpectation; client: ClientFlags }
  | { name: 'status'; client: ClientFlags };

export interface UpOptions {
  /** A running NATS server to use; undefined = start a nats-server child on a free port. */
  natsUrl?: string;
  nodes: number;
  partitions: number;
  replicas: number;
  /** Absolute data directory; node nI keeps its replicas under <dataDir>/nI/. */
  dataDir: string;
  /** HTTP port of n1 (nI gets httpPort + I - 1); 0 = a free port for each node. */
  httpPort: number;
  httpHost: string;
  prefix: string;
  tickMs: number;
  /** How long to wait for every partition to elect a leader. */
  readyTimeoutMs: number;
}

/** Operator commands: they read the cluster status and talk to a node's control subject. */
export type AdminAction =
  | { kind: 'nodes-list' }
  | { kind: 'drain' | 'undrain' | 'remove'; node: string; wait?: boolean }
  | { kind: 'partitions-list' }
  | { kind: 'stop' | 'start'; partition: number; node: string }
  | { kind: 'transfer'; partition: number; node: string }
  | { kind: 'move'; partition: number; from: string; to: string }
  | { kind: 'rebalance' }
  | { kind: 'create'; replicas?: number }
  | { kind: 'delete'; partition: number }
  | { kind: 'balance-leaders' };

export interface AdminCommand {
  name: 'admin';
  action: AdminAction;
  client: ClientFlags;
}

export type Command =
  | ClientCommand
  | AdminCommand
  | { name: 'supervisor'; options: SupervisorOptions }
  | { name: 'up'; options: UpOptions }
  /** `--help` of any command, `cairn help [command]`: print `text` on stdout, exit 0. */
  | { name: 'help'; text: string }
  | { name: 'version' };

export type ParseOutcome = { ok: true; command: Command } | { ok: false; message: string };


/** Thrown inside this module only; parseCommandLine turns it into `{ok:false}`. */

export type OptionSpec = { type: 'string' | 'boolean'; short?: string };

export interface Subcommand {
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  build(values: Record<string, string | boolean | undefined>, positionals: string[], env: Environment): Command;
}

const CLIENT_OPTIONS: Record<string, OptionSpec> = {
  nats: { type: 'string' },
  prefix: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
};

const CLIENT_HELP = `Connection options:
  --nats URL       NATS server URL(s), comma separated (default $NATS_URL or ${DEFAULT_NATS_URL})
  --prefix P       subject prefix of the cluster (default ${SUPERVISOR_DEFAULTS.prefix})
  --timeout MS     deadline of the request in milliseconds (default ${DEFAULT_TIMEOUT_MS})
  --json           print the reply as one line of JSON
Put -- before a key or value that starts with "-".`;

const SUBCOMMANDS: Record<string, Subcommand> = {
  supervisor: {
    summary: 'run one node of a cluster (one process per machine)',
    usage: `Usage: cairn supervisor --node-id ID (--initial-cluster ID,ID,... | --join) [options]

Runs one node: joins the cluster over NATS, runs its partition replicas, serves HTTP.
  --node-id ID            this node's name; must be listed in --initial-cluster
  --initial-cluster IDS   every node of a new cluster, comma separated (e.g. n1,n2,n3)
  --join                  join a running cluster instead (its shape is read from a running node; the
                          node starts with no replicas and the controller moves its share here)
  --weight N              this node's share of replicas relative to others, 1..100 (default 1)
  --node-down-after MS    the controller declares a silent node down, and re-creates its replicas
                          elsewhere, after MS milliseconds without a heartbeat (default 10000)
  --nats URL              NATS server URL(s) (default $NATS_URL or ${DEFAULT_NATS_URL})
  --data DIR              data directory; replicas live under DIR/<node-id>/ (default ./data)
  --partitions N          partitions of the key space, 1..${PARTITIONS_MAX} (default ${SUPERVISOR_DEFAULTS.partitions})
  --replicas N            replicas per partition, at most the number of nodes (default ${SUPERVISOR_DEFAULTS.replicas})
  --http PORT             serve the HTTP gateway, dashboard and /metrics on PORT (0 = any free port)
  --http-host HOST        address the HTTP gateway binds to (default ${DEFAULT_HTTP_HOST})
  --prefix P              subject prefix (default ${SUPERVISOR_DEFAULTS.prefix})
  --tick-ms MS            milliseconds per Raft tick (default ${SUPERVISOR_DEFAULTS.tickMs})
  --election-ticks N      election timeout in ticks (default ${SUPERVISOR_DEFAULTS.electionTicks})
  --heartbeat-ticks N     heartbeat interval in ticks, less than --election-ticks (default ${SUPERVISOR_DEFAULTS.heartbeatTicks})
  --compact-entries N     compact a replica's log once it holds N applied entries (default ${SUPERVISOR_DEFAULTS.compactEntries})
  --compact-keep N        entries kept behind the applied index for slow followers (default ${SUPERVISOR_DEFAULTS.compactKeep})
  --read-lease on|off     serve linearizable gets under the leader's read lease, without a heartbeat
                          round each (default on; off: every one by ReadIndex; docs/architecture.md)
  --fault-injection       obey <prefix>.ctl.fault commands that drop, delay or cut Raft traffic (tests, drills)
Stops cleanly on SIGTERM or SIGINT (exit 0).`,
    options: {
      'node-id': { type: 'string' },
      'initial-cluster': { type: 'string' },
      join: { type: 'boolean' },
      weight: { type: 'string' },
      'node-down-after': { type: 'string' },
      nats: { type: 'string' },
      data: { type: 'string' },
      partitions: { type: 'string' },
      replicas: { type: 'string' },
      http: { type: 'string' },
      'http-host': { type: 'string' },
      prefix: { type: 'string' },
      'tick-ms': { type: 'string' },
      'election-ticks': { type: 'string' },
      'heartbeat-ticks': { type: 'string' },
      'compact-entries': { type: 'string' },
      'compact-keep': { type: 'string' },
      'read-lease': { type: 'string' },
      'fault-injection': { type: 'boolean' },
    },
    build: buildSupervisor,
  },
  up: {
    summary: 'start a local cluster: a nats-server and N supervisors',
    usage: `Usage: cairn up [options]

Starts a whole cluster on this machine and stops it on Ctrl-C.
  --nats URL            use this NATS server instead of starting a nats-server on a free port
  --nodes N             supervisor processes, 1..${NODES_MAX} (default 3)
  --partitions N        partitions, 1..${PARTITIONS_MAX} (default ${SUPERVISOR_DEFAULTS.partitions})
  --replicas N          replicas per partition (default min(3, nodes))
  --data DIR            data directory (default ./data)
  --http-port PORT      HTTP port of n1; node nI uses PORT+I-1; 0 = a free port per node (default ${DEFAULT_UP_HTTP_PORT})
  --http-host HOST      address the HTTP gateways bind to (default ${DEFAULT_HTTP_HOST})
  --prefix P            subject prefix (default ${SUPERVISOR_DEFAULTS.prefix})
  --tick-ms MS          milliseconds per Raft tick (default ${SUPERVISOR_DEFAULTS.tickMs})
  --ready-timeout MS    how long to wait for every partition to have a leader (default ${DEFAULT_UP_READY_TIMEOUT_MS})`,
    options: {
      nats: { type: 'string' },
      nodes: { type: 'string' },
      partitions: { type: 'string' },
      replicas: { type: 'string' },
      data: { type: 'string' },
      'http-port': { type: 'string' },
      'http-host': { type: 'string' },
      prefix: { type: 'string' },
      'tick-ms': { type: 'string' },
      'ready-timeout': { type: 'string' },
    },
    build: buildUp,
  },
  put: {
    summary: 'set a key: cairn put KEY VALUE',
    usage: `Usage: cairn put KEY VALUE [options]

Sets KEY to VALUE and prints "OK (revision N)".\n${CLIENT_HELP}`,
    options: CLIENT_OPTIONS,
    build: (values, positionals, env) => {
      const [key, value] = exactPositionals(positionals, ['KEY', 'VALUE']);
      return { name: 'put', key: key!, value: value!, client: clientFlags(values, env) };
    },
  },
  get: {
    summary: 'read a key: cairn get KEY [--stale]',
    usage: `Usage: cairn get KEY [--stale] [options]

Prints the value of KEY followed by a newline; prints nothing when KEY is absent (exit 0).
  --stale          allow a possibly stale read from any replica (default: linearizable)\n${CLIENT_HELP}`,
    options: { ...CLIENT_OPTIONS, stale: { type: 'boolean' } },
    build: (values, positionals, env) => {
      const [key] = exactPositionals(positionals, ['KEY']);
      return { name: 'get', key: key!, stale: values.stale === true, client: clientFlags(values, env) };
    },
  },
  del: {
    summary: 'delete a key: cairn del KEY',
    usage: `Usage: cairn del KEY [options]

Deletes KEY; prints "deleted (revision N)" or "absent (revision N)" (both exit 0).\n${CLIENT_HELP}`,
    options: CLIENT_OPTIONS,
    build: (values, positionals, env) => {
      const [key] = exactPositionals(positionals, ['KEY']);
      return { name: 'del', key: key!, client: clientFlags(values, env) };
    },
  },
  cas: {
    summary: 'compare-and-set: cairn cas KEY VALUE (--expected-revision N | --expected-value V | --expect-absent)',
    usage: `Usage: cairn cas KEY VALUE (--expected-revision N | --expected-value V | --expect-absent) [options]

Sets KEY to VALUE only if KEY currently matches the expectation (exactly one):
  --expected-revision N   KEY is at revision N (0 = absent)
  --expected-value V      KEY currently holds V
  --expect-absent         KEY does not exist
Prints "OK (revision N)" (exit 0), or "refused: ..." with the current revision (exit ${EXIT_CAS_REFUSED}).\n${CLIENT_HELP}`,
    options: {
      ...CLIENT_OPTIONS,
      'expected-revision': { type: 'string' },
      'expected-value': { type: 'string' },
      'expect-absent': { type: 'boolean' },
    },
    build: (values, positionals, env) => {
      const [key, value] = exactPositionals(positionals, ['KEY', 'VALUE']);
      return { name: 'cas', key: key!, value: value!, expected: casExpectation(values), client: clientFlags(values, env) };
    },
  },
  ...adminSubcommands({ clientOptions: CLIENT_OPTIONS, clientHelp: CLIENT_HELP, clientFlags, partitionsMax: KEY_PARTITION_ID_LIMIT }),
  status: {
    summary: "show the cluster's nodes, partitions and replicas",
    usage: `Usage: cairn status [options]

Prints the nodes, then each partition's leader and replicas (role, term, commit, applied, lag).\n${CLIENT_HELP}`,
    options: CLIENT_OPTIONS,
    build: (values, positionals, env) => {
      exactPositionals(positionals, []);
      return { name: 'status', client: clientFlags(values, env) };
    },
  },
};

export const USAGE = `Usage: cairn <command> [options]

Commands:
${Object.entries(SUBCOMMANDS)
  .map(([name, subcommand]) => `  ${name.padEnd(12)} ${subcommand.summary}`)
  .join('\n')}

Run "cairn <command> --help" for a command's options.
Exit codes: ${EXIT_OK} ok, ${EXIT_ERROR} error, ${EXIT_USAGE} bad usage, ${EXIT_CAS_REFUSED} cas refused.`;

/** Parses `argv` (without node and the script). Never throws. */
export function parseCommandLine(argv: readonly string[], env: Environment): ParseOutcome {
  const [name, ...rest] = argv;
  if (name === undefined) return { ok: false, message: 'missing command' };
  if (name === '--help' || name === '-h') return { ok: true, command: { name: 'help', text: USAGE } };
  if (name === '--version') return { ok: true, command: { name: 'version' } };
  if (name === 'help') return helpOf(rest[0]);
  const subcommand = Object.prototype.hasOwnProperty.call(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (subcommand === undefined) return { ok: false, message: `unknown command ${JSON.stringify(name)}` };
  const terminator = rest.indexOf('--');
  const flags = terminator === -1 ? rest : rest.slice(0, terminator);
  if (flags.includes('--help') || flags.includes('-h')) return { ok: true, command: { name: 'help', text: subcommand.usage } };
  try {
    const parsed = parseArgs({ args: [...rest], options: subcommand.options, allowPositionals: true, strict: true });
    return { ok: true, command: subcommand.build(parsed.values, parsed.positionals, env) };
  } catch (error) {
    return { ok: false, message: `${name}: ${describeParseError(error)}` };
  }
}

/** The usage text of `name`, or the overview. */
export function usageOf(name: string | undefined): string {
  if (name !== undefined && Object.prototype.hasOwnProperty.call(SUBCOMMANDS, name)) return SUBCOMMANDS[name]!.usage;
  return USAGE;
}

function helpOf(name: string | undefined): ParseOutcome {
  if (name === undefined) return { ok: true, command: { name: 'help', text: USAGE } };
  if (!Object.prototype.hasOwnProperty.call(SUBCOMMANDS, name)) return { ok: false, message: `unknown command ${JSON.stringify(name)}` };
  return { ok: true, command: { name: 'help', text: SUBCOMMANDS[name]!.usage } };
}

function describeParseError(error: unknown): string {
  if (error instanceof UsageError) return error.message;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return message.split('\n')[0]!;
  return message;
}

function buildSupervisor(values: Record<string, string | boolean | undefined>, positionals: string[], env: Environment): Command {
  exactPositionals(positionals, []);
  const nodeId = nodeIdOf(requiredString(values, 'node-id'), '--node-id');
  const join = values.join === true;
  if (join) {
    for (const flag of ['initial-cluster', 'partitions', 'replicas']) {
      if (values[flag] !== undefined) throw new UsageError(`--join reads --${flag} from the running cluster; do not give it`);
    }
  }
  const initialCluster = join ? [] : nodeListOf(requiredString(values, 'initial-cluster'));
  if (!join && !initialCluster.includes(nodeId)) throw new UsageError(`--node-id ${nodeId} is not in --initial-cluster ${initialCluster.join(',')}`);
  const replicas = integerOption(values, 'replicas', SUPERVISOR_DEFAULTS.replicas, 1, NODES_MAX);
  if (!join && replicas > initialCluster.length) {
    throw new UsageError(`--replicas ${replicas} is more than the ${initialCluster.length} node(s) of --initial-cluster`);
  }
  const electionTicks = integerOption(values, 'election-ticks', SUPERVISOR_DEFAULTS.electionTicks, 2, 10_000);
  const heartbeatTicks = integerOption(values, 'heartbeat-ticks', SUPERVISOR_DEFAULTS.heartbeatTicks, 1, 10_000);
  if (heartbeatTicks >= electionTicks) throw new UsageError(`--heartbeat-ticks ${heartbeatTicks} must be less than --election-ticks ${electionTicks}`);
  const options: SupervisorOptions = {
    nodeId,
    natsUrl: natsUrlOf(values, env),
    dataDir: resolve(stringOption(values, 'data') ?? './data'),
    initialCluster,
    partitions: integerOption(values, 'partitions', SUPERVISOR_DEFAULTS.partitions, 1, PARTITIONS_MAX),
    replicas,
    prefix: prefixOf(values),
    httpHost: hostOf(values, 'http-host'),
    tickMs: integerOption(values, 'tick-ms', SUPERVISOR_DEFAULTS.tickMs, 1, 60_000),
    electionTicks,
    heartbeatTicks,
    compactEntries: integerOption(values, 'compact-entries', SUPERVISOR_DEFAULTS.compactEntries, 2, 100_000_000),
    compactKeep: integerOption(values, 'compact-keep', SUPERVISOR_DEFAULTS.compactKeep, 1, 100_000_000),
  };
  if (options.compactKeep! >= options.compactEntries!) throw new UsageError('--compact-keep must be less than --compact-entries');
  if (values['fault-injection'] === true) options.faultInjection = true;
  const readLease = stringOption(values, 'read-lease');
  if (readLease !== undefined && readLease !== 'on' && readLease !== 'off') throw new UsageError(`--read-lease must be on or off, not ${readLease}`);
  if (readLease === 'off') options.readLease = false;
  if (join) options.join = true;
  if (values.weight !== undefined) options.weight = integerOption(values, 'weight', 1, 1, 100);
  if (values['node-down-after'] !== undefined) options.nodeDownAfterMs = integerOption(values, 'node-down-after', 10_000, 2_000, 3_600_000);
  const httpPort = stringOption(values, 'http');
  if (httpPort !== undefined) options.httpPort = portOf(httpPort, '--http');
  return { name: 'supervisor', options };
}

function buildUp(values: Record<string, string | boolean | undefined>, positionals: string[], env: Environment): Command {
  void env; // `up` starts its own nats-server unless --nats is given; NATS_URL does not apply.
  exactPositionals(positionals, []);
  const nodes = integerOption(values, 'nodes', 3, 1, NODES_MAX);
  const replicas = integerOption(values, 'replicas', Math.min(3, nodes), 1, NODES_MAX);
  if (replicas > nodes) throw new UsageError(`--replicas ${replicas} is more than --nodes ${nodes}`);
  const httpPort = portOf(stringOption(values, 'http-port') ?? String(DEFAULT_UP_HTTP_PORT), '--http-port');
  if (httpPort !== 0 && httpPort + nodes - 1 > 65535) {
    throw new UsageError(`--http-port ${httpPort} leaves no room for ${nodes} ports (nI uses PORT+I-1, at most 65535)`);
  }
  const nats = stringOption(values, 'nats');
  return {
    name: 'up',
    options: {
      natsUrl: nats === undefined ? undefined : natsUrlsOf(nats),
      nodes,
      partitions: integerOption(values, 'partitions', SUPERVISOR_DEFAULTS.partitions, 1, PARTITIONS_MAX),
      replicas,
      dataDir: resolve(stringOption(values, 'data') ?? './data'),
      httpPort,
      httpHost: hostOf(values, 'http-host'),
      prefix: prefixOf(values),
      tickMs: integerOption(values, 'tick-ms', SUPERVISOR_DEFAULTS.tickMs, 1, 60_000),
      readyTimeoutMs: integerOption(values, 'ready-timeout', DEFAULT_UP_READY_TIMEOUT_MS, 1, 3_600_000),
    },
  };
}

function clientFlags(values: Record<string, string | boolean | undefined>, env: Environment): ClientFlags {
  return {
    natsUrl: natsUrlOf(values, env),
    prefix: prefixOf(values),
    timeoutMs: integerOption(values, 'timeout', DEFAULT_TIMEOUT_MS, 1, TIMEOUT_MS_MAX),
    json: values.json === true,
  };
}

function casExpectation(values: Record<string, string | boolean | undefined>): CasExpectation {
  const revision = stringOption(values, 'expected-revision');
  const value = stringOption(values, 'expected-value');
  const absent = values['expect-absent'] === true;
  const given = [revision !== undefined, value !== undefined, absent].filter(Boolean).length;
  if (given !== 1) throw new UsageError('cas needs exactly one of --expected-revision, --expected-value, --expect-absent');
  if (absent) return { revision: 0 };
  if (value !== undefined) return { value };
  return { revision: integerOf(revision!, '--expected-revision', 0, Number.MAX_SAFE_INTEGER) };
}
