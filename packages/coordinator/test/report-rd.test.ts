/** The compression report: RD curves, BD-rate, its figure and Markdown (pure; beta-vae reports are unchanged). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { QUEUES, jobIds, parseSweepSpec, planSweep, renderReportMarkdown, s3Keys, type RunPayload, type RunResult } from '@yoto/shared';
import { aggregateSweep } from '../src/index.ts';
import { reportFigures } from '../src/plots/report-plots.ts';
import { smallSpec, syntheticResult } from './helpers/fixtures.ts';

const GRID = [0.001, 0.003, 0.01, 0.03, 0.1];

/** Same PSNR on both sides at each λ; YOTO spends 10% more bits, so its BD-rate is +10%. */
function codecResult(p: RunPayload): RunResult {
  const evals = p.evalGrid.map((lambda, i) => {
    const psnr = 22 + 2 * i;
    const bpp = Math.exp(0.2 * psnr - 4) * (p.kind === 'yoto' ? 1.1 : 1);
    const distortion = (255 * 255) / 10 ** (psnr / 10);
    return { lambda, loss: bpp + lambda.distortion! * distortion, terms: { rate: bpp, distortion }, metrics: { actualBpp: bpp, fileBpp: bpp + 0.04, psnr } };
  });
  const base = syntheticResult(p);
  return { ...base, evals, finalTrain: { rate: 1, distortion: 100 }, artifacts: { final: s3Keys.finalDir(p.sweepId, p.runId), eval: s3Keys.finalEval(p.sweepId, p.runId), metrics: s3Keys.metrics(p.sweepId, p.runId) } };
}

function compressionPlan() {
  const spec = parseSweepSpec({
    name: 'rd-test',
    problem: 'compression',
    dataset: { name: 'fashion-mnist', trainExamples: 1000, testExamples: 100 },
    lambda: { distortion: { dist: 'log-uniform', low: 0.001, high: 0.1 } },
    grid: { distortion: GRID },
    train: { steps: 10 },
  });
  return planSweep(spec);
}

describe('compression report', () => {
  test('RD curves per variant and the BD-rate of YOTO against the baselines', () => {
    const plan = compressionPlan();
    const values = Object.fromEntries(plan.runs.map((r) => [`bull:${QUEUES.train}:${jobIds.train(plan.sweepId, r.runId)}`, codecResult(r)]));
    const report = aggregateSweep(plan, values, new Date(0));
    assert.equal(report.rd?.length, 1);
    const rd = report.rd![0]!;
    assert.equal(rd.yoto.length, GRID.length);
    assert.equal(rd.baseline.length, GRID.length);
    assert.ok(Math.abs(rd.bdRate! - 0.1) < 1e-9, `BD-rate ${rd.bdRate}`);
    assert.equal(report.rows[0]!.yoto.metrics?.psnr, 22);

    const fig = reportFigures(report).find((f) => f.kind === 'rd');
    assert.ok(fig, 'an RD figure');
    assert.match(fig.title, /BD-rate 10\.0%/);
    assert.equal((fig.svg.match(/<circle[^>]*data-lambda/g) ?? []).length, 2 * GRID.length);

    const md = renderReportMarkdown(report);
    assert.match(md, /BD-rate of YOTO vs baselines: \*\*10\.00%\*\*/);
    assert.match(md, /## Rate–distortion/);
  });

  test('the spec refuses the mlp arch for compression, naming the field', () => {
    assert.throws(
      () => parseSweepSpec({ name: 'x', problem: 'compression', dataset: { name: 'mnist' }, model: { arch: 'mlp' }, lambda: { distortion: { dist: 'fixed', value: 1 } }, grid: { distortion: [1] }, train: { steps: 1 } }),
      (e: unknown) => (e as { issues?: { path: string }[] }).issues?.some((i) => i.path === 'model.arch') === true,
    );
  });

  test('a beta-vae report has no RD section', () => {
    const spec = parseSweepSpec(smallSpec('bvae'));
    const plan = planSweep(spec);
    const values = Object.fromEntries(plan.runs.map((r) => [`bull:${QUEUES.train}:${jobIds.train(plan.sweepId, r.runId)}`, syntheticResult(r)]));
    const report = aggregateSweep(plan, values, new Date(0));
    assert.equal(report.rd, undefined);
    assert.equal(reportFigures(report).filter((f) => f.kind === 'rd').length, 0);
    assert.doesNotMatch(renderReportMarkdown(report), /Rate–distortion/);
  });
});
