/**
 * The aggregate's maths: YOTO against each baseline at each grid λ, and the compute
 * each side spent. Pure; the coordinator stores what this returns.
 */
import { lambdaLabel, type LambdaPoint } from './lambda.ts';
import type { SweepPlan } from './plan.ts';
import type { RunResult } from './runs.ts';
import { YotoError } from './errors.ts';

export interface ReportSide {
  runIds: string[];
  loss: number;
  terms: Record<string, number>;
}

export interface ReportRow {
  variantId: string;
  variant: Record<string, string | number | boolean>;
  lambda: LambdaPoint;
  /** Whether λ lies inside YOTO's training prior (outside = extrapolation). */
  inPrior: boolean;
  seeds: number;
  baseline: ReportSide;
  yoto: ReportSide;
  /** yoto.loss / baseline.loss; below 1 means the single YOTO model did better. */
  ratio: number;
}

export interface ReportVariantSummary {
  variantId: string;
  variant: Record<string, string | number | boolean>;
  meanRatio: number;
  maxRatio: number;
  yotoComputeSeconds: number;
  baselineComputeSeconds: number;
  computeSaving: number;
}

export interface ReportRun {
  runId: string;
  kind: 'yoto' | 'baseline';
  variantId: string;
  seed: number;
  steps: number;
  examples: number;
  computeSeconds: number;
  examplesPerSecond: number;
  backend: string;
  worker: string;
  finalKey: string;
}

export interface Report {
  version: 1;
  sweepId: string;
  name: string;
  problem: string;
  generatedAt: string;
  rows: ReportRow[];
  variants: ReportVariantSummary[];
  runs: ReportRun[];
  summary: {
    meanRatio: number;
    maxRatio: number;
    worst: { variantId: string; lambda: LambdaPoint; ratio: number } | null;
    yotoComputeSeconds: number;
    baselineComputeSeconds: number;
    /** baselineComputeSeconds / yotoComputeSeconds: how many times cheaper one YOTO run is than its grid. */
    computeSaving: number;
    runs: number;
  };
}

const key = (p: LambdaPoint) => JSON.stringify(Object.entries(p).sort());
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function meanTerms(list: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(list[0] ?? {})) out[k] = mean(list.map((t) => t[k] ?? NaN));
  return out;
}

export function buildReport(plan: SweepPlan, results: RunResult[], inPrior: (variantId: string, p: LambdaPoint) => boolean, now = new Date()): Report {
  const byRun = new Map(results.map((r) => [r.runId, r]));
  const missing = plan.runs.filter((r) => !byRun.has(r.runId)).map((r) => r.runId);
  if (missing.length) throw new YotoError('NOT_FOUND', `results missing for ${missing.length} run(s): ${missing.slice(0, 5).join(', ')}`);
  const rows: ReportRow[] = [];
  const variants: ReportVariantSummary[] = [];
  for (const v of plan.variants) {
    const vr = results.filter((r) => r.variantId === v.variantId);
    const yotos = vr.filter((r) => r.kind === 'yoto');
    const bases = vr.filter((r) => r.kind === 'baseline');
    const vRows: ReportRow[] = [];
    for (const point of plan.grid) {
      const k = key(point);
      const atPoint = bases.filter((b) => b.fixedLambda && key(b.fixedLambda) === k);
      const bEvals = atPoint.map((b) => b.evals.find((e) => key(e.lambda) === k));
      const yEvals = yotos.map((y) => y.evals.find((e) => key(e.lambda) === k));
      if (bEvals.some((e) => !e) || yEvals.some((e) => !e) || !bEvals.length || !yEvals.length) {
        throw new YotoError('NOT_FOUND', `no evaluation at ${lambdaLabel(point)} for variant ${v.variantId}`);
      }
      const b = bEvals as NonNullable<(typeof bEvals)[number]>[];
      const y = yEvals as NonNullable<(typeof yEvals)[number]>[];
      const baseline = { runIds: atPoint.map((r) => r.runId), loss: mean(b.map((e) => e.loss)), terms: meanTerms(b.map((e) => e.terms)) };
      const yoto = { runIds: yotos.map((r) => r.runId), loss: mean(y.map((e) => e.loss)), terms: meanTerms(y.map((e) => e.terms)) };
      vRows.push({ variantId: v.variantId, variant: v.assignment, lambda: point, inPrior: inPrior(v.variantId, point), seeds: Math.min(b.length, y.length), baseline, yoto, ratio: yoto.loss / baseline.loss });
    }
    rows.push(...vRows);
    const yc = yotos.reduce((s, r) => s + r.computeSeconds, 0);
    const bc = bases.reduce((s, r) => s + r.computeSeconds, 0);
    const ratios = vRows.map((r) => r.ratio);
    variants.push({ variantId: v.variantId, variant: v.assignment, meanRatio: mean(ratios), maxRatio: Math.max(...ratios), yotoComputeSeconds: yc, baselineComputeSeconds: bc, computeSaving: bc / Math.max(yc, 1e-9) });
  }
  const ratios = rows.map((r) => r.ratio);
  const worstRow = rows.reduce<ReportRow | null>((w, r) => (!w || r.ratio > w.ratio ? r : w), null);
  const yc = results.filter((r) => r.kind === 'yoto').reduce((s, r) => s + r.computeSeconds, 0);
  const bc = results.filter((r) => r.kind === 'baseline').reduce((s, r) => s + r.computeSeconds, 0);
  return {
    version: 1,
    sweepId: plan.sweepId,
    name: plan.name,
    problem: plan.problem,
    generatedAt: now.toISOString(),
    rows,
    variants,
    runs: plan.runs.map((p) => {
      const r = byRun.get(p.runId) as RunResult;
      return {
        runId: r.runId,
        kind: r.kind,
        variantId: r.variantId,
        seed: r.seed,
        steps: r.steps,
        examples: r.examples,
        computeSeconds: r.computeSeconds,
        examplesPerSecond: r.examples / Math.max(r.computeSeconds, 1e-9),
        backend: `${r.backend.name}${r.backend.threads > 1 ? `×${r.backend.threads}` : ''}`,
        worker: r.worker,
        finalKey: r.artifacts.final,
      };
    }),
    summary: {
      meanRatio: mean(ratios),
      maxRatio: Math.max(...ratios),
      worst: worstRow ? { variantId: worstRow.variantId, lambda: worstRow.lambda, ratio: worstRow.ratio } : null,
      yotoComputeSeconds: yc,
      baselineComputeSeconds: bc,
      computeSaving: bc / Math.max(yc, 1e-9),
      runs: results.length,
    },
  };
}

const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/** The report as a Markdown document (also what `yoto report --md` prints). */
export function renderReportMarkdown(r: Report): string {
  const termNames = Object.keys(r.rows[0]?.baseline.terms ?? {});
  const lines: string[] = [];
  lines.push(`# yoto report: ${r.name}`, '');
  lines.push(`Sweep \`${r.sweepId}\` · problem \`${r.problem}\` · ${r.summary.runs} runs · generated ${r.generatedAt}`, '');
  lines.push('## Verdict', '');
  lines.push(`- Mean YOTO/baseline loss ratio: **${fmt(r.summary.meanRatio)}**, worst **${fmt(r.summary.maxRatio)}**` + (r.summary.worst ? ` (variant ${r.summary.worst.variantId}, ${lambdaLabel(r.summary.worst.lambda)})` : ''));
  lines.push(`- Compute: YOTO ${fmt(r.summary.yotoComputeSeconds, 1)} s vs baselines ${fmt(r.summary.baselineComputeSeconds, 1)} s — one YOTO model costs **${fmt(1 / r.summary.computeSaving, 3)}×** its grid (saving ${fmt(r.summary.computeSaving, 2)}×).`);
  lines.push('');
  lines.push('## YOTO vs baseline at every λ', '');
  const head = ['variant', 'λ', 'in prior', 'baseline loss', 'YOTO loss', 'ratio', ...termNames.flatMap((t) => [`base ${t}`, `YOTO ${t}`])];
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const row of r.rows) {
    const cells = [row.variantId, lambdaLabel(row.lambda), row.inPrior ? 'yes' : 'no', fmt(row.baseline.loss), fmt(row.yoto.loss), fmt(row.ratio), ...termNames.flatMap((t) => [fmt(row.baseline.terms[t] ?? NaN), fmt(row.yoto.terms[t] ?? NaN)])];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('', '## Per variant', '');
  lines.push('| variant | mean ratio | max ratio | YOTO s | baselines s | saving |', '|---|---|---|---|---|---|');
  for (const v of r.variants) lines.push(`| ${v.variantId} | ${fmt(v.meanRatio)} | ${fmt(v.maxRatio)} | ${fmt(v.yotoComputeSeconds, 1)} | ${fmt(v.baselineComputeSeconds, 1)} | ${fmt(v.computeSaving, 2)}× |`);
  lines.push('', '## Runs', '');
  lines.push('| run | kind | steps | examples/s | compute s | backend | worker | final |', '|---|---|---|---|---|---|---|---|');
  for (const run of r.runs) lines.push(`| ${run.runId} | ${run.kind} | ${run.steps} | ${fmt(run.examplesPerSecond, 0)} | ${fmt(run.computeSeconds, 1)} | ${run.backend} | ${run.worker} | \`${run.finalKey}\` |`);
  lines.push('');
  return lines.join('\n');
}
