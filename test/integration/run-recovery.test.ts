/**
 * The train worker's recovery paths on a real redis-server and the embedded S3, with
 * the real engine (wasm): a graceful stop hands the run back without burning an
 * attempt and the next worker resumes it; a diverging run fails once with a clear
 * reason; a redelivered finished run returns its stored result; pause parks a running
 * run and resume finishes it; cancel stops a running run without a retry; in a sweep
 * marked fresh, a run's first start skips the S3 look-ups but a hand-back or a
 * redelivery still does them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobIds, parseSweepSpec, planSweep, QUEUES, redisKeys, s3Keys, type RunPayload, type RunResult } from '@yoto/shared';
import { createLogger, createRedis, ObjectStore } from '@yoto/runtime';
import { startEmbeddedS3, startRedisServer, type EmbeddedS3, type RedisServer } from '@yoto/coordinator';
import { TrainWorker } from '@yoto/worker';

const log = createLogger({ name: 'run-recovery', level: process.env.LOG_LEVEL ?? 'warn' });
let dir: string;
let redis: RedisServer;
let s3: EmbeddedS3;
let store: ObjectStore;
let client: Redis;
let queue: Queue<RunPayload, RunResult>;
const prefix = 'rr';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function payload(name: string, train: Record<string, number> = {}, kind: RunPayload['kind'] = 'yoto'): RunPayload {
  const plan = planSweep(
    parseSweepSpec({
      name,
      problem: 'beta-vae',
      dataset: { name: 'shapes', trainExamples: 256, testExamples: 32 },
      model: { arch: 'mlp', latentDim: 4, width: 0.25, filmHidden: 16 },
      lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 8 } },
      grid: { kl: [1] },
      train: { steps: 60, batchSize: 16, lr: 0.001, checkpointEvery: 5, checkpointSeconds: 0, evalBatchSize: 32, ...train },
    }),
  );
  return plan.runs.find((r) => r.kind === kind) as RunPayload;
}

// Every worker a test starts, so `after` can close the ones a failed test left running.
const started: TrainWorker[] = [];

function worker(name: string): TrainWorker {
  const connection = createRedis(redis.url, 'worker', log);
  const w = new TrainWorker({ connection, store, log, workerName: name, backend: 'wasm', threads: 1, prefix, lockDurationMs: 4000, stalledIntervalMs: 2000 });
  const close = w.close.bind(w);
  w.close = async (force?: boolean) => {
    await close(force);
    connection.disconnect();
  };
  started.push(w);
  return w;
}

async function add(p: RunPayload, jobId = jobIds.train(p.sweepId, p.runId)): Promise<Job<RunPayload, RunResult>> {
  return queue.add('train', p, { jobId, attempts: 3, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: false, removeOnFail: false });
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const pointerStep = async (p: RunPayload) => (await store.getJsonIfExists<{ step: number }>(s3Keys.checkpointLatest(p.sweepId, p.runId)))?.step ?? 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'yoto-rr-'));
  redis = await startRedisServer({ dir: join(dir, 'redis') });
  s3 = await startEmbeddedS3({ dir: join(dir, 's3'), bucket: 'rr' });
  store = new ObjectStore(s3.s3Config(), log);
  await store.ensureBucket();
  client = createRedis(redis.url, 'producer', log);
  queue = new Queue(QUEUES.train, { connection: client, prefix });
});

after(async () => {
  await Promise.all(started.map((w) => w.close(true)));
  await queue?.close();
  client?.disconnect();
  store?.close();
  await s3?.stop();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('train worker recovery', { timeout: 300_000 }, () => {
  test('graceful stop: checkpoint, back to the queue with attemptsMade unchanged; the next worker resumes; redelivery returns the stored result', async () => {
    const p = payload('rr-stop');
    const job = await add(p);
    const a = worker('rr-a');
    await until('a checkpoint', async () => (await pointerStep(p)) >= 10);
    await a.close();
    const stopped = await queue.getJob(job.id!);
    assert.equal(await stopped?.getState(), 'delayed');
    assert.equal(stopped?.attemptsMade, 0, 'no attempt burned');
    const handedBackAt = await pointerStep(p);
    assert.ok(handedBackAt >= 10);

    const b = worker('rr-b');
    try {
      const done = await until('completion', async () => ((await queue.getJobState(job.id!)) === 'completed' ? queue.getJob(job.id!) : null));
      const result = done!.returnvalue;
      assert.equal(result.steps, 60);
      assert.equal(result.resumedFromStep, handedBackAt);
      assert.equal(done!.attemptsMade, 1, 'one attempt for the whole run');
      const steps = (await store.get(s3Keys.metrics(p.sweepId, p.runId))).toString('utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
      // Each logged step once across the hand-over: the regular ones, plus the step the stop landed on.
      assert.ok(steps.every((s, i) => i === 0 || s > steps[i - 1]!), `steps strictly increasing: ${steps.join(',')}`);
      assert.deepEqual(steps.filter((s) => s % 5 === 0), Array.from({ length: 12 }, (_, i) => 5 * (i + 1)), `no step missing: ${steps.join(',')}`);
      assert.ok(steps.includes(handedBackAt));

      // Duplicate delivery of the finished run (another job id, same run): the stored result, no training.
      const dup = await add(p, `${job.id}-dup`);
      const dupDone = await until('duplicate completion', async () => ((await queue.getJobState(dup.id!)) === 'completed' ? queue.getJob(dup.id!) : null));
      assert.deepEqual(dupDone!.returnvalue, result);
    } finally {
      await b.close();
    }
  });

  test('a diverging run fails once, unrecoverably, with the reason', async () => {
    // lr 1 blows the KL term up to Infinity within two steps.
    const p = payload('rr-nan', { lr: 1, steps: 200 });
    const job = await add(p);
    const w = worker('rr-nan');
    try {
      const failed = await until('failure', async () => ((await queue.getJobState(job.id!)) === 'failed' ? queue.getJob(job.id!) : null));
      assert.match(failed!.failedReason, /diverge|NaN|finite/i);
      assert.equal(failed!.attemptsMade, 1, 'not retried');
    } finally {
      await w.close();
    }
  });

  test('pause parks a running run after a checkpoint; resume finishes it; cancel stops one without retry', async () => {
    const p = payload('rr-pause', { steps: 150 });
    const key = redisKeys.sweep(p.sweepId);
    await client.hset(key, { status: 'queued' });
    const job = await add(p);
    const w = worker('rr-pause');
    try {
      await until('training', async () => (await pointerStep(p)) >= 5);
      await client.hset(key, { status: 'paused' });
      await until('parked', async () => (await queue.getJobState(job.id!)) === 'delayed', 30_000);
      const parkedAt = await pointerStep(p);
      assert.equal((await queue.getJob(job.id!))?.attemptsMade, 0);
      await sleep(1000);
      assert.equal(await queue.getJobState(job.id!), 'delayed', 'stays parked while paused');
      await client.hset(key, { status: 'queued' });
      await (await queue.getJob(job.id!))!.promote();
      const done = await until('completion', async () => ((await queue.getJobState(job.id!)) === 'completed' ? queue.getJob(job.id!) : null));
      assert.equal(done!.returnvalue.steps, 150);
      assert.equal(done!.returnvalue.resumedFromStep, parkedAt);

      const c = payload('rr-cancel', { steps: 400 });
      const ckey = redisKeys.sweep(c.sweepId);
      await client.hset(ckey, { status: 'queued' });
      const cj = await add(c);
      await until('training', async () => (await pointerStep(c)) >= 5);
      await client.hset(ckey, { status: 'cancelled' });
      const failed = await until('cancelled', async () => ((await queue.getJobState(cj.id!)) === 'failed' ? queue.getJob(cj.id!) : null), 30_000);
      assert.match(failed!.failedReason, /cancelled/);
      assert.equal(failed!.attemptsMade, 1, 'not retried');
      assert.ok((await pointerStep(c)) < 400);
    } finally {
      await w.close();
    }
  });

  test('fresh sweep: a first start skips the look-ups; a hand-back resumes from its checkpoint; a redelivery returns the stored result', async () => {
    const p = payload('rr-fresh');
    const other = payload('rr-fresh', {}, 'baseline');
    await client.hset(redisKeys.sweep(p.sweepId), { status: 'queued', fresh: '1' });
    // A result the first start must not even look at: the mark says nothing is stored (a
    // lie planted here to see the look-up skipped; the coordinator never marks such a sweep).
    const planted = { sweepId: other.sweepId, runId: other.runId, finishedAt: '2000-01-01T00:00:00.000Z' };
    const job = await add(p);
    const a = worker('rr-fresh-a');
    await until('a checkpoint', async () => (await pointerStep(p)) >= 10);
    await a.close();
    const handedBackAt = await pointerStep(p);
    const b = worker('rr-fresh-b');
    try {
      const done = await until('completion', async () => ((await queue.getJobState(job.id!)) === 'completed' ? queue.getJob(job.id!) : null));
      assert.equal(done!.returnvalue.steps, 60);
      assert.equal(done!.returnvalue.resumedFromStep, handedBackAt, 'the second start looked up the checkpoint');

      await store.putJson(s3Keys.finalResult(other.sweepId, other.runId), { ...done!.returnvalue, ...planted, kind: 'baseline' });
      const first = await add(other);
      const trained = await until('completion', async () => ((await queue.getJobState(first.id!)) === 'completed' ? queue.getJob(first.id!) : null));
      assert.notEqual(trained!.returnvalue.finishedAt, planted.finishedAt, 'trained: the first start did not look up result.json');
      assert.equal(trained!.returnvalue.resumedFromStep, null);

      // Delivered again (attemptsStarted 2): the stored result, not a second training.
      const stored = trained!.returnvalue;
      await trained!.retry('completed');
      const again = await until('redelivery', async () => {
        if ((await queue.getJobState(first.id!)) !== 'completed') return null;
        const j = await queue.getJob(first.id!);
        return j?.attemptsStarted === 2 ? j : null;
      });
      assert.deepEqual(again!.returnvalue, stored);
    } finally {
      await b.close();
    }
  });
});
