/**
 * Terminal renderings shared by the CLI commands (and `yoto demo`, which prints the
 * same report table): plain text tables, colour through picocolors (which honours
 * NO_COLOR / non-TTY output).
 */
import pc from 'picocolors';
import { PROBLEMS, lambdaLabel, type Report, type SweepPlan, type SweepSpec } from '@yoto/shared';
import type { SweepListEntry } from '../sweeps/sweep-service.ts';
import type { RunStatusRow, SweepDetail, SweepStatus } from '../sweeps/sweep-record.ts';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const width = (s: string) => [...s.replace(ANSI, '')].length;

/** Left-aligned first column, right-aligned numbers; columns separated by two spaces. */
export function renderTable(head: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const cols = head.length;
  const w = Array.from({ length: cols }, (_, i) => Math.max(width(head[i] ?? ''), ...rows.map((r) => width(r[i] ?? ''))));
  const al = align ?? head.map((_, i) => (i === 0 ? 'l' : 'r'));
  const cell = (s: string, i: number) => {
    const pad = ' '.repeat(Math.max(0, (w[i] ?? 0) - width(s)));
    return al[i] === 'r' ? pad + s : s + pad;
  };
  const line = (r: string[]) => r.map((c, i) => cell(c, i)).join('  ').trimEnd();
  return [pc.bold(line(head)), pc.dim(w.map((x) => '─'.repeat(x)).join('  ')), ...rows.map(line)].join('\n');
}

const num = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '—';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function ratioCell(r: number): string {
  const s = num(r);
  return r <= 1.02 ? pc.green(s) : r <= 1.1 ? pc.yellow(s) : pc.red(s);
}

function variantTitle(variantId: string, assignment: Record<string, string | number | boolean>): string {
  const a = Object.entries(assignment).map(([k, v]) => `${k}=${v}`).join(', ');
  return `variant ${pc.bold(variantId)}${a ? pc.dim(` (${a})`) : ''}`;
}

/**
 * The report for a terminal: per variant a table of baseline loss, YOTO loss and
 * their ratio at every grid λ (`*` = outside YOTO's training prior), then the summary.
 */
export function renderReportTable(r: Report): string {
  const out: string[] = [];
  out.push(`${pc.bold(`yoto report: ${r.name}`)}  ${pc.dim(`sweep ${r.sweepId} · ${r.problem} · ${r.summary.runs} runs`)}`);
  for (const v of r.variants) {
    const rows = r.rows.filter((row) => row.variantId === v.variantId);
    out.push('', variantTitle(v.variantId, v.variant));
    out.push(
      renderTable(
        ['λ', 'baseline loss', 'YOTO loss', 'ratio'],
        rows.map((row) => [`${lambdaLabel(row.lambda)}${row.inPrior ? '' : pc.dim(' *')}`, num(row.baseline.loss), num(row.yoto.loss), ratioCell(row.ratio)]),
      ),
    );
    out.push(pc.dim(`mean ratio ${num(v.meanRatio)}, max ${num(v.maxRatio)} · compute YOTO ${formatSeconds(v.yotoComputeSeconds)} vs baselines ${formatSeconds(v.baselineComputeSeconds)} (${num(v.computeSaving, 2)}×)`));
  }
  if (r.rows.some((row) => !row.inPrior)) out.push('', pc.dim('* λ outside the YOTO prior (extrapolation)'));
  const s = r.summary;
  out.push('', pc.bold('summary'));
  out.push(`  YOTO / baseline loss   mean ${ratioCell(s.meanRatio)}, max ${ratioCell(s.maxRatio)}${s.worst ? pc.dim(` (worst: ${s.worst.variantId}, ${lambdaLabel(s.worst.lambda)})`) : ''}`);
  out.push(`  compute                YOTO ${formatSeconds(s.yotoComputeSeconds)}, baselines ${formatSeconds(s.baselineComputeSeconds)}`);
  out.push(`  saving                 ${pc.bold(`${num(s.computeSaving, 2)}×`)} — one YOTO model per variant instead of one model per λ`);
  return out.join('\n');
}

/** `yoto validate`: what the spec plans. */
export function renderSpecSummary(spec: SweepSpec, plan: SweepPlan): string {
  const info = PROBLEMS[spec.problem];
  const yoto = plan.runs.filter((r) => r.kind === 'yoto');
  const prior = Object.entries(spec.lambda)
    .map(([k, d]) => (d.dist === 'fixed' ? `${k} = ${d.value}` : `${k} ~ ${d.dist}[${d.low}, ${d.high}]`))
    .join(', ');
  const lines = [
    `${pc.green('valid')}  ${pc.bold(spec.name)} → sweep ${plan.sweepId}`,
    `  problem     ${spec.problem}: ${info.summary}`,
    spec.dataset
      ? `  dataset     ${spec.dataset.name} (${spec.dataset.trainExamples} train / ${spec.dataset.testExamples} test)`
      : `  dataset     none (the loss reads no data${spec.quadratic ? `; dim ${spec.quadratic.dim}` : ''})`,
    spec.problem === 'quadratic'
      ? `  model       MLP of log λ → w, 2 hidden layers of ${spec.model.filmHidden}`
      : `  model       ${spec.model.arch}, latent ${spec.model.latentDim}, width ×${spec.model.width}, FiLM hidden ${spec.model.filmHidden}`,
    `  prior       ${prior}`,
    `  grid        ${plan.grid.length} point${plan.grid.length === 1 ? '' : 's'}: ${plan.grid.map(lambdaLabel).join('  ')}`,
    `  train       ${spec.train.steps} steps × batch ${spec.train.batchSize} (YOTO ${yoto[0]?.train.steps ?? spec.train.steps} steps), lr ${spec.train.lr}`,
    `  variants    ${plan.variants.length}: ${plan.variants.map((v) => (v.baselinesFrom ? `${v.variantId} (baselines of ${v.baselinesFrom})` : v.variantId)).join(', ')}`,
    `  seeds       ${spec.seeds.join(', ')}`,
    `  runs        ${plan.runs.length} (${yoto.length} YOTO + ${plan.runs.length - yoto.length} baselines), priority ${spec.priority}`,
  ];
  return lines.join('\n');
}

const STATUS_COLOUR: Record<SweepStatus, (s: string) => string> = {
  queued: pc.dim,
  paused: pc.yellow,
  running: pc.cyan,
  aggregating: pc.cyan,
  completed: pc.green,
  failed: pc.red,
  'failed-to-enqueue': pc.red,
  cancelled: pc.yellow,
};
export const colourStatus = (s: SweepStatus) => STATUS_COLOUR[s](s);

export function renderSweepList(entries: readonly SweepListEntry[]): string {
  if (entries.length === 0) return 'no sweeps yet — `yoto submit SPEC` to start one';
  return renderTable(
    ['sweep', 'name', 'status', 'runs', 'created'],
    entries.map((e) => [e.sweepId, e.name, colourStatus(e.status), String(e.totalRuns), new Date(e.created).toISOString().replace('T', ' ').slice(0, 19)]),
    ['l', 'l', 'l', 'r', 'l'],
  );
}

function progressCell(r: RunStatusRow): string {
  const p = r.progress;
  if (!p) return '';
  const pct = p.totalSteps > 0 ? Math.floor((100 * p.step) / p.totalSteps) : 0;
  return `${p.step}/${p.totalSteps} ${pct}%`;
}

export function renderSweepDetail(d: SweepDetail): string {
  const rec = d.record;
  const out: string[] = [];
  out.push(`${pc.bold(rec.sweepId)}  ${colourStatus(d.status)}  ${pc.dim(`${rec.name} · ${rec.problem} · created ${new Date(rec.created).toISOString()}`)}`);
  const counts = Object.entries(d.counts)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  out.push(`runs: ${counts || 'none'} · aggregate: ${d.aggregate.state}${d.aggregate.failedReason ? pc.red(` (${d.aggregate.failedReason})`) : ''}`);
  if (rec.error) out.push(pc.red(`error: ${rec.error}`));
  out.push('');
  out.push(
    renderTable(
      ['run', 'kind', 'state', 'progress', 'loss', 'ex/s', 'ETA', 'worker', 'backend', 'tries', 'failure'],
      d.runs.map((r) => [
        r.runId,
        r.label,
        r.state,
        progressCell(r),
        r.progress ? num(r.progress.loss, 2) : '',
        r.progress ? num(r.progress.examplesPerSecond, 0) : '',
        r.progress?.etaSeconds != null ? formatSeconds(r.progress.etaSeconds) : '',
        r.progress?.worker ?? '',
        r.progress?.backend ?? '',
        r.attemptsMade ? `${r.attemptsMade}/${r.maxAttempts}` : '',
        r.failedReason ? pc.red(r.failedReason.slice(0, 60)) : '',
      ]),
      ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'l', 'l', 'r', 'l'],
    ),
  );
  if (d.page && d.runs.length < d.page.total) {
    const shown = d.runs.length ? `runs ${d.page.offset + 1}–${d.page.offset + d.runs.length}` : 'no runs';
    out.push(pc.dim(`${shown} of ${d.page.total} shown (--offset N, --limit N, --all)`));
  }
  if (d.status === 'completed') out.push('', pc.dim(`report: yoto report ${rec.sweepId}`));
  return out.join('\n');
}

/** One line for live progress (`submit --wait`). */
export function renderProgressLine(d: SweepDetail, elapsedMs: number): string {
  const total = d.page?.total ?? d.runs.length;
  const c = d.counts;
  const parts = [`${c.completed}/${total} completed`];
  if (c.active) parts.push(`${c.active} active`);
  if (c.failed) parts.push(pc.red(`${c.failed} failed`));
  if (c.delayed) parts.push(`${c.delayed} retrying`);
  return `[${formatSeconds(elapsedMs / 1000)}] ${colourStatus(d.status)}: ${parts.join(', ')}`;
}
