// Runs the dashboard's script against a minimal fake DOM and fetch (there is no browser here): it
// exercises rendering of the status and metrics and the key form, and checks that data reaches the
// page only as text. A real-browser test (playwright-core + chromium) is still to be written.

import { expect } from 'chai';
import { createContext, runInContext } from 'node:vm';
import { DASHBOARD_HTML, DASHBOARD_SCRIPT } from '../../../supervisor/dashboard';
import { SAMPLE_STATUS } from './sampleStatus';

class FakeNode {
  textContent = '';
  readonly children: FakeNode[] = [];
  get firstChild(): FakeNode | undefined {
    return this.children[0];
  }
  appendChild(child: FakeNode): FakeNode {
    this.children.push(child);
    return child;
  }
  removeChild(child: FakeNode): void {
    this.children.splice(this.children.indexOf(child), 1);
  }
  /** All text below this node, as a browser's textContent would return it. */
  text(): string {
    return this.textContent + this.children.map((child) => child.text()).join(' ');
  }
}

class FakeElement extends FakeNode {
  className = '';
  value = '';
  checked = false;
  clientWidth = 300;
  clientHeight = 60;
  width = 0;
  height = 0;
  readonly listeners = new Map<string, (event: { preventDefault(): void }) => void>();
  constructor(readonly tag: string) {
    super();
  }
  addEventListener(type: string, listener: (event: { preventDefault(): void }) => void): void {
    this.listeners.set(type, listener);
  }
  getContext(): Record<string, unknown> {
    const noop = (): void => undefined;
    return { clearRect: noop, beginPath: noop, moveTo: noop, lineTo: noop, stroke: noop };
  }
  set innerHTML(_: string) {
    throw new Error('the dashboard must not use innerHTML');
  }
}

interface FetchCall {
  url: string;
  options?: { method?: string; body?: string; headers?: Record<string, string> };
}

function fakePage(answer: (call: FetchCall) => { status: number; body: string }) {
  const ids = [...DASHBOARD_HTML.matchAll(/id="([a-z0-9-]+)"/g)].map((match) => match[1]!);
  const elements = new Map(ids.map((id) => [id, new FakeElement(id)]));
  const documentListeners = new Map<string, () => void>();
  const calls: FetchCall[] = [];
  const timers: Array<() => void> = [];
  const context = createContext({
    window: { devicePixelRatio: 1 },
    Node: FakeNode,
    document: {
      getElementById: (id: string) => elements.get(id) ?? null,
      createElement: (tag: string) => new FakeElement(tag),
      createTextNode: (text: string) => Object.assign(new FakeNode(), { textContent: text }),
      addEventListener: (type: string, listener: () => void) => documentListeners.set(type, listener),
    },
    fetch: (url: string, options?: FetchCall['options']) => {
      calls.push({ url, options });
      const reply = answer({ url, options });
      return Promise.resolve({ status: reply.status, text: () => Promise.resolve(reply.body) });
    },
    setTimeout: (callback: () => void) => timers.push(callback),
  });
  runInContext(DASHBOARD_SCRIPT, context);
  return { elements, documentListeners, calls, timers, element: (id: string) => elements.get(id)! };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function metricsText(requests: number): string {
  return [
    '# TYPE cairn_http_requests_total counter',
    `cairn_http_requests_total{route="/v1/kv/{key}",method="GET",status="200"} ${requests}`,
    `cairn_http_request_duration_milliseconds_bucket{route="/v1/kv/{key}",le="5"} ${requests}`,
    `cairn_http_request_duration_milliseconds_bucket{route="/v1/kv/{key}",le="+Inf"} ${requests}`,
    `cairn_http_request_duration_milliseconds_sum{route="/v1/kv/{key}"} ${requests * 2}`,
    `cairn_http_request_duration_milliseconds_count{route="/v1/kv/{key}"} ${requests}`,
    '',
  ].join('\n');
}

describe('supervisor/dashboard in a fake DOM', () => {
  it('renders nodes, partitions and traffic from the polled routes, as text only', async () => {
    let requests = 0;
    const hostile = { ...SAMPLE_STATUS, nodes: [{ ...SAMPLE_STATUS.nodes[0]!, id: '<img src=x onerror=alert(1)>' }] };
    const page = fakePage(({ url }) => {
      if (url === '/cluster/status') return { status: 200, body: JSON.stringify(hostile) };
      if (url === '/metrics') return { status: 200, body: metricsText((requests += 50)) };
      throw new Error(`unexpected fetch ${url}`);
    });
    page.documentListeners.get('DOMContentLoaded')!();
    await settle();
    expect(page.element('nodes').children).to.have.length(1);
    expect(page.element('nodes').text()).to.include('<img src=x onerror=alert(1)>');
    expect(page.element('nodes').text()).to.include('-'); // n1 has no failed actors
    const partitions = page.element('partitions');
    expect(partitions.children).to.have.length(3); // two replicas of partition 0, one of partition 1
    expect(partitions.text()).to.include('r1@n1 (term 4)');
    expect(partitions.text()).to.include('no leader');
    const failedPage = fakePage(({ url }) => ({ status: 200, body: url === '/metrics' ? '' : JSON.stringify(SAMPLE_STATUS) }));
    failedPage.documentListeners.get('DOMContentLoaded')!();
    await settle();
    expect(failedPage.element('nodes').text()).to.include('p1/r2: StorageCorruptionError: bad checksum');
    expect(page.element('summary').text()).to.equal('1 nodes, 1/2 partitions healthy, no answer from p1/r2');
    expect(page.element('state').text()).to.match(/^updated /);
    expect(page.timers).to.have.length(1);
    page.timers.shift()!();
    await settle();
    expect(Number(page.element('rps').text())).to.be.greaterThan(0);
    expect(page.element('mean').text()).to.equal('2.0 ms');
    expect(page.element('p99').text()).to.equal('<= 5 ms');
  });

  it('shows the key ring and a reshard in progress on the controller line', async () => {
    const controller = { node: 'n1', epoch: 9, changing: 1, balanced: false, blocked: [], nodes: [], ring: { epoch: 2, partitions: [0, 2, 5] }, reshard: { kind: 'delete', partitionId: 2, phase: 'copy' } };
    const page = fakePage(({ url }) => ({ status: 200, body: url === '/metrics' ? '' : JSON.stringify({ ...SAMPLE_STATUS, controller }) }));
    page.documentListeners.get('DOMContentLoaded')!();
    await settle();
    expect(page.element('controller').text()).to.equal('controller: n1 (epoch 9), 1 partition(s) changing; key ring epoch 2: partitions 0 2 5; deleting partition 2 (copy)');
  });

  it('shows a failed update and keeps polling', async () => {
    const page = fakePage(({ url }) =>
      url === '/cluster/status' ? { status: 503, body: '{"error":{"code":"UNAVAILABLE","message":"no router"}}' } : { status: 200, body: '' },
    );
    page.documentListeners.get('DOMContentLoaded')!();
    await settle();
    expect(page.element('state').text()).to.equal('update failed: UNAVAILABLE: no router');
    expect(page.timers).to.have.length(1);
  });

  it('gets, puts and deletes a key through /v1/kv with the key percent-encoded', async () => {
    const page = fakePage(({ url, options }) => {
      if (url === '/cluster/status') return { status: 200, body: JSON.stringify(SAMPLE_STATUS) };
      if (url === '/metrics') return { status: 200, body: '' };
      if (options?.method === 'PUT') return { status: 200, body: '{"revision":7}' };
      if (options?.method === 'DELETE') return { status: 200, body: '{"deleted":true,"revision":8}' };
      return { status: 200, body: '{"value":"<b>v</b>","revision":7}' };
    });
    page.documentListeners.get('DOMContentLoaded')!();
    await settle();
    const click = (id: string): void => page.element(id).listeners.get('click')!({ preventDefault: () => undefined });
    page.element('kv-key').value = 'a/b ?#';
    page.element('kv-value').value = 'new value';
    click('kv-put');
    await settle();
    const put = page.calls.find((call) => call.options?.method === 'PUT')!;
    expect(put.url).to.equal('/v1/kv/a%2Fb%20%3F%23');
    expect(JSON.parse(put.options!.body!)).to.deep.equal({ value: 'new value' });
    expect(put.options!.headers).to.deep.equal({ 'Content-Type': 'application/json' });
    expect(page.element('kv-result').text()).to.include('"revision": 7');
    page.element('kv-stale').checked = true;
    page.element('kv-form').listeners.get('submit')!({ preventDefault: () => undefined });
    await settle();
    expect(page.calls.at(-1)!.url).to.equal('/v1/kv/a%2Fb%20%3F%23?consistency=stale');
    expect(page.element('kv-value').value).to.equal('<b>v</b>');
    click('kv-del');
    await settle();
    expect(page.calls.at(-1)!.options!.method).to.equal('DELETE');
    page.element('kv-key').value = '\ud800';
    click('kv-get');
    expect(page.element('kv-result').text()).to.match(/^0 BAD_REQUEST: /);
    expect(page.element('kv-result').className).to.equal('error');
  });
});
