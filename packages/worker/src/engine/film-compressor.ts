/**
 * The λ-conditioned learned image codec of the `compression` problem: Ballé-style
 * analysis and synthesis transforms with GDN / inverse GDN, FiLM-conditioned on
 * log λ like the VAE, and a factorized entropy model (Ballé et al. 2018, "factorized
 * prior") whose per-channel density is also λ-dependent through a location and scale.
 *
 * conv arch (N = 32·width channels, M = latentDim latent channels), 28×28 input:
 *   enc/conv1   conv 5×5 s2 → N (28→14)   GDN, FiLM
 *   enc/conv2   conv 5×5 s2 → N (14→7)    GDN, FiLM
 *   enc/conv3   conv 3×3 s1 → M, times the gain g(λ): latent y [7, 7, M]
 *   dec/conv1   (latent times the inverse gain g'(λ)) conv 3×3 s1 → N   inverse GDN, FiLM
 *   dec/deconv1 conv-transpose 5×5 s2 → N (7→14)  inverse GDN, FiLM
 *   dec/deconv2 conv-transpose 5×5 s2 → channels (14→28)  reconstruction on [0, 1]
 *
 * FiLM comes after (inverse) GDN, which would otherwise normalise a λ-dependent
 * gain away. The latent gain is per channel and log-linear in λ,
 * g_c(λ) = exp(a_c + b_c·log λ), with its own inverse g'_c on the decoder side (gain
 * units, as in variable-rate codecs): the direct way to trade bits for quality
 * under a fixed quantisation step, and well-conditioned over decades of λ
 * (a, b start at 0, so the gains start at 1).
 *
 * GDN: y_i = x_i / sqrt(β_i + Σ_j γ_ji·x_j²), inverse GDN multiplies instead; β and γ
 * are kept positive by squaring their parameters (β = β̃² + 10⁻⁶, γ = γ̃²).
 *
 * Conditioning: the network sees log λ standardised by the run's training prior,
 * (log λ − centre) / half-width over the prior's log range (a fixed baseline: centre
 * its λ, so 0). Raw log λ of a codec is far from 0 and of one sign (e.g. −7.6…−2.3),
 * which lets the gradient of the dominant high-λ examples move every λ-dependent
 * parameter the same way, most for the smallest λ: the dial comes out inverted.
 *
 * Entropy model, per latent channel c: a monotone CDF network F_c (filters
 * 1→3→3→3→1: u ← softplus(H)·u + b, then u ← u + tanh(a)⊙tanh(u), a final
 * sigmoid), applied to z = (y − μ_c(λ)) / σ_c(λ), where (log σ, μ) come from a small
 * MLP of log λ (zero at initialisation). The likelihood of a quantised value is
 * P(ŷ) = F_c((ŷ + ½ − μ)/σ) − F_c((ŷ − ½ − μ)/σ), a proper pmf over the integers;
 * with uniform noise in training it is the density of y + u.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type { LambdaDist, ModelConfig } from '@yoto/shared';
import type { InputShape } from './film-vae.ts';
import { applyConv, applyDense, applyFilm, leaky, MacCounter, makeConv, makeConvTranspose, makeDense, makeFilm, type Conv, type Dense, type Film } from './layers.ts';
import { ParamSet } from './params.ts';
import { Rng, RNG_STREAMS } from './prng.ts';
import type { Tf } from './tf.ts';

/** Filters of the per-channel CDF network (Ballé et al. 2018 use 1, 3, 3, 3, 1). */
export const CDF_FILTERS = [1, 3, 3, 3, 1] as const;
/** Initial spread of the entropy model's density (Ballé's init_scale). */
const INIT_SCALE = 10;
/** Smallest likelihood a quantised value is given (bounds the rate of outliers). */
export const LIKELIHOOD_FLOOR = 1e-9;

export interface Gdn {
  beta: tfc.Variable; // [ch], β = β̃² + 1e-6
  gamma: tfc.Variable; // [ch, ch], γ[j, i] = γ̃[j, i]²
  channels: number;
  inverse: boolean;
}

interface Block {
  name: string;
  conv: Conv;
  film?: Film;
  gdn?: Gdn;
}

/** Names of the entropy model's parameters (the codec rebuilds its tables from them). */
export const ENTROPY_PARAMS = {
  matrix: (k: number) => `entropy/H${k}`,
  bias: (k: number) => `entropy/b${k}`,
  factor: (k: number) => `entropy/a${k}`,
  condHidden: 'entropy/cond/hidden',
  condOut: 'entropy/cond/out',
} as const;

/** How log λ is standardised before the network sees it: c' = (c − centre) / scale, per term. */
export interface ConditioningFrame {
  centre: number[];
  scale: number[];
}

/** The frame of a training prior (identity when none is given). */
export function conditioningFrame(terms: readonly string[], prior?: Record<string, LambdaDist>): ConditioningFrame {
  const frame: ConditioningFrame = { centre: [], scale: [] };
  for (const t of terms) {
    const d = prior?.[t];
    let [lo, hi] = [0, 0];
    if (d?.dist === 'fixed') [lo, hi] = [Math.log(d.value), Math.log(d.value)];
    else if (d) [lo, hi] = [Math.log(Math.max(d.low, d.high * 1e-3)), Math.log(d.high)];
    frame.centre.push((lo + hi) / 2);
    frame.scale.push(Math.max((hi - lo) / 2, 1));
  }
  return frame;
}

export class FilmCompressor {
  readonly params: ParamSet;
  readonly macsPerExample: number;
  readonly filmMacsPerExample: number;
  /** Latent grid: [height, width, channels]. */
  readonly latentShape: [number, number, number];
  private readonly encoder: Block[] = [];
  private readonly decoder: Block[] = [];
  /** Per channel CDF network: H_k [M, out, in], b_k [M, out, 1], a_k [M, out, 1]. */
  private readonly cdfH: tfc.Variable[] = [];
  private readonly cdfB: tfc.Variable[] = [];
  private readonly cdfA: tfc.Variable[] = [];
  private readonly condNet: [Dense, Dense];
  /** Latent gain (encoder) and inverse gain (decoder): log g = a + c·B, a [M], B [condDim, M]. */
  private readonly gain: { a: tfc.Variable; b: tfc.Variable };
  private readonly inverseGain: { a: tfc.Variable; b: tfc.Variable };

  constructor(
    readonly tf: Tf,
    readonly config: ModelConfig,
    readonly input: InputShape,
    readonly condDim: number,
    seed: number,
    /** @defaultValue identity (centre 0, scale 1) */
    readonly frame: ConditioningFrame = { centre: new Array<number>(condDim).fill(0), scale: new Array<number>(condDim).fill(1) },
  ) {
    if (config.arch !== 'conv') throw new Error(`the compression model has only the conv arch, got model.arch "${config.arch}"`);
    const { height: H, width: W, channels: C } = input;
    if (H % 4 !== 0 || W % 4 !== 0) throw new Error(`the compression model needs height and width divisible by 4, got ${H}×${W}`);
    this.params = new ParamSet(tf, Rng.seeded(seed, RNG_STREAMS.init));
    const p = this.params;
    const macs = new MacCounter();
    const N = Math.max(4, Math.round(32 * config.width));
    const M = config.latentDim;
    const film = (name: string, ch: number) => makeFilm(p, macs, name, condDim, config.filmHidden, ch, config.filmScale, config.filmShift);
    const gdn = (name: string, ch: number, inverse: boolean, hw: number): Gdn => {
      macs.add(hw * ch * ch);
      const gamma = new Float32Array(ch * ch);
      for (let j = 0; j < ch; j++) for (let i = 0; i < ch; i++) gamma[j * ch + i] = Math.sqrt(i === j ? 0.1 : 1e-3);
      return { beta: p.values(`${name}/gdn/beta`, [ch], new Float32Array(ch).fill(1)), gamma: p.values(`${name}/gdn/gamma`, [ch, ch], gamma), channels: ch, inverse };
    };
    const [h2, w2, h4, w4] = [H / 2, W / 2, H / 4, W / 4];
    this.latentShape = [h4, w4, M];
    this.encoder.push(
      { name: 'enc/conv1', conv: makeConv(p, macs, 'enc/conv1', H, W, C, N, 5, 2), film: film('enc/conv1', N), gdn: gdn('enc/conv1', N, false, h2 * w2) },
      { name: 'enc/conv2', conv: makeConv(p, macs, 'enc/conv2', h2, w2, N, N, 5, 2), film: film('enc/conv2', N), gdn: gdn('enc/conv2', N, false, h4 * w4) },
      { name: 'enc/conv3', conv: makeConv(p, macs, 'enc/conv3', h4, w4, N, M, 3, 1) },
    );
    this.decoder.push(
      { name: 'dec/conv1', conv: makeConv(p, macs, 'dec/conv1', h4, w4, M, N, 3, 1), film: film('dec/conv1', N), gdn: gdn('dec/conv1', N, true, h4 * w4) },
      { name: 'dec/deconv1', conv: makeConvTranspose(p, macs, 'dec/deconv1', h4, w4, N, N, 5, 2), film: film('dec/deconv1', N), gdn: gdn('dec/deconv1', N, true, h2 * w2) },
      { name: 'dec/deconv2', conv: makeConvTranspose(p, macs, 'dec/deconv2', h2, w2, N, C, 5, 2) },
    );
    this.gain = { a: p.zeros('enc/gain/a', [M]), b: p.zeros('enc/gain/b', [condDim, M]) };
    this.inverseGain = { a: p.zeros('dec/gain/a', [M]), b: p.zeros('dec/gain/b', [condDim, M]) };
    // Entropy model, initialised as in Ballé's EntropyBottleneck.
    const scale = INIT_SCALE ** (1 / (CDF_FILTERS.length - 1));
    for (let k = 0; k < CDF_FILTERS.length - 1; k++) {
      const [fin, fout] = [CDF_FILTERS[k]!, CDF_FILTERS[k + 1]!];
      const init = Math.log(Math.expm1(1 / scale / fout));
      this.cdfH.push(p.values(ENTROPY_PARAMS.matrix(k), [M, fout, fin], new Float32Array(M * fout * fin).fill(init)));
      this.cdfB.push(p.uniform(ENTROPY_PARAMS.bias(k), [M, fout, 1], 0.5));
      if (k < CDF_FILTERS.length - 2) this.cdfA.push(p.values(ENTROPY_PARAMS.factor(k), [M, fout, 1], new Float32Array(M * fout)));
    }
    const hidden = Math.max(1, Math.min(config.filmHidden, 64));
    const condOut = p.values(`${ENTROPY_PARAMS.condOut}/kernel`, [hidden, 2 * M], new Float32Array(hidden * 2 * M));
    this.condNet = [makeDense(p, macs, ENTROPY_PARAMS.condHidden, condDim, hidden), { kernel: condOut, bias: p.zeros(`${ENTROPY_PARAMS.condOut}/bias`, [2 * M]), units: 2 * M }];
    macs.film += condDim * hidden + hidden * 2 * M;
    this.macsPerExample = macs.total + macs.film;
    this.filmMacsPerExample = macs.film;
  }

  get latentSize(): number {
    const [h, w, m] = this.latentShape;
    return h * w * m;
  }

  /** Unquantised latents y [batch, h, w, M] of images x [batch, H, W, C] in [0, 1]. */
  analysis(x: tfc.Tensor4D, c: tfc.Tensor2D): tfc.Tensor4D {
    const cn = this.standardise(c);
    return this.applyGain(this.gain, this.run(this.encoder, x, cn), cn);
  }

  /** The conditioning the layers see, from log λ [rows, condDim]. */
  standardise(c: tfc.Tensor2D): tfc.Tensor2D {
    const tf = this.tf;
    return tf.div(tf.sub(c, tf.tensor1d(this.frame.centre)), tf.tensor1d(this.frame.scale));
  }

  /** `standardise` for one row in plain numbers (the entropy tables). */
  standardiseRow(c: readonly number[]): number[] {
    return c.map((v, k) => (v - this.frame.centre[k]!) / this.frame.scale[k]!);
  }

  /** Reconstruction [batch, H, W, C] on the [0, 1] scale (unclipped) from latents [batch, h, w, M]. */
  synthesis(y: tfc.Tensor4D, c: tfc.Tensor2D): tfc.Tensor4D {
    const cn = this.standardise(c);
    return this.run(this.decoder, this.applyGain(this.inverseGain, y, cn), cn);
  }

  /** y · exp(a + c·B) per channel, c [rows, condDim] with rows 1 or batch. */
  private applyGain(g: { a: tfc.Variable; b: tfc.Variable }, y: tfc.Tensor4D, c: tfc.Tensor2D): tfc.Tensor4D {
    const tf = this.tf;
    const M = this.latentShape[2];
    const logGain = tf.add(tf.matMul(c, g.b as tfc.Tensor2D), g.a);
    return tf.mul(y, tf.reshape(tf.exp(logGain), [c.shape[0], 1, 1, M]));
  }

  /**
   * Likelihood of each latent value under the λ-conditioned factorized model,
   * [batch, h, w, M] (at least LIKELIHOOD_FLOOR).
   */
  likelihood(y: tfc.Tensor4D, c: tfc.Tensor2D): tfc.Tensor4D {
    const tf = this.tf;
    const [b, h, w, M] = y.shape;
    const { loc, invScale } = this.locScale(this.standardise(c)); // each [rows, M]
    const rows = c.shape[0];
    const shape = [rows, 1, 1, M];
    const centred = tf.mul(tf.sub(y, tf.reshape(loc, shape)), tf.reshape(invScale, shape));
    const half = tf.mul(tf.reshape(invScale, shape), 0.5);
    const upper = tf.add(centred, half);
    const lower = tf.sub(centred, half);
    // Channels first: [M, 1, 2·b·h·w] through the per-channel networks in one pass.
    const n = b * h * w;
    const both = tf.concat([tf.reshape(upper, [n, M]), tf.reshape(lower, [n, M])], 0);
    const logits = this.cdfLogits(tf.reshape(tf.transpose(both), [M, 1, 2 * n])); // [M, 1, 2n]
    const flat = tf.transpose(tf.reshape(logits, [M, 2 * n])); // [2n, M]
    const lu = tf.slice(flat, [0, 0], [n, M]);
    const ll = tf.slice(flat, [n, 0], [n, M]);
    // Ballé's sign trick: difference of sigmoids on the side where they are not both ≈ 1.
    const sign = tf.neg(tf.sign(tf.add(lu, ll)));
    const lik = tf.abs(tf.sub(tf.sigmoid(tf.mul(sign, lu)), tf.sigmoid(tf.mul(sign, ll))));
    return tf.reshape(tf.maximum(lik, LIKELIHOOD_FLOOR), [b, h, w, M]);
  }

  /** Per-channel location μ and 1/σ of the entropy model at standardised conditioning c, each [rows, M]. */
  locScale(c: tfc.Tensor2D): { loc: tfc.Tensor2D; invScale: tfc.Tensor2D } {
    const tf = this.tf;
    const M = this.latentShape[2];
    const out = applyDense(tf, this.condNet[1], leaky(tf, applyDense(tf, this.condNet[0], c)));
    const rows = c.shape[0];
    return { invScale: tf.exp(tf.neg(tf.slice(out, [0, 0], [rows, M]))), loc: tf.slice(out, [0, M], [rows, M]) };
  }

  private cdfLogits(z: tfc.Tensor3D): tfc.Tensor3D {
    const tf = this.tf;
    let u: tfc.Tensor3D = z;
    for (let k = 0; k < this.cdfH.length; k++) {
      const H = tf.softplus(this.cdfH[k]!) as tfc.Tensor3D;
      u = (k === 0 ? tf.mul(H, u) : tf.matMul(H, u)) as tfc.Tensor3D; // [M, out, n]
      u = tf.add(u, this.cdfB[k]!);
      const a = this.cdfA[k];
      if (a) u = tf.add(u, tf.mul(tf.tanh(a), tf.tanh(u)));
    }
    return u;
  }

  private run(blocks: Block[], x: tfc.Tensor4D, c: tfc.Tensor2D): tfc.Tensor4D {
    const tf = this.tf;
    let h = x;
    for (const blk of blocks) {
      h = applyConv(tf, blk.conv, h);
      if (blk.gdn) h = applyGdn(tf, blk.gdn, h);
      if (blk.film) h = applyFilm(tf, blk.film, h, c);
    }
    return h;
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** GDN / inverse GDN over the last axis of [b, h, w, ch]. */
export function applyGdn(tf: Tf, g: Gdn, x: tfc.Tensor4D): tfc.Tensor4D {
  const [b, h, w, ch] = x.shape;
  const beta = tf.add(tf.square(g.beta), 1e-6);
  const gamma = tf.square(g.gamma) as tfc.Tensor2D;
  const norm = tf.add(tf.matMul(tf.reshape(tf.square(x), [b * h * w, ch]), gamma), beta);
  const factor = g.inverse ? tf.sqrt(norm) : tf.rsqrt(norm);
  return tf.mul(x, tf.reshape(factor, [b, h, w, ch]));
}
