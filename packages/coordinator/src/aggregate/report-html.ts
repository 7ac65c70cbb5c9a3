/**
 * The report as one self-contained HTML page: the Markdown report's tables as HTML
 * plus, per variant, the figures of plots/report-plots.ts (loss vs λ, ratio vs λ,
 * trade-off) as inline SVG. No scripts, no external assets, so it opens from S3 or
 * disk. The dashboard renders the same sections (`renderReportSections`) inside its
 * own page, with links to each run's artifacts.
 */
import { lambdaLabel, type Report } from '@yoto/shared';
import { reportFigures } from '../plots/report-plots.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

function table(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

export interface ReportHtmlOptions {
  /** A link for a run's artifacts (the dashboard's listing); none in the stored report. */
  runHref?: (runId: string) => string;
}

/** The report's body: verdict, figures, tables. */
export function renderReportSections(r: Report, opts: ReportHtmlOptions = {}): string {
  const termNames = Object.keys(r.rows[0]?.baseline.terms ?? {});
  const s = r.summary;
  const sections: string[] = [];
  sections.push('<h2>Verdict</h2><ul>');
  sections.push(`<li>Mean YOTO/baseline loss ratio: <b>${fmt(s.meanRatio)}</b>, worst <b>${fmt(s.maxRatio)}</b>${s.worst ? ` (variant ${esc(s.worst.variantId)}, ${esc(lambdaLabel(s.worst.lambda))})` : ''}</li>`);
  sections.push(`<li>Compute: YOTO ${fmt(s.yotoComputeSeconds, 1)} s vs baselines ${fmt(s.baselineComputeSeconds, 1)} s (saving ${fmt(s.computeSaving, 2)}×)</li></ul>`);
  sections.push('<h2>Plots</h2><div class="plots">');
  for (const f of reportFigures(r)) sections.push(`<figure data-kind="${f.kind}" data-variant="${esc(f.variantId)}">${f.svg}</figure>`);
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
  sections.push(variantComparisonHtml(r));
  sections.push('<h2>Runs</h2>');
  const runRows = r.runs.map((x) => [x.runId, x.kind, String(x.steps), fmt(x.examplesPerSecond, 0), fmt(x.computeSeconds, 1), x.backend, x.worker, x.finalKey]);
  let runsTable = table(['run', 'kind', 'steps', 'examples/s', 'compute s', 'backend', 'worker', 'final'], runRows);
  if (opts.runHref) {
    const href = opts.runHref;
    // Same table, with the final key linked to the run's artifact listing.
    for (const x of r.runs) runsTable = runsTable.replace(`<td>${esc(x.finalKey)}</td>`, `<td><a href="${esc(href(x.runId))}">${esc(x.finalKey)}</a></td>`);
  }
  sections.push(runsTable);
  return sections.join('\n');
}

/** Per-seed worst/mean ratio per variant, ratio per λ per variant, and the P_λ of gap-driven runs. */
function variantComparisonHtml(r: Report): string {
  const out: string[] = [];
  if (r.variants.some((v) => (v.perSeed?.length ?? 0) > 0)) {
    out.push('<h2>Variants compared (per seed)</h2>');
    out.push(
      table(
        ['variant', 'axes', 'baselines of', 'worst ratio per seed', 'mean ratio per seed'],
        r.variants.map((v) => [
          v.variantId,
          Object.entries(v.variant).map(([k, x]) => `${k}=${x}`).join(', '),
          v.baselinesFrom ?? v.variantId,
          (v.perSeed ?? []).map((x) => `s${x.seed}: ${fmt(x.maxRatio)}`).join(', '),
          (v.perSeed ?? []).map((x) => `s${x.seed}: ${fmt(x.meanRatio)}`).join(', '),
        ]),
      ),
    );
  }
  if (r.variants.length > 1) {
    const lambdas = [...new Map(r.rows.map((row) => [lambdaLabel(row.lambda), row.lambda])).keys()];
    out.push('<h2>Ratio per λ per variant</h2>');
    out.push(table(['λ', ...r.variants.map((v) => v.variantId)], lambdas.map((l) => [l, ...r.variants.map((v) => {
      const row = r.rows.find((x) => x.variantId === v.variantId && lambdaLabel(x.lambda) === l);
      return row ? fmt(row.ratio) : '—';
    })])));
  }
  for (const d of r.densities ?? []) {
    out.push(`<h3>P_λ of ${esc(d.runId)} (${esc(d.term)})</h3>`);
    out.push(table(['λ range', 'prior', 'mean over training', 'final'], d.bins.map((b) => [`${+b.low.toPrecision(3)}–${+b.high.toPrecision(3)}`, fmt(b.prior), fmt(b.mean), fmt(b.final)])));
  }
  return out.join('\n');
}

export const REPORT_CSS =
  'table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right}th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:4px;background:#fff}svg.plot{max-width:100%;height:auto;display:block}code{background:#f6f8fa;padding:0 3px}';

export function renderReportHtml(r: Report): string {
  const s = r.summary;
  const head = `<h1>yoto report: ${esc(r.name)}</h1>\n<p>Sweep <code>${esc(r.sweepId)}</code> · problem <code>${esc(r.problem)}</code> · ${s.runs} runs · generated ${esc(r.generatedAt)}</p>`;
  const css = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1f2328}${REPORT_CSS}`;
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>yoto report: ${esc(r.name)}</title><style>${css}</style></head>\n<body>\n${head}\n${renderReportSections(r)}\n</body></html>\n`;
}
