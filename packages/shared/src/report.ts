/**
 * The aggregate's maths: YOTO against each baseline at each grid λ, and the compute
 * each side spent. Pure; the coordinator stores what this returns.
 *
 * Partial sweeps: a run that failed for good (out of attempts, diverged) is passed in
 * `failed` with its reason. Rows that still have both sides (another seed survived)
 * stay in `rows` and list the failed runs in `missing`; rows left without a side move
 * to `incomplete`, with the side(s) they do have and the reasons. The summary counts
 * both, and every ratio statistic is over the complete rows only.
 */
import { lambdaLabel, type LambdaPoint } from './lambda.ts';
import { baselineVariantOf, type SweepPlan } from './plan.ts';
import { binRange, meanMasses, uniformMasses } from './adaptive.ts';
import type { RunResult } from './runs.ts';
import { YotoError } from './errors.ts';
import { bdRate, type RdPoint } from './bd-rate.ts';
import { PROBLEMS, type ProblemInfo } from './problems.ts';

export interface ReportSide {
  runIds: string[];
  loss: number;
  terms: Record<string, number>;
  /** Mean evaluation metrics (problems that report any, e.g. compression's actualBpp, psnr). */
  metrics?: Record<string, number>;
}

/** One variant's rate–distortion curves (codec problems, `ProblemInfo.rd`). */
export interface ReportRdCurve {
  variantId: string;
  /** Metric names of the axes. */
  rate: string;
  quality: string;
  /** Points in grid order, λ attached. */
  yoto: (RdPoint & { lambda: LambdaPoint })[];
  baseline: (RdPoint & { lambda: LambdaPoint })[];
  /** BD-rate of YOTO against the baselines' curve (negative: YOTO needs fewer bits); null if undefined. */
  bdRate: number | null;
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
  /** Runs of this row that failed for good (other seeds made up the row). */
  missing?: ReportMissingRun[];
  /** yoto/baseline of each seed that has both sides. */
  seedRatios?: { seed: number; ratio: number }[];
}

/** A run with no result, and why. */
export interface ReportMissingRun {
  runId: string;
  kind: 'yoto' | 'baseline';
  seed: number;
  reason: string;
}

/** A grid point that cannot be compared because every run of one side (or both) failed. */
export interface ReportIncompleteRow {
  variantId: string;
  variant: Record<string, string | number | boolean>;
  lambda: LambdaPoint;
  inPrior: boolean;
  /** The side that did finish, or null. */
  baseline: ReportSide | null;
  yoto: ReportSide | null;
  missing: ReportMissingRun[];
}

export interface ReportVariantSummary {
  variantId: string;
  variant: Record<string, string | number | boolean>;
  meanRatio: number;
  maxRatio: number;
  yotoComputeSeconds: number;
  baselineComputeSeconds: number;
  computeSaving: number;
  /** The variant whose baselines this one is compared with, when shared (plan.ts). */
  baselinesFrom?: string;
  /** Mean and worst ratio over λ of each seed alone (their spread is the seed noise). */
  perSeed?: { seed: number; meanRatio: number; maxRatio: number }[];
}

/** The density over log λ a gap-driven YOTO run sampled from (adaptive.ts). */
export interface ReportDensity {
  runId: string;
  variantId: string;
  seed: number;
  term: string;
  /** Per bin: its λ range, the prior's mass, the mass at the end and averaged over training steps. */
  bins: { low: number; high: number; prior: number; final: number; mean: number }[];
  /** Updates by the signal they used. */
  sources: Record<string, number>;
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
  /** Grid points without a comparison (a side failed for good); empty for a complete sweep. */
  incomplete: ReportIncompleteRow[];
  variants: ReportVariantSummary[];
  runs: ReportRun[];
  /** Runs that failed for good, with their reasons. */
  failedRuns: ReportMissingRun[];
  /** Rate–distortion curves and BD-rate per variant (codec problems only). */
  rd?: ReportRdCurve[];
  /** Gap-driven YOTO runs' densities; absent when no run adapted its P_λ. */
  densities?: ReportDensity[];
  summary: {
    meanRatio: number;
    maxRatio: number;
    worst: { variantId: string; lambda: LambdaPoint; ratio: number } | null;
    yotoComputeSeconds: number;
    baselineComputeSeconds: number;
    /** baselineComputeSeconds / yotoComputeSeconds: how many times cheaper one YOTO run is than its grid. */
    computeSaving: number;
    /** Runs with a result. */
    runs: number;
    /** Runs that failed for good. */
    failedRuns: number;
    /** Rows compared / grid points without a comparison. */
    complete: number;
    missing: number;
  };
}

const key = (p: LambdaPoint) => JSON.stringify(Object.entries(p).sort());
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function meanTerms(list: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(list[0] ?? {})) out[k] = mean(list.map((t) => t[k] ?? NaN));
  return out;
}

/** A side of a row from its evaluations; metrics only when every evaluation has them. */
function side(runIds: string[], evals: { loss: number; terms: Record<string, number>; metrics?: Record<string, number> }[]): ReportSide {
  const out: ReportSide = { runIds, loss: mean(evals.map((e) => e.loss)), terms: meanTerms(evals.map((e) => e.terms)) };
  if (evals.length && evals.every((e) => e.metrics)) out.metrics = meanTerms(evals.map((e) => e.metrics!));
  return out;
}

/** RD curves and BD-rate per variant, from the rows' metrics. */
export function rdCurves(rows: readonly ReportRow[], variantIds: readonly string[], rd: NonNullable<ProblemInfo['rd']>): ReportRdCurve[] {
  return variantIds.map((variantId) => {
    const vRows = rows.filter((r) => r.variantId === variantId);
    const curve = (which: 'yoto' | 'baseline') =>
      vRows.map((r) => ({ lambda: r.lambda, rate: r[which].metrics?.[rd.rate] ?? NaN, psnr: r[which].metrics?.[rd.quality] ?? NaN }));
    const yoto = curve('yoto');
    const baseline = curve('baseline');
    return { variantId, rate: rd.rate, quality: rd.quality, yoto, baseline, bdRate: bdRate(baseline, yoto) };
  });
}

export function buildReport(
  plan: SweepPlan,
  results: RunResult[],
  inPrior: (variantId: string, p: LambdaPoint) => boolean,
  now = new Date(),
  failed: ReadonlyMap<string, string> = new Map(),
): Report {
  const byRun = new Map(results.map((r) => [r.runId, r]));
  const missing = plan.runs.filter((r) => !byRun.has(r.runId) && !failed.has(r.runId)).map((r) => r.runId);
  if (missing.length) throw new YotoError('NOT_FOUND', `results missing for ${missing.length} run(s): ${missing.slice(0, 5).join(', ')}`);
  const failedRuns: ReportMissingRun[] = plan.runs
    .filter((r) => !byRun.has(r.runId))
    .map((r) => ({ runId: r.runId, kind: r.kind, seed: r.seed, reason: failed.get(r.runId) ?? 'no result' }));
  const rows: ReportRow[] = [];
  const incomplete: ReportIncompleteRow[] = [];
  const variants: ReportVariantSummary[] = [];
  for (const v of plan.variants) {
    const vr = results.filter((r) => r.variantId === v.variantId);
    const bv = baselineVariantOf(plan, v.variantId);
    const yotos = vr.filter((r) => r.kind === 'yoto');
    const bases = results.filter((r) => r.kind === 'baseline' && r.variantId === bv);
    const vFailed = plan.runs.filter((r) => !byRun.has(r.runId) && ((r.kind === 'yoto' && r.variantId === v.variantId) || (r.kind === 'baseline' && r.variantId === bv)));
    const vRows: ReportRow[] = [];
    for (const point of plan.grid) {
      const k = key(point);
      const atPoint = bases.filter((b) => b.fixedLambda && key(b.fixedLambda) === k);
      const bEvals = atPoint.map((b) => b.evals.find((e) => key(e.lambda) === k));
      const yEvals = yotos.map((y) => y.evals.find((e) => key(e.lambda) === k));
      if (bEvals.some((e) => !e) || yEvals.some((e) => !e)) {
        throw new YotoError('NOT_FOUND', `no evaluation at ${lambdaLabel(point)} for variant ${v.variantId}`);
      }
      const rowMissing = failedRuns.filter((m) => vFailed.some((r) => r.runId === m.runId && (r.kind === 'yoto' || (r.fixedLambda && key(r.fixedLambda) === k))));
      const b = bEvals as NonNullable<(typeof bEvals)[number]>[];
      const y = yEvals as NonNullable<(typeof yEvals)[number]>[];
      const seedRatios = yotos.flatMap((yr, i) => {
        const j = atPoint.findIndex((br) => br.seed === yr.seed);
        return j >= 0 ? [{ seed: yr.seed, ratio: y[i]!.loss / b[j]!.loss }] : [];
      });
      const baseline = b.length ? side(atPoint.map((r) => r.runId), b) : null;
      const yoto = y.length ? side(yotos.map((r) => r.runId), y) : null;
      if (!baseline || !yoto) {
        if (!rowMissing.length) throw new YotoError('NOT_FOUND', `no evaluation at ${lambdaLabel(point)} for variant ${v.variantId}`);
        incomplete.push({ variantId: v.variantId, variant: v.assignment, lambda: point, inPrior: inPrior(v.variantId, point), baseline, yoto, missing: rowMissing });
        continue;
      }
      vRows.push({
        variantId: v.variantId,
        variant: v.assignment,
        lambda: point,
        inPrior: inPrior(v.variantId, point),
        seeds: Math.min(b.length, y.length),
        baseline,
        yoto,
        ratio: yoto.loss / baseline.loss,
        ...(rowMissing.length ? { missing: rowMissing } : {}),
        seedRatios,
      });
    }
    rows.push(...vRows);
    const yc = yotos.reduce((s, r) => s + r.computeSeconds, 0);
    const bc = bases.reduce((s, r) => s + r.computeSeconds, 0);
    const ratios = vRows.map((r) => r.ratio);
    const seeds = [...new Set(vRows.flatMap((r) => (r.seedRatios ?? []).map((x) => x.seed)))].sort((a, b) => a - b);
    const perSeed = seeds.map((seed) => {
      const rs = vRows.flatMap((r) => (r.seedRatios ?? []).filter((x) => x.seed === seed).map((x) => x.ratio));
      return { seed, meanRatio: mean(rs), maxRatio: Math.max(...rs) };
    });
    variants.push({
      variantId: v.variantId,
      variant: v.assignment,
      meanRatio: ratios.length ? mean(ratios) : NaN,
      maxRatio: ratios.length ? Math.max(...ratios) : NaN,
      yotoComputeSeconds: yc,
      baselineComputeSeconds: bc,
      computeSaving: bc / Math.max(yc, 1e-9),
      ...(bv !== v.variantId ? { baselinesFrom: bv } : {}),
      perSeed,
    });
  }
  const densities: ReportDensity[] = results.flatMap((r) => {
    const t = r.adaptive;
    if (r.kind !== 'yoto' || !t) return [];
    const last = [...t.updates].sort((a, b) => a.step - b.step).pop();
    const avg = meanMasses(t, r.steps);
    const sources: Record<string, number> = {};
    for (const u of t.updates) if (u.source !== 'start') sources[u.source] = (sources[u.source] ?? 0) + 1;
    return t.axes.map((axis, k) => ({
      runId: r.runId,
      variantId: r.variantId,
      seed: r.seed,
      term: axis.term,
      bins: uniformMasses(t.bins).map((prior, b) => {
        const [low, high] = binRange(axis, t.bins, b);
        return { low, high, prior, final: last?.masses[k]?.[b] ?? prior, mean: avg[k]?.[b] ?? prior };
      }),
      sources,
    }));
  });
  const ratios = rows.map((r) => r.ratio);
  const worstRow = rows.reduce<ReportRow | null>((w, r) => (!w || r.ratio > w.ratio ? r : w), null);
  const yc = results.filter((r) => r.kind === 'yoto').reduce((s, r) => s + r.computeSeconds, 0);
  const bc = results.filter((r) => r.kind === 'baseline').reduce((s, r) => s + r.computeSeconds, 0);
  const rd = (PROBLEMS as Record<string, ProblemInfo>)[plan.problem]?.rd;
  return {
    ...(rd ? { rd: rdCurves(rows, plan.variants.map((v) => v.variantId), rd) } : {}),
    version: 1,
    sweepId: plan.sweepId,
    name: plan.name,
    problem: plan.problem,
    generatedAt: now.toISOString(),
    rows,
    incomplete,
    variants,
    failedRuns,
    ...(densities.length ? { densities } : {}),
    runs: plan.runs.flatMap((p) => {
      const r = byRun.get(p.runId);
      if (!r) return [];
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
      meanRatio: ratios.length ? mean(ratios) : NaN,
      maxRatio: ratios.length ? Math.max(...ratios) : NaN,
      worst: worstRow ? { variantId: worstRow.variantId, lambda: worstRow.lambda, ratio: worstRow.ratio } : null,
      yotoComputeSeconds: yc,
      baselineComputeSeconds: bc,
      computeSaving: bc / Math.max(yc, 1e-9),
      runs: results.length,
      failedRuns: failedRuns.length,
      complete: rows.length,
      missing: incomplete.length,
    },
  };
}

const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/** Spread of a sample: min–max, as `a–b`. */
const range = (xs: number[]) => (xs.length ? `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}` : '—');

/** Variant comparison: per-seed worst/mean ratios, ratio per λ per variant, and P_λ of gap-driven runs. */
export function variantComparisonMarkdown(r: Report): string[] {
  const lines: string[] = [];
  const label = (v: ReportVariantSummary) => Object.entries(v.variant).map(([k, x]) => `${k}=${x}`).join(', ') || v.variantId;
  if (r.variants.some((v) => (v.perSeed?.length ?? 0) > 0)) {
    lines.push('', '## Variants compared (per seed)', '');
    lines.push('| variant | axes | baselines of | seeds | worst ratio per seed | mean ratio per seed | worst (mean ± spread) |', '|---|---|---|---|---|---|---|');
    for (const v of r.variants) {
      const ps = v.perSeed ?? [];
      const worst = ps.map((x) => x.maxRatio);
      const m = worst.length ? worst.reduce((a, b) => a + b, 0) / worst.length : NaN;
      const half = worst.length > 1 ? (Math.max(...worst) - Math.min(...worst)) / 2 : 0;
      lines.push(`| ${v.variantId} | ${label(v)} | ${v.baselinesFrom ?? v.variantId} | ${ps.length} | ${ps.map((x) => `s${x.seed}: ${fmt(x.maxRatio)}`).join(', ')} | ${ps.map((x) => `s${x.seed}: ${fmt(x.meanRatio)}`).join(', ')} | ${fmt(m)} ± ${fmt(half)} (${range(worst)}) |`);
    }
  }
  if (r.variants.length > 1) {
    const lambdas = [...new Map(r.rows.map((row) => [lambdaLabel(row.lambda), row.lambda])).values()];
    lines.push('', '## Ratio per λ per variant', '');
    lines.push(`| λ | ${r.variants.map((v) => v.variantId).join(' | ')} |`, `|---|${r.variants.map(() => '---').join('|')}|`);
    for (const p of lambdas) {
      const cells = r.variants.map((v) => {
        const row = r.rows.find((x) => x.variantId === v.variantId && lambdaLabel(x.lambda) === lambdaLabel(p));
        return row ? fmt(row.ratio) : '—';
      });
      lines.push(`| ${lambdaLabel(p)} | ${cells.join(' | ')} |`);
    }
  }
  if (r.densities?.length) {
    lines.push('', '## P_λ of gap-driven YOTO runs', '');
    lines.push('Mass per bin of log λ: the prior, averaged over training steps, and at the end.', '');
    for (const d of r.densities) {
      lines.push(`**${d.runId}** (${d.term}; updates: ${Object.entries(d.sources).map(([k, n]) => `${n} from ${k}`).join(', ') || 'none'})`, '');
      lines.push('| λ range | prior | mean over training | final |', '|---|---|---|---|');
      for (const b of d.bins) lines.push(`| ${+b.low.toPrecision(3)}–${+b.high.toPrecision(3)} | ${fmt(b.prior)} | ${fmt(b.mean)} | ${fmt(b.final)} |`);
      lines.push('');
    }
  }
  return lines;
}

/** The report as a Markdown document (also what `yoto report --md` prints). */
export function renderReportMarkdown(r: Report): string {
  const termNames = Object.keys(r.rows[0]?.baseline.terms ?? {});
  const lines: string[] = [];
  lines.push(`# yoto report: ${r.name}`, '');
  const failedRuns = r.failedRuns ?? [];
  const incomplete = r.incomplete ?? [];
  lines.push(`Sweep \`${r.sweepId}\` · problem \`${r.problem}\` · ${r.summary.runs} runs · generated ${r.generatedAt}`, '');
  if (failedRuns.length) {
    lines.push(`> **Partial sweep:** ${failedRuns.length} run(s) failed for good; ${incomplete.length} grid point(s) have no comparison (marked MISSING below).`, '');
  }
  lines.push('## Verdict', '');
  lines.push(`- Mean YOTO/baseline loss ratio: **${fmt(r.summary.meanRatio)}**, worst **${fmt(r.summary.maxRatio)}**` + (r.summary.worst ? ` (variant ${r.summary.worst.variantId}, ${lambdaLabel(r.summary.worst.lambda)})` : ''));
  lines.push(`- Compute: YOTO ${fmt(r.summary.yotoComputeSeconds, 1)} s vs baselines ${fmt(r.summary.baselineComputeSeconds, 1)} s — one YOTO model costs **${fmt(1 / r.summary.computeSaving, 3)}×** its grid (saving ${fmt(r.summary.computeSaving, 2)}×).`);
  for (const c of r.rd ?? []) {
    lines.push(`- BD-rate of YOTO vs baselines${r.rd!.length > 1 ? ` (variant ${c.variantId})` : ''}: **${c.bdRate === null ? 'undefined' : `${(100 * c.bdRate).toFixed(2)}%`}** (${c.rate} at equal ${c.quality}; negative: YOTO needs fewer bits).`);
  }
  lines.push('');
  lines.push('## YOTO vs baseline at every λ', '');
  const head = ['variant', 'λ', 'in prior', 'baseline loss', 'YOTO loss', 'ratio', ...termNames.flatMap((t) => [`base ${t}`, `YOTO ${t}`])];
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const row of r.rows) {
    const cells = [row.variantId, lambdaLabel(row.lambda), row.inPrior ? 'yes' : 'no', fmt(row.baseline.loss), fmt(row.yoto.loss), fmt(row.ratio), ...termNames.flatMap((t) => [fmt(row.baseline.terms[t] ?? NaN), fmt(row.yoto.terms[t] ?? NaN)])];
    lines.push(`| ${cells.join(' | ')}${row.missing?.length ? ` (missing: ${row.missing.map((m) => m.runId).join(', ')})` : ''} |`);
  }
  for (const row of incomplete) {
    const side = (s: ReportSide | null) => (s ? fmt(s.loss) : 'MISSING');
    const cells = [row.variantId, lambdaLabel(row.lambda), row.inPrior ? 'yes' : 'no', side(row.baseline), side(row.yoto), 'MISSING', ...termNames.flatMap(() => ['', ''])];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  if (r.rd?.length) {
    lines.push('', '## Rate–distortion', '');
    for (const c of r.rd) {
      lines.push(`Variant ${c.variantId}: BD-rate of YOTO against the baselines (${c.rate} at equal ${c.quality}): **${c.bdRate === null ? 'undefined (curves do not overlap)' : `${(100 * c.bdRate).toFixed(2)}%`}** (negative: YOTO needs fewer bits).`, '');
      lines.push(`| λ | baseline ${c.rate} | baseline ${c.quality} | YOTO ${c.rate} | YOTO ${c.quality} |`, '|---|---|---|---|---|');
      c.yoto.forEach((y, i) => {
        const b = c.baseline[i];
        lines.push(`| ${lambdaLabel(y.lambda)} | ${fmt(b?.rate ?? NaN, 4)} | ${fmt(b?.psnr ?? NaN, 2)} | ${fmt(y.rate, 4)} | ${fmt(y.psnr, 2)} |`);
      });
      lines.push('');
    }
  }
  if (failedRuns.length) {
    lines.push('', '## Failed runs', '', '| run | kind | seed | reason |', '|---|---|---|---|');
    for (const m of failedRuns) lines.push(`| ${m.runId} | ${m.kind} | ${m.seed} | ${m.reason.replace(/[|\n]/g, ' ').slice(0, 200)} |`);
  }
  lines.push('', '## Per variant', '');
  lines.push('| variant | mean ratio | max ratio | YOTO s | baselines s | saving |', '|---|---|---|---|---|---|');
  for (const v of r.variants) lines.push(`| ${v.variantId} | ${fmt(v.meanRatio)} | ${fmt(v.maxRatio)} | ${fmt(v.yotoComputeSeconds, 1)} | ${fmt(v.baselineComputeSeconds, 1)} | ${fmt(v.computeSaving, 2)}× |`);
  lines.push(...variantComparisonMarkdown(r));
  lines.push('', '## Runs', '');
  lines.push('| run | kind | steps | examples/s | compute s | backend | worker | final |', '|---|---|---|---|---|---|---|---|');
  for (const run of r.runs) lines.push(`| ${run.runId} | ${run.kind} | ${run.steps} | ${fmt(run.examplesPerSecond, 0)} | ${fmt(run.computeSeconds, 1)} | ${run.backend} | ${run.worker} | \`${run.finalKey}\` |`);
  lines.push('');
  return lines.join('\n');
}
