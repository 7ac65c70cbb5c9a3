/**
 * End to end on the `native-cpu` backend: the same tiny sweep runs on a stack whose
 * workers use wasm and on one whose workers use native-cpu (OpenBLAS), and the two
 * reports must agree row for row. Both train from the same seeds; the backends differ
 * only in the order of float32 additions inside the products and sums, so losses may
 * drift by training noise, never by more. Skipped where the OpenBLAS addon is not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { s3Keys, type Report, type RunResult } from '@yoto/shared';
import { createLogger } from '@yoto/runtime';
import type { BackendPreference } from '@yoto/worker';
import { loadNativeBlas } from '../../packages/native-blas/src/index.ts';
import { startSweepStack } from '../support/sweep-stack.ts';

const log = createLogger({ name: 'e2e-native', level: process.env.LOG_LEVEL ?? 'warn' });
const loaded = loadNativeBlas();

const SPEC = {
  name: 'e2e-native',
  problem: 'beta-vae',
  dataset: { name: 'shapes', trainExamples: 512, testExamples: 128 },
  model: { arch: 'conv', latentDim: 4, width: 0.5, filmHidden: 32 },
  lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 8 } },
  grid: { kl: [0.5, 8] },
  train: { steps: 20, batchSize: 32, lr: 0.001, checkpointEvery: 10, evalBatchSize: 64 },
  variants: { 'model.arch': ['conv', 'mlp'] },
  seeds: [0],
};
/** Relative difference allowed between the two backends' losses (measured ≈ 2e-7 after 20 Adam steps; training noise would grow it, bugs break it). */
const TOL = 1e-3;

async function runSweep(backend: BackendPreference): Promise<{ report: Report; backends: string[] }> {
  const stack = await startSweepStack({ name: `native-${backend}`, workers: 2, log, backend });
  try {
    const submitted = await stack.sweeps.submit(SPEC);
    const detail = await stack.sweeps.waitForCompletion(submitted.sweepId, { timeoutMs: 300_000 });
    assert.equal(detail.status, 'completed', `${backend} sweep ended as ${detail.status}`);
    const report = (await stack.sweeps.report(submitted.sweepId)) as Report;
    const backends = await Promise.all(
      submitted.plan.runs.map(async (run) => (await stack.store.getJson<RunResult>(s3Keys.finalResult(submitted.plan.sweepId, run.runId))).backend.name),
    );
    return { report, backends };
  } finally {
    await stack.stop();
  }
}

test('a tiny sweep on native-cpu reports the same rows as on wasm', { timeout: 600_000, skip: loaded.ok ? false : `OpenBLAS addon unavailable: ${loaded.ok ? '' : loaded.reason}` }, async () => {
  const wasm = await runSweep('wasm');
  const native = await runSweep('native-cpu');
  assert.ok(wasm.backends.every((b) => b === 'wasm'), `wasm runs recorded ${wasm.backends}`);
  assert.ok(native.backends.every((b) => b === 'native-cpu'), `native runs recorded ${native.backends}`);
  assert.equal(native.report.rows.length, wasm.report.rows.length);
  assert.equal(native.report.rows.length, 2 * 2);
  const key = (r: Report['rows'][number]) => `${r.variantId} ${JSON.stringify(r.lambda)}`;
  const byKey = new Map(wasm.report.rows.map((r) => [key(r), r]));
  for (const row of native.report.rows) {
    const ref = byKey.get(key(row));
    assert.ok(ref, `row ${key(row)} missing from the wasm report`);
    for (const side of ['yoto', 'baseline'] as const) {
      const a = ref[side].loss;
      const b = row[side].loss;
      assert.ok(Number.isFinite(b), `${key(row)} ${side} loss ${b}`);
      assert.ok(Math.abs(a - b) <= TOL * Math.abs(a), `${key(row)} ${side} loss: native-cpu ${b} vs wasm ${a}`);
    }
    assert.ok(Math.abs(row.ratio - ref.ratio) <= 2 * TOL * ref.ratio, `${key(row)} ratio: native-cpu ${row.ratio} vs wasm ${ref.ratio}`);
  }
});
