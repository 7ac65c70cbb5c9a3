/**
 * End to end for the compression problem: a tiny codec sweep through the real stack
 * (redis-server, embedded S3, train workers, aggregate). Every run's evaluation codes
 * real bitstreams; the report carries per-λ actual bpp and PSNR, the RD curves, the
 * BD-rate and the RD figure in report.html.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { s3Keys, type Report } from '@yoto/shared';
import { createLogger, type ObjectStore } from '@yoto/runtime';
import type { SweepService } from '@yoto/coordinator';
import { startSweepStack, type SweepStack } from '../support/sweep-stack.ts';

const log = createLogger({ name: 'e2e-compression', level: process.env.LOG_LEVEL ?? 'warn' });
let stack: SweepStack;
let store: ObjectStore;
let sweeps: SweepService;

const GRID = [0.002, 0.006, 0.02, 0.06];
const SPEC = {
  name: 'e2e-codec',
  problem: 'compression',
  dataset: { name: 'shapes', trainExamples: 256, testExamples: 64 },
  model: { arch: 'conv', latentDim: 4, width: 0.25, filmHidden: 16, filmScale: 0.1, filmShift: 0.1 },
  lambda: { distortion: { dist: 'log-uniform', low: 0.002, high: 0.06 } },
  grid: { distortion: GRID },
  train: { steps: 20, batchSize: 16, lr: 0.002, checkpointEvery: 10, evalBatchSize: 32 },
  seeds: [0],
};

before(async () => {
  stack = await startSweepStack({ name: 'e2e-compression', workers: 2, log });
  ({ store, sweeps } = stack);
});

after(() => stack?.stop());

test('a compression sweep reports actual bitstream rates, PSNR, RD curves and the BD-rate', { timeout: 600_000 }, async () => {
  const submitted = await sweeps.submit(SPEC);
  assert.equal(submitted.runs, 1 + GRID.length);
  const detail = await sweeps.waitForCompletion(submitted.sweepId, { timeoutMs: 540_000 });
  assert.equal(detail.status, 'completed', JSON.stringify(detail.runs.filter((r) => r.failedReason).map((r) => [r.runId, r.failedReason])));

  const report = (await sweeps.report(submitted.sweepId)) as Report;
  assert.equal(report.rows.length, GRID.length);
  for (const row of report.rows) {
    for (const side of [row.yoto, row.baseline]) {
      const m = side.metrics!;
      assert.ok(m.actualBpp! > 0 && m.fileBpp! >= m.actualBpp!, JSON.stringify(m));
      assert.ok(Math.abs(m.actualBpp! / side.terms.rate! - 1) < 0.05, `actual ${m.actualBpp} vs estimated ${side.terms.rate}`);
      assert.ok(Math.abs(m.psnr! - 10 * Math.log10((255 * 255) / side.terms.distortion!)) < 1e-9);
    }
  }
  const rd = report.rd?.[0];
  assert.ok(rd, 'RD curves in the report');
  assert.equal(rd.yoto.length, GRID.length);
  assert.ok(rd.bdRate === null || Number.isFinite(rd.bdRate));
  const html = (await store.get(s3Keys.report(submitted.sweepId, 'html'))).toString('utf8');
  assert.match(html, /data-kind="rd"/);
  const md = (await store.get(s3Keys.report(submitted.sweepId, 'md'))).toString('utf8');
  assert.match(md, /## Rate–distortion/);
});
