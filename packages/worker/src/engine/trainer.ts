/**
 * Loss-conditional training of one run (YOTO or a fixed-λ baseline).
 *
 * Every source of randomness is a seeded pure-TS stream, so a run is a function of
 * its payload and a checkpoint restores it exactly:
 *  - weight init: Rng(seed, init), in FilmVae;
 *  - batch order: epoch e visits the training set in the permutation drawn by
 *    Rng(seed, shuffle, e); step s takes positions [s·B, (s+1)·B) of the
 *    concatenated epochs, so the order needs no state beyond the step;
 *  - λ and the model's noise: one stream Rng(seed, train) whose 4-word state is
 *    checkpointed. Per step it draws, example by example (or once per batch when
 *    `conditioning.perExample` is false), one uniform per weighted term mapped
 *    through the prior (`sampleLambda`), then batch·noiseDim normals;
 *  - evaluation noise: Rng(seed, evalNoise), restarted on every `evaluate`, one
 *    draw per test example shared by all grid points, so evaluation is
 *    deterministic and identical after a reload.
 *  - probe noise (gap-driven P_λ): Rng(0, probe), the same for every run, one draw
 *    per probe example (the first `probeExamples` of the training split).
 *
 * Gap-driven P_λ (`conditioning.adaptive.mode: gap`, YOTO runs; maths in
 * @yoto/shared adaptive.ts): every `everySteps` steps the run evaluates itself on
 * the probe subset at the grid λ inside its prior and updates its density over log λ
 * from its baselines' probe curves (`peerCurves`, supplied from outside) or, without
 * them, its own learning progress. λ is then drawn through the density's inverse CDF
 * from the same one uniform per term, so the random stream is consumed exactly as
 * with the prior. The density and the probe history are part of the exported state,
 * so a resumed run samples from the density it had; later updates depend on what the
 * baselines have published by then. Baselines with `payload.probe` probe at their
 * own λ on the same cadence and hand each probe to `onProbe` (to be published).
 *
 * A baseline is the same network with a `fixed` prior: its conditioning input is
 * constant, in training and in evaluation (where it stays at the baseline's own λ
 * while the reported loss uses each grid point's λ).
 */
import type * as tfc from '@tensorflow/tfjs-core';
import {
  AdaptiveTraceSchema,
  conditioningInput,
  inSupport,
  nextDensity,
  sampleMasses,
  uniformMasses,
  lossWeights,
  sampleLambda,
  weightedLoss,
  YotoError,
  type EvalPoint,
  type LambdaDist,
  type LambdaPoint,
  type AdaptiveConfig,
  type AdaptiveTrace,
  type DensityAxis,
  type PeerCurve,
  type ProbeRecord,
  type RunPayload,
} from '@yoto/shared';
import type { Dataset } from '../data/datasets.ts';
import { getProblem, type ConditionalModel, type Problem } from '../problems/index.ts';
import { Adam, type AdamState } from './adam.ts';
import type { InputShape } from './film-vae.ts';
import { serializeFinalModel } from './model-export.ts';
import type { WeightMap } from './params.ts';
import { Rng, RNG_STREAMS, type RngState } from './prng.ts';
import type { Tf } from './tf.ts';

export interface TrainerOptions {
  payload: RunPayload;
  tf: Tf;
  dataset: Dataset;
  /** @defaultValue the registered plug-in for `payload.problem` */
  problem?: Problem;
  /**
   * Steps between reads of the loss scalars (progress, divergence check). Reading
   * synchronises with the device, so not every step.
   * @defaultValue 20
   */
  readEvery?: number;
  /**
   * When every example of a batch has the same conditioning (a baseline's fixed λ,
   * or `conditioning.perExample: false`), feed it as one row so the FiLM generators
   * run once per batch instead of once per example. Same maths, less compute
   * (tested against per-example rows in engine-trainer.test.ts).
   * @defaultValue true
   */
  shareConstantConditioning?: boolean;
}

export interface TrainProgress {
  /** Steps completed. */
  step: number;
  totalSteps: number;
  /** Means over the steps since the previous report. */
  loss: number;
  terms: Record<string, number>;
  examplesPerSecond: number;
  lr: number;
}

export interface TrainOptions {
  /** Train until this many steps are complete. @defaultValue payload.train.steps */
  untilStep?: number;
  onProgress?: (p: TrainProgress) => void | Promise<void>;
  /** Polled after every step; true stops at the next step boundary. */
  shouldStop?: () => boolean;
  signal?: AbortSignal;
  /**
   * Awaited every `train.checkpointEvery` steps and after `train.checkpointSeconds`
   * of wall time; call `exportState()` in it. Not called at the end of training.
   */
  onCheckpointDue?: (step: number) => void | Promise<void>;
  /** Awaited with every probe (runs that probe: gap-driven YOTO runs and their baselines). */
  onProbe?: (probe: ProbeRecord) => void | Promise<void>;
  /** The baselines' probe curves as known now; read at every density update. @defaultValue none */
  peerCurves?: () => readonly PeerCurve[];
}

export interface TrainSummary {
  /** Steps completed in total. */
  step: number;
  /** Steps this call ran. */
  steps: number;
  examples: number;
  /** Wall-clock seconds this call spent training. */
  seconds: number;
  stopped: boolean;
  /** Mean loss and terms over the last (up to) FINAL_WINDOW steps. */
  finalTrain: Record<string, number>;
}

export interface TrainerState {
  version: 1;
  runId: string;
  /** Steps completed. */
  step: number;
  /** The training stream (λ and noise draws). */
  rng: RngState;
  /** What the weights belong to; importing into a different model is refused. */
  model: { problem: string; config: RunPayload['model']; input: InputShape };
  weights: WeightMap;
  optimizer: AdamState;
  /** Gap-driven runs: the density over training so far (its last update is in use) and the probes. */
  adaptive?: AdaptiveTrace;
}

const FINAL_WINDOW = 100;

/**
 * Forward+backward FLOPs per example: ≈ 3 forward passes of 2 FLOPs per multiply-add.
 * With `conditioningRows` = 1 (constant conditioning: baselines, per-batch λ) the
 * FiLM generators run once per batch of `batchSize`.
 */
export function flopsPerExample(model: Pick<ConditionalModel, 'macsPerExample' | 'filmMacsPerExample'>, conditioningRows?: number, batchSize?: number): number {
  const film = conditioningRows === 1 && batchSize ? model.filmMacsPerExample / batchSize : model.filmMacsPerExample;
  return 3 * 2 * (model.macsPerExample - model.filmMacsPerExample + film);
}

export class LossConditionalTrainer {
  readonly payload: RunPayload;
  readonly problem: Problem;
  readonly model: ConditionalModel;
  readonly input: InputShape;
  private readonly tf: Tf;
  private readonly dataset: Dataset;
  private readonly adam: Adam;
  private readonly readEvery: number;
  private readonly trainables: tfc.Variable[];
  private rng: Rng;
  private stepCount = 0;
  private disposed = false;
  private training = false;

  private readonly batch: number;
  private readonly pixels: number;
  private readonly condDim: number;
  /**
   * Rows of the conditioning input per step: one per example, or 1 when it is the
   * same for the whole batch (fixed prior or per-batch λ), so FiLM runs once.
   */
  private readonly condRows: number;
  private readonly noiseDim: number;
  private readonly xBuf: Float32Array;
  private readonly condBuf: Float32Array;
  private readonly weightBuf: Float32Array;
  private readonly noiseBuf: Float32Array;
  private readonly priors: LambdaDist[];
  private readonly epochOrders = new Map<number, Uint32Array>();
  private readonly lrBoundaries: number[];
  private recent: number[][] = [];
  /** Steps between probes; null when the run does not probe. */
  private readonly probeEvery: number | null;
  private readonly probeCount: number;
  private readonly probeGrid: LambdaPoint[];
  private probeNoise: Float32Array | null = null;
  private readonly adaptiveCfg: AdaptiveConfig | null;
  private readonly axes: DensityAxis[];
  private trace: AdaptiveTrace | null = null;

  constructor(opts: TrainerOptions) {
    const { payload, tf, dataset } = opts;
    this.payload = payload;
    this.tf = tf;
    this.dataset = dataset;
    this.problem = opts.problem ?? getProblem(payload.problem);
    this.readEvery = Math.max(1, opts.readEvery ?? 20);
    this.priors = this.problem.weightedTerms.map((t) => {
      const d = payload.prior[t];
      if (!d) throw new YotoError('PAYLOAD_INVALID', `prior.${t}: missing; problem ${this.problem.name} weights the term "${t}"`);
      return d;
    });
    if (dataset.trainCount < 1 || dataset.testCount < 1) throw new YotoError('PAYLOAD_INVALID', `dataset ${dataset.name} is empty`);
    this.input = { height: dataset.height, width: dataset.width, channels: dataset.channels };
    this.model = this.problem.buildModel(tf, payload.model, this.input, payload.seed, payload);
    this.trainables = [...this.model.params.variables.values()];
    this.adam = new Adam(tf, this.model.params, { weightDecay: payload.train.weightDecay });
    this.rng = Rng.seeded(payload.seed, RNG_STREAMS.train);

    this.batch = payload.train.batchSize;
    this.pixels = dataset.height * dataset.width * dataset.channels;
    this.condDim = this.problem.weightedTerms.length;
    this.noiseDim = this.problem.noiseDim(this.model);
    const constant = !payload.conditioning.perExample || this.priors.every((d) => d.dist === 'fixed');
    this.condRows = constant && (opts.shareConstantConditioning ?? true) ? 1 : this.batch;
    this.xBuf = new Float32Array(this.batch * this.pixels);
    this.condBuf = new Float32Array(this.batch * this.condDim);
    this.weightBuf = new Float32Array(this.batch * (1 + this.condDim));
    this.noiseBuf = new Float32Array(this.batch * this.noiseDim);
    const total = payload.train.steps;
    this.lrBoundaries = payload.train.lrDecayAt.map((f) => Math.round(f * total));

    const adaptive = payload.kind === 'yoto' && payload.conditioning.adaptive?.mode === 'gap' ? payload.conditioning.adaptive : null;
    this.adaptiveCfg = adaptive;
    this.axes = adaptive
      ? this.problem.weightedTerms.map((term, k) => {
          const d = this.priors[k]!;
          if (d.dist !== 'log-uniform') throw new YotoError('PAYLOAD_INVALID', `prior.${term}: gap-driven P_λ needs a log-uniform prior, not ${d.dist}`);
          return { term, low: d.low, high: d.high };
        })
      : [];
    if (adaptive) {
      this.probeEvery = adaptive.everySteps;
      this.probeCount = Math.min(adaptive.probeExamples, dataset.trainCount);
      this.probeGrid = payload.evalGrid.filter((p) => this.problem.weightedTerms.every((t, k) => p[t] !== undefined && inSupport(this.priors[k]!, p[t])));
      this.trace = { bins: adaptive.bins, axes: this.axes, updates: [{ step: 0, fraction: 0, source: 'start', masses: this.axes.map(() => uniformMasses(adaptive.bins)), gaps: this.axes.map(() => new Array<null>(adaptive.bins).fill(null)) }], probes: [] };
    } else if (payload.probe && payload.fixedLambda) {
      this.probeEvery = payload.probe.everySteps;
      this.probeCount = Math.min(payload.probe.examples, dataset.trainCount);
      this.probeGrid = [payload.fixedLambda];
    } else {
      this.probeEvery = null;
      this.probeCount = 0;
      this.probeGrid = [];
    }
  }

  /** The density trace of a gap-driven run (null otherwise): every update so far and the probes. */
  get adaptiveTrace(): AdaptiveTrace | null {
    return this.trace ? structuredClone(this.trace) : null;
  }

  /** Masses per term of the density in use (gap-driven runs). */
  private currentMasses(): number[][] | null {
    const last = this.trace?.updates[this.trace.updates.length - 1];
    return last ? last.masses : null;
  }

  /** Steps completed. */
  get step(): number {
    return this.stepCount;
  }

  get flopsPerExample(): number {
    return flopsPerExample(this.model, this.condRows, this.batch);
  }

  /** Learning rate of the step that runs after `step` completed steps (step decay). */
  learningRate(step = this.stepCount): number {
    const { lr, lrDecayFactor } = this.payload.train;
    return lr * lrDecayFactor ** this.lrBoundaries.filter((b) => step >= b).length;
  }

  async train(opts: TrainOptions = {}): Promise<TrainSummary> {
    this.assertUsable();
    if (this.training) throw new Error('train() is already running on this trainer');
    this.training = true;
    try {
      return await this.trainLoop(opts);
    } finally {
      this.training = false;
    }
  }

  private async trainLoop(opts: TrainOptions): Promise<TrainSummary> {
    const tf = this.tf;
    const { checkpointEvery, checkpointSeconds } = this.payload.train;
    const until = opts.untilStep ?? this.payload.train.steps;
    const start = this.stepCount;
    const t0 = performance.now();
    let lastCheckpoint = t0;
    let windowStart = t0;
    let windowSteps = 0;
    let pending: { step: number; losses: tfc.Tensor1D }[] = [];
    let stopped = false;

    const flush = async () => {
      if (!pending.length) return;
      const batch = pending;
      pending = [];
      const stacked = tf.stack(batch.map((p) => p.losses));
      let values: Float32Array;
      try {
        values = (await stacked.data()) as Float32Array;
      } finally {
        stacked.dispose();
        for (const p of batch) p.losses.dispose();
      }
      const width = 1 + this.problem.terms.length;
      const sums = new Array<number>(width).fill(0);
      batch.forEach((p, i) => {
        const row = Array.from(values.subarray(i * width, (i + 1) * width));
        if (!row.every(Number.isFinite)) this.diverged(p.step, row);
        row.forEach((v, k) => (sums[k]! += v));
        this.recent.push(row);
      });
      if (this.recent.length > FINAL_WINDOW) this.recent = this.recent.slice(-FINAL_WINDOW);
      const now = performance.now();
      const eps = (windowSteps * this.batch) / Math.max(1e-9, (now - windowStart) / 1000);
      windowStart = now;
      windowSteps = 0;
      if (opts.onProgress) {
        await opts.onProgress({
          step: this.stepCount,
          totalSteps: this.payload.train.steps,
          loss: sums[0]! / batch.length,
          terms: Object.fromEntries(this.problem.terms.map((t, k) => [t, sums[k + 1]! / batch.length])),
          examplesPerSecond: eps,
          lr: this.learningRate(this.stepCount - 1),
        });
      }
      // Give the event loop a turn (job lock renewal, signals) between chunks of compute.
      await new Promise<void>((resolve) => setImmediate(resolve));
    };

    try {
      while (this.stepCount < until) {
        const lr = this.learningRate();
        pending.push({ step: this.stepCount, losses: this.runStep(lr) });
        this.stepCount += 1;
        windowSteps += 1;
        const due =
          this.stepCount % checkpointEvery === 0 || (checkpointSeconds > 0 && performance.now() - lastCheckpoint >= checkpointSeconds * 1000);
        const stop = (opts.shouldStop?.() ?? false) || (opts.signal?.aborted ?? false);
        const probeDue = this.probeEvery !== null && this.stepCount % this.probeEvery === 0;
        if (pending.length >= this.readEvery || due || stop || probeDue || this.stepCount >= until) await flush();
        // Before the checkpoint of the same step, so the checkpoint holds the update.
        if (probeDue) await this.probe(opts);
        if (due) {
          if (opts.onCheckpointDue && this.stepCount < until) await opts.onCheckpointDue(this.stepCount);
          lastCheckpoint = performance.now();
        }
        if (stop) {
          stopped = true;
          break;
        }
      }
      await flush();
    } finally {
      for (const p of pending) p.losses.dispose();
    }
    const steps = this.stepCount - start;
    return {
      step: this.stepCount,
      steps,
      examples: steps * this.batch,
      seconds: (performance.now() - t0) / 1000,
      stopped,
      finalTrain: this.finalTrain(),
    };
  }

  private finalTrain(): Record<string, number> {
    const n = this.recent.length;
    if (!n) return {};
    const mean = (k: number) => this.recent.reduce((s, r) => s + (r[k] ?? 0), 0) / n;
    return { loss: mean(0), ...Object.fromEntries(this.problem.terms.map((t, k) => [t, mean(k + 1)])) };
  }

  private diverged(step: number, row: number[]): never {
    const terms = this.problem.terms.map((t, k) => `${t}=${row[k + 1]}`).join(', ');
    throw new YotoError(
      'TRAINING_DIVERGED',
      `training diverged at step ${step + 1} of run ${this.payload.runId}: loss ${row[0]} (${terms}); lr ${this.learningRate(step)}`,
    );
  }

  /** One optimisation step; returns [loss, ...terms] (batch means), still on the device. */
  private runStep(lr: number): tfc.Tensor1D {
    const tf = this.tf;
    this.fillBatch(this.stepCount);
    this.drawConditioning();
    this.rng.fillNormal(this.noiseBuf);
    const B = this.batch;
    const { height, width, channels } = this.input;
    return tf.tidy(() => {
      const x = tf.tensor4d(this.xBuf, [B, height, width, channels]);
      const c = tf.tensor2d(this.condBuf.subarray(0, this.condRows * this.condDim), [this.condRows, this.condDim]);
      const w = tf.tensor2d(this.weightBuf, [B, 1 + this.condDim]);
      const eps = tf.tensor2d(this.noiseBuf, [B, this.noiseDim]);
      let terms: tfc.Scalar[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const out = this.problem.loss(this.model, x, c, w, eps);
        // The gradient scope disposes everything but its result; keep the terms for reporting.
        terms = this.problem.terms.map((t) => tf.keep(out.terms[t]!));
        return out.total;
      }, this.trainables);
      this.adam.apply(grads, lr);
      const packed = tf.stack([value, ...terms]) as tfc.Tensor1D;
      for (const t of terms) t.dispose();
      return packed;
    });
  }

  /** Training example indices of epoch `e`, in visiting order. */
  private epochOrder(e: number): Uint32Array {
    let order = this.epochOrders.get(e);
    if (!order) {
      order = Rng.seeded(this.payload.seed, RNG_STREAMS.shuffle, e).shuffle(Uint32Array.from({ length: this.dataset.trainCount }, (_, i) => i));
      if (this.epochOrders.size >= 2) this.epochOrders.delete(Math.min(...this.epochOrders.keys()));
      this.epochOrders.set(e, order);
    }
    return order;
  }

  private fillBatch(step: number): void {
    const N = this.dataset.trainCount;
    const px = this.pixels;
    const train = this.dataset.train;
    for (let j = 0; j < this.batch; j++) {
      const pos = step * this.batch + j;
      const idx = this.epochOrder(Math.floor(pos / N))[pos % N]!;
      this.xBuf.set(train.subarray(idx * px, (idx + 1) * px), j * px);
    }
  }

  private drawConditioning(): void {
    const terms = this.problem.weightedTerms;
    const n = this.condDim;
    const normalize = this.payload.conditioning.normalize;
    let cond: number[] = [];
    let weights: number[] = [];
    let unit = 1;
    for (let i = 0; i < this.batch; i++) {
      if (i === 0 || this.payload.conditioning.perExample) {
        const point: LambdaPoint = {};
        const masses = this.currentMasses();
        terms.forEach((t, k) => {
          const u = this.rng.uniform();
          point[t] = masses ? sampleMasses(this.axes[k]!, masses[k]!, u) : sampleLambda(this.priors[k]!, u);
        });
        cond = conditioningInput(point, terms);
        weights = lossWeights(point, terms, normalize);
        // lossWeights divides by g, the geometric mean including the unit term's 1;
        // the unit term's weight is then 1/g, and Π weights = g.
        unit = normalize === 'none' ? 1 : 1 / weights.reduce((p, x) => p * x, 1);
      }
      this.condBuf.set(cond, i * n);
      this.weightBuf[i * (n + 1)] = unit;
      this.weightBuf.set(weights, i * (n + 1) + 1);
    }
  }

  /**
   * Evaluates the probe subset at the probe grid, hands the probe to `onProbe` and,
   * for a gap-driven run before its last step, updates the density.
   */
  private async probe(opts: TrainOptions): Promise<void> {
    const n = this.probeCount;
    this.probeNoise ??= Rng.seeded(0, RNG_STREAMS.probe).fillNormal(new Float32Array(n * this.noiseDim));
    const evals = await this.evaluateOn(this.dataset.train.subarray(0, n * this.pixels), n, this.probeNoise, this.probeGrid);
    const total = this.payload.train.steps;
    const record: ProbeRecord = { step: this.stepCount, fraction: this.stepCount / total, points: evals.map((e) => ({ lambda: e.lambda, loss: e.loss })) };
    await opts.onProbe?.(record);
    const trace = this.trace;
    const cfg = this.adaptiveCfg;
    if (!trace || !cfg) return;
    trace.probes.push(record);
    if (this.stepCount >= total) return;
    const next = nextDensity(cfg, this.axes, this.currentMasses()!, trace.probes, opts.peerCurves?.() ?? [], record.fraction);
    trace.updates.push({ step: this.stepCount, fraction: record.fraction, ...next });
  }

  /** The λ the model is conditioned on when evaluated at `point` (a baseline's stays fixed). */
  conditioningFor(point: LambdaPoint): LambdaPoint {
    const out: LambdaPoint = {};
    this.problem.weightedTerms.forEach((t, k) => {
      const d = this.priors[k]!;
      const v = d.dist === 'fixed' ? d.value : point[t];
      if (v === undefined) throw new YotoError('PAYLOAD_INVALID', `evaluation point has no λ for term "${t}"`);
      out[t] = v;
    });
    return out;
  }

  /**
   * Loss and terms on the test split at each λ (default: the payload's grid).
   * Deterministic: fixed noise per test example, the same for every point.
   */
  async evaluate(grid: LambdaPoint[] = this.payload.evalGrid): Promise<EvalPoint[]> {
    this.assertUsable();
    if (this.problem.evaluateBatch) return this.evaluateByBatch(grid);
    const N = this.dataset.testCount;
    const noise = Rng.seeded(this.payload.seed, RNG_STREAMS.evalNoise).fillNormal(new Float32Array(N * this.noiseDim));
    const out = await this.evaluateOn(this.dataset.test, N, noise, grid);
    if (this.problem.distancesToOptimum && grid.length) {
      const conds = grid.map((point) => conditioningInput(this.conditioningFor(point), this.problem.weightedTerms));
      const c = this.tf.tensor2d(conds.flat(), [grid.length, this.condDim]);
      try {
        const dist = await this.problem.distancesToOptimum(this.model, c, grid);
        out.forEach((ep, i) => (ep.distanceToOptimum = dist[i]));
      } finally {
        c.dispose();
      }
    }
    return out;
  }

  /** Mean loss and terms over the first N images at each λ, with the given noise (one row per image). */
  private async evaluateOn(images: Float32Array, N: number, noise: Float32Array, grid: LambdaPoint[]): Promise<EvalPoint[]> {
    const tf = this.tf;
    const B = Math.min(this.payload.train.evalBatchSize, N);
    const px = this.pixels;
    const d = this.noiseDim;
    const { height, width, channels } = this.input;
    const terms = this.problem.terms;
    // Every (point, batch) sum stays on the device until one read at the end: a small
    // model's evaluation is otherwise mostly waiting on one sync per point.
    const partial: tfc.Tensor1D[] = [];
    try {
      for (const point of grid) {
        // One conditioning row for the whole set: FiLM runs once per batch.
        const cond = Float32Array.from(conditioningInput(this.conditioningFor(point), this.problem.weightedTerms));
        for (let start = 0; start < N; start += B) {
          const n = Math.min(B, N - start);
          partial.push(
            tf.tidy(() => {
              const x = tf.tensor4d(images.subarray(start * px, (start + n) * px), [n, height, width, channels]);
              const c = tf.tensor2d(cond, [1, this.condDim]);
              const eps = tf.tensor2d(noise.subarray(start * d, (start + n) * d), [n, d]);
              const per = this.problem.perExampleTerms(this.model, x, c, eps);
              return tf.stack(terms.map((t) => tf.sum(per[t]!))) as tfc.Tensor1D;
            }),
          );
        }
      }
      if (!partial.length) return [];
      const stacked = tf.stack(partial);
      const vals = (await stacked.data()) as Float32Array;
      stacked.dispose();
      const batches = Math.ceil(N / B);
      const T = terms.length;
      return grid.map((point, i) => {
        const sums = new Float64Array(T);
        for (let b = 0; b < batches; b++) for (let k = 0; k < T; k++) sums[k]! += vals[(i * batches + b) * T + k]!;
        const means = Object.fromEntries(terms.map((t, k) => [t, sums[k]! / N]));
        return { lambda: { ...point }, loss: weightedLoss(means, point, this.problem.unitTerms), terms: means };
      });
    } finally {
      for (const t of partial) t.dispose();
    }
  }

  /**
   * Evaluation through the problem's own `evaluateBatch` (compression: rounded latents
   * and real bitstreams), point by point, with its extra metrics averaged per example.
   */
  private async evaluateByBatch(grid: LambdaPoint[]): Promise<EvalPoint[]> {
    const evaluateBatch = this.problem.evaluateBatch!.bind(this.problem);
    const tf = this.tf;
    const N = this.dataset.testCount;
    const B = Math.min(this.payload.train.evalBatchSize, N);
    const px = this.pixels;
    const { height, width, channels } = this.input;
    const terms = this.problem.terms;
    const out: EvalPoint[] = [];
    for (const point of grid) {
      const cond = conditioningInput(this.conditioningFor(point), this.problem.weightedTerms);
      const sums = new Float64Array(terms.length);
      const metricSums: Record<string, number> = {};
      for (let start = 0; start < N; start += B) {
        const n = Math.min(B, N - start);
        const x = tf.tensor4d(this.dataset.test.subarray(start * px, (start + n) * px), [n, height, width, channels]);
        let batch;
        try {
          batch = await evaluateBatch(this.model, x, cond);
        } finally {
          x.dispose();
        }
        terms.forEach((t, k) => (sums[k]! += batch.terms[t] ?? NaN));
        for (const [m, v] of Object.entries(batch.metrics)) metricSums[m] = (metricSums[m] ?? 0) + v;
      }
      const means = Object.fromEntries(terms.map((t, k) => [t, sums[k]! / N]));
      const metricMeans = Object.fromEntries(Object.entries(metricSums).map(([m, v]) => [m, v / N]));
      out.push({
        lambda: { ...point },
        loss: weightedLoss(means, point, this.problem.unitTerms),
        terms: means,
        metrics: { ...metricMeans, ...(this.problem.finishMetrics?.(means, metricMeans) ?? {}) },
      });
    }
    return out;
  }

  /** Everything needed to continue this run bit-for-bit (on the same backend). */
  async exportState(): Promise<TrainerState> {
    this.assertUsable();
    return {
      version: 1,
      runId: this.payload.runId,
      step: this.stepCount,
      rng: this.rng.state,
      model: { problem: this.problem.name, config: this.payload.model, input: this.input },
      weights: await this.model.params.read(),
      optimizer: await this.adam.exportState(),
      ...(this.trace ? { adaptive: structuredClone(this.trace) } : {}),
    };
  }

  importState(state: TrainerState): void {
    this.assertUsable();
    const corrupt = (msg: string, cause?: unknown) => new YotoError('CHECKPOINT_CORRUPT', `checkpoint of run ${state.runId} at step ${state.step}: ${msg}`, { cause });
    if (state.version !== 1) throw corrupt(`unknown state version ${String(state.version)}`);
    if (state.runId !== this.payload.runId) throw corrupt(`belongs to run ${state.runId}, not ${this.payload.runId}`);
    if (!Number.isInteger(state.step) || state.step < 0) throw corrupt(`invalid step ${state.step}`);
    const want = JSON.stringify({ problem: this.problem.name, config: this.payload.model, input: this.input });
    const have = JSON.stringify(state.model);
    if (want !== have) throw corrupt(`was written for model ${have}, this run builds ${want}`);
    let trace: AdaptiveTrace | null = null;
    if (this.trace) {
      const r = AdaptiveTraceSchema.safeParse(state.adaptive);
      if (!r.success) throw corrupt('this gap-driven run needs its P_λ density in the checkpoint; it is missing or malformed');
      const want = JSON.stringify({ bins: this.trace.bins, axes: this.trace.axes });
      if (JSON.stringify({ bins: r.data.bins, axes: r.data.axes }) !== want || !r.data.updates.length) throw corrupt(`density does not fit this run (${want})`);
      trace = r.data;
    }
    try {
      this.model.params.assign(state.weights);
      this.adam.importState(state.optimizer);
      this.rng = Rng.fromState(state.rng);
    } catch (err) {
      throw corrupt((err as Error).message, err);
    }
    if (trace) this.trace = trace;
    this.stepCount = state.step;
    this.recent = [];
  }

  /** The model's weights by parameter name (final export). */
  exportWeights(): Promise<WeightMap> {
    this.assertUsable();
    return this.model.params.read();
  }

  /** The model in the tfjs weights format with the metadata to rebuild it (see model-export.ts). */
  async exportFinalModel(): Promise<{ files: Record<string, Uint8Array> }> {
    const p = this.payload;
    return serializeFinalModel(await this.exportWeights(), {
      problem: this.problem.name,
      model: { ...p.model },
      input: this.input,
      conditioning: 'log-lambda',
      terms: this.problem.terms,
      weightedTerms: this.problem.weightedTerms,
      runId: p.runId,
      kind: p.kind,
      fixedLambda: p.fixedLambda,
      step: this.stepCount,
    });
  }

  /** Loads weights only (e.g. a final model for evaluation); optimizer and step are untouched. */
  importWeights(weights: WeightMap): void {
    this.assertUsable();
    this.model.params.assign(weights);
  }

  private assertUsable(): void {
    if (this.disposed) throw new Error(`trainer for run ${this.payload.runId} is disposed`);
  }

  /** Frees the model's and the optimizer's variables. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.adam.dispose();
    this.model.dispose();
  }
}
