// End to end: `cairn up` starts a nats-server and three supervisors, reports ready, serves a put and a
// get over NATS and HTTP, and on SIGINT stops everything it started and exits 0.

import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { KvClient } from '../../../bus/kvClient';

const CLI = join(__dirname, '..', '..', '..', 'supervisor', 'cli.js');
const READY = /^cairn up: ready nats=(\S+) http=(\S*) pids=(\S+)(?: nats-pid=(\d+))?$/;

interface Ready {
  natsUrl: string;
  httpUrls: string[];
  pids: number[];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

describe('cairn up (end to end: nats-server + 3 supervisors)', function () {
  this.timeout(180_000);
  let dataDir: string;
  let up: ChildProcess | undefined;
  let output = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let ready: Ready | undefined;
  /** Every pid `up` said it started, known before ready: cleaned up even when the test fails early. */
  const started = new Set<number>();

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'cairn-up-'));
  });
  after(async () => {
    if (up !== undefined && up.exitCode === null && up.signalCode === null) {
      up.kill('SIGKILL');
      await exited;
    }
    for (const pid of [...started, ...(ready?.pids ?? [])]) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts, reports ready, serves writes over NATS and HTTP, and stops everything on SIGINT', async () => {
    up = spawn(process.execPath, [CLI, 'up', '--nodes', '3', '--partitions', '4', '--data', dataDir, '--http-port', '0', '--ready-timeout', '90000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => up!.once('exit', (code, signal) => resolve({ code, signal })));
    up.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    ready = await new Promise<Ready>((resolve, reject) => {
      let pending = '';
      up!.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        const lines = (pending + chunk).split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          const pid = /^cairn up: started .*\(pid (\d+)/.exec(line);
          if (pid !== null) started.add(Number(pid[1]));
          const match = READY.exec(line);
          if (match === null) continue;
          const pids = match[3]!.split(',').map((pair) => Number(pair.split('=')[1]));
          if (match[4] !== undefined) pids.push(Number(match[4]));
          resolve({ natsUrl: match[1]!, httpUrls: match[2]!.split(',').filter((url) => url !== ''), pids });
        }
      });
      void exited.then(({ code, signal }) => reject(new Error(`cairn up exited before ready (code ${code}, signal ${signal}):\n${output.slice(-4000)}`)));
    });
    expect(ready.httpUrls).to.have.length(3);
    expect(ready.pids).to.have.length(4); // three supervisors and the nats-server
    expect(new Set(ready.pids)).to.deep.equal(started);
    expect(new URL(ready.natsUrl).port).to.not.equal('4222');

    const nc = await connect({ servers: ready.natsUrl });
    try {
      const kv = new KvClient(nc, { timeoutMs: 10_000 });
      const { revision } = await kv.put('up-key', 'up-value');
      expect(await kv.get('up-key')).to.deep.equal({ value: 'up-value', revision });
    } finally {
      await nc.close();
    }
    const put = await fetch(`${ready.httpUrls[1]}/v1/kv/http%2Fkey`, { method: 'PUT', body: 'via http' });
    expect(put.status, await put.clone().text()).to.equal(200);
    expect(await (await fetch(`${ready.httpUrls[2]}/get/http%2Fkey`)).json()).to.include({ value: 'via http' });
    expect((await fetch(`${ready.httpUrls[0]}/`)).headers.get('content-type')).to.equal('text/html; charset=utf-8');

    up.kill('SIGINT');
    const { code, signal } = await exited;
    expect({ code, signal }, output.slice(-4000)).to.deep.equal({ code: 0, signal: null });
    expect(await waitUntil(() => ready!.pids.every((pid) => !isAlive(pid)), 5000), `processes left: ${ready.pids.filter(isAlive)}`).to.equal(true);
    expect(output).to.include('cairn up: stopped');
  });
});
