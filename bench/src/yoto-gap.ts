// The `yoto-gap` benchmark: a real yoto sweep through `yoto demo` on local workers, read
// for what the YOTO-vs-grid gap does across variants. Default spec: plain vs
// gap-driven P_λ (conditioning.adaptive.mode off / gap) on MNIST β-VAE, six β, two
// seeds, one shared baseline grid per seed. With the capacity spec
// (bench/specs/yoto-capacity-beta-vae-mnist.yaml) the same tables read as the ratio
// against model width.
//
// Printed and written to bench/results/<spec name>.{md,json}, with the sweep's
// report.{html,md,json} under bench/results/<spec name>/:
//   - per β: the baseline loss and every variant's YOTO/baseline ratio per seed;
//   - per variant: worst and mean ratio per seed, their mean and spread, compute;
//   - the P_λ each gap-driven run used (mass per bin, mean over training);
//   - per numeric variant axis: worst / mean ratio against its value.
//
// Run: npm run bench -- yoto-gap [--spec FILE] [--workers N]
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lambdaLabel, type ReportVariantSummary } from '@yoto/shared';
import { runDemoSweep, sweepOptions } from './demo-sweep.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { spec, workers } = sweepOptions('yoto-gap-beta-vae-mnist.yaml', 4);
const home = mkdtempSync(join(tmpdir(), 'yoto-gap-bench-'));

const { report, wall, load } = runDemoSweep(spec, workers, { YOTO_HOME: home });

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '—');
const axes = (v: ReportVariantSummary) => Object.entries(v.variant).map(([k, x]) => `${k.split('.').pop()}=${x}`).join(', ') || v.variantId;
const seeds = [...new Set(report.rows.flatMap((row) => (row.seedRatios ?? []).map((x) => x.seed)))].sort((a, b) => a - b);
const lines: string[] = [];
lines.push(`Sweep \`${report.sweepId}\` (${basename(spec)}), ${report.summary.runs} runs, ${workers} workers, wall ${wall.toFixed(0)} s, load average ${load.toFixed(1)} at start.`, '');

// Per β: baseline loss (mean over seeds; the baselines are shared where the plan shares them) and each variant's ratio per seed.
const lambdas = [...new Map(report.rows.map((row) => [lambdaLabel(row.lambda), row.lambda])).keys()];
const firstBaselines = report.variants[0] ? axes(report.variants[0]) : '';
const head = ['λ', `baseline loss (${firstBaselines})`, ...report.variants.flatMap((v) => [...seeds.map((s) => `${axes(v)} s${s}`), `${axes(v)} mean`])];
lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
for (const l of lambdas) {
  const rows = report.variants.map((v) => report.rows.find((row) => row.variantId === v.variantId && lambdaLabel(row.lambda) === l));
  const base = rows.find((x) => x)?.baseline.loss ?? NaN;
  const cells = rows.flatMap((row) => [...seeds.map((s) => f3(row?.seedRatios?.find((x) => x.seed === s)?.ratio ?? NaN)), f3(row?.ratio ?? NaN)]);
  lines.push(`| ${l} | ${base.toFixed(2)} | ${cells.join(' | ')} |`);
}

lines.push('', '| variant | worst ratio per seed | worst: mean ± half-range | mean ratio per seed | mean: mean ± half-range | YOTO compute s (all seeds) | baselines compute s |', '|---|---|---|---|---|---|---|');
const stat = (xs: number[]) => {
  if (!xs.length) return '—';
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return `${f3(m)} ± ${f3((Math.max(...xs) - Math.min(...xs)) / 2)}`;
};
for (const v of report.variants) {
  const ps = v.perSeed ?? [];
  lines.push(
    `| ${axes(v)} | ${ps.map((x) => `s${x.seed}: ${f3(x.maxRatio)}`).join(', ')} | ${stat(ps.map((x) => x.maxRatio))} | ${ps.map((x) => `s${x.seed}: ${f3(x.meanRatio)}`).join(', ')} | ${stat(ps.map((x) => x.meanRatio))} | ${v.yotoComputeSeconds.toFixed(0)} | ${v.baselineComputeSeconds.toFixed(0)} |`,
  );
}

for (const d of report.densities ?? []) {
  if (d === report.densities![0]) lines.push('', `P_λ of the gap-driven runs, mass per bin of log ${d.term} (prior ${f3(d.bins[0]?.prior ?? NaN)} each): mean over training / at the end.`, '');
  lines.push(`- ${d.runId}: ${d.bins.map((b) => `[${+b.low.toPrecision(3)}, ${+b.high.toPrecision(3)}) ${f3(b.mean)} / ${f3(b.final)}`).join(' · ')}; updates ${Object.entries(d.sources).map(([k, n]) => `${n} from ${k}`).join(', ')}`);
}

// Numeric axes: worst / mean ratio against the value (the capacity trend for model.width).
const paths = [...new Set(report.variants.flatMap((v) => Object.keys(v.variant)))];
for (const path of paths) {
  const vs = report.variants.filter((v) => typeof v.variant[path] === 'number');
  if (vs.length < 2 || vs.length !== report.variants.length) continue;
  lines.push('', `| ${path} | worst ratio | mean ratio | worst at |`, '|---|---|---|---|');
  for (const v of [...vs].sort((a, b) => (a.variant[path] as number) - (b.variant[path] as number))) {
    const worst = report.rows.filter((row) => row.variantId === v.variantId).reduce((w, row) => (row.ratio > w.ratio ? row : w));
    lines.push(`| ${v.variant[path]} | ${f3(v.maxRatio)} | ${f3(v.meanRatio)} | ${lambdaLabel(worst.lambda)} |`);
  }
}

const md = lines.join('\n') + '\n';
console.log(md);
const name = report.name;
const out = join(here, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, `${name}.json`), JSON.stringify({ date: new Date().toISOString(), wallSeconds: wall, workers: Number(workers), loadAverage: load, report }, null, 2));
writeFileSync(join(out, `${name}.md`), md);
const saved = join(home, 'reports', report.sweepId);
if (existsSync(saved)) cpSync(saved, join(out, name), { recursive: true });
rmSync(home, { recursive: true, force: true });
console.error(`wrote ${join(out, `${name}.json`)}, ${name}.md and ${name}/report.html`);
