/**
 * End to end, gap-driven P_λ: a tiny sweep with plain and gap-driven YOTO as a variant
 * axis on real workers (redis-server, embedded S3, wasm engine). The two YOTO runs
 * share one set of baselines; the baselines publish probe curves to Redis, the
 * gap-driven run reads them, and its density lands in its result, its checkpoints
 * and the report.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { redisKeys, s3Keys, type Report, type RunResult } from '@yoto/shared';
import { createLogger } from '@yoto/runtime';
import { deserializeState } from '@yoto/worker';
import { startSweepStack, type SweepStack } from '../support/sweep-stack.ts';

const log = createLogger({ name: 'e2e-adaptive', level: process.env.LOG_LEVEL ?? 'warn' });
let stack: SweepStack;

const SPEC = {
  name: 'e2e-adaptive',
  problem: 'beta-vae',
  dataset: { name: 'shapes', trainExamples: 512, testExamples: 128 },
  model: { arch: 'mlp', latentDim: 4, width: 0.25, filmHidden: 16 },
  conditioning: { adaptive: { bins: 3, everySteps: 10, probeExamples: 32 } },
  lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 8 } },
  grid: { kl: [0.5, 2, 8] },
  train: { steps: 40, batchSize: 32, lr: 0.001, checkpointEvery: 20, evalBatchSize: 64 },
  variants: { 'conditioning.adaptive.mode': ['off', 'gap'] },
  seeds: [0],
};

before(async () => {
  stack = await startSweepStack({ name: 'e2e-adaptive', workers: 2, log });
});

after(() => stack?.stop());

test('plain and gap-driven YOTO share baselines; the density is driven by their probes and reported', { timeout: 600_000 }, async () => {
  const { sweeps, store } = stack;
  const submitted = await sweeps.submit(SPEC);
  assert.equal(submitted.runs, 2 + 3, 'two YOTO runs, one shared baseline grid');
  const detail = await sweeps.waitForCompletion(submitted.sweepId, { timeoutMs: 540_000 });
  assert.equal(detail.status, 'completed', JSON.stringify(detail.runs.filter((r) => r.failedReason).map((r) => [r.runId, r.failedReason])));
  const plan = submitted.plan;
  const gapRun = plan.runs.find((r) => r.kind === 'yoto' && r.conditioning.adaptive?.mode === 'gap')!;
  const baselines = plan.runs.filter((r) => r.kind === 'baseline');

  // Each baseline published one probe per 10 steps at its λ.
  const redis = new Redis(stack.redis.url);
  try {
    for (const b of baselines) {
      const lines = await redis.lrange(redisKeys.probe(plan.sweepId, b.runId), 0, -1);
      const steps = [...new Set(lines.map((l) => (JSON.parse(l) as { step: number }).step))].sort((x, y) => x - y);
      assert.deepEqual(steps, [10, 20, 30, 40], `${b.runId} probe steps`);
    }
  } finally {
    redis.disconnect();
  }

  // The gap-driven run queued behind the baselines, so every update compared with them.
  const result = await store.getJson<RunResult>(s3Keys.finalResult(plan.sweepId, gapRun.runId));
  assert.ok(result.adaptive, 'the result carries the density');
  assert.deepEqual(result.adaptive.updates.map((u) => u.step), [0, 10, 20, 30]);
  assert.deepEqual(result.adaptive.updates.slice(1).map((u) => u.source), ['baselines', 'baselines', 'baselines']);
  for (const u of result.adaptive.updates) {
    const m = u.masses[0]!;
    assert.ok(Math.abs(m.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    assert.ok(m.every((x) => x >= 0.3 / 3 - 1e-12), `floor kept at step ${u.step}: ${m}`);
  }
  // The checkpoint at step 20 holds the density of step 20.
  const ckpt = await store.getJson<{ step: number }>(s3Keys.checkpointLatest(plan.sweepId, gapRun.runId));
  assert.equal(ckpt.step, 20);
  const dir = s3Keys.checkpointDir(plan.sweepId, gapRun.runId, 20);
  const state = deserializeState({ 'state.json': await store.get(dir + 'state.json'), 'tensors.bin': await store.get(dir + 'tensors.bin') });
  assert.deepEqual(state.adaptive?.updates.map((u) => u.step), [0, 10, 20]);
  const plain = await store.getJson<RunResult>(s3Keys.finalResult(plan.sweepId, plan.runs.find((r) => r.kind === 'yoto' && r !== gapRun)!.runId));
  assert.equal(plain.adaptive, undefined);

  const report = (await sweeps.report(submitted.sweepId)) as Report;
  assert.equal(report.rows.length, 2 * 3, 'both YOTO variants compared at every λ');
  const gapVariant = report.variants.find((v) => v.variant['conditioning.adaptive.mode'] === 'gap')!;
  assert.ok(gapVariant.baselinesFrom, 'compared with the shared baselines');
  assert.equal(report.densities?.length, 1);
  assert.equal(report.densities![0]!.runId, gapRun.runId);
  const md = (await store.get(s3Keys.report(plan.sweepId, 'md'))).toString('utf8');
  assert.match(md, /## P_λ of gap-driven YOTO runs/);
  const html = (await store.get(s3Keys.report(plan.sweepId, 'html'))).toString('utf8');
  assert.match(html, /<figure data-kind="density"/);
});
