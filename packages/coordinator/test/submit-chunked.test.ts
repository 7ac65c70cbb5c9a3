/**
 * Large sweeps are enqueued in chunks behind a gate (real redis-server + s3rver, a
 * small `enqueueChunk` standing in for 10,000 runs): every run ends up a child of the
 * aggregate, the aggregate cannot become runnable while a chunk is missing, a refused
 * chunk leaves the sweep `failed-to-enqueue` with the gate closed, and resubmitting
 * finishes the enqueue without duplicating a run.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES, jobIds, parseSweepSpec, planSweep, redisKeys, type RunPayload } from '@yoto/shared';
import { SweepService } from '../src/index.ts';
import { queueTotals } from './helpers/redis-server.ts';
import { useTestServices } from './helpers/services.ts';
import { uniq } from './helpers/fixtures.ts';

/** 10 runs: 1 YOTO + 9 baselines (3×3 grid). */
const spec = (name: string) => ({
  name,
  problem: 'quadratic',
  quadratic: { dim: 2 },
  lambda: { q1: { dist: 'log-uniform', low: 0.1, high: 10 }, q2: { dist: 'log-uniform', low: 0.1, high: 10 } },
  grid: { q1: [0.1, 1, 10], q2: [0.1, 1, 10] },
  train: { steps: 1, batchSize: 4 },
});

describe('SweepService.submit in chunks behind a gate', () => {
  const t = useTestServices();

  const service = (prefix: string) => {
    const s = new SweepService({ redis: t.redis.url, store: t.s3.store, prefix, pollMs: 50, enqueueChunk: 4 });
    t.closers.push(() => s.close());
    return s;
  };
  const queues = (prefix: string) => {
    const q = {
      train: new Queue(QUEUES.train, { connection: t.client, prefix }),
      agg: new Queue(QUEUES.aggregate, { connection: t.client, prefix }),
      gate: new Queue(QUEUES.gate, { connection: t.client, prefix }),
    };
    t.closers.push(() => Promise.all([q.train.close(), q.agg.close(), q.gate.close()]));
    return q;
  };
  /** Completes every train job there is with a plain worker (stands in for training). */
  const drainTrain = async (prefix: string, count: number) => {
    let done = 0;
    const finished = new Promise<void>((resolve) => {
      const connection = new Redis(t.redis.url, { maxRetriesPerRequest: null });
      const w = new Worker(QUEUES.train, async (job) => ({ runId: (job.data as RunPayload).runId }), { connection, prefix, concurrency: 4 });
      t.closers.push(async () => {
        await w.close();
        connection.disconnect();
      });
      w.on('completed', () => {
        if (++done === count) resolve();
      });
    });
    await finished;
  };

  test('every run becomes a child of the aggregate and the gate opens', async () => {
    const prefix = `c-${uniq()}`;
    const res = await service(prefix).submit(spec(`chunked-${uniq()}`));
    assert.equal(res.created, true);
    assert.equal(res.runs, 10);
    const totals = await queueTotals(t.redis.url, prefix);
    assert.equal(totals.train, 10);
    const q = queues(prefix);
    assert.equal(await q.gate.getJobState(jobIds.gate(res.sweepId)), 'unknown', 'gate removed');
    const parent = await q.agg.getJob(jobIds.aggregate(res.sweepId));
    assert.ok(parent);
    assert.equal(await parent.getState(), 'waiting-children');
    assert.equal((await parent.getDependenciesCount()).unprocessed, 10);
    const child = await q.train.getJob(jobIds.train(res.sweepId, res.plan.runs[9]!.runId));
    assert.equal(child?.parent?.id, jobIds.aggregate(res.sweepId));
    assert.equal(child?.opts.ignoreDependencyOnFailure, true);

    await drainTrain(prefix, 10);
    await waitFor(async () => (await parent.getState()) === 'waiting');
  });

  test('a refused chunk leaves the gate closed; resubmitting finishes the enqueue once', async () => {
    const prefix = `c-${uniq()}`;
    const s = spec(`refused-${uniq()}`);
    const svc = service(prefix);
    // Redis refuses the second chunk.
    const train = Reflect.get(svc, 'trainQueue') as Queue;
    const addBulk = train.addBulk.bind(train);
    let calls = 0;
    train.addBulk = async (jobs) => {
      if (++calls === 2) throw new Error('OOM command not allowed when used memory > maxmemory');
      return addBulk(jobs);
    };
    await assert.rejects(svc.submit(s), (err: Error & { code?: string }) => err.code === 'ENQUEUE_FAILED');
    const q = queues(prefix);
    const { sweepId } = planSweep(parseSweepSpec(s));
    assert.equal(await t.client.hget(redisKeys.sweep(sweepId), 'status'), 'failed-to-enqueue');
    // Two chunks are in flight at a time: the other one may have landed.
    const partial = (await queueTotals(t.redis.url, prefix)).train;
    assert.ok(partial >= 4 && partial < 10, `${partial} runs in`);
    assert.notEqual(await q.gate.getJobState(jobIds.gate(sweepId)), 'unknown', 'gate still closed');

    // The runs that got in finish; the aggregate must still wait for the gate.
    await drainTrain(prefix, partial);
    const parent = await q.agg.getJob(jobIds.aggregate(sweepId));
    assert.equal(await parent?.getState(), 'waiting-children');

    const again = await service(prefix).submit(s);
    assert.equal(again.created, true);
    assert.equal(await t.client.hget(redisKeys.sweep(sweepId), 'status'), 'queued');
    assert.equal((await queueTotals(t.redis.url, prefix)).train, 10, 'no run twice');
    assert.equal(await q.gate.getJobState(jobIds.gate(sweepId)), 'unknown', 'gate open');
    // The worker still running takes the rest; then, and only then, the aggregate may run.
    await waitFor(async () => (await parent!.getState()) === 'waiting');
    assert.equal((await parent!.getDependenciesCount()).processed, 10);
    const third = await service(prefix).submit(s);
    assert.equal(third.created, false, 'a finished enqueue is not repeated');
  });
});

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
