// The dashboard as a person sees it: Debian's chromium (driven by playwright-core) opens GET / of a real
// 3-process cluster, the page's own script polls /cluster/status and /metrics under its
// Content-Security-Policy, and its key form writes and reads through the gateway; what it wrote is read
// back through the NATS protocol (KvClient) and the other way round. A screenshot goes to
// /tmp/cairn-dashboard.png.
//
// Chromium is required, not optional: a missing browser fails the test with the command that installs it
// (`apt-get install -y chromium`; CAIRN_CHROMIUM overrides the path).

import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { Browser, ConsoleMessage, Page, chromium } from 'playwright-core';
import { CairnCluster } from '../../support/cairnCluster';

// What the callbacks run in the page (page.waitForFunction) use of the DOM: tsconfig has no DOM lib.
interface DomNode {
  textContent: string | null;
  children: ArrayLike<DomNode>;
  value?: string;
}
interface CanvasLike {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, width: number, height: number): { data: ArrayLike<number> } };
}
declare const document: { getElementById(id: string): DomNode; querySelectorAll(selector: string): ArrayLike<DomNode> };

const CHROMIUM = process.env.CAIRN_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = '/tmp/cairn-dashboard.png';
const PARTITIONS = 4;

describe('dashboard in a real browser (chromium, 3-process cluster)', function () {
  this.timeout(120_000);
  let cluster: CairnCluster | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `chromium is not installed at ${CHROMIUM}: this test drives a real browser. ` +
          'Install it with `apt-get update && apt-get install -y chromium` (or set CAIRN_CHROMIUM to a Chromium binary).',
      );
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    cluster = await CairnCluster.start({ nodes: 3, partitions: PARTITIONS, http: ['n1'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // A CSP violation, a script error or a failed fetch shows up as one of these.
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      // Chromium asks for /favicon.ico on its own; the page names no icon and the gateway has none (404).
      if (message.location().url.endsWith('/favicon.ico')) return;
      // Provoked by this test reading the sparkline's pixels repeatedly, not by the page.
      if (message.text().startsWith('Canvas2D: Multiple readback operations')) return;
      problems.push(`console ${message.type()}: ${message.text()} (${message.location().url})`);
    });
    page.on('response', (response) => {
      if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) problems.push(`HTTP ${response.status()} ${response.url()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  const url = () => `http://127.0.0.1:${cluster!.nodes.get('n1')!.httpPort}/`;
  const text = (selector: string) => page.locator(selector).textContent();

  it('renders every node and every partition with its leader, from the live cluster status', async () => {
    const response = await page.goto(url());
    expect(response?.status()).to.equal(200);
    expect(await page.title()).to.equal('cairn');
    // One row per replica; the first row of each partition names its leader.
    await page.waitForFunction((partitions) => {
      const rows = Array.from(document.querySelectorAll('#partitions tr'));
      const leaders = rows.map((row) => row.children[1]?.textContent ?? '').filter((cell) => cell !== '');
      return rows.length === partitions * 3 && leaders.length === partitions && leaders.every((cell) => /^r\d+@n\d \(term \d+\)$/.test(cell));
    }, PARTITIONS, { timeout: 20_000 });
    expect(await text('#summary')).to.equal(`3 nodes, ${PARTITIONS}/${PARTITIONS} partitions healthy`);
    const nodes = await page.locator('#nodes tr td:first-child').allTextContents();
    expect(nodes).to.deep.equal(['n1', 'n2', 'n3']);
    // The controller's verdict: every node active and alive, and which node's controller is active.
    await page.waitForFunction(() => /^controller: n\d \(epoch \d+\)/.test(document.getElementById('controller')!.textContent ?? ''));
    expect(await page.locator('#nodes tr td:nth-child(2)').allTextContents()).to.deep.equal(['active', 'active', 'active']);
    expect(await page.locator('#nodes tr td:nth-child(3)').allTextContents()).to.deep.equal(['alive', 'alive', 'alive']);

    // The page and a status call are two snapshots: a leader that moves in between (a new partition's
    // first leader hands over to its preferred replica) shows on the page at its next refresh.
    let mismatches: string[] = [];
    await cluster!.until(async () => {
      const status = await cluster!.status();
      mismatches = [];
      for (const partition of status.partitions) {
        const leader = partition.leader!;
        const cell = await page.locator('#partitions tr').nth(partition.id * 3).locator('td').nth(1).textContent();
        if (!new RegExp(`^r${leader.replica}@${leader.node} \\(term \\d+\\)$`).test(cell ?? '')) mismatches.push(`partition ${partition.id}: page ${cell}, status r${leader.replica}@${leader.node}`);
      }
      return mismatches.length === 0;
    }, 20_000, 'the page to show the leaders the status shows').catch((error: Error) => {
      throw new Error(`${error.message}: ${mismatches.join('; ')}`);
    });
    const roles = await page.locator('#partitions td span[class^="role-"]').allTextContents();
    expect(roles.filter((role) => role === 'leader')).to.have.length(PARTITIONS);
    expect(roles.filter((role) => role === 'follower')).to.have.length(PARTITIONS * 2);
  });

  it('puts a key with the form; the cluster serves it through NATS with the same revision', async () => {
    const key = 'dashboard/greeting ü?&#';
    await page.fill('#kv-key', key);
    await page.fill('#kv-value', 'hello from chromium');
    await page.click('#kv-put');
    await page.waitForFunction(() => /^200 /.test(document.getElementById('kv-result').textContent ?? ''));
    const result = JSON.parse((await text('#kv-result'))!.replace(/^200 /, '')) as { revision: number };
    expect(result.revision).to.be.greaterThan(0);
    const reply = await cluster!.kv.get(key);
    expect(reply).to.deep.equal({ value: 'hello from chromium', revision: result.revision });
  });

  it('gets a key written through NATS into the form, showing markup as text', async () => {
    const value = '<img src=x onerror="document.title=\'pwned\'"> written by KvClient';
    const { revision } = await cluster!.kv.put('dashboard/from-client', value);
    await page.fill('#kv-key', 'dashboard/from-client');
    await page.fill('#kv-value', '');
    await page.click('#kv-get');
    await page.waitForFunction((expected) => document.getElementById('kv-value').value === expected, value);
    expect(await text('#kv-result')).to.equal(`200 ${JSON.stringify({ value, revision }, null, 2)}`);
    expect(await page.locator('#kv-result img').count()).to.equal(0);
    expect(await page.title()).to.equal('cairn');
  });

  it('deletes a key with the form', async () => {
    await cluster!.kv.put('dashboard/doomed', 'x');
    await page.fill('#kv-key', 'dashboard/doomed');
    await page.click('#kv-del');
    await page.waitForFunction(() => /^200 /.test(document.getElementById('kv-result').textContent ?? '') &&
      (document.getElementById('kv-result').textContent ?? '').includes('"deleted": true'));
    expect((await cluster!.kv.get('dashboard/doomed')).value).to.equal(null);
  });

  it('shows the gateway traffic numbers, with no script error, CSP violation or failed request; screenshot', async () => {
    await page.waitForFunction(() => /^\d+\.\d$/.test(document.getElementById('rps').textContent ?? ''), undefined, { timeout: 10_000 });
    expect(await text('#state')).to.match(/^updated /);
    // The sparkline is drawn on a canvas: wait until the line has a few points (one poll a second).
    await page.waitForFunction(() => {
      const canvas = document.getElementById('sparkline') as unknown as CanvasLike;
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let drawn = 0;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) drawn++;
      return drawn > 200;
    }, undefined, { timeout: 15_000, polling: 250 });
    // Leave the last put's result on screen for the picture.
    await page.fill('#kv-key', 'dashboard/greeting ü?&#');
    await page.click('#kv-get');
    await page.waitForFunction(() => document.getElementById('kv-value').value === 'hello from chromium');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(problems).to.deep.equal([]);
  });
});
