#!/bin/sh
# Container health check for a cairn supervisor: exits 0 when GET http://HOST:PORT/healthz answers 200
# within the deadline, 1 otherwise (refused, timed out, any other status). No curl or wget is needed:
# the runtime image is node:20-bookworm-slim, so this asks node.
#
#   ops/healthcheck.sh [PORT] [HOST]
#     PORT  default $CAIRN_HTTP_PORT, else 8080 (the supervisor's --http)
#     HOST  default 127.0.0.1
#   CAIRN_HEALTHCHECK_TIMEOUT_MS  default 3000
#
# /healthz says the process serves HTTP (it does not wait on the cluster): a node that cannot reach
# NATS or has no leaders is still "healthy" here; /cluster/status and /metrics tell about the cluster.
set -eu
port="${1:-${CAIRN_HTTP_PORT:-8080}}"
host="${2:-127.0.0.1}"
timeout_ms="${CAIRN_HEALTHCHECK_TIMEOUT_MS:-3000}"
exec node -e '
const [host, port, timeoutMs] = process.argv.slice(1);
const fail = (why) => { process.stderr.write(`healthcheck: http://${host}:${port}/healthz: ${why}\n`); process.exit(1); };
const request = require("node:http").get({ host, port: Number(port), path: "/healthz", timeout: Number(timeoutMs) }, (response) => {
  response.resume();
  if (response.statusCode === 200) process.exit(0);
  fail(`status ${response.statusCode}`);
});
request.on("timeout", () => { request.destroy(); fail(`no answer within ${timeoutMs} ms`); });
request.on("error", (error) => fail(error.code || error.message));
' "$host" "$port" "$timeout_ms"
