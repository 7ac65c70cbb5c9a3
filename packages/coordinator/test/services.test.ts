/**
 * The embedded services against real processes: a private redis-server, the in-process
 * s3rver through the runtime ObjectStore, the endpoints file, and the local worker
 * processes (with a stand-in entry, so this does not depend on the training engine).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ObjectStore, createLogger, endpointsPath, loadConnectionConfig } from '@yoto/runtime';
import { isAlive } from '../src/services/child-guard.ts';
import { startServices, endpointsOwner } from '../src/services/embedded.ts';
import { isListening } from '../src/services/free-port.ts';
import { findOnPath, startRedisServer, type RedisServer } from '../src/services/redis-server.ts';
import { startEmbeddedS3, type EmbeddedS3 } from '../src/services/s3.ts';
import { startWorkerProcesses } from '../src/services/worker-processes.ts';

const log = createLogger({ name: 'services-test', level: 'error' });
const scratch = mkdtempSync(join(tmpdir(), 'yoto-services-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

async function redisClient(url: string): Promise<Redis> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  await r.connect();
  return r;
}

async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !isAlive(pid);
}

describe('redis-server', () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedisServer({ log });
  });
  after(() => server?.stop());

  it('listens on a free loopback port, answers PING, uses noeviction', async () => {
    assert.match(server.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(server.port, 6379);
    const r = await redisClient(server.url);
    try {
      assert.equal(await r.ping(), 'PONG');
      assert.deepEqual(await r.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction']);
      assert.deepEqual(await r.config('GET', 'bind'), ['bind', '127.0.0.1']);
    } finally {
      r.disconnect();
    }
  });

  it('two servers get different ports', async () => {
    const other = await startRedisServer({ log });
    try {
      assert.notEqual(other.port, server.port);
    } finally {
      await other.stop();
    }
  });

  it('restart() comes back on the same port with a new process', async () => {
    const before = server.pid;
    await server.restart();
    assert.notEqual(server.pid, before);
    assert.equal(await waitGone(before), true, 'old process gone');
    const r = await redisClient(server.url);
    try {
      assert.equal(await r.ping(), 'PONG');
    } finally {
      r.disconnect();
    }
  });

  it('stop() kills the process and frees the port; a second stop() is a no-op', async () => {
    const s = await startRedisServer({ log });
    const { pid, port, dir } = s;
    assert.equal(isAlive(pid), true);
    await s.stop();
    await s.stop();
    assert.equal(await waitGone(pid), true, `redis-server ${pid} still running`);
    assert.equal(await isListening(port), false, `port ${port} still open`);
    assert.equal(existsSync(dir), false, 'temp dir removed');
  });

  it('a durable server keeps its data across kill + restart', async () => {
    const dir = join(scratch, 'durable-redis');
    const s = await startRedisServer({ log, dir, durable: true });
    try {
      let r = await redisClient(s.url);
      await r.set('yoto-test:k', 'v');
      // everysec fsync: force the AOF to disk before the crash.
      await r.call('CONFIG', 'SET', 'appendfsync', 'always');
      await r.set('yoto-test:k2', 'v2');
      r.disconnect();
      const old = s.pid;
      await s.kill();
      assert.equal(await waitGone(old), true);
      await s.restart();
      r = await redisClient(s.url);
      assert.equal(await r.get('yoto-test:k2'), 'v2');
      r.disconnect();
    } finally {
      await s.stop();
    }
    assert.equal(existsSync(dir), true, 'a caller-given dir is kept');
  });

  it('names scripts/setup.sh when redis-server is missing', async () => {
    assert.equal(findOnPath('redis-server', '/nonexistent'), null);
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await assert.rejects(startRedisServer({ log }), (err: Error & { code?: string }) => err.code === 'REDIS_SERVER_NOT_FOUND' && /scripts\/setup\.sh/.test(err.message));
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe('embedded S3', () => {
  let s3: EmbeddedS3;
  let store: ObjectStore;
  before(async () => {
    s3 = await startEmbeddedS3({ dir: join(scratch, 's3'), bucket: 'yoto-test', log });
    store = new ObjectStore(s3.s3Config(), log);
  });
  after(async () => {
    store?.close();
    await s3?.stop();
  });

  it('round-trips bytes exactly (no aws-chunked framing) and lists them', async () => {
    const bytes = randomBytes(300_000); // larger than one SDK stream chunk
    const put = await store.put('sweeps/t/runs/r/final/weights.bin', bytes);
    assert.equal(put.size, bytes.length);
    const got = await store.get('sweeps/t/runs/r/final/weights.bin');
    assert.equal(got.length, bytes.length);
    assert.ok(got.equals(bytes), 'stored bytes differ from the uploaded ones');
    await store.putJson('sweeps/t/spec.json', { a: 1 });
    assert.deepEqual(await store.getJson('sweeps/t/spec.json'), { a: 1 });
    const keys = [];
    for await (const o of store.list('sweeps/t/')) keys.push(o);
    assert.deepEqual(keys.map((k) => k.key), ['sweeps/t/runs/r/final/weights.bin', 'sweeps/t/spec.json']);
    assert.equal(keys[0]?.size, bytes.length);
  });

  it('the bucket exists at start; ensureBucket is a no-op', async () => {
    await store.ensureBucket();
    assert.equal(await store.head('missing-key'), null);
  });

  it('refuses unknown access keys', async () => {
    const bad = new ObjectStore({ ...s3.s3Config(), accessKeyId: 'NOPE', secretAccessKey: 'nope' });
    try {
      await assert.rejects(bad.put('x', 'y'), /InvalidAccessKeyId|STORE_ERROR|failed/);
    } finally {
      bad.close();
    }
  });

  it('stop() closes the port even with keep-alive clients', async () => {
    const other = await startEmbeddedS3({ dir: join(scratch, 's3-b'), bucket: 'yoto-test', log });
    const st = new ObjectStore(other.s3Config());
    await st.put('k', 'v');
    await other.stop();
    await other.stop();
    assert.equal(await isListening(other.port), false);
    st.close();
  });
});

describe('startServices', () => {
  it('starts redis + S3, writes endpoints.json (0600) that the runtime reads, removes it on stop', async () => {
    const home = join(scratch, 'home-a');
    const services = await startServices({ home, env: {}, log });
    const file = endpointsPath(home);
    let redisPid = -1;
    try {
      assert.ok(services.redis && services.s3);
      redisPid = services.redis.pid;
      assert.equal(services.endpointsFile, file);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const content = JSON.parse(readFileSync(file, 'utf8'));
      assert.equal(content.redisUrl, services.redis.url);
      assert.equal(content.s3.endpoint, services.s3.endpoint);
      assert.equal(content.pid, process.pid);
      // Another terminal with no variables set finds the services through the file.
      const { config } = loadConnectionConfig({ YOTO_HOME: home });
      assert.ok(config);
      assert.equal(config.redisUrl, services.config.redisUrl);
      assert.equal(config.s3.endpoint, services.config.s3.endpoint);
      const store = new ObjectStore(config.s3);
      await store.put('hello.txt', 'hi');
      assert.equal((await store.get('hello.txt')).toString(), 'hi');
      store.close();
    } finally {
      await services.stop();
    }
    assert.equal(existsSync(file), false, 'endpoints.json removed');
    assert.equal(await waitGone(redisPid), true, 'redis-server gone');
    await services.stop();
  });

  it('uses what the environment configures and starts only the rest', async () => {
    const redis = await startRedisServer({ log });
    const home = join(scratch, 'home-b');
    try {
      const services = await startServices({ home, env: { REDIS_URL: redis.url }, log });
      try {
        assert.equal(services.redis, null);
        assert.ok(services.s3);
        assert.equal(services.config.redisUrl, redis.url);
        assert.equal(services.endpointsFile, endpointsPath(home), 'external Redis without password: file still written');
      } finally {
        await services.stop();
      }
    } finally {
      await redis.stop();
    }
  });

  it("'required' refuses when a live process owns endpoints.json; a stale file is replaced", async () => {
    const home = join(scratch, 'home-c');
    const first = await startServices({ home, env: {}, log });
    try {
      // Pretend the file belongs to another live process (our parent).
      const path = endpointsPath(home);
      const content = JSON.parse(readFileSync(path, 'utf8'));
      writeFileSync(path, JSON.stringify({ ...content, pid: process.ppid }));
      await assert.rejects(startServices({ home, env: {}, log, endpointsFile: 'required' }), /already running/);
      // A dead owner: stale, removed.
      writeFileSync(path, JSON.stringify({ ...content, pid: 2 ** 22 + 12345 }));
      assert.equal(endpointsOwner(home), null);
      assert.equal(existsSync(path), false);
    } finally {
      await first.stop();
    }
  });
});

describe('local worker processes', () => {
  it('start with the connection env, log to files, stop with SIGTERM and leave no process', async () => {
    const home = join(scratch, 'home-w');
    const entry = join(scratch, 'fake-worker.ts');
    // A stand-in worker: logs its env as pino JSON, exits cleanly on SIGTERM.
    writeFileSync(
      entry,
      `const name: string = process.env.YOTO_WORKER_NAME ?? '';
       process.stderr.write(JSON.stringify({ level: 30, msg: 'worker ready', name, redis: process.env.REDIS_URL, aws: process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED, backend: process.env.YOTO_BACKEND }) + '\\n');
       process.on('SIGTERM', () => { process.stderr.write(JSON.stringify({ level: 30, msg: 'bye' }) + '\\n'); process.exit(0); });
       setInterval(() => {}, 1000);`,
    );
    const config = {
      redisUrl: 'redis://127.0.0.1:1',
      s3: { endpoint: 'http://127.0.0.1:2', bucket: 'yoto', region: 'us-east-1', prefix: '', accessKeyId: 'a', secretAccessKey: 'b', forcePathStyle: true },
      logLevel: 'warn' as const,
      home,
    };
    const exits: string[] = [];
    const workers = startWorkerProcesses({ count: 2, config, log, entry, extraEnv: { YOTO_BACKEND: 'cpu' }, onExit: (e) => exits.push(e.name) });
    assert.deepEqual(workers.workers.map((w) => w.name), ['local-1', 'local-2']);
    const files = workers.workers.map((w) => w.logFile ?? '');
    const until = Date.now() + 20_000;
    while (Date.now() < until && !files.every((f) => existsSync(f) && readFileSync(f, 'utf8').includes('worker ready'))) await new Promise((r) => setTimeout(r, 100));
    const first = JSON.parse(readFileSync(files[0] ?? '', 'utf8').split('\n')[0] ?? '{}');
    assert.equal(first.name, 'local-1');
    assert.equal(first.redis, 'redis://127.0.0.1:1');
    assert.equal(first.aws, 'true');
    assert.equal(first.backend, 'cpu');
    await workers.stop();
    for (const w of workers.workers) assert.equal(await waitGone(w.pid), true, `${w.name} still running`);
    assert.deepEqual(exits, [], 'a requested stop is not reported as an unexpected exit');
  });

  it('SIGKILLs a worker that ignores SIGTERM after the timeout, and reports unexpected exits', async () => {
    const home = join(scratch, 'home-w2');
    const stubborn = join(scratch, 'stubborn-worker.ts');
    writeFileSync(stubborn, `process.on('SIGTERM', () => {}); process.stderr.write('up\\n'); setInterval(() => {}, 1000);`);
    const crashing = join(scratch, 'crashing-worker.ts');
    writeFileSync(crashing, `process.stderr.write('boom: no GPU\\n'); process.exit(3);`);
    const config = { redisUrl: 'redis://127.0.0.1:1', s3: { bucket: 'yoto', region: 'us-east-1', prefix: '', forcePathStyle: true }, logLevel: 'warn' as const, home };

    const exited = new Promise<{ code: number | null; lastLines: string[] }>((resolve) => {
      startWorkerProcesses({ count: 1, config, log, entry: crashing, onExit: resolve });
    });
    const exit = await exited;
    assert.equal(exit.code, 3);
    assert.deepEqual(exit.lastLines, ['boom: no GPU']);

    const workers = startWorkerProcesses({ count: 1, config, log, entry: stubborn, stopTimeoutMs: 300 });
    const file = workers.workers[0]?.logFile ?? '';
    const until = Date.now() + 20_000;
    while (Date.now() < until && !(existsSync(file) && readFileSync(file, 'utf8').includes('up'))) await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await workers.stop();
    assert.ok(Date.now() - t0 < 10_000);
    assert.equal(await waitGone(workers.workers[0]?.pid ?? -1), true);
  });
});

describe('no orphans when yoto itself is killed', () => {
  it('SIGKILL of the parent takes its redis-server and workers down (setpriv --pdeathsig)', { skip: process.platform !== 'linux' || !findOnPath('setpriv') ? 'needs Linux setpriv' : false }, async () => {
    const here = new URL('../src/services/', import.meta.url);
    const workerEntry = join(scratch, 'idle-worker.ts');
    writeFileSync(workerEntry, `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);`);
    const parentScript = join(scratch, 'doomed-parent.mts');
    writeFileSync(
      parentScript,
      `import { startRedisServer } from ${JSON.stringify(new URL('redis-server.ts', here).href)};
       import { startWorkerProcesses } from ${JSON.stringify(new URL('worker-processes.ts', here).href)};
       import { createLogger } from ${JSON.stringify(import.meta.resolve('@yoto/runtime'))};
       const log = createLogger({ name: 'doomed', level: 'silent' });
       const redis = await startRedisServer({});
       const config = { redisUrl: redis.url, s3: { bucket: 'yoto', region: 'us-east-1', prefix: '', forcePathStyle: true }, logLevel: 'silent', home: ${JSON.stringify(join(scratch, 'home-doomed'))} };
       const w = startWorkerProcesses({ count: 1, config, log, entry: ${JSON.stringify(workerEntry)} });
       process.stdout.write(JSON.stringify({ redis: redis.pid, worker: w.workers[0].pid }) + '\\n');
       setInterval(() => {}, 1000);`,
    );
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pids = await new Promise<{ redis: number; worker: number }>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0] ?? '{}'));
      });
      child.once('exit', (code) => reject(new Error(`parent exited early (${code})`)));
    });
    assert.equal(isAlive(pids.redis), true);
    assert.equal(isAlive(pids.worker), true);
    child.kill('SIGKILL');
    assert.equal(await waitGone(pids.worker), true, `worker ${pids.worker} outlived its parent`);
    assert.equal(await waitGone(pids.redis), true, `redis-server ${pids.redis} outlived its parent`);
  });
});

describe('commands fail fast before starting anything', () => {
  /** Runs `fn` with stderr captured (the commands print their errors there). */
  async function captureStderr<T>(fn: () => Promise<T>): Promise<{ value: T; text: string }> {
    const write = process.stderr.write.bind(process.stderr);
    let text = '';
    process.stderr.write = ((chunk: string | Uint8Array) => {
      text += String(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      return { value: await fn(), text };
    } finally {
      process.stderr.write = write;
    }
  }

  it('yoto demo with an invalid spec exits 2 naming the field', async () => {
    const { runDemo } = await import('../src/cli/commands/demo.ts');
    const spec = join(scratch, 'bad-spec.yaml');
    writeFileSync(spec, 'name: Bad Name\nproblem: beta-vae\n');
    const { value, text } = await captureStderr(() => runDemo({ spec }, { YOTO_HOME: join(scratch, 'home-cmd') }));
    assert.equal(value, 2);
    assert.match(text, /name/);
    assert.equal(existsSync(join(scratch, 'home-cmd')), false, 'nothing started, nothing written');
  });

  it('the built-in demo spec is valid and small', async () => {
    const { DEFAULT_SPEC_PATH } = await import('../src/cli/commands/demo.ts');
    const { parseSweepSpecText, countRuns } = await import('@yoto/shared');
    const spec = parseSweepSpecText(readFileSync(DEFAULT_SPEC_PATH, 'utf8'));
    assert.ok(countRuns(spec) <= 6);
    assert.ok(spec.train.steps <= 2000);
  });

  it('yoto worker without any endpoints exits 2 and says how to get them', async () => {
    const { runWorker } = await import('../src/cli/commands/worker.ts');
    const { value, text } = await captureStderr(() => runWorker({}, { YOTO_HOME: join(scratch, 'home-none') }));
    assert.equal(value, 2);
    assert.match(text, /yoto up/);
  });
});
