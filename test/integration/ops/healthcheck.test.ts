// ops/healthcheck.sh, the container health check, run as a child process (as Docker runs it) against a
// real supervisor's gateway, a closed port, a server that answers 500 and one that never answers.

import { expect } from 'chai';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import path from 'node:path';
import { CairnCluster } from '../../support/cairnCluster';
import { findFreePorts } from '../../support/natsServer';

const SCRIPT = path.join(__dirname, '..', '..', '..', '..', 'ops', 'healthcheck.sh');

interface Run {
  code: number | null;
  stderr: string;
  ms: number;
}

function healthcheck(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('sh', [SCRIPT, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, ms: Date.now() - started }));
  });
}

async function listen(handler: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('ops/healthcheck.sh', function () {
  this.timeout(120_000);

  describe('against a live cairn node', () => {
    let cluster: CairnCluster;
    before(async () => {
      cluster = await CairnCluster.start({ nodes: 3, partitions: 2, http: ['n1'] });
    });
    after(async () => {
      await cluster?.stop();
    });

    it('exits 0 when /healthz of the node answers 200 (port as argument)', async () => {
      const run = await healthcheck([String(cluster.nodes.get('n1')!.httpPort)]);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stderr).to.equal('');
    });

    it('takes the port from CAIRN_HTTP_PORT when no argument is given (as the image runs it)', async () => {
      const run = await healthcheck([], { CAIRN_HTTP_PORT: String(cluster.nodes.get('n1')!.httpPort) });
      expect(run.code, run.stderr).to.equal(0);
    });

    it('exits non-zero once that node is gone', async () => {
      const port = cluster.nodes.get('n1')!.httpPort!;
      await cluster.kill('n1', 'SIGTERM');
      const run = await healthcheck([String(port)]);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.contain('ECONNREFUSED');
    });
  });

  it('exits non-zero against a closed port', async () => {
    const [port] = await findFreePorts(1);
    const run = await healthcheck([String(port)]);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.contain(`http://127.0.0.1:${port}/healthz: ECONNREFUSED`);
  });

  it('exits non-zero when /healthz answers anything but 200', async () => {
    const server = await listen((request, response) => {
      response.writeHead(request.url === '/healthz' ? 503 : 200).end('{"status":"starting"}');
    });
    try {
      const run = await healthcheck([String(server.port)]);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.contain('status 503');
    } finally {
      await server.close();
    }
  });

  it('exits non-zero within its deadline when the server accepts but never answers', async () => {
    const server = await listen(() => undefined);
    try {
      const run = await healthcheck([String(server.port)], { CAIRN_HEALTHCHECK_TIMEOUT_MS: '500' });
      expect(run.code).to.equal(1);
      expect(run.stderr).to.contain('no answer within 500 ms');
      expect(run.ms).to.be.lessThan(5_000);
    } finally {
      await server.close();
    }
  });
});
