import { expect } from 'chai';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { KvClient, KvError } from '../../../bus/kvClient';
import { KEY_BYTES_MAX, REQUEST_BYTES_MAX, VALUE_BYTES_MAX } from '../../../bus/protocol';
import type { ErrorCode, KvRequest } from '../../../bus/protocol';
import { startHttpGateway } from '../../../supervisor/httpGateway';
import type { HttpGateway } from '../../../supervisor/httpGateway';
import { Registry } from '../../../supervisor/metrics';
import type { ClusterStatus } from '../../../supervisor/statusTypes';
import { startKvResponder } from '../../support/kvResponder';
import type { KvResponder } from '../../support/kvResponder';
import { startNatsServer } from '../../support/natsServer';
import type { NatsServerHandle } from '../../support/natsServer';
import { parsePrometheusText, sumOf } from '../../unit/supervisor/prometheusText';
import { SAMPLE_STATUS } from '../../unit/supervisor/sampleStatus';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

type Intercept = (request: KvRequest) => { code: ErrorCode; message: string; leader?: number } | 'silent' | undefined;

describe('supervisor/httpGateway (real HTTP, real nats-server, in-memory responder)', function () {
  this.timeout(30_000);
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let responder: KvResponder;
  let gateway: HttpGateway;
  let registry: Registry;
  let intercept: Intercept | undefined;
  let clusterStatus: () => Promise<ClusterStatus>;

  async function call(method: string, path: string, init: { body?: string | Buffer; type?: string } = {}): Promise<Answer> {
    const headers: Record<string, string> = init.type === undefined ? {} : { 'Content-Type': init.type };
    const response = await fetch(gateway.url + path, { method, headers, body: init.body });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  /** A request with the path sent byte for byte (fetch would normalize "..", "%2e" and friends). */
  function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest({ host: '127.0.0.1', port: gateway.port, method, path, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: response.statusCode!, json: text === '' ? undefined : JSON.parse(text), headers: response.headers });
        });
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  function expectError(answer: Answer, status: number, code: string): void {
    expect(answer.status, answer.text).to.equal(status);
    expect(answer.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    expect(answer.json).to.have.keys('error');
    expect(answer.json.error).to.have.keys('code', 'message');
    expect(answer.json.error.code).to.equal(code);
    expect(answer.json.error.message).to.be.a('string').that.is.not.empty;
  }

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  beforeEach(async () => {
    intercept = undefined;
    responder = startKvResponder(nc, { intercept: (request) => intercept?.(request) });
    registry = new Registry();
    clusterStatus = async () => SAMPLE_STATUS;
    gateway = await startHttpGateway({
      port: 0,
      kv: new KvClient(nc, { timeoutMs: 500 }),
      clusterStatus: () => clusterStatus(),
      registry,
    });
  });
  afterEach(async () => {
    await gateway.close();
    responder.stop();
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('reports the port it picked for port 0 and answers /healthz (GET and HEAD)', async () => {
    expect(gateway.port).to.be.greaterThan(0);
    expect(gateway.url).to.equal(`http://127.0.0.1:${gateway.port}`);
    const health = await call('GET', '/healthz');
    expect(health.status).to.equal(200);
    expect(health.json).to.deep.equal({ status: 'ok' });
    const head = await call('HEAD', '/healthz');
    expect(head.status).to.equal(200);
    expect(head.text).to.equal('');
  });

  it('/v1/kv/{key}: PUT raw text, PUT JSON, GET, DELETE, GET of an absent key', async () => {
    expect((await call('PUT', '/v1/kv/a', { body: 'hello {"not":"json"}', type: 'text/plain' })).json).to.deep.equal({ revision: 1 });
    expect((await call('GET', '/v1/kv/a')).json).to.deep.equal({ value: 'hello {"not":"json"}', revision: 1 });
    expect((await call('PUT', '/v1/kv/a', { body: JSON.stringify({ value: 'two' }), type: 'application/json; charset=utf-8' })).json).to.deep.equal({ revision: 2 });
    expect((await call('GET', '/v1/kv/a?consistency=stale')).json).to.deep.equal({ value: 'two', revision: 2 });
    expect((await call('PUT', '/v1/kv/empty', { body: '' })).json).to.deep.equal({ revision: 3 });
    expect(responder.store.get('empty')?.value).to.equal('');
    expect((await call('DELETE', '/v1/kv/a')).json).to.deep.equal({ deleted: true, revision: 4 });
    expect((await call('DELETE', '/v1/kv/a')).json).to.deep.equal({ deleted: false, revision: 4 });
    const absent = await call('GET', '/v1/kv/a');
    expect(absent.status).to.equal(200);
    expect(absent.json).to.deep.equal({ value: null, revision: 0 });
  });

  it('/get/{key} and POST /set', async () => {
    const set = await call('POST', '/set', { body: JSON.stringify({ key: 'k', value: 'v' }), type: 'application/json' });
    expect(set.status).to.equal(200);
    expect(set.json).to.deep.equal({ revision: 1 });
    expect((await call('GET', '/get/k')).json).to.deep.equal({ value: 'v', revision: 1 });
    expect((await call('GET', '/get/k?consistency=linearizable')).json).to.deep.equal({ value: 'v', revision: 1 });
    expect((await call('GET', '/get/nothing')).json).to.deep.equal({ value: null, revision: 0 });
  });

  it('keys: "/" raw and as %2F are the same key; unicode; "__proto__"; ".." is never normalized', async () => {
    await call('PUT', '/v1/kv/dir/sub/leaf', { body: '1' });
    expect((await call('GET', '/v1/kv/dir%2Fsub%2Fleaf')).json).to.deep.equal({ value: '1', revision: 1 });
    expect((await call('GET', '/get/dir/sub%2Fleaf')).json).to.deep.equal({ value: '1', revision: 1 });
    const unicode = 'ключ/é 🙂?#&';
    await call('PUT', '/v1/kv/' + encodeURIComponent(unicode), { body: 'значение 🙂' });
    expect(responder.store.get(unicode)?.value).to.equal('значение 🙂');
    expect((await call('GET', '/get/' + encodeURIComponent(unicode))).json.value).to.equal('значение 🙂');
    for (const key of ['__proto__', 'constructor', 'hasOwnProperty']) {
      await call('POST', '/set', { body: JSON.stringify({ key, value: `v-${key}` }), type: 'application/json' });
      expect((await call('GET', `/v1/kv/${key}`)).json.value).to.equal(`v-${key}`);
    }
    expect(responder.store.get('__proto__')?.value).to.equal('v-__proto__');
    expect((await raw('PUT', '/v1/kv/a/../b', 'dots')).json).to.have.property('revision');
    expect(responder.store.get('a/../b')?.value).to.equal('dots');
    expect(responder.store.has('b')).to.equal(false);
    expect((await raw('GET', '/v1/kv/a/%2e%2e/b')).json).to.have.property('value', 'dots'); // decoded once: the same key
    expect((await raw('GET', '/v1/kv/./x+y')).json).to.deep.equal({ value: null, revision: 0 });
    await raw('PUT', '/v1/kv/x+y', 'plus');
    expect(responder.store.get('x+y')?.value).to.equal('plus'); // "+" is not a space in a path
  });

  it('bad keys: empty, bad percent-encoding, lone surrogate, too large', async () => {
    expectError(await call('GET', '/v1/kv/'), 400, 'BAD_REQUEST');
    expectError(await call('GET', '/get/'), 400, 'BAD_REQUEST');
    expectError(await call('GET', '/v1/kv/%E0%A4%A'), 400, 'BAD_REQUEST');
    expectError(await call('GET', '/v1/kv/%ZZ'), 400, 'BAD_REQUEST');
    expectError(await call('PUT', '/v1/kv/%ED%A0%80', { body: 'x' }), 400, 'BAD_REQUEST');
    expectError(await call('PUT', '/v1/kv/' + 'k'.repeat(KEY_BYTES_MAX + 1), { body: 'x' }), 413, 'KEY_TOO_LARGE');
    expect((await call('PUT', '/v1/kv/' + 'k'.repeat(KEY_BYTES_MAX), { body: 'x' })).status).to.equal(200);
    expectError(await call('POST', '/set', { body: JSON.stringify({ key: 'k'.repeat(KEY_BYTES_MAX + 1), value: 'v' }), type: 'application/json' }), 413, 'KEY_TOO_LARGE');
  });

  it('bad bodies: bad JSON, wrong shape, unknown fields, invalid UTF-8, wrong content type', async () => {
    const json = 'application/json';
    expectError(await call('POST', '/set', { body: '{"key":', type: json }), 400, 'BAD_REQUEST');
    expectError(await call('POST', '/set', { body: '[1,2]', type: json }), 400, 'BAD_REQUEST');
    expectError(await call('POST', '/set', { body: '{"key":"k"}', type: json }), 400, 'BAD_REQUEST');
    expectError(await call('POST', '/set', { body: '{"key":"k","value":7}', type: json }), 400, 'BAD_REQUEST');
    expectError(await call('POST', '/set', { body: '{"key":"k","value":"v","ttl":1}', type: json }), 400, 'BAD_REQUEST');
    expectError(await call('POST', '/set', { body: '{"key":"k","value":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}', type: json }), 400, 'BAD_REQUEST');
    expectError(await call('POST', '/set', { body: '{"key":"k","value":"v"}', type: 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await call('POST', '/set', { body: '{"key":"k","value":"v"}' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await call('PUT', '/v1/kv/k', { body: '{"value":"v","extra":1}', type: json }), 400, 'BAD_REQUEST');
    expectError(await call('PUT', '/v1/kv/k', { body: '"v"', type: json }), 400, 'BAD_REQUEST');
    expectError(await call('PUT', '/v1/kv/k', { body: '{"value":null}', type: json }), 400, 'BAD_REQUEST');
    expectError(await call('PUT', '/v1/kv/k', { body: Buffer.from([0x61, 0xff, 0x62]) }), 400, 'BAD_REQUEST');
    expectError(await call('PUT', '/v1/kv/k', { body: Buffer.from([0xed, 0xa0, 0x80]) }), 400, 'BAD_REQUEST'); // CESU surrogate
    expect(responder.received.put).to.equal(0);
  });

  it('refuses oversize bodies with 413: by Content-Length before reading, and while streaming', async () => {
    expect((await call('PUT', '/v1/kv/big', { body: 'v'.repeat(VALUE_BYTES_MAX) })).status).to.equal(200);
    const declared = await call('PUT', '/v1/kv/big', { body: 'v'.repeat(VALUE_BYTES_MAX + 1) });
    expectError(declared, 413, 'VALUE_TOO_LARGE');
    expect(declared.headers.get('connection')).to.equal('close');
    expectError(await call('POST', '/set', { body: 'x'.repeat(REQUEST_BYTES_MAX + 1), type: 'application/json' }), 413, 'VALUE_TOO_LARGE');
    // Chunked: no Content-Length, so the gateway counts while reading and stops at the bound.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest({ host: '127.0.0.1', port: gateway.port, method: 'PUT', path: '/v1/kv/streamed' }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      });
      request.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let sent = 0;
      const pump = (): void => {
        while (sent < 4 * VALUE_BYTES_MAX && !request.destroyed) {
          sent += chunk.length;
          if (!request.write(chunk)) return void request.once('drain', pump);
        }
        request.end();
      };
      pump();
    });
    expect(streamed.status).to.equal(413);
    expect(JSON.parse(streamed.body).error.code).to.equal('VALUE_TOO_LARGE');
    expect(responder.store.has('streamed')).to.equal(false);
    expect((await call('GET', '/healthz')).status).to.equal(200);
  });

  it('POST /v1/cas: applied 200, refused 409 with the current revision', async () => {
    const json = 'application/json';
    const first = await call('POST', '/v1/cas', { body: JSON.stringify({ key: 'c', value: 'a', expectedRevision: 0 }), type: json });
    expect(first.status).to.equal(200);
    expect(first.json).to.deep.equal({ ok: true, revision: 1 });
    const refused = await call('POST', '/v1/cas', { body: JSON.stringify({ key: 'c', value: 'b', expectedValue: null }), type: json });
    expect(refused.status).to.equal(409);
    expect(refused.json).to.deep.equal({ ok: false, value: 'a', revision: 1 });
    expect((await call('POST', '/v1/cas', { body: JSON.stringify({ key: 'c', value: 'b', expectedValue: 'a' }), type: json })).json).to.deep.equal({ ok: true, revision: 2 });
    expectError(await call('POST', '/v1/cas', { body: JSON.stringify({ key: 'c', value: 'b' }), type: json }), 400, 'BAD_REQUEST');
    expectError(await call('POST', '/v1/cas', { body: JSON.stringify({ key: 'c', value: 'b', expectedRevison: 2 }), type: json }), 400, 'BAD_REQUEST');
  });

  it('query parameters are checked', async () => {
    expectError(await call('GET', '/get/k?consistency=eventual'), 400, 'BAD_REQUEST');
    expectError(await call('GET', '/get/k?consistency=stale&consistency=stale'), 400, 'BAD_REQUEST');
    expectError(await call('GET', '/v1/kv/k?cb=123'), 400, 'BAD_REQUEST');
    expectError(await call('DELETE', '/v1/kv/k?recurse'), 400, 'BAD_REQUEST');
  });

  it('unknown routes 404, wrong methods 405 with Allow', async () => {
    expectError(await call('GET', '/nope'), 404, 'NOT_FOUND');
    expectError(await call('GET', '/get'), 404, 'NOT_FOUND');
    expectError(await call('GET', '/v1/kv'), 404, 'NOT_FOUND');
    expectError(await call('GET', '/setx'), 404, 'NOT_FOUND');
    const wrong = await call('POST', '/v1/kv/k', { body: 'x' });
    expectError(wrong, 405, 'METHOD_NOT_ALLOWED');
    expect(wrong.headers.get('allow')).to.equal('GET, PUT, DELETE');
    expectError(await call('GET', '/set'), 405, 'METHOD_NOT_ALLOWED');
    expectError(await call('DELETE', '/'), 405, 'METHOD_NOT_ALLOWED');
    expect((await raw('PATCH', '/v1/kv/k')).status).to.equal(405);
  });

  it('maps protocol errors to HTTP statuses', async () => {
    const cases: Array<[ErrorCode, number]> = [
      ['UNAVAILABLE', 503],
      ['NOT_LEADER', 503],
      ['INTERNAL', 500],
      ['TIMEOUT', 504],
      ['BAD_REQUEST', 400],
    ];
    for (const [code, status] of cases) {
      intercept = () => ({ code, message: `injected ${code}` });
      expectError(await call('GET', '/v1/kv/k'), status, code);
    }
    intercept = () => 'silent';
    expectError(await call('PUT', '/v1/kv/k', { body: 'v' }), 504, 'TIMEOUT');
    intercept = undefined;
    responder.stop();
    expectError(await call('GET', '/get/k'), 503, 'NO_RESPONDERS');
  });

  it('/cluster/status: the status, its errors mapped, an unexpected exception answered 500 and counted', async () => {
    const status = await call('GET', '/cluster/status');
    expect(status.status).to.equal(200);
    expect(status.json).to.deep.equal(SAMPLE_STATUS);
    clusterStatus = () => Promise.reject(new KvError('TIMEOUT', 'status: no reply'));
    expectError(await call('GET', '/cluster/status'), 504, 'TIMEOUT');
    clusterStatus = () => {
      throw new TypeError('boom');
    };
    const failed = await call('GET', '/cluster/status');
    expectError(failed, 500, 'INTERNAL');
    expect(failed.json.error.message).to.include('boom');
    expect(registry.render()).to.include('cairn_http_handler_errors_total 1\n');
    expect((await call('GET', '/healthz')).status).to.equal(200);
  });

  it('/metrics: parseable Prometheus text that counts requests by route, method and status', async () => {
    await call('PUT', '/v1/kv/m', { body: '1' });
    await call('PUT', '/v1/kv/m', { body: '2' });
    await call('GET', '/get/m');
    await call('GET', '/nope/secret-key');
    await call('GET', '/v1/kv/%ZZ');
    const metrics = await call('GET', '/metrics');
    expect(metrics.status).to.equal(200);
    expect(metrics.headers.get('content-type')).to.equal('text/plain; version=0.0.4; charset=utf-8');
    const samples = parsePrometheusText(metrics.text);
    expect(sumOf(samples, 'cairn_http_requests_total', { route: '/v1/kv/{key}', method: 'PUT', status: '200' })).to.equal(2);
    expect(sumOf(samples, 'cairn_http_requests_total', { route: '/v1/kv/{key}', method: 'GET', status: '400' })).to.equal(1);
    expect(sumOf(samples, 'cairn_http_requests_total', { route: '/get/{key}', method: 'GET', status: '200' })).to.equal(1);
    expect(sumOf(samples, 'cairn_http_requests_total', { route: 'unmatched', status: '404' })).to.equal(1);
    expect(sumOf(samples, 'cairn_http_request_duration_milliseconds_count', { route: '/v1/kv/{key}' })).to.equal(3);
    expect(sumOf(samples, 'cairn_http_request_duration_milliseconds_bucket', { route: '/v1/kv/{key}', le: '+Inf' })).to.equal(3);
    expect(sumOf(samples, 'cairn_http_requests_in_flight')).to.equal(1); // this /metrics request itself
    expect(metrics.text).to.not.include('secret-key'); // user data never becomes a label
  });

  it('serves the dashboard as text/html with a strict CSP', async () => {
    const page = await call('GET', '/');
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).to.match(/default-src 'none'; script-src 'sha256-/);
    expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(page.text).to.include('<title>cairn</title>');
  });

  it('answers malformed HTTP with 400 and keeps serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(gateway.port, '127.0.0.1', () => socket.write('GARBAGE\r\n\r\n'));
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(reply).to.match(/^HTTP\/1\.1 400/);
    expect((await call('GET', '/healthz')).status).to.equal(200);
  });

  it('closes with open keep-alive connections', async () => {
    await call('GET', '/healthz');
    const started = Date.now();
    await gateway.close();
    expect(Date.now() - started).to.be.lessThan(1000);
    gateway = await startHttpGateway({ port: 0, kv: new KvClient(nc), clusterStatus: async () => SAMPLE_STATUS, registry }); // for afterEach
  });
});
