/**
 * A small server-side SVG plotter: points and polylines on linear or log axes, with
 * ticks, grid lines, a legend and per-point tooltips. No scripts and no external
 * assets, so a plot is the same in the dashboard, in report.html opened from S3, and
 * in a test that parses it.
 *
 * Every point is one `<circle>` carrying `data-series` and, when given, `data-lambda`
 * (the grid λ it belongs to): tests and scripts can count and read points without
 * knowing the geometry.
 */

export interface PlotPoint {
  x: number;
  y: number;
  /** The grid λ this point belongs to, e.g. `kl=2` (becomes `data-lambda`). */
  lambda?: string;
  /** Tooltip text; defaults to `series: (x, y)`. */
  label?: string;
}

export interface PlotSeries {
  /** Legend text and `data-series` value. */
  name: string;
  color: string;
  /** SVG dash pattern of the connecting line, e.g. `5,3`. @defaultValue solid */
  dash?: string;
  /** Hollow markers (white fill, coloured stroke). @defaultValue false */
  hollow?: boolean;
  /** Connect the points (in the given order). @defaultValue true */
  line?: boolean;
  points: PlotPoint[];
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** @defaultValue false */
  xLog?: boolean;
  /** @defaultValue false */
  yLog?: boolean;
  /** A dashed horizontal reference line (e.g. ratio = 1). */
  referenceY?: number;
  /** Value of the `data-plot` attribute on the root element. */
  id?: string;
  /** @defaultValue 480 */
  width?: number;
  /** @defaultValue 300 */
  height?: number;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const r1 = (v: number) => (Math.round(v * 10) / 10).toString();

/** Compact tick text: 0.5, 2, 1e+4 → 10k. */
export function tickText(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 && a < 1e7) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 1e7 || a < 1e-3) return v.toExponential(0);
  return String(+v.toPrecision(3));
}

/** Ticks of a linear axis: 4–8 "nice" values (1, 2, 5 × 10^k steps) inside [lo, hi]. */
export function linearTicks(lo: number, hi: number, target = 5): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** Ticks of a log axis over [lo, hi] (values, not logs): powers of 10, plus 2 and 5 multiples when the range is short. */
export function logTicks(lo: number, hi: number): number[] {
  const e0 = Math.floor(Math.log10(lo));
  const e1 = Math.ceil(Math.log10(hi));
  const mults = e1 - e0 <= 3 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = e0; e <= e1; e++) for (const m of mults) {
    const v = +(m * 10 ** e).toPrecision(6);
    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
  }
  return out;
}

function extent(values: number[], log: boolean): [number, number] {
  const vs = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (vs.length === 0) return log ? [1, 10] : [0, 1];
  let lo = Math.min(...vs);
  let hi = Math.max(...vs);
  if (log) {
    // A little headroom in log space so end points do not sit on the frame.
    const pad = Math.max(0.04 * Math.log10(hi / lo), 0.02);
    return hi / lo < 1 + 1e-9 ? [lo / 2, hi * 2] : [lo / 10 ** pad, hi * 10 ** pad];
  }
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) [lo, hi] = [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

/** The plot as one `<svg>` element. Points with a non-finite coordinate (or ≤ 0 on a log axis) are left out. */
export function linePlotSvg(opts: PlotOptions, series: readonly PlotSeries[]): string {
  const W = opts.width ?? 480;
  const H = opts.height ?? 300;
  // The legend is one row under the title, so it never covers a point.
  const m = { l: 62, r: 14, t: 48, b: 44 };
  const xLog = opts.xLog ?? false;
  const yLog = opts.yLog ?? false;
  const ok = (p: PlotPoint) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!xLog || p.x > 0) && (!yLog || p.y > 0);
  const clean = series.map((s) => ({ ...s, points: s.points.filter(ok) }));
  const all = clean.flatMap((s) => s.points);
  const ys = all.map((p) => p.y);
  if (opts.referenceY !== undefined) ys.push(opts.referenceY);
  const [x0, x1] = extent(all.map((p) => p.x), xLog);
  const [y0, y1] = extent(ys, yLog);
  const tx = (v: number) => (xLog ? Math.log10(v) : v);
  const ty = (v: number) => (yLog ? Math.log10(v) : v);
  const sx = (v: number) => m.l + ((tx(v) - tx(x0)) / (tx(x1) - tx(x0))) * (W - m.l - m.r);
  const sy = (v: number) => H - m.b - ((ty(v) - ty(y0)) / (ty(y1) - ty(y0))) * (H - m.t - m.b);
  const xt = xLog ? logTicks(x0, x1) : linearTicks(x0, x1);
  const yt = yLog ? logTicks(y0, y1) : linearTicks(y0, y1);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(opts.title)}"${opts.id ? ` data-plot="${esc(opts.id)}"` : ''} font-family="system-ui,-apple-system,Segoe UI,sans-serif">`);
  out.push(`<title>${esc(opts.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${m.l}" y="18" font-size="13" font-weight="600" fill="#1f2328">${esc(opts.title)}</text>`);
  out.push('<g shape-rendering="crispEdges" stroke="#eaeef2">');
  for (const v of xt) out.push(`<line x1="${r1(sx(v))}" y1="${m.t}" x2="${r1(sx(v))}" y2="${H - m.b}"/>`);
  for (const v of yt) out.push(`<line x1="${m.l}" y1="${r1(sy(v))}" x2="${W - m.r}" y2="${r1(sy(v))}"/>`);
  out.push('</g>');
  out.push(`<g shape-rendering="crispEdges" stroke="#57606a"><line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}"/></g>`);
  out.push('<g font-size="11" fill="#57606a">');
  for (const v of xt) out.push(`<text x="${r1(sx(v))}" y="${H - m.b + 15}" text-anchor="middle">${esc(tickText(v))}</text>`);
  for (const v of yt) out.push(`<text x="${m.l - 6}" y="${r1(sy(v) + 4)}" text-anchor="end">${esc(tickText(v))}</text>`);
  out.push('</g>');
  out.push(`<text x="${r1((m.l + W - m.r) / 2)}" y="${H - 8}" text-anchor="middle" font-size="12" fill="#1f2328">${esc(opts.xLabel)}</text>`);
  const yMid = r1((m.t + H - m.b) / 2);
  out.push(`<text x="14" y="${yMid}" text-anchor="middle" font-size="12" fill="#1f2328" transform="rotate(-90 14 ${yMid})">${esc(opts.yLabel)}</text>`);
  if (opts.referenceY !== undefined && (!yLog || opts.referenceY > 0)) {
    const y = r1(sy(opts.referenceY));
    out.push(`<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" stroke="#8c959f" stroke-dasharray="4,4" shape-rendering="crispEdges"/>`);
  }
  for (const s of clean) {
    const name = esc(s.name);
    out.push(`<g data-series="${name}">`);
    if ((s.line ?? true) && s.points.length > 1) {
      const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${r1(sx(p.x))},${r1(sy(p.y))}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} stroke-linejoin="round"/>`);
    }
    for (const p of s.points) {
      const tip = p.label ?? `${s.name}: (${tickText(p.x)}, ${p.y.toPrecision(4)})`;
      const fill = s.hollow ? '#fff' : s.color;
      out.push(`<circle cx="${r1(sx(p.x))}" cy="${r1(sy(p.y))}" r="4" fill="${fill}" stroke="${s.color}" stroke-width="2" data-series="${name}"${p.lambda ? ` data-lambda="${esc(p.lambda)}"` : ''}><title>${esc(tip)}</title></circle>`);
    }
    out.push('</g>');
  }
  out.push('<g font-size="11" fill="#1f2328">');
  let lx = m.l;
  clean.forEach((s) => {
    const y = 34;
    out.push(`<line x1="${lx}" y1="${y}" x2="${lx + 18}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/><circle cx="${lx + 9}" cy="${y}" r="3.5" fill="${s.hollow ? '#fff' : s.color}" stroke="${s.color}" stroke-width="2"/><text x="${lx + 24}" y="${y + 4}">${esc(s.name)}</text>`);
    lx += 24 + 6.5 * s.name.length + 18;
  });
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n');
}
