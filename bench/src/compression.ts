// The `compression` benchmark: one real yoto sweep of the learned image codec on
// Fashion-MNIST (YOTO vs one fixed-λ baseline per grid λ) run through `yoto demo` on
// local workers; prints the rate–distortion table (estimated and actual bits per
// pixel, PSNR), the BD-rate of YOTO against the baselines and the compute each side
// used, and writes the RD plot.
//
// Run: npm run bench -- compression [--spec FILE] [--workers N]
// Writes bench/results/compression.{json,md} and compression-rd.svg.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lambdaLabel } from '@yoto/shared';
import { reportFigures } from '../../packages/coordinator/src/plots/report-plots.ts';
import { runDemoSweep, sweepOptions } from './demo-sweep.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { spec, workers } = sweepOptions('compression-fashion-mnist.yaml');

const { report, wall, load } = runDemoSweep(spec, workers);

const f = (x: number | undefined, d: number) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
const pct = (x: number | null | undefined) => (x === null || x === undefined ? 'undefined' : `${(100 * x).toFixed(2)}%`);
const lines: string[] = [];
lines.push(`Sweep \`${report.sweepId}\`, ${report.summary.runs} runs, ${workers} workers, wall ${wall.toFixed(0)} s, load average ${load.toFixed(1)} at start.`, '');
for (const c of report.rd ?? []) lines.push(`**BD-rate of YOTO vs baselines (actual bpp at equal PSNR): ${pct(c.bdRate)}** (negative: YOTO needs fewer bits).`, '');
lines.push(
  '| λ | side | est. bpp | actual bpp | per-image file bpp | actual / est. | MSE (8-bit) | PSNR dB | loss |',
  '|---|---|---|---|---|---|---|---|---|',
);
for (const row of report.rows) {
  for (const [name, s] of [['baseline', row.baseline], ['YOTO', row.yoto]] as const) {
    const est = s.terms.rate;
    const act = s.metrics?.actualBpp;
    lines.push(
      `| ${lambdaLabel(row.lambda).replace('distortion=', '')} | ${name} | ${f(est, 4)} | ${f(act, 4)} | ${f(s.metrics?.fileBpp, 4)} | ${f(act !== undefined && est ? act / est : undefined, 4)} | ${f(s.terms.distortion, 1)} | ${f(s.metrics?.psnr, 2)} | ${f(s.loss, 3)} |`,
    );
  }
}
lines.push('', '| mean loss ratio | max loss ratio | YOTO compute s | baselines compute s | saving |', '|---|---|---|---|---|');
for (const v of report.variants) lines.push(`| ${v.meanRatio.toFixed(3)} | ${v.maxRatio.toFixed(3)} | ${v.yotoComputeSeconds.toFixed(0)} | ${v.baselineComputeSeconds.toFixed(0)} | ${v.computeSaving.toFixed(2)}× |`);
const md = lines.join('\n') + '\n';
console.log(md);
const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'compression.json'), JSON.stringify({ date: new Date().toISOString(), wallSeconds: wall, workers: Number(workers), report }, null, 2));
writeFileSync(join(out, 'compression.md'), md);
const rd = reportFigures(report).find((fig) => fig.kind === 'rd');
if (rd) writeFileSync(join(out, 'compression-rd.svg'), rd.svg);
console.error(`wrote ${join(out, 'compression.json')}, compression.md${rd ? ' and compression-rd.svg' : ''}`);
