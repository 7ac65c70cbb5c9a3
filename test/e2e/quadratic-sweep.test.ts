/**
 * End to end on the data-free `quadratic` problem: a real redis-server, the embedded
 * S3 server, a train worker on the real engine and the aggregate. The runs carry no
 * dataset, every evaluation reports its distance to the analytic optimum, the YOTO
 * run lands near it across the grid, and the report compares it with every baseline.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { s3Keys, type Report, type RunResult } from '@yoto/shared';
import { createLogger } from '@yoto/runtime';
import { startSweepStack, type SweepStack } from '../support/sweep-stack.ts';

const log = createLogger({ name: 'e2e-quadratic', level: process.env.LOG_LEVEL ?? 'warn' });
let stack: SweepStack;

const SPEC = {
  name: 'e2e-quadratic',
  problem: 'quadratic',
  quadratic: { dim: 4, anchorSeed: 1 },
  model: { filmHidden: 32 },
  lambda: { q1: { dist: 'log-uniform', low: 0.1, high: 10 }, q2: { dist: 'log-uniform', low: 0.1, high: 10 } },
  grid: { q1: [0.1, 1, 10], q2: [0.3, 3] },
  train: { steps: 800, batchSize: 64, lr: 0.003, checkpointEvery: 400 },
};

before(async () => {
  stack = await startSweepStack({ name: 'e2e-quadratic', workers: 1, log });
});
after(() => stack?.stop());

test('a quadratic sweep trains without data and reports distances to the optimum', { timeout: 300_000 }, async () => {
  const { sweeps, store } = stack;
  const submitted = await sweeps.submit(SPEC);
  assert.equal(submitted.runs, 1 + 6);
  for (const run of submitted.plan.runs) assert.equal(run.dataset, undefined);
  const detail = await sweeps.waitForCompletion(submitted.sweepId, { timeoutMs: 280_000 });
  assert.equal(detail.status, 'completed', JSON.stringify(detail.runs.filter((r) => r.failedReason).map((r) => [r.runId, r.failedReason])));

  const report = (await sweeps.report(submitted.sweepId)) as Report;
  assert.equal(report.rows.length, 6);
  const yoto = submitted.plan.runs.find((r) => r.kind === 'yoto')!;
  const result = await store.getJson<RunResult>(s3Keys.finalResult(submitted.sweepId, yoto.runId));
  assert.equal(result.evals.length, 6);
  const distances = result.evals.map((e) => e.distanceToOptimum ?? Infinity);
  const mean = distances.reduce((s, d) => s + d, 0) / distances.length;
  assert.ok(mean < 0.1, `YOTO mean distance to the optimum ${mean} (${distances.map((d) => d.toFixed(3)).join(', ')})`);
  for (const run of submitted.plan.runs.filter((r) => r.kind === 'baseline')) {
    const r = await store.getJson<RunResult>(s3Keys.finalResult(submitted.sweepId, run.runId));
    const own = r.evals.find((e) => e.lambda.q1 === run.fixedLambda?.q1 && e.lambda.q2 === run.fixedLambda?.q2);
    assert.ok(own?.distanceToOptimum !== undefined && own.distanceToOptimum < 0.05, `${run.runId} at its own λ: ${own?.distanceToOptimum}`);
  }
});
