// The HTTP face of the public protocol, for curl and the browser dashboard. Every route maps onto one
// KvClient call; the JSON error body is the protocol's own: {"error":{"code","message"}}.
//
// | route                 | method          | answer                                      |
// | /                     | GET             | the dashboard (HTML)                        |
// | /healthz              | GET             | {"status":"ok"}                             |
// | /metrics              | GET             | Prometheus text                             |
// | /cluster/status       | GET             | the cluster status (statusTypes.ts)         |
// | /get/{key}            | GET             | {"value":V|null,"revision":N}               |
// | /set                  | POST (JSON)     | {"revision":N}                              |
// | /v1/kv/{key}          | GET PUT DELETE  | get / put (raw text or JSON) / delete       |
// | /v1/cas               | POST (JSON)     | {"ok":true,...} 200 or {"ok":false,...} 409 |
//
// Rules that matter at this edge (docs/http.md has the full contract):
// - A key is everything after the route prefix in the raw path, percent-decoded once; the path is
//   never normalized ("a/../b" stays that key), so a key may contain "/", "%2F" or "..".
// - Bodies are bounded before they are read: a Content-Length over the bound is refused with 413
//   at once; a chunked body is counted while it streams and cut off at the bound.
// - POST routes require Content-Type application/json: a cross-site page can POST text/plain
//   without a CORS preflight, but not JSON. PUT and DELETE always need a preflight, which this
//   gateway never grants.
// - No exception escapes a handler: it is caught, answered with 500 INTERNAL and counted.

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { KvClient, KvError } from '../bus/kvClient';
import type { KvErrorCode } from '../bus/kvClient';
import { parseRequest, REQUEST_BYTES_MAX, validateKey, validateValue, VALUE_BYTES_MAX } from '../bus/protocol';
import type { CasExpectation, Consistency } from '../bus/protocol';
import { DASHBOARD_CONTENT_SECURITY_POLICY, DASHBOARD_HTML } from './dashboard';
import { defaultRegistry } from './metrics';
import type { Registry } from './metrics';
import type { ClusterStatus } from './statusTypes';

export interface HttpGatewayOptions {
  /** TCP port; 0 = any free port (read the chosen one from the handle). */
  port: number;
  /** Address to bind; default 127.0.0.1 (use 0.0.0.0 only behind a trusted network). */
  host?: string;
  /** The public-protocol client every key-value route goes through. */
  kv: KvClient;
  /** The cluster status served at /cluster/status. */
  clusterStatus: () => Promise<ClusterStatus>;
  /** The text served at /metrics; default `registry.render()`. */
  metricsText?: () => Promise<string>;
  /** Where the gateway counts its requests; default the process-wide `defaultRegistry`. */
  registry?: Registry;
}

export interface HttpGateway {
  /** The port actually bound (the chosen one when options.port was 0). */
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  /** Stops accepting, closes idle and active connections, resolves when the server is closed. */
  close(): Promise<void>;
}

/** Codes the gateway adds to the protocol's, for HTTP-only failures. */
export type GatewayErrorCode = KvErrorCode | 'NOT_FOUND' | 'METHOD_NOT_ALLOWED' | 'UNSUPPORTED_MEDIA_TYPE';

const STATUS_BY_CODE: ReadonlyMap<GatewayErrorCode, number> = new Map<GatewayErrorCode, number>([
  ['BAD_REQUEST', 400],
  ['KEY_TOO_LARGE', 413],
  ['VALUE_TOO_LARGE', 413],
  ['NOT_FOUND', 404],
  ['METHOD_NOT_ALLOWED', 405],
  ['UNSUPPORTED_MEDIA_TYPE', 415],
  ['INTERNAL', 500],
  ['NOT_LEADER', 503],
  ['WRONG_PARTITION', 503],
  ['UNAVAILABLE', 503],
  ['NO_RESPONDERS', 503],
  ['TIMEOUT', 504],
  ['DEADLINE_EXCEEDED', 504],
]);

/** An expected failure of one request: answered as {"error":{code,message}} with its HTTP status. */
class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

interface Reply {
  status: number;
  body: string;
  contentType: string;
  headers?: Readonly<Record<string, string>>;
}

interface RequestContext {
  request: IncomingMessage;
  /** The raw path after the route's prefix (only for prefix routes), not yet decoded. */
  rest: string;
  query: URLSearchParams;
}

type Handler = (context: RequestContext) => Promise<Reply>;

interface Route {
  /** The label in metrics and logs; never contains user data. */
  name: string;
  /** Exact path, or a prefix when it ends with "/". */
  path: string;
  handlers: ReadonlyMap<string, Handler>;
}

interface GatewayMetrics {
  requests: ReturnType<Registry['counter']>;
  durations: ReturnType<Registry['histogram']>;
  inFlight: ReturnType<Registry['gauge']>;
  handlerErrors: ReturnType<Registry['counter']>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const UNMATCHED_ROUTE = 'unmatched';

export async function startHttpGateway(options: HttpGatewayOptions): Promise<HttpGateway> {
  const registry = options.registry ?? defaultRegistry;
  const metrics = registerMetrics(registry);
  const routes = buildRoutes(options, () => (options.metricsText ?? (async () => registry.render()))());
  const server = createServer({ requestTimeout: 60_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (request, response) => {
    serve(routes, metrics, request, response);
  });
  server.on('clientError', (error, socket) => {
    // Malformed HTTP never reaches a handler; answer 400 if the socket can still take it.
    if (socket.writable && !(error as { code?: string }).code?.startsWith('ECONN')) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const host = options.host ?? '127.0.0.1';
  await listen(server, options.port, host);
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => closeServer(server),
  };
}

function registerMetrics(registry: Registry): GatewayMetrics {
  return {
    requests: registry.counter('cairn_http_requests_total', 'HTTP requests answered by the gateway, by route, method and status.', ['route', 'method', 'status']),
    durations: registry.histogram('cairn_http_request_duration_milliseconds', 'HTTP request latency in milliseconds, by route.', ['route']),
    inFlight: registry.gauge('cairn_http_requests_in_flight', 'HTTP requests being served.'),
    handlerErrors: registry.counter('cairn_http_handler_errors_total', 'Unexpected exceptions caught in HTTP handlers (answered with 500).'),
  };
}

function buildRoutes(options: HttpGatewayOptions, metricsText: () => Promise<string>): Route[] {
  const kv = options.kv;
  return [
    { name: '/', path: '/', handlers: new Map([['GET', async () => dashboardReply()]]) },
    { name: '/healthz', path: '/healthz', handlers: new Map([['GET', async () => jsonReply(200, { status: 'ok' })]]) },
    {
      name: '/metrics',
      path: '/metrics',
      handlers: new Map([['GET', async () => ({ status: 200, body: await metricsText(), contentType: 'text/plain; version=0.0.4; charset=utf-8' })]]),
    },
    { name: '/cluster/status', path: '/cluster/status', handlers: new Map([['GET', async () => jsonReply(200, await callKv(() => options.clusterStatus()))]]) },
    { name: '/get/{key}', path: '/get/', handlers: new Map([['GET', (context) => getKey(kv, context)]]) },
    { name: '/set', path: '/set', handlers: new Map([['POST', (context) => setKey(kv, context)]]) },
    {
      name: '/v1/kv/{key}',
      path: '/v1/kv/',
      handlers: new Map<string, Handler>([
        ['GET', (context) => getKey(kv, context)],
        ['PUT', (context) => putKey(kv, context)],
        ['DELETE', (context) => deleteKey(kv, context)],
      ]),
    },
    { name: '/v1/cas', path: '/v1/cas', handlers: new Map([['POST', (context) => compareAndSet(kv, context)]]) },
  ];
}

/** Answers one request; catches everything, counts it by route and status. */
function serve(routes: Route[], metrics: GatewayMetrics, request: IncomingMessage, response: ServerResponse): void {
  const startedMs = performance.now();
  const rawUrl = request.url ?? '/';
  const queryStart = rawUrl.indexOf('?');
  const path = queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
  const query = new URLSearchParams(queryStart === -1 ? '' : rawUrl.slice(queryStart + 1));
  const route = routes.find((candidate) => (candidate.path.endsWith('/') && candidate.path !== '/' ? path.startsWith(candidate.path) : path === candidate.path));
  const routeName = route?.name ?? UNMATCHED_ROUTE;
  // HEAD is GET without a body (node drops the body of a HEAD response itself).
  const method = request.method === 'HEAD' ? 'GET' : request.method ?? 'GET';
  metrics.inFlight.inc();
  let recorded = false;
  response.once('close', () => {
    if (recorded) return;
    recorded = true;
    metrics.inFlight.dec();
    metrics.requests.inc({ route: routeName, method: knownMethod(method), status: String(response.statusCode) });
    metrics.durations.observe(performance.now() - startedMs, { route: routeName });
  });
  dispatch(route, method, { request, rest: route === undefined ? '' : path.slice(route.path.length), query })
    .catch((error: unknown) => {
      if (error instanceof GatewayError) return errorReply(error.code, error.message, error.headers);
      metrics.handlerErrors.inc();
      return errorReply('INTERNAL', `unexpected failure in ${routeName}: ${error instanceof Error ? error.message : String(error)}`);
    })
    .then((reply) => send(request, response, reply))
    .catch(() => {
      metrics.handlerErrors.inc();
      response.destroy();
    });
}

async function dispatch(route: Route | undefined, method: string, context: RequestContext): Promise<Reply> {
  if (route === undefined) throw new GatewayError('NOT_FOUND', 'no such route; see docs/http.md');
  const handler = route.handlers.get(method);
  if (handler === undefined) {
    const allowed = [...route.handlers.keys()].join(', ');
    throw new GatewayError('METHOD_NOT_ALLOWED', `${route.name} allows ${allowed}`, { Allow: allowed });
  }
  return handler(context);
}

function send(request: IncomingMessage, response: ServerResponse, reply: Reply): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const headers: Record<string, string | number> = {
    'Content-Type': reply.contentType,
    'Content-Length': Buffer.byteLength(reply.body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...reply.headers,
  };
  // A request whose body was not read to the end (refused early) cannot keep its connection: the
  // rest of the body would be parsed as the next request.
  if (!request.complete) headers.Connection = 'close';
  response.writeHead(reply.status, headers);
  response.end(reply.body);
}

function knownMethod(method: string): string {
  // Bounded label values: an arbitrary method token from a client must not create a new series.
  return ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'].includes(method) ? method : 'OTHER';
}

async function getKey(kv: KvClient, context: RequestContext): Promise<Reply> {
  const key = keyOf(context.rest);
  const consistency = consistencyOf(context.query);
  const reply = await callKv(() => kv.get(key, { consistency }));
  return jsonReply(200, reply);
}

async function setKey(kv: KvClient, context: RequestContext): Promise<Reply> {
  requireJson(context.request);
  const body = await readBody(context.request, REQUEST_BYTES_MAX);
  const parsed = parseRequest('put', body);
  if (!parsed.ok) throw new GatewayError(parsed.error.code, parsed.error.message);
  noQuery(context.query);
  return jsonReply(200, await callKv(() => kv.put(parsed.request.key, parsed.request.value)));
}

/** PUT body: the raw value as UTF-8 text, or {"value":V} when Content-Type is application/json. */
async function putKey(kv: KvClient, context: RequestContext): Promise<Reply> {
  const key = keyOf(context.rest);
  noQuery(context.query);
  const json = isJson(context.request);
  const body = await readBody(context.request, json ? REQUEST_BYTES_MAX : VALUE_BYTES_MAX);
  const value = json ? valueFromJson(body) : decodeUtf8(body, 'body');
  return jsonReply(200, await callKv(() => kv.put(key, value)));
}

async function deleteKey(kv: KvClient, context: RequestContext): Promise<Reply> {
  const key = keyOf(context.rest);
  noQuery(context.query);
  return jsonReply(200, await callKv(() => kv.del(key)));
}

/** Body: the protocol's cas request {"key","value","expectedRevision"|"expectedValue"}; refused = 409. */
async function compareAndSet(kv: KvClient, context: RequestContext): Promise<Reply> {
  requireJson(context.request);
  noQuery(context.query);
  const body = await readBody(context.request, REQUEST_BYTES_MAX);
  const parsed = parseRequest('cas', body);
  if (!parsed.ok) throw new GatewayError(parsed.error.code, parsed.error.message);
  const { key, value, expected } = parsed.request;
  const reply = await callKv(() => kv.cas(key, value, expected as CasExpectation));
  return jsonReply(reply.ok ? 200 : 409, reply);
}

function dashboardReply(): Reply {
  return {
    status: 200,
    body: DASHBOARD_HTML,
    contentType: 'text/html; charset=utf-8',
    headers: { 'Content-Security-Policy': DASHBOARD_CONTENT_SECURITY_POLICY, 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer' },
  };
}

/** Runs a KvClient call; its typed failures become GatewayErrors with the same code. */
async function callKv<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof KvError) throw new GatewayError(error.code, error.message);
    throw error;
  }
}

function keyOf(rawKey: string): string {
  let key: string;
  try {
    key = decodeURIComponent(rawKey);
  } catch {
    throw new GatewayError('BAD_REQUEST', 'key in the path is not valid percent-encoded UTF-8');
  }
  const error = validateKey(key);
  if (error !== undefined) throw new GatewayError(error.code, error.message);
  return key;
}

function consistencyOf(query: URLSearchParams): Consistency {
  for (const name of query.keys()) {
    if (name !== 'consistency') throw new GatewayError('BAD_REQUEST', `unknown query parameter ${JSON.stringify(name.slice(0, 64))}; allowed: consistency`);
  }
  const values = query.getAll('consistency');
  if (values.length === 0) return 'linearizable';
  if (values.length === 1 && (values[0] === 'linearizable' || values[0] === 'stale')) return values[0];
  throw new GatewayError('BAD_REQUEST', 'consistency must be given once, as "linearizable" or "stale"');
}

function noQuery(query: URLSearchParams): void {
  const first = query.keys().next();
  if (first.done !== true) throw new GatewayError('BAD_REQUEST', `unknown query parameter ${JSON.stringify(first.value.slice(0, 64))}`);
}

function isJson(request: IncomingMessage): boolean {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json';
}

function requireJson(request: IncomingMessage): void {
  if (!isJson(request)) throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'this route takes a JSON body: send Content-Type: application/json');
}

function valueFromJson(body: Buffer): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeUtf8(body, 'body'));
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('BAD_REQUEST', `body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new GatewayError('BAD_REQUEST', 'body must be a JSON object {"value": "..."}');
  const fields = Object.keys(parsed);
  if (fields.length !== 1 || fields[0] !== 'value') throw new GatewayError('BAD_REQUEST', 'body must have exactly one field, "value"');
  const value = (parsed as { value: unknown }).value;
  const error = validateValue(value);
  if (error !== undefined) throw new GatewayError(error.code, error.message);
  return value as string;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new GatewayError('BAD_REQUEST', `${what} is not valid UTF-8`);
  }
}

/** Reads the whole body, refusing (413) one larger than `bytesMax` without buffering more than that. */
function readBody(request: IncomingMessage, bytesMax: number): Promise<Buffer> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > bytesMax) {
    return Promise.reject(new GatewayError('VALUE_TOO_LARGE', `body is ${declared} bytes, limit ${bytesMax}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const cleanup = (): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.byteLength;
      if (bytes > bytesMax) {
        cleanup();
        request.pause();
        reject(new GatewayError('VALUE_TOO_LARGE', `body exceeds the limit of ${bytesMax} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, bytes));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new GatewayError('BAD_REQUEST', `reading the body failed: ${error.message}`));
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}

function jsonReply(status: number, body: unknown): Reply {
  return { status, body: JSON.stringify(body), contentType: JSON_TYPE };
}

function errorReply(code: GatewayErrorCode, message: string, headers: Readonly<Record<string, string>> = {}): Reply {
  return { status: STATUS_BY_CODE.get(code) ?? 500, body: JSON.stringify({ error: { code, message } }), contentType: JSON_TYPE, headers };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
