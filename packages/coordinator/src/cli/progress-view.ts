/**
 * The terminal's live view of a sweep, shared by `yoto demo` and `yoto watch`.
 */
import pc from 'picocolors';
import { lambdaLabel, type SweepPlan } from '@yoto/shared';
import type { RunStatusRow, SweepDetail } from '../sweeps/sweep-record.ts';

export const clock = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/**
 * Live progress of one sweep: on a TTY one bar per run plus an overall bar, redrawn in
 * place; otherwise (pipes, CI) a line per run state change and an overall line every
 * 30 s, without colours or cursor movement.
 */
export class ProgressView {
  private readonly steps = new Map<string, number>();
  private readonly labelWidth: number;
  private drawn = 0;
  private lastDetail: SweepDetail | null = null;
  private readonly seen = new Map<string, string>();
  private lastPlain = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly plan: SweepPlan,
    private readonly started: number,
    private readonly tty: boolean,
  ) {
    for (const run of plan.runs) this.steps.set(run.runId, run.train.steps);
    this.labelWidth = Math.min(32, Math.max(7, ...plan.runs.map((r) => this.label(r.runId).length)));
  }

  private label(runId: string): string {
    const plan = this.plan;
    const run = plan.runs.find((r) => r.runId === runId);
    if (!run) return runId;
    const variant = plan.variants.length > 1 ? `${run.variantId} ` : '';
    const seed = new Set(plan.runs.map((r) => r.seed)).size > 1 ? ` s${run.seed}` : '';
    return `${variant}${run.kind === 'yoto' ? 'YOTO' : `baseline ${lambdaLabel(run.fixedLambda ?? {})}`}${seed}`;
  }

  /** Fraction done of one run, by steps; a completed run counts fully. */
  private fraction(run: RunStatusRow): number {
    if (run.state === 'completed') return 1;
    const p = run.progress;
    const total = p?.totalSteps || this.steps.get(run.runId) || 1;
    return Math.min(1, Math.max(0, (p?.step ?? 0) / total));
  }

  private overall(d: SweepDetail): { frac: number; done: number } {
    let num = 0;
    let den = 0;
    for (const run of d.runs) {
      const total = this.steps.get(run.runId) ?? 1;
      num += this.fraction(run) * total;
      den += total;
    }
    return { frac: den ? num / den : 0, done: d.runs.filter((r) => r.state === 'completed').length };
  }

  update(d: SweepDetail): void {
    this.lastDetail = d;
    if (this.tty) this.redraw(this.lines(d));
    else this.plain(d);
  }

  /** A message above the bars (TTY) or a plain line. */
  note(line: string): void {
    if (this.tty) {
      this.clear();
      this.out.write(`${line}\n`);
      if (this.lastDetail) this.redraw(this.lines(this.lastDetail));
    } else {
      this.out.write(`${line}\n`);
    }
  }

  finish(d: SweepDetail | null): void {
    if (d) this.update(d);
    if (!this.tty && d) this.out.write(`[${clock(Date.now() - this.started)}] ${this.overallText(d, false).replace(/\s+/g, ' ')}\n`);
    this.drawn = 0;
  }

  private bar(frac: number, width: number, color: (s: string) => string): string {
    const full = Math.round(frac * width);
    return color('█'.repeat(full)) + pc.dim('░'.repeat(width - full));
  }

  private runLine(run: RunStatusRow): string {
    const p = run.progress;
    const total = p?.totalSteps || this.steps.get(run.runId) || 0;
    const step = run.state === 'completed' ? total : (p?.step ?? 0);
    const color = run.state === 'completed' ? pc.green : run.state === 'failed' ? pc.red : run.state === 'active' ? pc.cyan : run.state === 'delayed' ? pc.yellow : pc.dim;
    const state = stateText(run);
    const width = String(total).length;
    const cols = [
      this.label(run.runId).padEnd(this.labelWidth).slice(0, this.labelWidth),
      this.bar(this.fraction(run), 20, color),
      `${String(step).padStart(width)}/${total}`,
      p ? `loss ${fmt(p.loss, 1).padStart(7)}` : ' '.repeat(12),
      p && run.state === 'active' && p.examplesPerSecond > 0 ? `${Math.round(p.examplesPerSecond).toString().padStart(5)} ex/s` : ' '.repeat(10),
      color(state),
      p?.worker && run.state === 'active' ? pc.dim(p.worker) : '',
    ];
    return `  ${cols.join('  ')}`.trimEnd();
  }

  private overallText(d: SweepDetail, withBar = true): string {
    const { frac, done } = this.overall(d);
    const elapsed = Date.now() - this.started;
    const eta = frac > 0.02 && frac < 1 ? `  eta ${clock((elapsed * (1 - frac)) / frac)}` : '';
    const phase = d.status === 'aggregating' ? '  aggregating…' : '';
    const bar = withBar ? `  ${this.bar(frac, 20, pc.green)}` : '';
    return `${'overall'.padEnd(this.labelWidth)}${bar}  ${String(Math.round(frac * 100)).padStart(3)}%  ${done}/${d.runs.length} runs  elapsed ${clock(elapsed)}${eta}${phase}`;
  }

  private lines(d: SweepDetail): string[] {
    return [...d.runs.map((r) => this.runLine(r)), `  ${pc.bold(this.overallText(d))}`];
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private redraw(lines: string[]): void {
    const cols = this.out.columns || 120;
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const line of lines) text += `\x1b[2K${truncate(line, cols - 1)}\n`;
    this.out.write(text);
    this.drawn = lines.length;
  }

  private plain(d: SweepDetail): void {
    const t = `[${clock(Date.now() - this.started)}]`;
    for (const run of d.runs) {
      const key = `${run.state}:${run.progress?.phase ?? ''}:${run.attemptsMade}`;
      if (this.seen.get(run.runId) === key) continue;
      this.seen.set(run.runId, key);
      if (run.state === 'waiting' || run.state === 'prioritized') continue;
      const p = run.progress;
      const what = stateText(run);
      const reason = (run.state === 'failed' || run.state === 'delayed') && run.failedReason ? `: ${run.failedReason}` : '';
      this.out.write(`${t} ${this.label(run.runId)}: ${what}${p ? ` (step ${p.step}/${p.totalSteps}, loss ${fmt(p.loss, 1)})` : ''}${reason}\n`);
    }
    if (Date.now() - this.lastPlain >= 30_000) {
      this.lastPlain = Date.now();
      const active = d.runs.filter((r) => r.state === 'active' && r.progress).map((r) => `${this.label(r.runId)} ${r.progress?.step}/${r.progress?.totalSteps}`);
      this.out.write(`${t} ${this.overallText(d, false).replace(/\s+/g, ' ')}${active.length ? ` · ${active.join(' · ')}` : ''}\n`);
    }
  }
}

/** A run's state in words: queued, the training phase, retrying n/m, done, failed. */
function stateText(run: RunStatusRow): string {
  switch (run.state) {
    case 'active':
      return run.progress?.phase ?? 'starting';
    case 'waiting':
    case 'prioritized':
      return 'queued';
    case 'delayed':
      return `retrying (attempt ${run.attemptsMade + 1}/${run.maxAttempts})`;
    case 'completed':
      return 'done';
    case 'missing':
      return 'removed';
    default:
      return run.state;
  }
}

/** Cuts a line with ANSI colour codes to `width` visible characters. */
function truncate(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const m = /^\x1b\[[0-9;]*m/.exec(line.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length - 1;
        continue;
      }
    }
    if (visible >= width) break;
    out += line[i];
    visible += 1;
  }
  return `${out}\x1b[0m`;
}
