/**
 * Conflicting quadratics: the smallest real loss-conditional problem, with an exact
 * answer. Terms `q_i = ‖w − a_i‖²` for anchors a_0, a_1, a_2 ∈ R^dim; the objective
 * `q0 + λ1·q1 + λ2·q2` is minimised by
 *
 *   w*(λ) = (a_0 + λ1·a_1 + λ2·a_2) / (1 + λ1 + λ2).
 *
 * The model is the solution itself as a function of the conditioning: an MLP of
 * log λ (two leaky-ReLU hidden layers of `model.filmHidden` units) that outputs w.
 * A baseline (fixed λ) can reach its own w* exactly; the YOTO model must learn the
 * whole map over its prior, and evaluation reports how far it lands from w* at every
 * grid point (`distanceToOptimum`). It reads no data (BLANK_DATASET) and draws no
 * noise, so a run of a few hundred steps takes milliseconds: it is both an exact
 * check of loss-conditional training and the workload of the orchestration bench.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { PROBLEMS, QuadraticSchema, type LambdaPoint, type ModelConfig, type QuadraticConfig } from '@yoto/shared';
import { applyDense, leaky, MacCounter, makeDense, type Dense } from '../engine/layers.ts';
import { ParamSet } from '../engine/params.ts';
import { Rng, RNG_STREAMS } from '../engine/prng.ts';
import type { Tf } from '../engine/tf.ts';
import { weightedObjective, type ConditionalModel, type Problem } from './problem.ts';

const info = PROBLEMS.quadratic;

/** The anchors a_0…a_K (one per term): the configured ones, else uniform in [−1, 1]^dim keyed by `anchorSeed`. */
export function quadraticAnchors(cfg: QuadraticConfig = QuadraticSchema.parse({})): number[][] {
  if (cfg.anchors) return cfg.anchors.map((a) => [...a]);
  const rng = Rng.seeded(cfg.anchorSeed, RNG_STREAMS.data);
  return info.terms.map(() => Array.from({ length: cfg.dim }, () => 2 * rng.uniform() - 1));
}

/** The exact minimiser at `point`: `(a_0 + Σ_k λ_k·a_k) / (1 + Σ_k λ_k)`. */
export function quadraticOptimum(anchors: readonly (readonly number[])[], point: LambdaPoint): number[] {
  const weights = [1, ...info.weightedTerms.map((t) => point[t] ?? 1)];
  const total = weights.reduce((s, w) => s + w, 0);
  const dim = anchors[0]?.length ?? 0;
  return Array.from({ length: dim }, (_, d) => anchors.reduce((s, a, i) => s + (weights[i] ?? 0) * (a[d] ?? 0), 0) / total);
}

export class QuadraticModel implements ConditionalModel {
  readonly params: ParamSet;
  readonly macsPerExample: number;
  readonly filmMacsPerExample: number;
  readonly anchors: number[][];
  readonly dim: number;
  private readonly layers: [Dense, Dense, Dense];
  /** [terms, dim], constant. */
  private readonly anchorTensor: tfc.Tensor2D;

  constructor(
    readonly tf: Tf,
    cfg: ModelConfig,
    quadratic: QuadraticConfig | undefined,
    seed: number,
  ) {
    this.anchors = quadraticAnchors(quadratic);
    this.dim = this.anchors[0]?.length ?? 0;
    this.params = new ParamSet(tf, Rng.seeded(seed, RNG_STREAMS.init));
    const macs = new MacCounter();
    const h = cfg.filmHidden;
    const condDim = info.weightedTerms.length;
    this.layers = [
      makeDense(this.params, macs, 'solution/hidden1', condDim, h),
      makeDense(this.params, macs, 'solution/hidden2', h, h),
      makeDense(this.params, macs, 'solution/out', h, this.dim),
    ];
    // The whole model is a function of the conditioning alone.
    this.macsPerExample = macs.total;
    this.filmMacsPerExample = macs.total;
    this.anchorTensor = tf.tensor2d(this.anchors.flat(), [this.anchors.length, this.dim]);
  }

  /** w for each conditioning row: [rows, dim]. */
  solution(cond: tfc.Tensor2D): tfc.Tensor2D {
    const tf = this.tf;
    const [h1, h2, out] = this.layers;
    return applyDense(tf, out, leaky(tf, applyDense(tf, h2, leaky(tf, applyDense(tf, h1, cond)))));
  }

  /** ‖w − a_i‖² per row, for every anchor: i -> [rows]. */
  squaredDistances(w: tfc.Tensor2D): tfc.Tensor1D[] {
    const tf = this.tf;
    return this.anchors.map((_, i) => tf.sum(tf.square(tf.sub(w, tf.slice(this.anchorTensor, [i, 0], [1, this.dim]))), 1) as tfc.Tensor1D);
  }

  dispose(): void {
    this.params.dispose();
    this.anchorTensor.dispose();
  }
}

export const quadratic: Problem<QuadraticModel> = {
  name: info.name,
  terms: info.terms,
  weightedTerms: info.weightedTerms,
  unitTerms: info.terms.filter((t) => !(info.weightedTerms as readonly string[]).includes(t)),

  buildModel(tf, cfg, _input, seed, run) {
    return new QuadraticModel(tf, cfg, run?.quadratic, seed);
  },

  noiseDim() {
    return 0;
  },

  perExampleTerms(model, x, cond) {
    const tf = model.tf;
    const b = x.shape[0];
    const q = model.squaredDistances(model.solution(cond));
    // One shared conditioning row (baselines): the same value for every example.
    const perExample = (t: tfc.Tensor1D) => (t.shape[0] === b ? t : (tf.add(t, tf.zeros([b])) as tfc.Tensor1D));
    return Object.fromEntries(info.terms.map((name, i) => [name, perExample(q[i]!)]));
  },

  loss(model, x, cond, weights, noise) {
    return weightedObjective(model.tf, this, this.perExampleTerms(model, x, cond, noise), weights);
  },

  async distancesToOptimum(model, conds, points) {
    const w = model.tf.tidy(() => model.solution(conds));
    const values = await w.data();
    w.dispose();
    return points.map((point, i) => {
      const target = quadraticOptimum(model.anchors, point);
      return Math.sqrt(target.reduce((s, v, d) => s + (v - (values[i * model.dim + d] ?? 0)) ** 2, 0));
    });
  },
};
