import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { createContext, runInContext, Script } from 'node:vm';
import { DASHBOARD_CONTENT_SECURITY_POLICY, DASHBOARD_HTML, DASHBOARD_SCRIPT, DASHBOARD_STYLE } from '../../../supervisor/dashboard';
import { Registry } from '../../../supervisor/metrics';

interface Helpers {
  parseMetrics(text: string): Array<{ name: string; labels: Map<string, string>; value: number }>;
  summarize(samples: unknown): { requests: number; errors: number; latencySum: number; latencyCount: number; buckets: Map<string, number> };
  rates(previous: unknown, current: unknown, elapsedMs: number): { perSecond: number; errorsPerSecond: number; meanMs: number | null; p99Ms: number | null } | null;
  partitionHealth(partition: unknown): 'ok' | 'warn' | 'bad';
  formatDuration(ms: number): string;
}

/** Runs the page's script in a bare VM (no DOM): it only defines its helpers there. */
function helpers(): Helpers {
  const context = createContext({ window: {} as Record<string, unknown> });
  runInContext(DASHBOARD_SCRIPT, context);
  return (context.window as { cairnDashboard: Helpers }).cairnDashboard;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}

describe('supervisor/dashboard', () => {
  it('is one self-contained page whose CSP allows exactly its inline script and style', () => {
    expect(DASHBOARD_HTML).to.match(/^<!doctype html>/);
    expect(DASHBOARD_HTML).to.include(`<script>${DASHBOARD_SCRIPT}</script>`);
    expect(DASHBOARD_HTML).to.include(`<style>${DASHBOARD_STYLE}</style>`);
    expect(DASHBOARD_CONTENT_SECURITY_POLICY).to.include(`script-src 'sha256-${sha256(DASHBOARD_SCRIPT)}'`);
    expect(DASHBOARD_CONTENT_SECURITY_POLICY).to.include(`style-src 'sha256-${sha256(DASHBOARD_STYLE)}'`);
    expect(DASHBOARD_CONTENT_SECURITY_POLICY).to.include("default-src 'none'");
    // Nothing from elsewhere (no CDN, no fonts): the machine may have no internet.
    expect(DASHBOARD_HTML).to.not.match(/(src|href)=|https?:\/\/|@import|url\(/);
    expect(DASHBOARD_HTML.match(/<script/g)).to.have.length(1);
    expect(DASHBOARD_HTML).to.not.match(/ style=| on[a-z]+=/); // inline attributes would be blocked by the CSP
  });

  it('never inserts data as HTML', () => {
    expect(DASHBOARD_SCRIPT).to.not.match(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(DASHBOARD_SCRIPT).to.include('textContent');
    expect(() => new Script(DASHBOARD_SCRIPT)).to.not.throw();
  });

  it('has the elements the script drives', () => {
    const ids = [...DASHBOARD_SCRIPT.matchAll(/\$\('([a-z0-9-]+)'\)/g)].map((match) => match[1]!);
    expect(ids.length).to.be.greaterThan(8);
    for (const id of new Set(ids)) expect(DASHBOARD_HTML, id).to.include(`id="${id}"`);
    for (const action of ['get', 'put', 'del']) expect(DASHBOARD_HTML).to.include(`id="kv-${action}"`);
  });

  it('parses the gateway metrics and computes request rates and latency', () => {
    const page = helpers();
    const registry = new Registry();
    const requests = registry.counter('cairn_http_requests_total', 'x', ['route', 'method', 'status']);
    const durations = registry.histogram('cairn_http_request_duration_milliseconds', 'x', ['route']);
    requests.inc({ route: '/v1/kv/{key}', method: 'GET', status: '200' }, 10);
    requests.inc({ route: '/metrics', method: 'GET', status: '200' }, 99); // the dashboard's own polling: not counted
    durations.observe(3, { route: '/v1/kv/{key}' });
    const before = page.summarize(page.parseMetrics(registry.render()));
    expect(before.requests).to.equal(10);
    requests.inc({ route: '/v1/kv/{key}', method: 'PUT', status: '200' }, 15);
    requests.inc({ route: '/set', method: 'POST', status: '503' }, 5);
    for (let i = 0; i < 99; i++) durations.observe(4, { route: '/set' });
    durations.observe(700, { route: '/v1/kv/{key}' });
    const after = page.summarize(page.parseMetrics(registry.render()));
    const rate = page.rates(before, after, 2000)!;
    expect(rate.perSecond).to.equal(10);
    expect(rate.errorsPerSecond).to.equal(2.5);
    expect(rate.meanMs).to.be.closeTo((99 * 4 + 700) / 100, 1e-9);
    expect(rate.p99Ms).to.equal(5);
    expect(page.rates(null, after, 1000)).to.equal(null);
    expect(page.parseMetrics('x{a="q\\"\\\\\\n"} 1\n')[0]!.labels.get('a')).to.equal('q"\\\n');
  });

  it('colours partitions by health', () => {
    const page = helpers();
    const replica = (id: number, role: string, extra: Record<string, unknown> = {}) => ({ replica: id, role, ...extra });
    const leader = { replica: 1, node: 'n1', term: 2 };
    expect(page.partitionHealth({ id: 0, leader: null, replicas: [replica(1, 'follower')] })).to.equal('bad');
    expect(page.partitionHealth({ id: 0, leader, replicas: [replica(1, 'leader', { followerLag: { 2: 0 } }), replica(2, 'follower')] })).to.equal('ok');
    expect(page.partitionHealth({ id: 0, leader, replicas: [replica(1, 'leader', { followerLag: { 2: 5000 } }), replica(2, 'follower')] })).to.equal('warn');
    expect(page.partitionHealth({ id: 0, leader, replicas: [replica(1, 'leader'), replica(2, 'stopped')] })).to.equal('warn');
    expect(page.partitionHealth(null)).to.equal('bad');
    expect(page.formatDuration(3_723_000)).to.equal('1h2m');
  });
});
