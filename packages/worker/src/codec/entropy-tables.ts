/**
 * Integer frequency tables for the rANS coder, derived from a compression model's
 * factorized entropy model at one λ. Computed in plain float64 TypeScript from the
 * stored weights (never on the tfjs backend), so encoder and decoder derive
 * bit-identical tables from the same weights on any machine.
 *
 * Per latent channel c the density is the model's CDF network F_c applied to
 * z = (y − μ_c)/σ_c (see film-compressor.ts); the table covers the integers whose
 * cells hold all but ~TAIL of the mass on either side, the rest goes to the escape.
 */
import { LEAKY_ALPHA } from '../engine/layers.ts';
import { CDF_FILTERS, ENTROPY_PARAMS } from '../engine/film-compressor.ts';
import type { WeightMap } from '../engine/params.ts';
import { quantizePmf, type FreqTable } from './rans.ts';

/** Probability left out of a table on each side (coded through the escape). */
const TAIL = 1e-7;
const TAIL_LOGIT = Math.log(TAIL / (1 - TAIL));
/** Most symbols one channel's table may hold. */
const MAX_SUPPORT = 1 << 14;

const softplus = (x: number) => (x > 30 ? x : Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function get(weights: WeightMap, name: string): Float32Array {
  const rec = weights[name];
  if (!rec) throw new Error(`model weights have no ${name}: not a compression model`);
  return rec.data;
}

/** The entropy model of one channel, as closures over its weights. */
class ChannelCdf {
  private readonly H: Float64Array[] = [];
  private readonly b: Float64Array[] = [];
  private readonly a: Float64Array[] = [];

  constructor(weights: WeightMap, channel: number) {
    for (let k = 0; k < CDF_FILTERS.length - 1; k++) {
      const [fin, fout] = [CDF_FILTERS[k]!, CDF_FILTERS[k + 1]!];
      const H = get(weights, ENTROPY_PARAMS.matrix(k)).subarray(channel * fout * fin, (channel + 1) * fout * fin);
      this.H.push(Float64Array.from(H, softplus));
      this.b.push(Float64Array.from(get(weights, ENTROPY_PARAMS.bias(k)).subarray(channel * fout, (channel + 1) * fout)));
      if (k < CDF_FILTERS.length - 2) this.a.push(Float64Array.from(get(weights, ENTROPY_PARAMS.factor(k)).subarray(channel * fout, (channel + 1) * fout), Math.tanh));
    }
  }

  logit(z: number): number {
    let u = [z];
    for (let k = 0; k < this.H.length; k++) {
      const [fin, fout] = [CDF_FILTERS[k]!, CDF_FILTERS[k + 1]!];
      const next = new Array<number>(fout);
      for (let o = 0; o < fout; o++) {
        let s = this.b[k]![o]!;
        for (let i = 0; i < fin; i++) s += this.H[k]![o * fin + i]! * u[i]!;
        const a = this.a[k];
        next[o] = a ? s + a[o]! * Math.tanh(s) : s;
      }
      u = next;
    }
    return u[0]!;
  }

  /** The z where the logit crosses `target` (the network is increasing in z). */
  solve(target: number): number {
    let lo = -1;
    let hi = 1;
    while (this.logit(lo) > target && lo > -1e9) lo *= 2;
    while (this.logit(hi) < target && hi < 1e9) hi *= 2;
    for (let i = 0; i < 80; i++) {
      const mid = (lo + hi) / 2;
      if (this.logit(mid) < target) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  }
}

/** μ and log σ per channel for the conditioning input `cond` (log λ per weighted term). */
function locScale(weights: WeightMap, cond: readonly number[], channels: number): { loc: number[]; logScale: number[] } {
  const hk = get(weights, `${ENTROPY_PARAMS.condHidden}/kernel`);
  const hb = get(weights, `${ENTROPY_PARAMS.condHidden}/bias`);
  const ok = get(weights, `${ENTROPY_PARAMS.condOut}/kernel`);
  const ob = get(weights, `${ENTROPY_PARAMS.condOut}/bias`);
  const hidden = hb.length;
  if (hk.length !== cond.length * hidden || ob.length !== 2 * channels) throw new Error('entropy conditioning weights do not match the latent channels');
  const h = new Array<number>(hidden);
  for (let j = 0; j < hidden; j++) {
    let s = hb[j]!;
    for (let i = 0; i < cond.length; i++) s += cond[i]! * hk[i * hidden + j]!;
    h[j] = s >= 0 ? s : LEAKY_ALPHA * s;
  }
  const out = new Array<number>(2 * channels);
  for (let o = 0; o < 2 * channels; o++) {
    let s = ob[o]!;
    for (let j = 0; j < hidden; j++) s += h[j]! * ok[j * 2 * channels + o]!;
    out[o] = s;
  }
  return { logScale: out.slice(0, channels), loc: out.slice(channels) };
}

/**
 * One frequency table per latent channel at conditioning `cond` (log λ per weighted
 * term, standardised as the model's layers see it: FilmCompressor.standardiseRow).
 * Deterministic in the weights and `cond`.
 */
export function entropyTables(weights: WeightMap, cond: readonly number[], channels: number): FreqTable[] {
  const { loc, logScale } = locScale(weights, cond, channels);
  const tables: FreqTable[] = [];
  for (let c = 0; c < channels; c++) {
    const cdf = new ChannelCdf(weights, c);
    const mu = loc[c]!;
    const inv = Math.exp(-logScale[c]!);
    const sigma = Math.exp(logScale[c]!);
    let lo = Math.floor(mu + sigma * cdf.solve(TAIL_LOGIT));
    let hi = Math.ceil(mu + sigma * cdf.solve(-TAIL_LOGIT));
    if (hi - lo + 1 > MAX_SUPPORT) {
      const centre = Math.round(mu);
      lo = Math.max(lo, centre - MAX_SUPPORT / 2);
      hi = lo + MAX_SUPPORT - 1;
    }
    const pmf = new Float64Array(hi - lo + 1);
    for (let k = lo; k <= hi; k++) {
      const z = (k - mu) * inv;
      const lu = cdf.logit(z + 0.5 * inv);
      const ll = cdf.logit(z - 0.5 * inv);
      const s = lu + ll > 0 ? -1 : 1;
      pmf[k - lo] = Math.abs(sigmoid(s * lu) - sigmoid(s * ll));
    }
    tables.push(quantizePmf(pmf, lo));
  }
  return tables;
}
