/**
 * A problem plug-in: the model it trains and its loss terms. The trainer is
 * problem-agnostic; a new problem (e.g. compression) is a new file registered in
 * index.ts.
 *
 * The objective is always `unit terms + Σ_k λ_k·term_k`, averaged over the batch,
 * with λ per example. A problem only supplies per-example terms; `weightedObjective`
 * turns them into the loss every problem shares.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type { LambdaPoint, ModelConfig, RunPayload } from '@yoto/shared';
import type { InputShape } from '../engine/film-vae.ts';
import type { ParamSet } from '../engine/params.ts';
import type { Tf } from '../engine/tf.ts';

/** What the trainer needs from any problem's model. */
export interface ConditionalModel {
  readonly params: ParamSet;
  /** Forward multiply-adds per example (for the FLOPs estimate). */
  readonly macsPerExample: number;
  /** The part of macsPerExample that depends only on the conditioning input. */
  readonly filmMacsPerExample: number;
  dispose(): void;
}

export interface LossOutput {
  /** Batch mean of the weighted objective. */
  total: tfc.Scalar;
  /** Batch mean of every term, keyed by term name. */
  terms: Record<string, tfc.Scalar>;
}

/** What one evaluation batch contributes: sums over its examples. */
export interface EvalBatchSums {
  /** Σ over the batch of every term. */
  terms: Record<string, number>;
  /** Σ over the batch of each per-example metric (averaged by the trainer). */
  metrics: Record<string, number>;
}

export interface Problem<M extends ConditionalModel = ConditionalModel> {
  readonly name: string;
  /** Every term, in report order. */
  readonly terms: readonly string[];
  /** Terms with a λ, in conditioning-input order. */
  readonly weightedTerms: readonly string[];
  /** Terms with the implicit weight 1 (terms minus weightedTerms). */
  readonly unitTerms: readonly string[];
  /**
   * @param run the run's settings a problem may need: `prior` (the training prior per
   *   weighted term; compression standardises its conditioning input with it) and
   *   `quadratic` (that problem's anchors); beta-vae uses neither
   */
  buildModel(tf: Tf, cfg: ModelConfig, input: InputShape, seed: number, run?: Pick<RunPayload, 'prior' | 'quadratic'>): M;
  /** Standard-normal noise values the problem consumes per example (0 if none). */
  noiseDim(model: M): number;
  /**
   * Every term per example, each [batch].
   * @param x images [batch, H, W, C] in [0, 1]
   * @param cond conditioning input (log λ) [batch, weightedTerms.length], or one row
   *   [1, weightedTerms.length] when it is the same for every example
   * @param noise [batch, noiseDim] standard-normal draws from the run's RNG
   */
  perExampleTerms(model: M, x: tfc.Tensor4D, cond: tfc.Tensor2D, noise: tfc.Tensor2D): Record<string, tfc.Tensor1D>;
  /**
   * The training loss.
   * @param weights [batch, 1 + weightedTerms.length]: column 0 weighs the unit terms
   *   (1 unless the geometric-mean normalisation is on), then one column per weighted term.
   */
  loss(model: M, x: tfc.Tensor4D, cond: tfc.Tensor2D, weights: tfc.Tensor2D, noise: tfc.Tensor2D): LossOutput;
  /**
   * Evaluation when it differs from training (optional; default: perExampleTerms
   * with the evaluation noise). The compression problem rounds its latents here and
   * codes real bitstreams.
   * @param cond the conditioning input (log λ per weighted term) of the whole batch
   */
  evaluateBatch?(model: M, x: tfc.Tensor4D, cond: readonly number[]): Promise<EvalBatchSums>;
  /** Metrics derived from the per-example means of terms and metrics (e.g. PSNR from the mean MSE). */
  finishMetrics?(terms: Record<string, number>, metrics: Record<string, number>): Record<string, number>;
  /**
   * Problems whose optimum is known in closed form: for each point, the Euclidean
   * distance between the model's solution under that point's conditioning (row i of
   * `conds`) and the exact optimum at `points[i]`. Reported as `distanceToOptimum`.
   */
  distancesToOptimum?(model: M, conds: tfc.Tensor2D, points: readonly LambdaPoint[]): Promise<number[]>;
}

/** `mean_b(w_b0·Σ unit terms + Σ_k w_bk·term_k)` plus each term's batch mean. */
export function weightedObjective(
  tf: Tf,
  problem: Pick<Problem, 'terms' | 'unitTerms' | 'weightedTerms'>,
  perExample: Record<string, tfc.Tensor1D>,
  weights: tfc.Tensor2D,
): LossOutput {
  const get = (t: string) => {
    const v = perExample[t];
    if (!v) throw new Error(`problem did not compute term ${t}`);
    return v;
  };
  const unit = problem.unitTerms.map(get).reduce((a, b) => tf.add(a, b));
  const columns = tf.stack([unit, ...problem.weightedTerms.map(get)], 1) as tfc.Tensor2D;
  const total = tf.mean(tf.sum(tf.mul(columns, weights), 1)) as tfc.Scalar;
  const terms: Record<string, tfc.Scalar> = {};
  for (const t of problem.terms) terms[t] = tf.mean(get(t)) as tfc.Scalar;
  return { total, terms };
}
