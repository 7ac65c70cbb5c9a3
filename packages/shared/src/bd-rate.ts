/**
 * Bjøntegaard delta rate (BD-rate, VCEG-M33): the average bitrate difference of a
 * test rate–distortion curve against an anchor curve at equal quality, the standard
 * way codecs are compared.
 *
 * For each curve, log(rate) is fitted as a cubic in PSNR (least squares; with fewer
 * than four points, the polynomial of degree points − 1). Both fits are integrated
 * over the PSNR interval the curves share, and
 *   BD-rate = exp((∫ log R_test − ∫ log R_anchor) / interval width) − 1.
 * Negative means the test codec needs fewer bits for the same PSNR (−0.1 = 10% fewer).
 */

export interface RdPoint {
  /** Bits per pixel (or any rate unit, the same for both curves). */
  rate: number;
  /** Quality in dB. */
  psnr: number;
}

/** Least-squares polynomial coefficients (constant term first) of y on x. */
export function polyfit(xs: readonly number[], ys: readonly number[], degree: number): number[] {
  const n = degree + 1;
  // Normal equations A·c = b, A[i][j] = Σ x^(i+j), b[i] = Σ y·x^i.
  const a = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  xs.forEach((x, k) => {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) a[i]![j]! += x ** (i + j);
      a[i]![n]! += ys[k]! * x ** i;
    }
  });
  // Gaussian elimination with partial pivoting.
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[piv]![col]!)) piv = r;
    [a[col], a[piv]] = [a[piv]!, a[col]!];
    const p = a[col]![col]!;
    if (Math.abs(p) < 1e-300) throw new Error('polyfit: the points do not determine the polynomial (repeated x values)');
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r]![col]! / p;
      for (let c = col; c <= n; c++) a[r]![c]! -= f * a[col]![c]!;
    }
  }
  return a.map((row, i) => row[n]! / row[i]!);
}

/** ∫ from lo to hi of the polynomial with coefficients c (constant first). */
function integrate(c: readonly number[], lo: number, hi: number): number {
  return c.reduce((s, ci, i) => s + (ci * (hi ** (i + 1) - lo ** (i + 1))) / (i + 1), 0);
}

/**
 * BD-rate of `test` against `anchor`, or null when it is undefined: a curve with
 * fewer than two usable points (finite, positive rate), or no overlap in PSNR.
 */
export function bdRate(anchor: readonly RdPoint[], test: readonly RdPoint[]): number | null {
  const usable = (pts: readonly RdPoint[]) => pts.filter((p) => Number.isFinite(p.psnr) && Number.isFinite(p.rate) && p.rate > 0);
  const a = usable(anchor);
  const t = usable(test);
  if (a.length < 2 || t.length < 2) return null;
  const lo = Math.max(Math.min(...a.map((p) => p.psnr)), Math.min(...t.map((p) => p.psnr)));
  const hi = Math.min(Math.max(...a.map((p) => p.psnr)), Math.max(...t.map((p) => p.psnr)));
  if (!(hi > lo)) return null;
  // Centre PSNR for a well-conditioned fit; the integral is shift-invariant.
  const mid = (lo + hi) / 2;
  const fit = (pts: RdPoint[]) => {
    const distinct = new Set(pts.map((p) => p.psnr)).size;
    return polyfit(pts.map((p) => p.psnr - mid), pts.map((p) => Math.log(p.rate)), Math.min(3, distinct - 1));
  };
  const ia = integrate(fit(a), lo - mid, hi - mid);
  const it = integrate(fit(t), lo - mid, hi - mid);
  return Math.exp((it - ia) / (hi - lo)) - 1;
}
