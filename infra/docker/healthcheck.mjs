#!/usr/bin/env node
// Container health checks without curl or extra packages (plain Node, no dependencies).
//
//   node healthcheck.mjs http    GET http://127.0.0.1:$YOTO_DASHBOARD_PORT/healthz → 200 (coordinator)
//   node healthcheck.mjs redis   PING on $REDIS_URL → +PONG, AUTH first when the URL has credentials (worker)
//
// Exit 0 healthy, 1 unhealthy. Never prints the Redis password or the URL.
import net from 'node:net';
import tls from 'node:tls';

const TIMEOUT_MS = Number(process.env.YOTO_HEALTHCHECK_TIMEOUT_MS ?? 4000);
const fail = (why) => {
  process.stderr.write(`unhealthy: ${why}\n`);
  process.exit(1);
};

async function http() {
  const port = process.env.YOTO_DASHBOARD_PORT || '8790';
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (res.status !== 200) fail(`/healthz answered ${res.status}`);
}

const resp = (...args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

function redis() {
  const raw = process.env.REDIS_URL;
  if (!raw) fail('REDIS_URL is not set');
  let url;
  try {
    url = new URL(raw);
  } catch {
    fail('REDIS_URL is not a URL');
  }
  const secure = url.protocol === 'rediss:';
  const port = Number(url.port || 6379);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const cmds = [];
  const user = decodeURIComponent(url.username || '');
  const pass = decodeURIComponent(url.password || '');
  if (pass) cmds.push(user ? resp('AUTH', user, pass) : resp('AUTH', pass));
  cmds.push(resp('PING'));
  return new Promise((resolve) => {
    const sock = secure ? tls.connect({ host, port, servername: host }) : net.connect({ host, port });
    const timer = setTimeout(() => fail(`no answer from Redis at ${host}:${port} within ${TIMEOUT_MS} ms`), TIMEOUT_MS);
    let buf = '';
    sock.once(secure ? 'secureConnect' : 'connect', () => sock.write(cmds.join('')));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const lines = buf.split('\r\n').filter(Boolean);
      if (lines.some((l) => l.startsWith('-'))) fail(`Redis refused: ${lines.find((l) => l.startsWith('-')).split(' ')[0]}`);
      if (lines.length >= cmds.length) {
        clearTimeout(timer);
        sock.end();
        if (lines[lines.length - 1] !== '+PONG') fail('Redis did not answer PONG');
        resolve();
      }
    });
    sock.on('error', (e) => fail(`cannot reach Redis at ${host}:${port}: ${e.code ?? e.message}`));
  });
}

const mode = process.argv[2];
try {
  if (mode === 'http') await http();
  else if (mode === 'redis') await redis();
  else fail(`usage: healthcheck.mjs http|redis (got ${mode ?? 'nothing'})`);
  process.exit(0);
} catch (e) {
  fail(e?.name === 'TimeoutError' ? 'timed out' : (e?.message ?? String(e)));
}
