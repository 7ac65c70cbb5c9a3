/**
 * λ priors, grids and the conditioning input. Pure maths shared by the planner
 * (grids), the worker (sampling per example) and the report (log axes).
 */
export type LambdaPoint = Record<string, number>;

export type LambdaDist =
  | { dist: 'log-uniform'; low: number; high: number }
  | { dist: 'uniform'; low: number; high: number }
  | { dist: 'fixed'; value: number };

/** Maps u ∈ [0, 1) to a draw from `d`. The worker supplies u from its seeded RNG. */
export function sampleLambda(d: LambdaDist, u: number): number {
  switch (d.dist) {
    case 'log-uniform':
      return Math.exp(Math.log(d.low) + u * (Math.log(d.high) - Math.log(d.low)));
    case 'uniform':
      return d.low + u * (d.high - d.low);
    case 'fixed':
      return d.value;
  }
}

/** Whether λ lies inside the prior's support (evaluation outside it is extrapolation). */
export function inSupport(d: LambdaDist, x: number): boolean {
  const eps = 1e-9;
  switch (d.dist) {
    case 'fixed':
      return Math.abs(x - d.value) <= eps * Math.max(1, Math.abs(d.value));
    default:
      return x >= d.low * (1 - eps) && x <= d.high * (1 + eps);
  }
}

/**
 * Cartesian product of per-term grids, in the order of `terms`, last term fastest.
 * `{kl: [1, 2]}` -> `[{kl: 1}, {kl: 2}]`.
 */
export function expandGrid(grid: Record<string, readonly number[]>, terms: readonly string[]): LambdaPoint[] {
  let points: LambdaPoint[] = [{}];
  for (const t of terms) {
    const values = grid[t] ?? [];
    const next: LambdaPoint[] = [];
    for (const p of points) for (const v of values) next.push({ ...p, [t]: v });
    points = next;
  }
  return points;
}

/**
 * Loss weights as the trainer applies them. With `geometric-mean` normalisation the
 * weights (including the implicit unit weight of the unweighted term) are divided by
 * their geometric mean, as in the paper's code option; off by default.
 */
export function lossWeights(point: LambdaPoint, terms: readonly string[], normalize: 'none' | 'geometric-mean'): number[] {
  const w = terms.map((t) => point[t] ?? 1);
  if (normalize === 'none') return w;
  const logMean = (w.reduce((s, x) => s + Math.log(x), 0) + 0 /* unit term */) / (w.length + 1);
  const g = Math.exp(logMean);
  return w.map((x) => x / g);
}

/** Conditioning input: log λ per weighted term (the paper conditions on log λ). */
export function conditioningInput(point: LambdaPoint, terms: readonly string[]): number[] {
  return terms.map((t) => Math.log(point[t] ?? 1));
}

/** Total loss from its terms: unit term + Σ λ_k term_k (unnormalised: comparable across models). */
export function weightedLoss(terms: Record<string, number>, point: LambdaPoint, unitTerms: readonly string[]): number {
  let s = 0;
  for (const t of unitTerms) s += terms[t] ?? 0;
  for (const [k, lam] of Object.entries(point)) s += lam * (terms[k] ?? 0);
  return s;
}

/** A human label: `kl=0.5` or `kl=2,rate=4`. */
export function lambdaLabel(point: LambdaPoint): string {
  return Object.entries(point)
    .map(([k, v]) => `${k}=${+v.toPrecision(6)}`)
    .join(',');
}
