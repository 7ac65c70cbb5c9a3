/**
 * Gap-driven P_λ: the YOTO run's sampling density over log λ, re-weighted while it
 * trains toward the λ where it lags its fixed-λ baselines most. Pure maths shared by
 * the worker (sampling, updates) and the report (the density a run used).
 *
 * The density. Per weighted term, the prior's support [low, high] (log-uniform priors
 * only) is cut into `bins` bins of equal width in log λ; the density is constant
 * inside each bin, so it is one probability mass per bin (Σ masses = 1, and the
 * density over log λ integrates to one). It starts at the prior (equal masses).
 *
 * The signal. Every `everySteps` steps the YOTO run evaluates itself on the probe
 * subset (a fixed slice of the training split with fixed noise; the test split stays
 * untouched for the final comparison) at every grid λ inside its prior. Its fixed-λ
 * baselines (same variant, same seed) evaluate the same subset at their own λ on the
 * same cadence and publish the curve. The gap at a baseline's λ is
 * `yoto / baseline − 1`, compared at matching training progress: progress is the
 * fraction of each run's own steps done (the learning-rate schedule is in fractions
 * too), and the comparison is made at f* = min(f_yoto, f_baseline_latest), both
 * curves interpolated linearly in f. So an early YOTO run is never compared with a
 * finished baseline, and a baseline that is behind is compared with the YOTO run's
 * own past. Without any baseline point (none started, or a sweep without peers) the
 * run falls back to its own relative learning progress per grid λ since its last
 * probe, `(L_prev − L_now) / L_now`: mass goes where the loss still falls fastest.
 *
 * The update (fixed-share exponentiated weights, as in group DRO): bin gaps are the
 * mean gap of the grid λ inside each bin, bins without a grid λ interpolated linearly
 * in bin index (held constant past the ends); then
 *   m_b ← m_b · exp(rate · (g_b − ḡ)),  normalised;
 *   m_b ← (1 − smoothing)·m_b + smoothing·(m_{b−1} + m_{b+1})/2   (edges reflect);
 *   m_b ← (1 − floor)·m_b + floor / bins.
 * Each step keeps Σ m = 1, and the last keeps every bin at or above floor / bins, so
 * every λ of the prior keeps being trained. The update compounds while a gap persists
 * and stops where the gaps are equal: it drives toward the smallest worst-case gap.
 */
import { z } from 'zod';
import type { LambdaPoint } from './lambda.ts';

export const ADAPTIVE_MODES = ['off', 'gap'] as const;
export type AdaptiveMode = (typeof ADAPTIVE_MODES)[number];

/** `conditioning.adaptive` in the spec. */
export const AdaptiveSchema = z.strictObject({
  /** `gap`: re-weight P_λ toward where YOTO lags its baselines; `off`: sample the prior. */
  mode: z.enum(ADAPTIVE_MODES).default('off'),
  /** Bins per weighted term over log λ. */
  bins: z.number().int().min(2).max(64).default(8),
  /** Steps between probes (and density updates). */
  everySteps: z.number().int().min(1).max(1_000_000).default(100),
  /** Training examples in the probe subset (the first ones of the training split). */
  probeExamples: z.number().int().min(16).max(10_000).default(256),
  /** Share of the prior mixed in at every update: each bin keeps at least floor / bins. */
  floor: z.number().gt(0).max(1).default(0.3),
  /** Exponentiated-weights step size per update, per unit of relative gap. */
  rate: z.number().min(0).max(1000).default(10),
  /** Share of each bin's mass spread to its neighbours at every update. */
  smoothing: z.number().min(0).max(1).default(0.2),
});
export type AdaptiveConfig = z.output<typeof AdaptiveSchema>;

/** One probe of a run: its loss on the probe subset at each probed λ. */
export interface ProbeRecord {
  step: number;
  /** step / the run's total steps. */
  fraction: number;
  points: { lambda: LambdaPoint; loss: number }[];
}

/** A baseline's published probe curve at its λ. */
export interface PeerCurve {
  runId: string;
  lambda: LambdaPoint;
  points: { fraction: number; loss: number }[];
}

/** The support of one term's density. */
export interface DensityAxis {
  term: string;
  low: number;
  high: number;
}

export type GapSource = 'start' | 'baselines' | 'progress' | 'hold';

/** One density in use from `step` on (masses per term, in the order of `axes`). */
export interface DensityUpdate {
  step: number;
  fraction: number;
  source: GapSource;
  masses: number[][];
  /** The bin gaps the update used (null where it had none), per term. */
  gaps: (number | null)[][];
}

/** What an adaptive run records: its density over training and its probes. */
export interface AdaptiveTrace {
  bins: number;
  axes: DensityAxis[];
  updates: DensityUpdate[];
  probes: ProbeRecord[];
}

export const uniformMasses = (bins: number): number[] => new Array<number>(bins).fill(1 / bins);

/** The bin of λ (clamped into the support). */
export function binOf(axis: DensityAxis, bins: number, lambda: number): number {
  const f = (Math.log(lambda) - Math.log(axis.low)) / (Math.log(axis.high) - Math.log(axis.low));
  return Math.min(bins - 1, Math.max(0, Math.floor(f * bins)));
}

/** Bin b's λ range [lo, hi). */
export function binRange(axis: DensityAxis, bins: number, b: number): [number, number] {
  const a = Math.log(axis.low);
  const w = (Math.log(axis.high) - a) / bins;
  return [Math.exp(a + b * w), Math.exp(a + (b + 1) * w)];
}

/** Maps u ∈ [0, 1) to λ through the piecewise-constant density's inverse CDF. */
export function sampleMasses(axis: DensityAxis, masses: readonly number[], u: number): number {
  const n = masses.length;
  let acc = 0;
  for (let b = 0; b < n; b++) {
    const m = masses[b]!;
    if (u < acc + m || b === n - 1) {
      const within = m > 0 ? Math.min(1, Math.max(0, (u - acc) / m)) : 0.5;
      const a = Math.log(axis.low);
      const w = (Math.log(axis.high) - a) / n;
      return Math.exp(a + (b + within) * w);
    }
    acc += m;
  }
  return axis.high;
}

/** Density over log λ at λ (mass / bin width); integrates to Σ masses over the support. */
export function densityAt(axis: DensityAxis, masses: readonly number[], lambda: number): number {
  const w = (Math.log(axis.high) - Math.log(axis.low)) / masses.length;
  if (lambda < axis.low || lambda > axis.high) return 0;
  return masses[binOf(axis, masses.length, lambda)]! / w;
}

/** Fills null bin gaps by linear interpolation in bin index; all null stays all null. */
export function fillGaps(gaps: readonly (number | null)[]): number[] | null {
  const known = gaps.map((g, i) => [i, g] as const).filter((x): x is readonly [number, number] => x[1] !== null && Number.isFinite(x[1]));
  if (!known.length) return null;
  return gaps.map((_, i) => {
    const right = known.find(([j]) => j >= i);
    const left = [...known].reverse().find(([j]) => j <= i);
    if (!left) return right![1];
    if (!right) return left[1];
    if (right[0] === left[0]) return left[1];
    const t = (i - left[0]) / (right[0] - left[0]);
    return left[1] + t * (right[1] - left[1]);
  });
}

/** One update of a term's masses from its bin gaps (see the header); unchanged when no gap is known. */
export function updateMasses(masses: readonly number[], gaps: readonly (number | null)[], cfg: Pick<AdaptiveConfig, 'rate' | 'smoothing' | 'floor'>): number[] {
  const n = masses.length;
  const g = fillGaps(gaps);
  if (!g) return [...masses];
  // exp(rate·(g − ḡ)) up to normalisation; shifted by the max so no gap overflows.
  const top = Math.max(...g);
  let m = masses.map((x, b) => x * Math.exp(cfg.rate * (g[b]! - top)));
  let sum = m.reduce((s, x) => s + x, 0);
  m = m.map((x) => x / sum);
  const s = cfg.smoothing;
  m = m.map((x, b) => (1 - s) * x + (s / 2) * ((m[b - 1] ?? m[b]!) + (m[b + 1] ?? m[b]!)));
  m = m.map((x) => (1 - cfg.floor) * x + cfg.floor / n);
  // Renormalise away rounding so the masses keep summing to one over many updates.
  sum = m.reduce((a, x) => a + x, 0);
  return m.map((x) => x / sum);
}

const pointKey = (p: LambdaPoint) => JSON.stringify(Object.entries(p).sort());

/** Linear interpolation of (fraction, loss) points at f; null before the first point. */
function lossAt(points: readonly { fraction: number; loss: number }[], f: number): number | null {
  const eps = 1e-9;
  if (!points.length || f < points[0]!.fraction - eps) return null;
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i]!;
    if (p.fraction <= f + eps) {
      const q = points[i + 1];
      if (!q || Math.abs(p.fraction - f) <= eps) return p.loss;
      return p.loss + ((f - p.fraction) / (q.fraction - p.fraction)) * (q.loss - p.loss);
    }
  }
  return null;
}

/** Sorted by fraction, one point per fraction (the last written wins, as after a resumed run). */
export function normaliseCurve(points: readonly { fraction: number; loss: number }[]): { fraction: number; loss: number }[] {
  const by = new Map<number, number>();
  for (const p of points) if (Number.isFinite(p.loss) && Number.isFinite(p.fraction)) by.set(p.fraction, p.loss);
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([fraction, loss]) => ({ fraction, loss }));
}

/**
 * The relative gap yoto/baseline − 1 at each peer's λ, at matching progress
 * f* = min(now, the peer's latest fraction). Peers the YOTO run has not probed at, or
 * whose curve does not reach back to f*, are left out.
 */
export function peerGaps(own: readonly ProbeRecord[], peers: readonly PeerCurve[], now: number): { lambda: LambdaPoint; gap: number; fraction: number }[] {
  const out: { lambda: LambdaPoint; gap: number; fraction: number }[] = [];
  for (const peer of peers) {
    const curve = normaliseCurve(peer.points);
    const last = curve[curve.length - 1];
    if (!last) continue;
    const f = Math.min(now, last.fraction);
    const k = pointKey(peer.lambda);
    const mine = own.flatMap((r) => r.points.filter((p) => pointKey(p.lambda) === k).map((p) => ({ fraction: r.fraction, loss: p.loss })));
    const y = lossAt(normaliseCurve(mine), f);
    const b = lossAt(curve, f);
    if (y === null || b === null || !(b > 0)) continue;
    out.push({ lambda: peer.lambda, gap: y / b - 1, fraction: f });
  }
  return out;
}

/** Relative learning progress (L_prev − L_now) / L_now per probed λ between the last two probes. */
export function progressSignals(own: readonly ProbeRecord[]): { lambda: LambdaPoint; gap: number }[] {
  const now = own[own.length - 1];
  const prev = own[own.length - 2];
  if (!now || !prev) return [];
  return now.points.flatMap((p) => {
    const q = prev.points.find((x) => pointKey(x.lambda) === pointKey(p.lambda));
    return q && p.loss > 0 ? [{ lambda: p.lambda, gap: (q.loss - p.loss) / p.loss }] : [];
  });
}

/** Mean signal per bin of one axis; null for bins without a signal. */
export function binSignals(axis: DensityAxis, bins: number, signals: readonly { lambda: LambdaPoint; gap: number }[]): (number | null)[] {
  const sums = new Array<number>(bins).fill(0);
  const counts = new Array<number>(bins).fill(0);
  for (const s of signals) {
    const x = s.lambda[axis.term];
    if (x === undefined || x < axis.low * (1 - 1e-9) || x > axis.high * (1 + 1e-9)) continue;
    const b = binOf(axis, bins, x);
    sums[b]! += s.gap;
    counts[b]! += 1;
  }
  return sums.map((s, b) => (counts[b]! ? s / counts[b]! : null));
}

/**
 * The next density: from the baselines' gaps when any is comparable, else from the
 * run's own learning progress, else unchanged (`hold`).
 */
export function nextDensity(
  cfg: Pick<AdaptiveConfig, 'rate' | 'smoothing' | 'floor' | 'bins'>,
  axes: readonly DensityAxis[],
  masses: readonly (readonly number[])[],
  own: readonly ProbeRecord[],
  peers: readonly PeerCurve[],
  now: number,
): { source: GapSource; masses: number[][]; gaps: (number | null)[][] } {
  const fromPeers = peerGaps(own, peers, now);
  const signals = fromPeers.length ? fromPeers : progressSignals(own);
  const source: GapSource = fromPeers.length ? 'baselines' : signals.length ? 'progress' : 'hold';
  const gaps = axes.map((axis) => binSignals(axis, cfg.bins, signals));
  return { source, gaps, masses: axes.map((_, k) => updateMasses(masses[k]!, gaps[k]!, cfg)) };
}

/** Each term's masses averaged over training steps [0, totalSteps) (what the run actually sampled from). */
export function meanMasses(trace: AdaptiveTrace, totalSteps: number): number[][] {
  const out = trace.axes.map(() => new Array<number>(trace.bins).fill(0));
  const ups = [...trace.updates].sort((a, b) => a.step - b.step);
  ups.forEach((u, i) => {
    const end = Math.min(totalSteps, ups[i + 1]?.step ?? totalSteps);
    const span = Math.max(0, end - Math.min(u.step, totalSteps));
    u.masses.forEach((m, k) => m.forEach((x, b) => (out[k]![b]! += (x * span) / Math.max(1, totalSteps))));
  });
  return out;
}
