/**
 * Submitting a sweep against a real redis-server and s3rver: one flow with the
 * aggregate and every run under deterministic ids, spec/plan stored, resubmission
 * idempotent, enqueue failures recorded and retryable, cancel, status.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { QUEUES, jobIds, parseSweepSpec, planSweep, redisKeys, s3Keys } from '@yoto/shared';
import { SweepService } from '../src/index.ts';
import { queueTotals, startTestRedis, type RedisServer } from './helpers/redis-server.ts';
import { startTestS3, type TestS3 } from './helpers/s3.ts';
import { smallSpec, uniq } from './helpers/fixtures.ts';

describe('SweepService.submit (real redis-server + s3rver)', () => {
  let redis: RedisServer;
  let s3: TestS3;
  let client: Redis;
  const services: SweepService[] = [];
  const service = (prefix: string) => {
    const s = new SweepService({ redis: redis.url, store: s3.store, prefix, pollMs: 50 });
    services.push(s);
    return s;
  };

  before(async () => {
    [redis, s3] = await Promise.all([startTestRedis(), startTestS3()]);
    client = new Redis(redis.url, { maxRetriesPerRequest: 2 });
  });
  after(async () => {
    await Promise.allSettled(services.map((s) => s.close()));
    await client?.quit();
    await Promise.allSettled([redis?.stop(), s3?.stop()]);
  });

  test('enqueues one flow: the aggregate plus one job per run, under deterministic ids', async () => {
    const prefix = `t-${uniq()}`;
    const svc = service(prefix);
    const spec = smallSpec(`submit-${uniq()}`, { priority: 3 });
    const res = await svc.submit(spec);
    assert.equal(res.created, true);
    assert.equal(res.runs, 4); // 1 YOTO + 3 baselines
    assert.match(res.sweepId, /^submit-[0-9a-f]{8}-[0-9a-f]{8}$/);

    const totals = await queueTotals(redis.url, prefix);
    assert.equal(totals.train, 4);
    assert.equal(totals.aggregate, 1);
    assert.equal(totals.train + totals.aggregate, res.runs + 1);

    const agg = new Queue(QUEUES.aggregate, { connection: client, prefix });
    const train = new Queue(QUEUES.train, { connection: client, prefix });
    try {
      const parent = await agg.getJob(jobIds.aggregate(res.sweepId));
      assert.ok(parent);
      assert.deepEqual(parent.data, { version: 1, sweepId: res.sweepId });
      assert.equal(await parent.getState(), 'waiting-children');
      const deps = await parent.getDependenciesCount();
      assert.equal(deps.unprocessed, 4);
      for (const run of res.plan.runs) {
        const job = await train.getJob(jobIds.train(res.sweepId, run.runId));
        assert.ok(job, run.runId);
        assert.deepEqual(job.data, run);
        assert.equal(job.opts.priority, 3);
        assert.equal(job.opts.attempts, 3);
        assert.equal(job.opts.backoff && typeof job.opts.backoff === 'object' ? job.opts.backoff.type : job.opts.backoff, 'exponential');
        assert.equal(job.opts.removeOnComplete, false);
        assert.equal(job.parentKey, `${prefix}:${QUEUES.aggregate}:${jobIds.aggregate(res.sweepId)}`);
      }
    } finally {
      await agg.close();
      await train.close();
    }

    // spec.json and plan.json in S3.
    const storedSpec = await s3.store.getJson<Record<string, unknown>>(s3Keys.spec(res.sweepId));
    assert.equal(storedSpec.name, spec.name);
    assert.deepEqual(storedSpec, JSON.parse(JSON.stringify(res.spec)));
    const storedPlan = await s3.store.getJson<{ sweepId: string; runs: unknown[] }>(s3Keys.plan(res.sweepId));
    assert.equal(storedPlan.sweepId, res.sweepId);
    assert.equal(storedPlan.runs.length, 4);

    // The sweep record.
    const h = await client.hgetall(redisKeys.sweep(res.sweepId));
    assert.equal(h.status, 'queued');
    assert.equal(h.name, spec.name);
    assert.equal(h.problem, 'beta-vae');
    assert.equal(h.totalRuns, '4');
    assert.equal(h.aggregateJobId, jobIds.aggregate(res.sweepId));
    assert.equal(h.specKey, s3Keys.spec(res.sweepId));
    assert.equal(h.planKey, s3Keys.plan(res.sweepId));
    assert.ok(Number(h.created) > 0);
    assert.notEqual(await client.zscore(redisKeys.sweeps, res.sweepId), null);

    // Resubmission (object or YAML text of the same spec): nothing new.
    const again = await svc.submit(spec);
    assert.equal(again.created, false);
    assert.equal(again.sweepId, res.sweepId);
    const again2 = await svc.submit(stringify(spec));
    assert.equal(again2.created, false);
    const after2 = await queueTotals(redis.url, prefix);
    assert.deepEqual(after2.counts, totals.counts);

    // Status: every run not started yet. Jobs with a priority sit in BullMQ's
    // `prioritized` set (its "waiting" for prioritised jobs).
    const detail = await svc.get(res.sweepId);
    assert.ok(detail);
    assert.equal(detail.status, 'queued');
    assert.equal(detail.runs.length, 4);
    assert.equal(detail.counts.prioritized, 4);
    for (const r of detail.runs) {
      assert.equal(r.state, 'prioritized');
      assert.equal(r.progress, null);
      assert.equal(r.attemptsMade, 0);
      assert.equal(r.failedReason, null);
    }
    assert.deepEqual(detail.runs.map((r) => r.label).sort(), ['YOTO', 'baseline kl=0.5', 'baseline kl=2', 'baseline kl=8'].sort());
    assert.equal(detail.aggregate.state, 'waiting-children');
    const list = await svc.list();
    assert.ok(list.some((e) => e.sweepId === res.sweepId && e.status === 'queued' && e.totalRuns === 4));
  });

  test('a flow that Redis refuses marks the sweep failed-to-enqueue; resubmitting retries', async () => {
    const prefix = `t-${uniq()}`;
    const svc = service(prefix);
    const spec = smallSpec(`enqfail-${uniq()}`);
    const sweepId = planSweep(parseSweepSpec(spec)).sweepId;
    // A string where BullMQ will write the aggregate job's hash: the flow's MULTI fails with WRONGTYPE.
    const blocker = `${prefix}:${QUEUES.aggregate}:${jobIds.aggregate(sweepId)}`;
    await client.set(blocker, 'in the way');
    await assert.rejects(svc.submit(spec), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ENQUEUE_FAILED');
      assert.match(err.message, /failed-to-enqueue/);
      assert.match(err.message, new RegExp(sweepId));
      return true;
    });
    const h = await client.hgetall(redisKeys.sweep(sweepId));
    assert.equal(h.status, 'failed-to-enqueue');
    assert.equal(h.fresh, '1', 'created by this submit with nothing stored');
    assert.ok(h.error && h.error.length > 0);
    assert.ok(await s3.store.head(s3Keys.plan(sweepId)), 'plan was stored before the enqueue');

    await client.del(blocker);
    const retry = await svc.submit(spec);
    assert.equal(retry.created, true);
    const totals = await queueTotals(redis.url, prefix);
    assert.equal(totals.train, 4);
    assert.equal(totals.aggregate, 1);
    const h2 = await client.hgetall(redisKeys.sweep(sweepId));
    assert.equal(h2.status, 'queued');
    assert.equal(h2.error, undefined);
    assert.equal(h2.fresh, undefined, 'a re-enqueue clears the fresh mark');
  });

  test('fresh: set when a submit creates the sweep with nothing stored under its runs; not after Redis lost a sweep whose runs stored artifacts', async () => {
    const prefix = `t-${uniq()}`;
    const spec = smallSpec(`fresh-${uniq()}`);
    const res = await service(prefix).submit(spec);
    assert.equal(res.created, true);
    assert.equal(await client.hget(redisKeys.sweep(res.sweepId), 'fresh'), '1');

    // A run stores its curve; then Redis loses everything about the sweep.
    const run = res.plan.runs[0]!;
    await s3.store.put(s3Keys.metrics(res.sweepId, run.runId), '{"step":1}\n');
    for (const name of [QUEUES.train, QUEUES.aggregate]) {
      const q = new Queue(name, { connection: client, prefix });
      await q.obliterate({ force: true });
      await q.close();
    }
    await client.del(redisKeys.sweep(res.sweepId));

    const again = await service(prefix).submit(spec);
    assert.equal(again.created, true, 'enqueued again');
    const h = await client.hgetall(redisKeys.sweep(res.sweepId));
    assert.equal(h.status, 'queued');
    assert.equal(h.fresh, undefined, 'its runs must look up what they stored');
  });

  test('cancel removes the aggregate and every waiting run, and marks the sweep cancelled', async () => {
    const prefix = `t-${uniq()}`;
    const svc = service(prefix);
    const res = await svc.submit(smallSpec(`cancel-${uniq()}`));
    const out = await svc.cancel(res.sweepId);
    assert.deepEqual(out, { removed: 5, active: 0 });
    const totals = await queueTotals(redis.url, prefix);
    assert.equal(totals.train + totals.aggregate, 0, JSON.stringify(totals.counts));
    const detail = await svc.get(res.sweepId);
    assert.ok(detail);
    assert.equal(detail.status, 'cancelled');
    assert.equal(detail.counts.missing, 4);
    // A cancelled sweep is terminal for waitForCompletion.
    const waited = await svc.waitForCompletion(res.sweepId, { timeoutMs: 2000 });
    assert.equal(waited.status, 'cancelled');
  });

  test('pause marks the sweep paused and holds its runs; resume sets it back and promotes parked runs', async () => {
    const prefix = `t-${uniq()}`;
    const svc = service(prefix);
    const res = await svc.submit(smallSpec(`pause-${uniq()}`));
    assert.deepEqual(await svc.pause(res.sweepId), { active: 0, held: 4 });
    assert.equal((await svc.get(res.sweepId))?.status, 'paused');
    await assert.rejects(svc.resume(`nope-${uniq()}`), /no sweep/);
    const out = await svc.resume(res.sweepId);
    assert.equal((await svc.get(res.sweepId))?.status, 'queued');
    assert.equal(out.promoted, 0, 'nothing was parked');
    await assert.rejects(svc.resume(res.sweepId), /not paused/);
    await svc.cancel(res.sweepId);
    await assert.rejects(svc.pause(res.sweepId), /cancelled/);
  });

  test('waitForCompletion: timeout, abort, unknown sweep', async () => {
    const prefix = `t-${uniq()}`;
    const svc = service(prefix);
    const res = await svc.submit(smallSpec(`wait-${uniq()}`));
    const updates: string[] = [];
    await assert.rejects(svc.waitForCompletion(res.sweepId, { timeoutMs: 200, onUpdate: (d) => updates.push(d.status) }), (err: Error & { code?: string }) => err.code === 'TIMEOUT');
    assert.ok(updates.length >= 2 && updates.every((s) => s === 'queued'));
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop waiting')), 100);
    await assert.rejects(svc.waitForCompletion(res.sweepId, { signal: ac.signal }), /stop waiting/);
    await assert.rejects(svc.waitForCompletion('no-such-sweep'), (err: Error & { code?: string }) => err.code === 'NOT_FOUND');
    assert.equal(await svc.get('no-such-sweep'), null);
    assert.equal(await svc.report(res.sweepId), null);
    assert.equal(await svc.reportMarkdown(res.sweepId), null);
  });

  test('close() is idempotent', async () => {
    const svc = new SweepService({ redis: redis.url, store: s3.store, prefix: `t-${uniq()}` });
    await svc.list();
    await Promise.all([svc.close(), svc.close()]);
    await svc.close();
  });
});
