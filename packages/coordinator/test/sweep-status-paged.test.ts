/**
 * `SweepService.get` with a page (real redis-server + s3rver): the runs are the page
 * asked for, in plan order, and the counts — read from the aggregate job's dependency
 * sets and the active jobs, not from every run — agree with reading every run, for
 * waiting, active, completed and failed-for-good runs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES, type RunPayload } from '@yoto/shared';
import { SweepService } from '../src/index.ts';
import { useTestServices } from './helpers/services.ts';

/** 10 runs: 1 YOTO + 9 baselines (3×3 grid). */
const spec = {
  name: 'paged-status',
  problem: 'quadratic',
  quadratic: { dim: 2 },
  lambda: { q1: { dist: 'log-uniform', low: 0.1, high: 10 }, q2: { dist: 'log-uniform', low: 0.1, high: 10 } },
  grid: { q1: [0.1, 1, 10], q2: [0.1, 1, 10] },
  train: { steps: 1, batchSize: 4 },
};

describe('SweepService.get paged', () => {
  const t = useTestServices();

  test('counts agree with every run read one by one; runs are the page', async () => {
    const prefix = 'paged';
    const sweeps = new SweepService({ redis: t.redis.url, store: t.s3.store, prefix, pollMs: 50 });
    t.closers.push(() => sweeps.close());
    const res = await sweeps.submit(spec);
    const ids = res.plan.runs.map((r) => r.runId);
    assert.equal(ids.length, 10);

    // Before any worker: every run waiting, status queued.
    const fresh = await sweeps.get(res.sweepId, { limit: 3 });
    assert.ok(fresh);
    assert.equal(fresh.status, 'queued');
    assert.equal(fresh.counts.waiting, 10);
    assert.deepEqual(fresh.runs.map((r) => r.runId), ids.slice(0, 3));
    assert.deepEqual(fresh.page, { offset: 0, limit: 3, total: 10 });

    // Two runs fail for good, two stay active, the rest complete.
    const failing = new Set(ids.slice(1, 3));
    const holding = new Set(ids.slice(3, 5));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const connection = new Redis(t.redis.url, { maxRetriesPerRequest: null });
    let settled = 0;
    let started = 0;
    const ready = new Promise<void>((resolve) => {
      const check = () => settled === 8 && started >= 2 && resolve();
      const w = new Worker(
        QUEUES.train,
        async (job) => {
          const { runId } = job.data as RunPayload;
          if (failing.has(runId)) throw new UnrecoverableError('bad run');
          if (holding.has(runId)) {
            started += 1;
            check();
            await held;
          }
          return { runId };
        },
        { connection, prefix, concurrency: 10 },
      );
      w.on('completed', () => {
        settled += 1;
        check();
      });
      w.on('failed', () => {
        settled += 1;
        check();
      });
      t.closers.push(async () => {
        release();
        await w.close();
        connection.disconnect();
      });
    });
    await ready;

    const full = await sweeps.get(res.sweepId);
    const paged = await sweeps.get(res.sweepId, { offset: 8, limit: 5 });
    assert.ok(full && paged);
    assert.equal(full.runs.length, 10);
    assert.equal(full.page, undefined);
    assert.equal(full.counts.completed, 6);
    assert.equal(full.counts.failed, 2);
    assert.equal(full.counts.active, 2);
    for (const s of ['completed', 'failed', 'active', 'waiting'] as const) assert.equal(paged.counts[s], full.counts[s], s);
    assert.equal(paged.status, 'running');
    assert.equal(full.status, 'running');
    assert.deepEqual(paged.runs.map((r) => r.runId), ids.slice(8));
    assert.deepEqual(paged.page, { offset: 8, limit: 2, total: 10 });
    // Counts alone (limit 0): no run read.
    const summary = await sweeps.get(res.sweepId, { limit: 0 });
    assert.equal(summary?.runs.length, 0);
    assert.equal(summary?.counts.completed, 6);
    release();
  });
});
