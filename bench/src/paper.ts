// The `paper` benchmark: one real yoto sweep (MNIST β-VAE, 8 β values in [0.5, 512],
// YOTO vs baselines at two widths) run through `yoto demo` on local workers, then the
// ratio table and the compute each side used. Long-running (tens of minutes on
// 2 cores); not part of CI.
//
// Run: npm run bench -- paper [--spec FILE] [--workers N]
// Writes bench/results/paper.json (the report) and bench/results/paper.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lambdaLabel } from '@yoto/shared';
import { runDemoSweep, sweepOptions } from './demo-sweep.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { spec, workers } = sweepOptions('paper-beta-vae-mnist.yaml');

const { report, wall, load } = runDemoSweep(spec, workers);

const lines: string[] = [];
lines.push(`Sweep \`${report.sweepId}\`, ${report.summary.runs} runs, ${workers} workers, wall ${wall.toFixed(0)} s, load average ${load.toFixed(1)} at start.`, '');
lines.push('| width | β | in prior | baseline loss | YOTO loss | ratio | baseline recon / KL | YOTO recon / KL |', '|---|---|---|---|---|---|---|---|');
for (const row of report.rows) {
  const width = row.variant['model.width'] ?? '';
  lines.push(
    `| ${width} | ${lambdaLabel(row.lambda).replace('kl=', '')} | ${row.inPrior ? 'yes' : 'no'} | ${row.baseline.loss.toFixed(2)} | ${row.yoto.loss.toFixed(2)} | ${row.ratio.toFixed(3)} | ${(row.baseline.terms.recon ?? NaN).toFixed(1)} / ${(row.baseline.terms.kl ?? NaN).toFixed(2)} | ${(row.yoto.terms.recon ?? NaN).toFixed(1)} / ${(row.yoto.terms.kl ?? NaN).toFixed(2)} |`,
  );
}
lines.push('', '| width | mean ratio | max ratio | YOTO compute s | baselines compute s | saving |', '|---|---|---|---|---|---|');
for (const v of report.variants) {
  lines.push(`| ${v.variant['model.width'] ?? v.variantId} | ${v.meanRatio.toFixed(3)} | ${v.maxRatio.toFixed(3)} | ${v.yotoComputeSeconds.toFixed(0)} | ${v.baselineComputeSeconds.toFixed(0)} | ${v.computeSaving.toFixed(2)}× |`);
}
const md = lines.join('\n') + '\n';
console.log(md);
const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'paper.json'), JSON.stringify({ date: new Date().toISOString(), wallSeconds: wall, workers: Number(workers), report }, null, 2));
writeFileSync(join(out, 'paper.md'), md);
console.error(`wrote ${join(out, 'paper.json')} and paper.md`);
