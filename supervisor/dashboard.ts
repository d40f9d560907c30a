// The web control panel, served at GET / by the HTTP gateway: one self-contained page (inline CSS
// and JS, nothing fetched from elsewhere: the machine may have no internet). It polls
// /cluster/status and /metrics once a second and reads and writes keys through /v1/kv/{key}.
//
// Every piece of data reaches the DOM through textContent (keys and values are user data; node ids
// and error messages come over the network). The page's Content-Security-Policy allows exactly this
// script and this style by hash, so an injected <script> could not run even if escaping failed.
//
// The script's pure helpers (metrics parsing, rates, health) are exposed as `window.cairnDashboard`
// so unit tests can run them in a bare VM without a browser.

import { createHash } from 'node:crypto';

const STYLE = `
:root { --ok: #1a7f37; --warn: #b7791f; --bad: #c62828; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #111827; background: #f9fafb; }
header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; background: #111827; color: #f9fafb; }
header h1 { font-size: 18px; margin: 0; }
header .state { color: #d1d5db; }
main { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 16px; padding: 16px 20px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
section h2 { font-size: 15px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px 3px 0; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
th { color: var(--muted); font-weight: 600; }
.health { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; }
.health-ok { background: var(--ok); } .health-warn { background: var(--warn); } .health-bad { background: var(--bad); }
.role-leader { font-weight: 600; } .role-stopped { color: var(--bad); }
.muted { color: var(--muted); }
.error { color: var(--bad); white-space: pre-wrap; }
.numbers { display: flex; gap: 24px; margin-bottom: 8px; }
.numbers div span { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
canvas { width: 100%; height: 60px; border: 1px solid var(--line); border-radius: 4px; }
form { display: grid; gap: 8px; }
input[type=text], textarea { width: 100%; font: 13px ui-monospace, monospace; padding: 4px 6px; }
textarea { min-height: 70px; }
.buttons { display: flex; gap: 8px; align-items: center; }
pre { white-space: pre-wrap; word-break: break-all; background: #f3f4f6; padding: 8px; border-radius: 4px; margin: 8px 0 0; max-height: 240px; overflow: auto; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
`;

const SCRIPT = `
(function () {
  'use strict';
  var KV_ROUTES = ['/get/{key}', '/set', '/v1/kv/{key}', '/v1/cas'];
  var HISTORY_POINTS = 60;
  var LAG_WARN_ENTRIES = 100;

  /** Prometheus text -> [{name, labels: Map, value}]. Unparseable lines are skipped. */
  function parseMetrics(text) {
    var samples = [];
    var lines = String(text).split('\\n');
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (line === '' || line.charAt(0) === '#') continue;
      var match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})?\\s+(\\S+)/.exec(line);
      if (match === null) continue;
      var labels = new Map();
      var labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\]|\\\\.)*)"/g;
      var pair;
      while ((pair = labelPattern.exec(match[2] || '')) !== null) {
        labels.set(pair[1], pair[2].replace(/\\\\(.)/g, function (_, c) { return c === 'n' ? '\\n' : c; }));
      }
      var value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
      samples.push({ name: match[1], labels: labels, value: value });
    }
    return samples;
  }

  /** Totals over the key-value routes: requests, latency sum and count, cumulative buckets by le. */
  function summarize(samples) {
    var summary = { requests: 0, errors: 0, latencySum: 0, latencyCount: 0, buckets: new Map() };
    samples.forEach(function (sample) {
      if (KV_ROUTES.indexOf(sample.labels.get('route')) === -1) return;
      if (sample.name === 'cairn_http_requests_total') {
        summary.requests += sample.value;
        if (Number(sample.labels.get('status')) >= 500) summary.errors += sample.value;
      } else if (sample.name === 'cairn_http_request_duration_milliseconds_sum') {
        summary.latencySum += sample.value;
      } else if (sample.name === 'cairn_http_request_duration_milliseconds_count') {
        summary.latencyCount += sample.value;
      } else if (sample.name === 'cairn_http_request_duration_milliseconds_bucket') {
        var le = sample.labels.get('le');
        summary.buckets.set(le, (summary.buckets.get(le) || 0) + sample.value);
      }
    });
    return summary;
  }

  /** Rates between two summaries taken elapsedMs apart; latency percentile from bucket deltas. */
  function rates(previous, current, elapsedMs) {
    if (previous === null || !(elapsedMs > 0)) return null;
    var requests = Math.max(0, current.requests - previous.requests);
    var count = Math.max(0, current.latencyCount - previous.latencyCount);
    var sum = Math.max(0, current.latencySum - previous.latencySum);
    return {
      perSecond: (requests * 1000) / elapsedMs,
      errorsPerSecond: (Math.max(0, current.errors - previous.errors) * 1000) / elapsedMs,
      meanMs: count > 0 ? sum / count : null,
      p99Ms: percentile(previous.buckets, current.buckets, 0.99)
    };
  }

  function percentile(previous, current, quantile) {
    var bounds = [];
    current.forEach(function (value, le) { bounds.push({ le: le === '+Inf' ? Infinity : Number(le), count: value - (previous.get(le) || 0) }); });
    bounds.sort(function (a, b) { return a.le - b.le; });
    var total = bounds.length > 0 ? bounds[bounds.length - 1].count : 0;
    if (!(total > 0)) return null;
    for (var i = 0; i < bounds.length; i++) if (bounds[i].count >= quantile * total) return bounds[i].le;
    return null;
  }

  /** 'ok' | 'warn' | 'bad' for a partition of the cluster status. */
  function partitionHealth(partition) {
    if (partition === null || typeof partition !== 'object' || !partition.leader) return 'bad';
    var replicas = Array.isArray(partition.replicas) ? partition.replicas : [];
    var leader = replicas.filter(function (replica) { return replica.role === 'leader'; })[0];
    for (var i = 0; i < replicas.length; i++) {
      var replica = replicas[i];
      if (replica.role === 'stopped' || replica.role === 'candidate' || replica.role === 'pre-candidate') return 'warn';
      if (lagOf(leader, replica) > LAG_WARN_ENTRIES) return 'warn';
    }
    return 'ok';
  }

  function lagOf(leader, replica) {
    if (!leader || replica.role === 'leader') return 0;
    var lags = leader.followerLag;
    if (!lags || typeof lags !== 'object' || !Object.prototype.hasOwnProperty.call(lags, String(replica.replica))) return null;
    return lags[String(replica.replica)];
  }

  function formatDuration(ms) {
    if (!(ms >= 0)) return '-';
    var seconds = Math.floor(ms / 1000);
    if (seconds >= 3600) return Math.floor(seconds / 3600) + 'h' + Math.floor((seconds % 3600) / 60) + 'm';
    if (seconds >= 60) return Math.floor(seconds / 60) + 'm' + (seconds % 60) + 's';
    return seconds + 's';
  }

  var helpers = { parseMetrics: parseMetrics, summarize: summarize, rates: rates, partitionHealth: partitionHealth, lagOf: lagOf, formatDuration: formatDuration };
  if (typeof window !== 'undefined') window.cairnDashboard = helpers;
  if (typeof document === 'undefined' || typeof document.getElementById !== 'function') return;

  // ---- DOM: every text goes in through textContent ----
  function $(id) { return document.getElementById(id); }
  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }
  function row(cells, header) {
    var tr = document.createElement('tr');
    cells.forEach(function (cell) {
      if (cell instanceof Node) { var td = element(header ? 'th' : 'td'); td.appendChild(cell); tr.appendChild(td); }
      else tr.appendChild(element(header ? 'th' : 'td', cell));
    });
    return tr;
  }
  function replaceRows(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (tr) { tbody.appendChild(tr); });
  }

  function renderStatus(status) {
    if (!status || !Array.isArray(status.nodes) || !Array.isArray(status.partitions)) {
      $('status-error').textContent = 'unexpected status shape: ' + JSON.stringify(status).slice(0, 2000);
      return;
    }
    $('status-error').textContent = '';
    // The controller's verdict on each node (state, health); nodes it knows that do not answer are shown too.
    var judged = {};
    var controller = status.controller && Array.isArray(status.controller.nodes) ? status.controller : null;
    if (controller) controller.nodes.forEach(function (node) { judged[node.id] = node; });
    var nodeRows = status.nodes.map(function (node) {
      var failed = Array.isArray(node.failed) ? node.failed : [];
      var failedText = failed.length === 0 ? '-' : failed.map(function (failure) { return failure.actor + ': ' + failure.error; }).join('; ');
      var verdict = judged[node.id] || {};
      return row([node.id, verdict.state || '-', verdict.health || '-', node.pid, node.httpPort === undefined ? '-' : node.httpPort, formatDuration(node.uptimeMs), node.replicas, node.restarts, failedText]);
    });
    if (controller) controller.nodes.forEach(function (verdict) {
      var answering = status.nodes.some(function (node) { return node.id === verdict.id; });
      if (!answering) nodeRows.push(row([verdict.id, verdict.state, verdict.health, '-', '-', '-', '-', '-', '-']));
    });
    replaceRows($('nodes'), nodeRows);
    $('controller').textContent = controller
      ? 'controller: ' + controller.node + ' (epoch ' + controller.epoch + '), ' + (controller.balanced ? 'nothing to do' : controller.changing + ' partition(s) changing')
        + (controller.ring ? '; key ring epoch ' + controller.ring.epoch + ': partitions ' + controller.ring.partitions.join(' ') : '')
        + (controller.reshard ? '; ' + (controller.reshard.kind === 'create' ? 'creating' : 'deleting') + ' partition ' + controller.reshard.partitionId + ' (' + controller.reshard.phase + ')' : '')
      : 'controller: none answering';
    var rows = [];
    var healthy = 0;
    status.partitions.forEach(function (partition) {
      var health = partitionHealth(partition);
      if (health === 'ok') healthy++;
      var replicas = Array.isArray(partition.replicas) ? partition.replicas.slice() : [];
      replicas.sort(function (a, b) { return a.replica - b.replica; });
      var leader = replicas.filter(function (replica) { return replica.role === 'leader'; })[0];
      var label = element('span');
      label.appendChild(element('span', null, 'health health-' + health));
      label.appendChild(document.createTextNode(String(partition.id)));
      var leaderText = partition.leader ? 'r' + partition.leader.replica + '@' + partition.leader.node + ' (term ' + partition.leader.term + ')' : 'no leader';
      if (replicas.length === 0) rows.push(row([label, leaderText, '-', '-', '-', '-', '-', '-', '-']));
      replicas.forEach(function (replica, i) {
        var role = element('span', replica.role, 'role-' + replica.role);
        var lag = lagOf(leader, replica);
        rows.push(row([i === 0 ? label : '', i === 0 ? leaderText : '', replica.replica, replica.node, role, replica.term, replica.commit, replica.applied, lag === null ? '-' : lag]));
      });
    });
    replaceRows($('partitions'), rows);
    $('summary').textContent = status.nodes.length + ' nodes, ' + healthy + '/' + status.partitions.length + ' partitions healthy' +
      (Array.isArray(status.missing) && status.missing.length > 0 ? ', no answer from ' + status.missing.join(', ') : '');
  }

  var history = [];
  var previousSummary = null;
  var previousAtMs = 0;

  function renderMetrics(text) {
    var summary = summarize(parseMetrics(text));
    var nowMs = Date.now();
    var rate = rates(previousSummary, summary, nowMs - previousAtMs);
    previousSummary = summary;
    previousAtMs = nowMs;
    if (rate === null) return;
    $('rps').textContent = rate.perSecond.toFixed(1);
    $('errors').textContent = rate.errorsPerSecond.toFixed(1);
    $('mean').textContent = rate.meanMs === null ? '-' : rate.meanMs.toFixed(1) + ' ms';
    $('p99').textContent = rate.p99Ms === null ? '-' : (rate.p99Ms === Infinity ? '> 10 s' : '<= ' + rate.p99Ms + ' ms');
    history.push(rate.perSecond);
    if (history.length > HISTORY_POINTS) history.shift();
    drawSparkline($('sparkline'), history);
  }

  function drawSparkline(canvas, points) {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth * ratio, height = canvas.clientHeight * ratio;
    canvas.width = width; canvas.height = height;
    var context = canvas.getContext('2d');
    if (!context) return;
    context.clearRect(0, 0, width, height);
    var max = Math.max.apply(null, points.concat([1]));
    context.strokeStyle = '#2563eb';
    context.lineWidth = 2 * ratio;
    context.beginPath();
    points.forEach(function (value, i) {
      var x = (i / (HISTORY_POINTS - 1)) * width;
      var y = height - (value / max) * (height - 4 * ratio) - 2 * ratio;
      if (i === 0) context.moveTo(x, y); else context.lineTo(x, y);
    });
    context.stroke();
  }

  function fetchJson(url, options) {
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (error) { body = { error: { code: 'HTTP_' + response.status, message: text.slice(0, 500) } }; }
        return { status: response.status, body: body };
      });
    });
  }

  function poll() {
    var status = fetchJson('/cluster/status', { cache: 'no-store' }).then(function (reply) {
      if (reply.body && reply.body.error) throw new Error(reply.body.error.code + ': ' + reply.body.error.message);
      renderStatus(reply.body);
    });
    var metrics = fetch('/metrics', { cache: 'no-store' }).then(function (response) { return response.text(); }).then(renderMetrics);
    Promise.all([status, metrics]).then(function () {
      $('state').textContent = 'updated ' + new Date().toLocaleTimeString();
    }, function (error) {
      $('state').textContent = 'update failed: ' + (error && error.message ? error.message : String(error));
    }).then(function () { setTimeout(poll, 1000); });
  }

  function keyUrl(key, stale) {
    return '/v1/kv/' + encodeURIComponent(key) + (stale ? '?consistency=stale' : '');
  }

  function showResult(reply) {
    var out = $('kv-result');
    out.className = reply.body && reply.body.error ? 'error' : '';
    if (reply.body && reply.body.error) out.textContent = reply.status + ' ' + reply.body.error.code + ': ' + reply.body.error.message;
    else out.textContent = reply.status + ' ' + JSON.stringify(reply.body, null, 2);
  }

  function kvAction(action) {
    var key = $('kv-key').value;
    var request;
    try {
      if (action === 'get') request = fetchJson(keyUrl(key, $('kv-stale').checked));
      else if (action === 'put') request = fetchJson(keyUrl(key, false), { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ value: $('kv-value').value }) });
      else request = fetchJson(keyUrl(key, false), { method: 'DELETE' });
    } catch (error) {
      showResult({ status: 0, body: { error: { code: 'BAD_REQUEST', message: String(error && error.message || error) } } });
      return;
    }
    request.then(function (reply) {
      showResult(reply);
      if (action === 'get' && reply.body && !reply.body.error && typeof reply.body.value === 'string') $('kv-value').value = reply.body.value;
    }, function (error) {
      showResult({ status: 0, body: { error: { code: 'NETWORK', message: String(error && error.message || error) } } });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('kv-form').addEventListener('submit', function (event) { event.preventDefault(); kvAction('get'); });
    ['get', 'put', 'del'].forEach(function (action) {
      $('kv-' + action).addEventListener('click', function (event) { event.preventDefault(); kvAction(action); });
    });
    poll();
  });
})();
`;

const BODY = `
<header><h1>cairn</h1><span id="summary" class="state">loading…</span><span id="state" class="state"></span></header>
<main>
  <div>
    <section>
      <h2>Nodes</h2>
      <p id="controller" class="muted"></p>
      <table><thead><tr><th>node</th><th>state</th><th>health</th><th>pid</th><th>http</th><th>uptime</th><th>replicas</th><th>restarts</th><th>stopped for good</th></tr></thead><tbody id="nodes"></tbody></table>
    </section>
    <section>
      <h2>Partitions</h2>
      <div id="status-error" class="error"></div>
      <table><thead><tr><th>partition</th><th>leader</th><th>replica</th><th>node</th><th>role</th><th>term</th><th>commit</th><th>applied</th><th>lag</th></tr></thead><tbody id="partitions"></tbody></table>
    </section>
  </div>
  <div>
    <section>
      <h2>Gateway traffic (key-value routes)</h2>
      <div class="numbers">
        <div>req/s<span id="rps">-</span></div>
        <div>5xx/s<span id="errors">-</span></div>
        <div>mean<span id="mean">-</span></div>
        <div>p99<span id="p99">-</span></div>
      </div>
      <canvas id="sparkline" width="300" height="60"></canvas>
      <p class="muted">Requests through this node's HTTP gateway; NATS clients do not pass through it.</p>
    </section>
    <section>
      <h2>Key</h2>
      <form id="kv-form">
        <input id="kv-key" type="text" placeholder="key" autocomplete="off" spellcheck="false">
        <textarea id="kv-value" placeholder="value" spellcheck="false"></textarea>
        <div class="buttons">
          <button id="kv-get" type="submit">Get</button>
          <button id="kv-put" type="button">Put</button>
          <button id="kv-del" type="button">Delete</button>
          <label><input id="kv-stale" type="checkbox"> stale read</label>
        </div>
      </form>
      <pre id="kv-result"></pre>
    </section>
  </div>
</main>
`;

function sha256Base64(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}

/** The inline script, exported for tests (syntax check, helpers in a VM). */
export const DASHBOARD_SCRIPT = SCRIPT;
export const DASHBOARD_STYLE = STYLE;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cairn</title>
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/** Allows exactly the inline script and style above (by hash), fetches to this origin, nothing else. */
export const DASHBOARD_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src 'sha256-${sha256Base64(SCRIPT)}'`,
  `style-src 'sha256-${sha256Base64(STYLE)}'`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
