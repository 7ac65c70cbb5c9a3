/**
 * GET /api/queues/backlog — what KEDA's metrics-api scaler reads (infra/k8s/keda.yaml) —
 * against a real redis-server: prioritized jobs (BullMQ's sorted set, invisible to
 * `LLEN <prefix>:yoto-train:wait`) are counted, and so are active ones in `demand`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '@yoto/shared';
import { startDashboardServer, type DashboardServer } from '../../packages/coordinator/src/server/dashboard-server.ts';
import { loadServerConfig } from '../../packages/coordinator/src/server/server-config.ts';
import { startTestRedis, type RedisServer } from '../../packages/coordinator/test/helpers/redis-server.ts';
import { startTestS3, type TestS3 } from '../../packages/coordinator/test/helpers/s3.ts';

const TOKEN = `backlog-token-${Date.now()}-abcdefgh`;
let redis: RedisServer;
let s3: TestS3;
let srv: DashboardServer;
const prefix = `backlog-${process.pid}`;

before(async () => {
  [redis, s3] = await Promise.all([startTestRedis(), startTestS3()]);
  srv = await startDashboardServer({ redisUrl: redis.url, store: s3.store, config: loadServerConfig({ YOTO_API_TOKEN: TOKEN }, { port: 0 }), prefix });
});
after(async () => {
  await srv?.close().catch(() => undefined);
  await Promise.allSettled([redis?.stop(), s3?.stop()]);
});

interface Backlog {
  waiting: number;
  prioritized: number;
  ready: number;
  active: number;
  delayed: number;
  demand: number;
}

test('backlog counts prioritized + waiting (ready) and adds active (demand); LLEN wait under-counts', async () => {
  const empty = await fetch(`${srv.url}/api/queues/backlog`);
  assert.equal(empty.status, 200);
  const e = (await empty.json()) as { train: Backlog; aggregate: Backlog };
  assert.deepEqual(e.train, { waiting: 0, prioritized: 0, ready: 0, active: 0, delayed: 0, demand: 0 });
  assert.equal(e.aggregate.ready, 0);

  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUES.train, { connection, prefix });
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => (release = r));
  let worker: Worker | null = null;
  const workerConnection = new Redis(redis.url, { maxRetriesPerRequest: null });
  try {
    // 4 prioritized (as yoto submits them), 1 plain waiting, 1 delayed.
    for (let i = 0; i < 4; i++) await queue.add('run', { i }, { priority: 1 + i });
    await queue.add('run', { plain: true });
    await queue.add('run', { later: true }, { delay: 60_000 });

    const llen = await connection.llen(`${prefix}:${QUEUES.train}:wait`);
    assert.equal(llen, 1, 'the wait list alone sees only the job without a priority');

    let b = ((await (await fetch(`${srv.url}/api/queues/backlog`)).json()) as { train: Backlog }).train;
    assert.deepEqual(b, { waiting: 1, prioritized: 4, ready: 5, active: 0, delayed: 1, demand: 5 });

    // One worker takes one job and holds it: ready drops by one, demand stays.
    const started = new Promise<void>((resolve) => {
      worker = new Worker(QUEUES.train, async () => {
        resolve();
        await held;
      }, { connection: workerConnection, prefix, concurrency: 1 });
    });
    await started;
    b = ((await (await fetch(`${srv.url}/api/queues/backlog`)).json()) as { train: Backlog }).train;
    assert.equal(b.active, 1);
    assert.equal(b.ready, 4);
    assert.equal(b.demand, 5);

    // The same number as /metrics' yoto_queue_ready_jobs.
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`yoto_queue_ready_jobs\\{queue="${QUEUES.train}"\\} 4\\n`));
  } finally {
    release();
    await (worker as Worker | null)?.close();
    await queue.close();
    connection.disconnect();
    workerConnection.disconnect();
  }
});

test('beyond loopback the backlog needs the bearer token (KEDA TriggerAuthentication)', async () => {
  const open = await startDashboardServer({ redisUrl: redis.url, store: s3.store, config: loadServerConfig({ YOTO_API_TOKEN: TOKEN }, { port: 0, host: '0.0.0.0' }), prefix });
  try {
    assert.equal((await fetch(`${open.url}/api/queues/backlog`)).status, 401);
    const ok = await fetch(`${open.url}/api/queues/backlog`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.equal(typeof ((await ok.json()) as { train: Backlog }).train.demand, 'number');
  } finally {
    await open.close();
  }
});
