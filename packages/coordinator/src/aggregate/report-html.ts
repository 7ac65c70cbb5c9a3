/**
 * The report as one self-contained HTML page: the Markdown report's tables as HTML
 * plus, per variant, an inline SVG of test loss against λ (log axis) for YOTO and the
 * fixed-λ baselines. No scripts, no external assets, so it opens from S3 or disk.
 */
import { lambdaLabel, type Report, type ReportRow } from '@yoto/shared';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

function table(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

/** λ on the x axis: the first weighted term's value (the β-VAE has exactly one). */
function xOf(row: ReportRow): number {
  return Object.values(row.lambda)[0] ?? 1;
}

/** Loss vs λ for one variant; x on a log scale, y linear. */
export function lossPlotSvg(rows: readonly ReportRow[], title: string): string {
  const W = 520;
  const H = 300;
  const m = { l: 64, r: 16, t: 28, b: 44 };
  const pts = rows.map((r) => ({ x: Math.log10(xOf(r)), base: r.baseline.loss, yoto: r.yoto.loss })).filter((p) => Number.isFinite(p.x)).sort((a, b) => a.x - b.x);
  if (pts.length === 0) return '';
  const ys = pts.flatMap((p) => [p.base, p.yoto]).filter(Number.isFinite);
  let [x0, x1] = [Math.min(...pts.map((p) => p.x)), Math.max(...pts.map((p) => p.x))];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x1 - x0 < 1e-9) [x0, x1] = [x0 - 0.5, x1 + 0.5];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const line = (key: 'base' | 'yoto') =>
    pts
      .filter((p) => Number.isFinite(p[key]))
      .map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p[key]).toFixed(1)}`)
      .join(' ');
  const xticks = [];
  for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) xticks.push(e);
  const yticks = Array.from({ length: 5 }, (_, i) => y0 + ((y1 - y0) * i) / 4);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#444"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#444"/>`,
    ...xticks.map((e) => `<line x1="${sx(e).toFixed(1)}" y1="${H - m.b}" x2="${sx(e).toFixed(1)}" y2="${H - m.b + 4}" stroke="#444"/><text x="${sx(e).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${esc(String(10 ** e >= 1 ? 10 ** e : (10 ** e).toPrecision(1)))}</text>`),
    ...yticks.map((y) => `<line x1="${m.l - 4}" y1="${sy(y).toFixed(1)}" x2="${m.l}" y2="${sy(y).toFixed(1)}" stroke="#444"/><text x="${m.l - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end" font-size="11">${esc(y.toPrecision(4))}</text>`),
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle" font-size="12">λ (log scale)</text>`,
    `<text x="14" y="${(m.t + H - m.b) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})">test loss</text>`,
    `<path d="${line('base')}" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5,3"/>`,
    ...pts.filter((p) => Number.isFinite(p.base)).map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.base).toFixed(1)}" r="3.5" fill="#d62728"/>`),
    `<path d="${line('yoto')}" fill="none" stroke="#1f77b4" stroke-width="2"/>`,
    ...pts.filter((p) => Number.isFinite(p.yoto)).map((p) => `<rect x="${(sx(p.x) - 3).toFixed(1)}" y="${(sy(p.yoto) - 3).toFixed(1)}" width="6" height="6" fill="#1f77b4"/>`),
    `<g font-size="11"><rect x="${W - m.r - 150}" y="${m.t + 4}" width="10" height="10" fill="#1f77b4"/><text x="${W - m.r - 135}" y="${m.t + 13}">YOTO (one model)</text>`,
    `<circle cx="${W - m.r - 145}" cy="${m.t + 25}" r="4" fill="#d62728"/><text x="${W - m.r - 135}" y="${m.t + 29}">fixed-λ baselines</text></g>`,
    '</svg>',
  ];
  return parts.join('\n');
}

export function renderReportHtml(r: Report): string {
  const termNames = Object.keys(r.rows[0]?.baseline.terms ?? {});
  const s = r.summary;
  const sections: string[] = [];
  sections.push(`<h1>yoto report: ${esc(r.name)}</h1>`);
  sections.push(`<p>Sweep <code>${esc(r.sweepId)}</code> · problem <code>${esc(r.problem)}</code> · ${s.runs} runs · generated ${esc(r.generatedAt)}</p>`);
  sections.push('<h2>Verdict</h2><ul>');
  sections.push(`<li>Mean YOTO/baseline loss ratio: <b>${fmt(s.meanRatio)}</b>, worst <b>${fmt(s.maxRatio)}</b>${s.worst ? ` (variant ${esc(s.worst.variantId)}, ${esc(lambdaLabel(s.worst.lambda))})` : ''}</li>`);
  sections.push(`<li>Compute: YOTO ${fmt(s.yotoComputeSeconds, 1)} s vs baselines ${fmt(s.baselineComputeSeconds, 1)} s (saving ${fmt(s.computeSaving, 2)}×)</li></ul>`);
  sections.push('<h2>Loss vs λ</h2><div class="plots">');
  for (const v of r.variants) {
    const rows = r.rows.filter((row) => row.variantId === v.variantId);
    const label = Object.entries(v.variant).map(([k, x]) => `${k}=${x}`).join(', ');
    sections.push(`<figure>${lossPlotSvg(rows, `variant ${v.variantId}${label ? ` (${label})` : ''}`)}</figure>`);
  }
  sections.push('</div>');
  sections.push('<h2>YOTO vs baseline at every λ</h2>');
  sections.push(
    table(
      ['variant', 'λ', 'in prior', 'baseline loss', 'YOTO loss', 'ratio', ...termNames.flatMap((t) => [`base ${t}`, `YOTO ${t}`])],
      r.rows.map((row) => [row.variantId, lambdaLabel(row.lambda), row.inPrior ? 'yes' : 'no', fmt(row.baseline.loss), fmt(row.yoto.loss), fmt(row.ratio), ...termNames.flatMap((t) => [fmt(row.baseline.terms[t] ?? NaN), fmt(row.yoto.terms[t] ?? NaN)])]),
    ),
  );
  sections.push('<h2>Per variant</h2>');
  sections.push(table(['variant', 'mean ratio', 'max ratio', 'YOTO s', 'baselines s', 'saving'], r.variants.map((v) => [v.variantId, fmt(v.meanRatio), fmt(v.maxRatio), fmt(v.yotoComputeSeconds, 1), fmt(v.baselineComputeSeconds, 1), `${fmt(v.computeSaving, 2)}×`])));
  sections.push('<h2>Runs</h2>');
  sections.push(table(['run', 'kind', 'steps', 'examples/s', 'compute s', 'backend', 'worker', 'final'], r.runs.map((x) => [x.runId, x.kind, String(x.steps), fmt(x.examplesPerSecond, 0), fmt(x.computeSeconds, 1), x.backend, x.worker, x.finalKey])));
  const css = 'body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}code{background:#f4f4f4;padding:0 3px}';
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>yoto report: ${esc(r.name)}</title><style>${css}</style></head>\n<body>\n${sections.join('\n')}\n</body></html>\n`;
}
