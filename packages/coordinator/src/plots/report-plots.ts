/**
 * The report's figures, per variant: test loss against λ for YOTO and the fixed-λ
 * baselines (log λ axis), the YOTO/baseline ratio against λ, and the problem's
 * trade-off curve (for the β-VAE: reconstruction against KL, `ProblemInfo.tradeoff`),
 * and for codec problems the rate–distortion curves (PSNR against actual bits per
 * pixel) with the BD-rate in the title; then, for the sweep, the P_λ of every
 * gap-driven YOTO run and the worst/mean ratio against each numeric variant axis (the
 * capacity trend for `model.width`).
 * One module, used by the report.html the aggregate writes and by the dashboard.
 */
import { PROBLEMS, lambdaLabel, type ProblemInfo, type Report, type ReportRow, type ReportVariantSummary } from '@yoto/shared';
import { linePlotSvg, type PlotSeries } from './svg-plot.ts';

export type FigureKind = 'loss' | 'ratio' | 'tradeoff' | 'rd' | 'density' | 'variants';

export interface ReportFigure {
  kind: FigureKind;
  variantId: string;
  title: string;
  svg: string;
}

export const SERIES = {
  yoto: { name: 'YOTO (one model)', color: '#0969da' },
  baseline: { name: 'fixed-λ baselines', color: '#cf222e' },
  ratio: { name: 'YOTO / baseline', color: '#8250df' },
  prior: { name: 'prior', color: '#6e7781' },
  meanDensity: { name: 'mean over training', color: '#0969da' },
  finalDensity: { name: 'at the end', color: '#bf8700' },
} as const;

const GROUP_COLORS = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#6e7781'];

function problemOf(report: Report): ProblemInfo | null {
  return (PROBLEMS as Record<string, ProblemInfo>)[report.problem] ?? null;
}

/** λ on the x axis: the first weighted term's value (the β-VAE has exactly one). */
function lambdaOf(row: ReportRow, term: string | undefined): number {
  return term !== undefined ? (row.lambda[term] ?? NaN) : (Object.values(row.lambda)[0] ?? NaN);
}

/** Log y when the values span more than a factor of 20 (losses with λ·KL grow with λ). */
function wantsLogY(values: number[]): boolean {
  const vs = values.filter((v) => Number.isFinite(v) && v > 0);
  return vs.length > 1 && Math.max(...vs) / Math.min(...vs) > 20 && vs.length === values.length;
}

function variantLabel(report: Report, variantId: string): string {
  const v = report.variants.find((x) => x.variantId === variantId);
  const a = v ? Object.entries(v.variant).map(([k, x]) => `${k}=${x}`).join(', ') : '';
  return report.variants.length > 1 || a ? ` — ${variantId}${a ? ` (${a})` : ''}` : '';
}

/** Every figure of the report, variant by variant: loss, ratio, trade-off. */
export function reportFigures(report: Report): ReportFigure[] {
  const info = problemOf(report);
  const term = info?.weightedTerms[0];
  const xName = term ? `λ (${term}, log scale)` : 'λ (log scale)';
  const out: ReportFigure[] = [];
  for (const v of report.variants) {
    const rows = report.rows.filter((r) => r.variantId === v.variantId).sort((a, b) => lambdaOf(a, term) - lambdaOf(b, term));
    const suffix = variantLabel(report, v.variantId);
    const at = (r: ReportRow) => lambdaLabel(r.lambda);

    const loss: PlotSeries[] = [
      { ...SERIES.yoto, points: rows.map((r) => ({ x: lambdaOf(r, term), y: r.yoto.loss, lambda: at(r), label: `YOTO at ${at(r)}: loss ${r.yoto.loss.toPrecision(5)}` })) },
      { ...SERIES.baseline, dash: '5,3', hollow: true, points: rows.map((r) => ({ x: lambdaOf(r, term), y: r.baseline.loss, lambda: at(r), label: `baseline at ${at(r)}: loss ${r.baseline.loss.toPrecision(5)}` })) },
    ];
    const title = `Test loss vs λ${suffix}`;
    out.push({
      kind: 'loss',
      variantId: v.variantId,
      title,
      svg: linePlotSvg({ title, xLabel: xName, yLabel: 'test loss', xLog: true, yLog: wantsLogY(rows.flatMap((r) => [r.yoto.loss, r.baseline.loss])), id: `loss-${v.variantId}` }, loss),
    });

    const ratioTitle = `YOTO / baseline loss${suffix}`;
    out.push({
      kind: 'ratio',
      variantId: v.variantId,
      title: ratioTitle,
      svg: linePlotSvg(
        { title: ratioTitle, xLabel: xName, yLabel: 'loss ratio (< 1: YOTO better)', xLog: true, referenceY: 1, id: `ratio-${v.variantId}` },
        [{ ...SERIES.ratio, points: rows.map((r) => ({ x: lambdaOf(r, term), y: r.ratio, lambda: at(r), label: `${at(r)}: ratio ${r.ratio.toFixed(4)}${r.inPrior ? '' : ' (outside the prior)'}` })) }],
      ),
    });

    if (info) {
      const [tx, ty] = info.tradeoff;
      const tradeTitle = `Trade-off: ${ty} vs ${tx}${suffix}`;
      const side = (r: ReportRow, which: 'yoto' | 'baseline') => ({ x: r[which].terms[tx] ?? NaN, y: r[which].terms[ty] ?? NaN, lambda: at(r), label: `${which === 'yoto' ? 'YOTO' : 'baseline'} at ${at(r)}: ${tx} ${(r[which].terms[tx] ?? NaN).toPrecision(4)}, ${ty} ${(r[which].terms[ty] ?? NaN).toPrecision(4)}` });
      out.push({
        kind: 'tradeoff',
        variantId: v.variantId,
        title: tradeTitle,
        svg: linePlotSvg({ title: tradeTitle, xLabel: tx, yLabel: ty, id: `tradeoff-${v.variantId}` }, [
          { ...SERIES.yoto, points: rows.map((r) => side(r, 'yoto')) },
          { ...SERIES.baseline, dash: '5,3', hollow: true, points: rows.map((r) => side(r, 'baseline')) },
        ]),
      });
    }

    const rd = report.rd?.find((c) => c.variantId === v.variantId);
    if (rd) {
      const bd = rd.bdRate === null ? 'BD-rate undefined' : `BD-rate ${(100 * rd.bdRate).toFixed(1)}%`;
      const rdTitle = `Rate–distortion (${bd})${suffix}`;
      const pts = (list: typeof rd.yoto, who: string) =>
        [...list].sort((a, b) => a.rate - b.rate).map((p) => ({ x: p.rate, y: p.psnr, lambda: lambdaLabel(p.lambda), label: `${who} at ${lambdaLabel(p.lambda)}: ${p.rate.toFixed(3)} bpp, ${p.psnr.toFixed(2)} dB` }));
      out.push({
        kind: 'rd',
        variantId: v.variantId,
        title: rdTitle,
        svg: linePlotSvg({ title: rdTitle, xLabel: `${rd.rate} (bits per pixel)`, yLabel: `${rd.quality} (dB)`, id: `rd-${v.variantId}` }, [
          { ...SERIES.yoto, points: pts(rd.yoto, 'YOTO') },
          { ...SERIES.baseline, dash: '5,3', hollow: true, points: pts(rd.baseline, 'baseline') },
        ]),
      });
    }
  }
  out.push(...densityFigures(report), ...variantAxisFigures(report));
  return out;
}

/**
 * P_λ of each gap-driven YOTO run over log λ, relative to the prior (1 = the prior):
 * averaged over training steps and at the end, as steps over the bins.
 */
export function densityFigures(report: Report): ReportFigure[] {
  return (report.densities ?? []).map((d) => {
    const steps = (pick: (b: (typeof d.bins)[number]) => number) => d.bins.flatMap((b) => [{ x: b.low, y: pick(b) / b.prior }, { x: b.high, y: pick(b) / b.prior }]);
    const title = `P_λ used by ${d.runId} (relative to the prior)`;
    return {
      kind: 'density' as const,
      variantId: d.variantId,
      title,
      svg: linePlotSvg({ title, xLabel: `λ (${d.term}, log scale)`, yLabel: 'density / prior density', xLog: true, referenceY: 1, id: `density-${d.runId}` }, [
        { ...SERIES.meanDensity, points: steps((b) => b.mean) },
        { ...SERIES.finalDensity, dash: '5,3', points: steps((b) => b.final) },
      ]),
    };
  });
}

/**
 * Worst and mean YOTO/baseline ratio against each numeric variant axis (e.g.
 * `model.width`: the capacity trend), one pair of series per combination of the
 * other axes. Only axes with at least two numeric values.
 */
export function variantAxisFigures(report: Report): ReportFigure[] {
  const out: ReportFigure[] = [];
  const paths = [...new Set(report.variants.flatMap((v) => Object.keys(v.variant)))];
  for (const path of paths) {
    const values = report.variants.map((v) => v.variant[path]);
    if (!values.every((x) => typeof x === 'number') || new Set(values).size < 2) continue;
    const groups = new Map<string, ReportVariantSummary[]>();
    for (const v of report.variants) {
      const rest = Object.entries(v.variant).filter(([k]) => k !== path).map(([k, x]) => `${k}=${x}`).join(', ');
      groups.set(rest, [...(groups.get(rest) ?? []), v]);
    }
    const series: PlotSeries[] = [];
    [...groups.entries()].forEach(([rest, vs], i) => {
      const color = GROUP_COLORS[i % GROUP_COLORS.length]!;
      const sorted = [...vs].sort((a, b) => (a.variant[path] as number) - (b.variant[path] as number));
      const suffix = rest ? ` (${rest})` : '';
      series.push({ name: `worst${suffix}`, color, points: sorted.map((v) => ({ x: v.variant[path] as number, y: v.maxRatio, label: `${v.variantId}: worst ratio ${v.maxRatio.toFixed(4)}` })) });
      series.push({ name: `mean${suffix}`, color, dash: '5,3', hollow: true, points: sorted.map((v) => ({ x: v.variant[path] as number, y: v.meanRatio, label: `${v.variantId}: mean ratio ${v.meanRatio.toFixed(4)}` })) });
    });
    const xs = values as number[];
    const xLog = Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) >= 4;
    const title = `YOTO / baseline ratio vs ${path}`;
    out.push({ kind: 'variants', variantId: '', title, svg: linePlotSvg({ title, xLabel: `${path}${xLog ? ' (log scale)' : ''}`, yLabel: 'loss ratio over the grid', xLog, referenceY: 1, id: `variants-${path}` }, series) });
  }
  return out;
}
