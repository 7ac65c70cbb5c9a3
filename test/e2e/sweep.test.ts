/**
 * End to end: a real redis-server, the embedded S3 server, two train workers running
 * the real engine, the aggregate worker; a tiny spec goes in, a report comes out.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSweepSpec, s3Keys, type Report, type RunResult } from '@yoto/shared';
import { createLogger, type ObjectStore } from '@yoto/runtime';
import type { SweepService } from '@yoto/coordinator';
import { deserializeState, getTf, loadDataset, LossConditionalTrainer, selectBackend } from '@yoto/worker';
import { startSweepStack, type SweepStack } from '../support/sweep-stack.ts';

const log = createLogger({ name: 'e2e', level: process.env.LOG_LEVEL ?? 'warn' });
let stack: SweepStack;
let store: ObjectStore;
let sweeps: SweepService;

const SPEC = {
  name: 'e2e-tiny',
  problem: 'beta-vae',
  dataset: { name: 'shapes', trainExamples: 512, testExamples: 128 },
  model: { arch: 'conv', latentDim: 4, width: 0.5, filmHidden: 32 },
  lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 8 } },
  grid: { kl: [0.5, 2, 8] },
  train: { steps: 30, batchSize: 32, lr: 0.001, checkpointEvery: 10, evalBatchSize: 64 },
  variants: { 'model.arch': ['conv', 'mlp'] },
  seeds: [0],
};

before(async () => {
  stack = await startSweepStack({ name: 'e2e', workers: 2, log });
  ({ store, sweeps } = stack);
});

after(() => stack?.stop());

test('a sweep trains on workers and yields a complete YOTO-vs-baselines report', { timeout: 600_000 }, async () => {
  const submitted = await sweeps.submit(SPEC);
  assert.equal(submitted.created, true);
  assert.equal(submitted.runs, 2 * (1 + 3));

  const detail = await sweeps.waitForCompletion(submitted.sweepId, { timeoutMs: 540_000 });
  assert.equal(detail.status, 'completed', `sweep ended as ${detail.status}: ${JSON.stringify(detail.runs.filter((r) => r.failedReason).map((r) => [r.runId, r.failedReason]).concat([[detail.aggregate.failedReason]]))}`);

  const report = (await sweeps.report(submitted.sweepId)) as Report;
  assert.ok(report, 'report.json stored');
  // One row per grid λ per variant, each with finite losses and ratio.
  assert.equal(report.rows.length, 3 * 2);
  for (const variantId of report.variants.map((v) => v.variantId)) {
    const lambdas = report.rows.filter((r) => r.variantId === variantId).map((r) => r.lambda.kl);
    assert.deepEqual([...lambdas].sort((a, b) => (a ?? 0) - (b ?? 0)), [0.5, 2, 8]);
  }
  for (const row of report.rows) {
    assert.ok(Number.isFinite(row.ratio) && row.ratio > 0, `ratio at ${JSON.stringify(row.lambda)} is ${row.ratio}`);
    assert.ok(Math.abs(row.ratio - row.yoto.loss / row.baseline.loss) < 1e-9);
  }
  assert.ok(report.summary.yotoComputeSeconds > 0 && report.summary.baselineComputeSeconds > 0);
  assert.ok(await store.head(s3Keys.report(submitted.sweepId, 'md')), 'report.md stored');

  // Every run: final artifacts present with non-zero size, and checkpoints written as it went.
  const plan = submitted.plan;
  for (const run of plan.runs) {
    const result = await store.getJson<RunResult>(s3Keys.finalResult(plan.sweepId, run.runId));
    assert.equal(result.steps, run.train.steps);
    assert.equal(result.backend.name, 'wasm');
    for (const name of ['state.json', 'tensors.bin']) {
      const head = await store.head(s3Keys.finalDir(plan.sweepId, run.runId) + name);
      assert.ok(head && head.size > 0, `${run.runId}/final/${name} missing or empty`);
    }
    assert.ok(await store.head(s3Keys.checkpointLatest(plan.sweepId, run.runId)), `${run.runId} has no checkpoint pointer`);
    const metrics = (await store.get(s3Keys.metrics(plan.sweepId, run.runId))).toString('utf8').trim().split('\n');
    assert.ok(metrics.length >= 1);
  }

  // A final checkpoint reloaded here reproduces the eval loss its worker recorded.
  await selectBackend({ preferred: 'wasm' });
  const yotoRun = plan.runs.find((r) => r.kind === 'yoto' && r.model.arch === 'conv');
  assert.ok(yotoRun);
  const recorded = await store.getJson<RunResult>(s3Keys.finalResult(plan.sweepId, yotoRun.runId));
  const files = {
    'state.json': await store.get(s3Keys.finalDir(plan.sweepId, yotoRun.runId) + 'state.json'),
    'tensors.bin': await store.get(s3Keys.finalDir(plan.sweepId, yotoRun.runId) + 'tensors.bin'),
  };
  const trainer = new LossConditionalTrainer({ payload: yotoRun, tf: getTf(), dataset: await loadDataset(yotoRun.dataset) });
  try {
    trainer.importState(deserializeState(files));
    const evals = await trainer.evaluate(yotoRun.evalGrid);
    for (const e of recorded.evals) {
      const mine = evals.find((x) => x.lambda.kl === e.lambda.kl);
      assert.ok(mine);
      assert.ok(Math.abs(mine.loss - e.loss) <= 1e-4 * Math.abs(e.loss), `reloaded eval at kl=${e.lambda.kl}: ${mine.loss} vs recorded ${e.loss}`);
    }
  } finally {
    trainer.dispose();
  }

  // Resubmitting the same spec enqueues nothing.
  const again = await sweeps.submit(parseSweepSpec(SPEC));
  assert.equal(again.created, false);
  assert.equal(again.sweepId, submitted.sweepId);
});
