import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { connect } from 'nats';
import type { NatsConnection, Subscription } from 'nats';
import { KEY_BYTES_MAX } from '../../../bus/protocol';
import type { ErrorCode, KvRequest } from '../../../bus/protocol';
import { startKvResponder } from '../../support/kvResponder';
import type { KvResponder } from '../../support/kvResponder';
import { findFreePorts, startNatsServer } from '../../support/natsServer';
import type { NatsServerHandle } from '../../support/natsServer';
import { SAMPLE_STATUS } from '../../unit/supervisor/sampleStatus';

const CLI = join(__dirname, '..', '..', '..', 'supervisor', 'cli.js');
const BIN = join(__dirname, '..', '..', '..', '..', 'bin', 'cairn.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a real child process, without NATS_URL from this environment unless given. */
function cli(args: string[], env: Record<string, string> = {}, script = CLI): Promise<Run> {
  return new Promise((resolve, reject) => {
    const { NATS_URL: _ignored, ...inherited } = process.env;
    const child = spawn(process.execPath, [script, ...args], { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

type Intercept = (request: KvRequest) => { code: ErrorCode; message: string; leader?: number } | 'silent' | undefined;

describe('cairn CLI commands (child processes, real nats-server, in-memory responder)', function () {
  this.timeout(60_000);
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let responder: KvResponder;
  let intercept: Intercept | undefined;
  let nats: string[];

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    nats = ['--nats', server.url];
  });
  beforeEach(() => {
    intercept = undefined;
    responder = startKvResponder(nc, { intercept: (request) => intercept?.(request) });
  });
  afterEach(() => responder.stop());
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('put, get, del: human output and exit 0; get of an absent key prints nothing, exit 0', async () => {
    expect(await cli(['put', 'k', 'hello world', ...nats])).to.deep.equal({ code: 0, stdout: 'OK (revision 1)\n', stderr: '' });
    expect(await cli(['get', 'k', ...nats])).to.deep.equal({ code: 0, stdout: 'hello world\n', stderr: '' });
    expect(await cli(['get', 'k', '--stale', ...nats])).to.deep.equal({ code: 0, stdout: 'hello world\n', stderr: '' });
    expect(await cli(['del', 'k', ...nats])).to.deep.equal({ code: 0, stdout: 'deleted (revision 2)\n', stderr: '' });
    expect(await cli(['del', 'k', ...nats])).to.deep.equal({ code: 0, stdout: 'absent (revision 2)\n', stderr: '' });
    expect(await cli(['get', 'k', ...nats])).to.deep.equal({ code: 0, stdout: '', stderr: '' });
  });

  it('--json prints the reply as one line of JSON', async () => {
    expect((await cli(['put', 'j', 'v', '--json', ...nats])).stdout).to.equal('{"revision":1}\n');
    expect((await cli(['get', 'j', '--json', ...nats])).stdout).to.equal('{"value":"v","revision":1}\n');
    expect((await cli(['get', 'none', '--json', ...nats])).stdout).to.equal('{"value":null,"revision":0}\n');
    expect((await cli(['del', 'j', '--json', ...nats])).stdout).to.equal('{"deleted":true,"revision":2}\n');
    expect((await cli(['status', '--json', ...nats])).stdout).to.equal('{"keys":0,"revision":2}\n');
  });

  it('cas: applied exit 0, refused exit 3, by revision, by value and absent', async () => {
    expect(await cli(['cas', 'c', 'a', '--expect-absent', ...nats])).to.deep.equal({ code: 0, stdout: 'OK (revision 1)\n', stderr: '' });
    expect(await cli(['cas', 'c', 'b', '--expect-absent', ...nats])).to.deep.equal({ code: 3, stdout: 'refused: key is at revision 1\n', stderr: '' });
    expect(await cli(['cas', 'c', 'b', '--expected-revision', '1', ...nats])).to.deep.equal({ code: 0, stdout: 'OK (revision 2)\n', stderr: '' });
    expect(await cli(['cas', 'c', 'x', '--expected-value', 'a', '--json', ...nats])).to.deep.equal({
      code: 3,
      stdout: '{"ok":false,"value":"b","revision":2}\n',
      stderr: '',
    });
    expect((await cli(['cas', 'c', 'd', '--expected-value', 'b', ...nats])).code).to.equal(0);
    expect(await cli(['cas', 'new', 'v', '--expected-revision', '5', ...nats])).to.deep.equal({ code: 3, stdout: 'refused: key is absent\n', stderr: '' });
  });

  it('keys and values: unicode, "__proto__", empty value, dashes after --, NATS_URL from the environment', async () => {
    expect((await cli(['put', 'ключ 🙂', 'значение\nс переводом', ...nats])).code).to.equal(0);
    expect(responder.store.get('ключ 🙂')?.value).to.equal('значение\nс переводом');
    expect((await cli(['get', 'ключ 🙂', ...nats])).stdout).to.equal('значение\nс переводом\n');
    expect((await cli(['put', '__proto__', '', ...nats])).code).to.equal(0);
    expect(responder.store.get('__proto__')?.value).to.equal('');
    expect((await cli(['put', ...nats, '--', '-k', '--v'])).code).to.equal(0);
    expect(responder.store.get('-k')?.value).to.equal('--v');
    expect((await cli(['get', '-k'], { NATS_URL: server.url })).code).to.equal(2); // dashed key without --
    expect(await cli(['get', '--', '-k'], { NATS_URL: server.url })).to.deep.equal({ code: 0, stdout: '--v\n', stderr: '' });
  });

  it('status prints node and partition tables from a cluster status', async () => {
    const status: Subscription = nc.subscribe('fake.cluster.status', { callback: (_error, msg) => msg.respond(new TextEncoder().encode(JSON.stringify(SAMPLE_STATUS))) });
    try {
      const run = await cli(['status', '--prefix', 'fake', ...nats]);
      expect(run.code).to.equal(0);
      expect(run.stdout).to.match(/^2 node\(s\), 2 partition\(s\), 1 with a leader\n/);
      expect(run.stdout).to.match(/\nNODE +PID +HTTP +UPTIME +STATE +HEALTH +REPLICAS +RESTARTS +FAILED\nn1 +101 +8080 /);
      expect(run.stdout).to.match(/\n0 +r1@n1 t4 +1 +n1 +leader +4 +10 +10 +0\n +2 +n2 +follower +4 +10 +9 +2\n/);
      expect(run.stdout).to.include('no answer from: p1/r2');
    } finally {
      status.unsubscribe();
    }
  });

  it('error replies: code on stderr, exit 1; writes that may have applied say so; --json errors as JSON', async () => {
    intercept = () => ({ code: 'UNAVAILABLE', message: 'no leader for partition 3' });
    const put = await cli(['put', 'k', 'v', ...nats]);
    expect(put).to.deep.equal({
      code: 1,
      stdout: '',
      stderr: 'cairn put: UNAVAILABLE: no leader for partition 3 (the write may or may not have been applied)\n',
    });
    const get = await cli(['get', 'k', ...nats]);
    expect(get.stderr).to.equal('cairn get: UNAVAILABLE: no leader for partition 3\n');
    intercept = () => ({ code: 'NOT_LEADER', message: 'not the leader', leader: 2 });
    expect((await cli(['del', 'k', ...nats])).stderr).to.equal('cairn del: NOT_LEADER: not the leader (leader hint: replica 2)\n');
    expect(await cli(['del', 'k', '--json', ...nats])).to.deep.equal({
      code: 1,
      stdout: '',
      stderr: '{"error":{"code":"NOT_LEADER","message":"not the leader","leader":2}}\n',
    });
    intercept = () => 'silent';
    const timeout = await cli(['put', 'k', 'v', '--timeout', '300', ...nats]);
    expect(timeout.code).to.equal(1);
    expect(timeout.stderr).to.match(/^cairn put: TIMEOUT: .*\(the write may or may not have been applied\)\n$/);
  });

  it('no responders, no server, invalid keys: exit 1 with the code', async () => {
    const nobody = await cli(['get', 'k', '--prefix', 'nobody', '--timeout', '300', ...nats]);
    expect(nobody.code).to.equal(1);
    expect(nobody.stderr).to.match(/^cairn get: NO_RESPONDERS: /);
    const [freePort] = await findFreePorts(1);
    const unreachable = await cli(['put', 'k', 'v', '--nats', `nats://127.0.0.1:${freePort}`, '--timeout', '1000']);
    expect(unreachable.code).to.equal(1);
    expect(unreachable.stderr).to.match(/^cairn put: CONNECT_FAILED: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: /);
    // Refused before connecting: the unreachable URL proves nothing was sent.
    const tooLarge = await cli(['put', 'k'.repeat(KEY_BYTES_MAX + 1), 'v', '--nats', `nats://127.0.0.1:${freePort}`]);
    expect(tooLarge.code).to.equal(1);
    expect(tooLarge.stderr).to.match(/^cairn put: KEY_TOO_LARGE: key is 1025 bytes, limit 1024\n$/);
    expect((await cli(['put', '', 'v', ...nats])).stderr).to.match(/^cairn put: BAD_REQUEST: /);
    expect(responder.received.put).to.equal(0);
  });

  it('bad usage exits 2 with a message and a pointer to --help; --help exits 0', async () => {
    const bad = await cli(['cas', 'k', 'v', ...nats]);
    expect(bad.code).to.equal(2);
    expect(bad.stdout).to.equal('');
    expect(bad.stderr).to.equal('cairn: cas: cas needs exactly one of --expected-revision, --expected-value, --expect-absent\nRun "cairn cas --help" for usage.\n');
    expect((await cli([])).code).to.equal(2);
    expect((await cli(['frob'])).stderr).to.equal('cairn: unknown command "frob"\nRun "cairn --help" for usage.\n');
    const help = await cli(['get', '--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/^Usage: cairn get KEY/);
    expect((await cli(['--version'])).stdout).to.match(/^cairn \d+\.\d+\.\d+\n$/);
  });

  it('bin/cairn.js runs the same CLI', async () => {
    expect(await cli(['put', 'b', '1', ...nats], {}, BIN)).to.deep.equal({ code: 0, stdout: 'OK (revision 1)\n', stderr: '' });
    expect((await cli(['--help'], {}, BIN)).stdout).to.match(/^Usage: cairn <command>/);
  });

  it('a supervisor with bad flags exits 2 before starting anything', async () => {
    const run = await cli(['supervisor', '--node-id', 'n1', '--initial-cluster', 'n1,n2', '--replicas', '3', ...nats]);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(/^cairn: supervisor: --replicas 3 is more than the 2 node\(s\)/);
  });
});
