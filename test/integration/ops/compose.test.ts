// ops/docker-compose.yml, ops/Dockerfile, ops/nats-server.conf and ops/prometheus.yml checked without a
// Docker engine: the compose file is kept plain enough to read with regular expressions (there is no YAML
// library in the project, on purpose), every supervisor command line goes through the CLI's own parser
// (so compose and CLI cannot drift apart), and the NATS configuration is loaded by a real nats-server.

import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPLY_BYTES_MAX } from '../../../bus/protocol';
import { parseCommandLine } from '../../../supervisor/args';
import { SupervisorOptions } from '../../../supervisor/options';
import { findFreePorts, findNatsServerBinary } from '../../support/natsServer';

const ROOT = path.join(__dirname, '..', '..', '..', '..');
const OPS = path.join(ROOT, 'ops');
const read = (file: string) => readFileSync(path.join(OPS, file), 'utf8');
const SUPERVISORS = ['n1', 'n2', 'n3'];

/** Top-level sections of a YAML file written in block style: name -> body (the indented lines under it). */
function sections(text: string, indent: string): Map<string, string> {
  const result = new Map<string, string>();
  let current: string | undefined;
  const header = new RegExp(`^${indent}([A-Za-z0-9_-]+):\\s*(?:#.*)?$`);
  for (const line of text.split('\n')) {
    const match = header.exec(line);
    if (match !== null) {
      current = match[1]!;
      result.set(current, '');
    } else if (current !== undefined && (line.startsWith(`${indent} `) || line.trim() === '' || line.trimStart().startsWith('#'))) {
      result.set(current, `${result.get(current)}${line}\n`);
    } else {
      current = undefined;
    }
  }
  return result;
}

/** The `command: [...]` flow list of a service: double-quoted strings only, so it is JSON. */
function commandOf(service: string): string[] {
  const match = /^ {4}command: (\[[^\]]*\])/m.exec(service);
  expect(match, 'a command: [...] list').to.not.equal(null);
  return JSON.parse(match![1]!) as string[];
}

function supervisorOptions(args: string[]): SupervisorOptions {
  const outcome = parseCommandLine(args, {});
  if (!outcome.ok) expect.fail(`cairn ${args.join(' ')}: ${outcome.message}`);
  if (outcome.command.name !== 'supervisor') expect.fail(`not a supervisor command: ${outcome.command.name}`);
  return outcome.command.options;
}

describe('ops/docker-compose.yml (read without a YAML library)', () => {
  const compose = read('docker-compose.yml');
  const top = sections(compose, '');
  const services = sections(top.get('services') ?? '', '  ');
  const volumes = sections(top.get('volumes') ?? '', '  ');

  it('has a nats service and the supervisors n1..n3, and nothing starts by default except those', () => {
    expect([...services.keys()]).to.include.members(['nats', ...SUPERVISORS]);
    for (const [name, body] of services) {
      if (['nats', ...SUPERVISORS].includes(name)) continue;
      expect(body, `${name} is optional`).to.match(/^ {4}profiles: \[/m);
    }
  });

  it('runs nats 2.10 from the official image with the mounted config that sets max_payload', () => {
    const nats = services.get('nats')!;
    expect(nats).to.match(/^ {4}image: nats:2\.10(-alpine)?\s*$/m);
    const mount = /^ {6}- \.\/nats-server\.conf:(\S+?)(:ro)?\s*$/m.exec(nats);
    expect(mount, 'ops/nats-server.conf mounted').to.not.equal(null);
    const command = commandOf(nats);
    expect(command).to.deep.equal(['--config', mount![1]]);
    expect(nats).to.match(/^ {4}healthcheck:\n {6}test: \[.*8222\/healthz.*\]/m);
    expect(nats).to.match(/^ {4}restart: unless-stopped$/m);
  });

  for (const id of SUPERVISORS) {
    describe(`supervisor ${id}`, () => {
      const body = () => services.get(id)!;

      it('builds the image from ops/Dockerfile with the repository root as context', () => {
        expect(body()).to.match(/^ {4}build:\n {6}context: \.\.\n {6}dockerfile: ops\/Dockerfile$/m);
      });

      it('passes a command line the CLI accepts, for this node of n1,n2,n3, on NATS in the compose network', () => {
        const options = supervisorOptions(commandOf(body()));
        expect(options.nodeId).to.equal(id);
        expect(options.initialCluster).to.deep.equal(SUPERVISORS);
        expect(options.natsUrl).to.equal('nats://nats:4222');
        expect(options.dataDir).to.equal('/data');
        expect(options.httpPort).to.equal(8080);
        expect(options.httpHost).to.equal('0.0.0.0');
        expect(options.replicas).to.equal(3);
      });

      it('keeps its data in its own named volume, publishes its HTTP port on loopback, waits for a healthy nats', () => {
        const index = SUPERVISORS.indexOf(id) + 1;
        expect(body()).to.match(new RegExp(`^ {6}- ${id}-data:/data$`, 'm'));
        expect(body()).to.match(new RegExp(`^ {6}- "127\\.0\\.0\\.1:808${index}:8080"$`, 'm'));
        expect(body()).to.match(/^ {4}depends_on:\n {6}nats:\n {8}condition: service_healthy$/m);
      });

      it('has a health check on its HTTP port, a restart policy and resource limits', () => {
        const port = supervisorOptions(commandOf(body())).httpPort;
        expect(body()).to.match(new RegExp(`^ {6}test: \\["CMD", "sh", "/app/ops/healthcheck\\.sh", "${port}"\\]$`, 'm'));
        expect(body()).to.match(/^ {4}restart: unless-stopped$/m);
        expect(body()).to.match(/^ {4}stop_grace_period: \d+s$/m);
        expect(body()).to.match(/^ {4}deploy:\n {6}resources:\n {8}limits:\n {10}cpus: "[\d.]+"\n {10}memory: \d+[MG]$/m);
      });
    });
  }

  it('declares every named volume it mounts, and no two supervisors share a data volume', () => {
    const mounted = [...compose.matchAll(/^ {6}- ([a-z][a-z0-9-]*):\/[^\s:]*/gm)].map((match) => match[1]!);
    expect(mounted).to.include.members(SUPERVISORS.map((id) => `${id}-data`));
    for (const name of mounted) expect([...volumes.keys()], `volume ${name}`).to.include(name);
    const dataVolumes = SUPERVISORS.map((id) => /^ {6}- ([a-z0-9-]+):\/data$/m.exec(services.get(id)!)![1]);
    expect(new Set(dataVolumes).size).to.equal(SUPERVISORS.length);
  });

  it('ops/prometheus.yml scrapes /metrics of every supervisor at its HTTP port in the compose network', () => {
    const prometheus = read('prometheus.yml');
    expect(prometheus).to.match(/^ {4}metrics_path: \/metrics$/m);
    const targets = [...prometheus.matchAll(/- targets: \["([^"]+)"\]/g)].map((match) => match[1]);
    const expected = SUPERVISORS.map((id) => `${id}:${supervisorOptions(commandOf(services.get(id)!)).httpPort}`);
    expect(targets).to.deep.equal(expected);
  });
});

describe('ops/Dockerfile (read without a Docker engine)', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('builds in one node:20-bookworm-slim stage and runs in another', () => {
    expect(dockerfile).to.match(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(stages.map((stage) => stage.split('\n')[0])).to.deep.equal(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS runtime']);
    const [build] = stages;
    expect(build).to.match(/^RUN npm ci\b/m);
    expect(build).to.match(/^RUN npm run build \\\n && npm prune --omit=dev/m);
  });

  it('copies into the build stage everything tsconfig.json compiles', () => {
    const tsconfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    const copied = [...stages[0]!.matchAll(/^COPY (\S+) \.\/\S*$/gm)].map((match) => match[1]);
    for (const include of tsconfig.include) {
      const top = include.split('/')[0]!;
      expect(copied, `tsconfig includes ${include}`).to.include(top);
    }
  });

  it('runs the CLI as a non-root user, with /data as a volume and a health check on /healthz', () => {
    const runtime = stages[1]!;
    const user = /^USER (\S+)$/m.exec(runtime);
    expect(user, 'a USER line').to.not.equal(null);
    expect(user![1]).to.not.match(/^(root|0)(:|$)/);
    expect(runtime).to.match(/^WORKDIR \/app$/m);
    expect(runtime).to.match(/^ENTRYPOINT \["node", "dist\/supervisor\/cli\.js"\]$/m);
    expect(runtime).to.match(/^VOLUME \["\/data"\]$/m);
    expect(runtime).to.match(/^COPY --from=build \/app\/ops\/healthcheck\.sh \.\/ops\/healthcheck\.sh$/m);
    expect(runtime).to.match(/^HEALTHCHECK .*\\\n\s+CMD \["sh", "\/app\/ops\/healthcheck\.sh"\]$/m);
    expect(runtime).to.match(/^ENV NODE_ENV=production \\\n\s+CAIRN_HTTP_PORT=8080$/m);
  });
});

describe('ops/nats-server.conf (loaded by a real nats-server)', function () {
  this.timeout(30_000);

  it('parses, and sets max_payload to 8 MiB: above the largest reply cairn sends', async () => {
    const [port, monitor] = await findFreePorts(2);
    const child = spawn(findNatsServerBinary(), ['-c', path.join(OPS, 'nats-server.conf'), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      let varz: { max_payload?: number; server_name?: string } | undefined;
      const deadline = Date.now() + 10_000;
      while (varz === undefined && Date.now() < deadline) {
        if (child.exitCode !== null) expect.fail(`nats-server exited ${child.exitCode}: ${stderr}`);
        varz = await fetch(`http://127.0.0.1:${monitor}/varz`).then((response) => response.json() as Promise<typeof varz>, () => undefined);
        if (varz === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(varz, `nats-server answered /varz; stderr:\n${stderr}`).to.not.equal(undefined);
      expect(varz!.max_payload).to.equal(8 * 1024 * 1024);
      expect(varz!.max_payload).to.be.greaterThan(REPLY_BYTES_MAX);
      expect(varz!.server_name).to.equal('cairn-nats');
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
