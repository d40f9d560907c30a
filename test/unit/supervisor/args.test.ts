import { expect } from 'chai';
import { resolve } from 'node:path';
import { DEFAULT_NATS_URL, DEFAULT_TIMEOUT_MS, parseCommandLine } from '../../../supervisor/args';
import type { Command, Environment } from '../../../supervisor/args';
import { SUPERVISOR_DEFAULTS } from '../../../supervisor/options';

const NO_ENV: Environment = {};

function parsed(argv: string[], env: Environment = NO_ENV): Command {
  const outcome = parseCommandLine(argv, env);
  if (!outcome.ok) throw new Error(`expected ${JSON.stringify(argv)} to parse, got: ${outcome.message}`);
  return outcome.command;
}

const SUPERVISOR = ['supervisor', '--node-id', 'n1', '--initial-cluster', 'n1,n2,n3'];

describe('supervisor/args', () => {
  describe('refuses bad command lines with a message naming the problem', () => {
    const cases: Array<[string, string[], RegExp]> = [
      ['no command', [], /missing command/],
      ['unknown command', ['frob'], /unknown command "frob"/],
      ['help of an unknown command', ['help', 'frob'], /unknown command "frob"/],
      // supervisor
      ['supervisor without --node-id', ['supervisor', '--initial-cluster', 'n1'], /--node-id is required/],
      ['supervisor without --initial-cluster', ['supervisor', '--node-id', 'n1'], /--initial-cluster is required/],
      ['supervisor --join with --initial-cluster', ['supervisor', '--node-id', 'n4', '--join', '--initial-cluster', 'n1'], /--join reads --initial-cluster from the running cluster/],
      ['supervisor --join with --partitions', ['supervisor', '--node-id', 'n4', '--join', '--partitions', '4'], /--join reads --partitions/],
      ['supervisor with a zero weight', [...SUPERVISOR, '--weight', '0'], /--weight must be an integer in 1\.\.100\b/],
      ['node id not in the cluster', ['supervisor', '--node-id', 'n4', '--initial-cluster', 'n1,n2,n3'], /n4 is not in --initial-cluster/],
      ['node id with a dot', ['supervisor', '--node-id', 'n.1', '--initial-cluster', 'n.1'], /--node-id "n.1" must be/],
      ['empty node in the cluster', ['supervisor', '--node-id', 'n1', '--initial-cluster', 'n1,,n2'], /--initial-cluster node "" must be/],
      ['duplicate node', ['supervisor', '--node-id', 'n1', '--initial-cluster', 'n1,n2,n1'], /lists a node twice/],
      ['more replicas than nodes', [...SUPERVISOR, '--replicas', '4'], /--replicas 4 is more than the 3 node/],
      ['zero replicas', [...SUPERVISOR, '--replicas', '0'], /--replicas must be an integer in 1\.\./],
      ['zero partitions', [...SUPERVISOR, '--partitions', '0'], /--partitions must be an integer in 1\.\.4096/],
      ['too many partitions', [...SUPERVISOR, '--partitions', '4097'], /--partitions must be an integer in 1\.\.4096/],
      ['fractional partitions', [...SUPERVISOR, '--partitions', '1.5'], /--partitions must be an integer/],
      ['negative partitions', [...SUPERVISOR, '--partitions=-1'], /--partitions must be an integer/],
      ['port too large', [...SUPERVISOR, '--http', '65536'], /--http must be an integer in 0\.\.65535/],
      ['port not a number', [...SUPERVISOR, '--http', '80a'], /--http must be an integer/],
      ['bad prefix', [...SUPERVISOR, '--prefix', 'a..b'], /--prefix: subject prefix token "" is not/],
      ['prefix with a wildcard', [...SUPERVISOR, '--prefix', 'cairn.>'], /--prefix/],
      ['zero tick', [...SUPERVISOR, '--tick-ms', '0'], /--tick-ms must be an integer in 1\.\./],
      ['heartbeat not below election', [...SUPERVISOR, '--election-ticks', '4', '--heartbeat-ticks', '4'], /--heartbeat-ticks 4 must be less than --election-ticks 4/],
      ['bad NATS scheme', [...SUPERVISOR, '--nats', 'http://127.0.0.1:4222'], /scheme must be one of nats:\/\//],
      ['bad NATS port', [...SUPERVISOR, '--nats', 'nats://127.0.0.1:99999'], /is not a URL/],
      ['empty URL in the list', [...SUPERVISOR, '--nats', 'nats://a:1,,nats://b:2'], /contains an empty URL/],
      ['bad http host', [...SUPERVISOR, '--http-host', 'a b'], /--http-host "a b" is not a host/],
      ['stray positional', [...SUPERVISOR, 'extra'], /unexpected argument "extra"/],
      ['unknown flag', [...SUPERVISOR, '--bogus'], /Unknown option '--bogus'/],
      ['flag without a value', [...SUPERVISOR, '--data'], /--data/],
      // up
      ['up: replicas above nodes', ['up', '--nodes', '2', '--replicas', '3'], /--replicas 3 is more than --nodes 2/],
      ['up: zero nodes', ['up', '--nodes', '0'], /--nodes must be an integer in 1\.\.64/],
      ['up: ports overflow', ['up', '--nodes', '3', '--http-port', '65534'], /leaves no room for 3 ports/],
      ['up: bad NATS URL', ['up', '--nats', 'ftp://x'], /scheme must be one of/],
      ['up: zero ready timeout', ['up', '--ready-timeout', '0'], /--ready-timeout must be an integer/],
      // client commands
      ['put without a value', ['put', 'k'], /missing VALUE/],
      ['put without anything', ['put'], /missing KEY VALUE/],
      ['put with three positionals', ['put', 'k', 'v', 'w'], /unexpected argument "w"/],
      ['get without a key', ['get'], /missing KEY/],
      ['get with a value for --stale', ['get', 'k', '--stale=yes'], /--stale/],
      ['del with two keys', ['del', 'a', 'b'], /unexpected argument "b"/],
      ['status with a positional', ['status', 'x'], /unexpected argument "x"/],
      ['cas without an expectation', ['cas', 'k', 'v'], /exactly one of --expected-revision, --expected-value, --expect-absent/],
      ['cas with two expectations', ['cas', 'k', 'v', '--expect-absent', '--expected-revision', '3'], /exactly one of/],
      ['cas with a negative revision', ['cas', 'k', 'v', '--expected-revision=-1'], /--expected-revision must be an integer in 0\.\./],
      ['cas with a huge revision', ['cas', 'k', 'v', '--expected-revision', '9007199254740993'], /--expected-revision must be an integer/],
      ['zero timeout', ['get', 'k', '--timeout', '0'], /--timeout must be an integer in 1\.\./],
      ['huge timeout', ['get', 'k', '--timeout', '600001'], /--timeout must be an integer in 1\.\.600000/],
      ['value starting with a dash', ['put', 'k', '-5'], /Unknown option '-5'/],
      ['bad prefix on a client command', ['get', 'k', '--prefix', 'a b'], /--prefix/],
      // operator commands
      ['nodes without a verb', ['nodes'], /expected "list", "drain NODE", "undrain NODE" or "remove NODE"/],
      ['--wait with undrain', ['nodes', 'undrain', 'n1', '--wait'], /--wait goes with "drain"/],
      ['nodes drain without a node', ['nodes', 'drain'], /missing NODE/],
      ['nodes drain with a bad node id', ['nodes', 'drain', 'n.1'], /NODE "n.1" must be/],
      ['nodes list with an extra argument', ['nodes', 'list', 'x'], /unexpected argument "x"/],
      ['partitions stop without --node', ['partitions', 'stop', '1'], /--node is required/],
      ['partitions stop of a non-number', ['partitions', 'stop', 'one', '--node', 'n1'], /P must be an integer/],
      ['partitions with an unknown verb', ['partitions', 'frob', '1'], /expected "list", "create", "delete P", "stop P --node NODE"/],
      ['partitions create with a position', ['partitions', 'create', '4'], /unexpected argument|positional|4/],
      ['partitions create with zero replicas', ['partitions', 'create', '--replicas', '0'], /--replicas/],
      ['partitions delete without a partition', ['partitions', 'delete'], /P/],
      ['partitions delete of the metadata partition', ['partitions', 'delete', '65535'], /P/],
      ['partitions move without --to', ['partitions', 'move', '1', '--from', 'n1'], /--to is required/],
      ['partitions move to the same node', ['partitions', 'move', '1', '--from', 'n1', '--to', 'n1'], /--from and --to name the same node/],
      ['leader without transfer', ['leader', 'move', '1', '--to', 'n1'], /expected "transfer P --to NODE" or "balance"/],
      ['leader balance with an argument', ['leader', 'balance', 'x'], /unexpected argument "x"/],
      ['leader transfer without --to', ['leader', 'transfer', '1'], /--to is required/],
    ];
    for (const [name, argv, message] of cases) {
      it(name, () => {
        const outcome = parseCommandLine(argv, NO_ENV);
        expect(outcome.ok, JSON.stringify(argv)).to.equal(false);
        if (!outcome.ok) expect(outcome.message).to.match(message);
      });
    }

    it('a bad NATS_URL in the environment, only when --nats is absent', () => {
      const outcome = parseCommandLine(['get', 'k'], { NATS_URL: 'http://x' });
      expect(outcome.ok).to.equal(false);
      if (!outcome.ok) expect(outcome.message).to.match(/NATS_URL: /);
      expect(parsed(['get', 'k', '--nats', 'nats://a:1'], { NATS_URL: 'http://x' })).to.have.nested.property('client.natsUrl', 'nats://a:1');
    });
  });

  describe('builds commands', () => {
    it('supervisor: SupervisorOptions with defaults', () => {
      const command = parsed([...SUPERVISOR, '--nats', 'nats://10.0.0.1:4222', '--data', './d', '--http', '0']);
      expect(command).to.deep.equal({
        name: 'supervisor',
        options: {
          nodeId: 'n1',
          natsUrl: 'nats://10.0.0.1:4222',
          dataDir: resolve('./d'),
          initialCluster: ['n1', 'n2', 'n3'],
          partitions: SUPERVISOR_DEFAULTS.partitions,
          replicas: SUPERVISOR_DEFAULTS.replicas,
          prefix: SUPERVISOR_DEFAULTS.prefix,
          httpPort: 0,
          httpHost: '127.0.0.1',
          tickMs: SUPERVISOR_DEFAULTS.tickMs,
          electionTicks: SUPERVISOR_DEFAULTS.electionTicks,
          heartbeatTicks: SUPERVISOR_DEFAULTS.heartbeatTicks,
          compactEntries: SUPERVISOR_DEFAULTS.compactEntries,
          compactKeep: SUPERVISOR_DEFAULTS.compactKeep,
        },
      });
    });

    it('supervisor: --join needs no --initial-cluster; --weight', () => {
      const command = parsed(['supervisor', '--node-id', 'n4', '--join', '--weight', '3']) as unknown as { options: Record<string, unknown> };
      expect(command.options).to.include({ nodeId: 'n4', join: true, weight: 3 });
      expect(command.options.initialCluster).to.deep.equal([]);
    });

    it('supervisor: --fault-injection turns on obedience to fault commands', () => {
      expect(parsed([...SUPERVISOR, '--fault-injection'])).to.have.nested.property('options.faultInjection', true);
      expect(parsed([...SUPERVISOR])).to.not.have.nested.property('options.faultInjection');
    });

    it('supervisor: --read-lease off turns lease reads off; on is the default; anything else is refused', () => {
      expect(parsed([...SUPERVISOR, '--read-lease', 'off'])).to.have.nested.property('options.readLease', false);
      expect(parsed([...SUPERVISOR, '--read-lease', 'on'])).to.not.have.nested.property('options.readLease');
      expect(parsed([...SUPERVISOR])).to.not.have.nested.property('options.readLease');
      expect(parseCommandLine([...SUPERVISOR, '--read-lease', 'maybe'], {}).ok).to.equal(false);
    });

    it('supervisor: --compact-keep must stay below --compact-entries', () => {
      const outcome = parseCommandLine([...SUPERVISOR, '--compact-entries', '100', '--compact-keep', '100'], {});
      expect(outcome.ok).to.equal(false);
    });

    it('supervisor: every flag, spaces in the cluster list, no --http means no gateway', () => {
      const command = parsed([
        'supervisor',
        ...['--node-id', 'b', '--initial-cluster', 'a, b', '--partitions', '4096', '--replicas', '2', '--prefix', 'x.y'],
        ...['--tick-ms', '5', '--election-ticks', '20', '--heartbeat-ticks', '3', '--http-host', '0.0.0.0', '--nats', 'h1:1,tls://h2:2'],
      ]);
      if (command.name !== 'supervisor') throw new Error('not a supervisor command');
      expect(command.options.initialCluster).to.deep.equal(['a', 'b']);
      expect(command.options).to.include({ partitions: 4096, replicas: 2, prefix: 'x.y', tickMs: 5, electionTicks: 20, heartbeatTicks: 3, httpHost: '0.0.0.0' });
      expect(command.options.natsUrl).to.equal('nats://h1:1,tls://h2:2');
      expect(command.options).to.not.have.property('httpPort');
    });

    it('client commands: defaults, NATS_URL, flags anywhere, -- before dashed values', () => {
      expect(parsed(['put', 'k', 'v'])).to.deep.equal({
        name: 'put',
        key: 'k',
        value: 'v',
        client: { natsUrl: DEFAULT_NATS_URL, prefix: 'cairn', timeoutMs: DEFAULT_TIMEOUT_MS, json: false },
      });
      expect(parsed(['get', '--stale', 'k', '--json'], { NATS_URL: 'nats://e:5' })).to.deep.equal({
        name: 'get',
        key: 'k',
        stale: true,
        client: { natsUrl: 'nats://e:5', prefix: 'cairn', timeoutMs: DEFAULT_TIMEOUT_MS, json: true },
      });
      expect(parsed(['put', '--timeout', '50', '--', '-k', '--v'])).to.include({ key: '-k', value: '--v' });
      expect(parsed(['put', 'k', ''])).to.include({ value: '' });
      expect(parsed(['del', '__proto__'])).to.include({ name: 'del', key: '__proto__' });
      expect(parsed(['status', '--prefix', 'other'])).to.have.nested.property('client.prefix', 'other');
    });

    it('operator commands: nodes, partitions, leader', () => {
      const client = { natsUrl: DEFAULT_NATS_URL, prefix: 'cairn', timeoutMs: DEFAULT_TIMEOUT_MS, json: false };
      expect(parsed(['nodes', 'list'])).to.deep.equal({ name: 'admin', action: { kind: 'nodes-list' }, client });
      expect(parsed(['nodes', 'drain', 'n2', '--json'])).to.deep.equal({ name: 'admin', action: { kind: 'drain', node: 'n2' }, client: { ...client, json: true } });
      expect(parsed(['nodes', 'undrain', 'n2'])).to.have.deep.property('action', { kind: 'undrain', node: 'n2' });
      expect(parsed(['partitions', 'list'])).to.have.deep.property('action', { kind: 'partitions-list' });
      expect(parsed(['partitions', 'stop', '3', '--node', 'n1'])).to.have.deep.property('action', { kind: 'stop', partition: 3, node: 'n1' });
      expect(parsed(['partitions', 'start', '--node', 'n1', '0'])).to.have.deep.property('action', { kind: 'start', partition: 0, node: 'n1' });
      expect(parsed(['leader', 'transfer', '5', '--to', 'n3'])).to.have.deep.property('action', { kind: 'transfer', partition: 5, node: 'n3' });
      expect(parsed(['partitions', 'move', '2', '--from', 'n1', '--to', 'n4'])).to.have.deep.property('action', { kind: 'move', partition: 2, from: 'n1', to: 'n4' });
      expect(parsed(['leader', 'balance'])).to.have.deep.property('action', { kind: 'balance-leaders' });
      expect(parsed(['partitions', 'rebalance'])).to.have.deep.property('action', { kind: 'rebalance' });
      expect(parsed(['partitions', 'create'])).to.have.deep.property('action', { kind: 'create' });
      expect(parsed(['partitions', 'create', '--replicas', '5'])).to.have.deep.property('action', { kind: 'create', replicas: 5 });
      expect(parsed(['partitions', 'delete', '4100'])).to.have.deep.property('action', { kind: 'delete', partition: 4100 });
    });

    it('cas: the three expectations', () => {
      expect(parsed(['cas', 'k', 'v', '--expected-revision', '7'])).to.have.deep.property('expected', { revision: 7 });
      expect(parsed(['cas', 'k', 'v', '--expected-value', ''])).to.have.deep.property('expected', { value: '' });
      expect(parsed(['cas', 'k', 'v', '--expect-absent'])).to.have.deep.property('expected', { revision: 0 });
    });

    it('up: defaults and free ports', () => {
      const command = parsed(['up', '--nodes', '2', '--http-port', '0', '--data', '/tmp/x']);
      expect(command).to.deep.equal({
        name: 'up',
        options: {
          natsUrl: undefined,
          nodes: 2,
          partitions: SUPERVISOR_DEFAULTS.partitions,
          replicas: 2,
          dataDir: '/tmp/x',
          httpPort: 0,
          httpHost: '127.0.0.1',
          prefix: 'cairn',
          tickMs: SUPERVISOR_DEFAULTS.tickMs,
          readyTimeoutMs: 60_000,
        },
      });
      expect(parsed(['up'])).to.have.nested.property('options.httpPort', 8080);
    });

    it('help: --help, -h, help <command>; --help after -- is a value', () => {
      expect(parsed(['--help'])).to.have.property('name', 'help');
      const help = parsed(['get', '-h']);
      expect(help.name).to.equal('help');
      if (help.name === 'help') expect(help.text).to.match(/^Usage: cairn get KEY/);
      expect(parsed(['help', 'cas'])).to.have.property('text').that.matches(/--expect-absent/);
      expect(parsed(['supervisor', '--help'])).to.have.property('text').that.matches(/--initial-cluster/);
      expect(parsed(['put', 'k', '--', '--help'])).to.include({ name: 'put', value: '--help' });
    });
  });
});
