/**
 * The quadratic problem is exact: every grid point has a closed-form optimum. A YOTO
 * model (MLP of log λ) trained on the prior must land near it everywhere on the grid,
 * and nearer than anything that ignores λ: the best constant w (the geometric median
 * of the optima, which minimises the mean distance) and a model trained on the same
 * prior with its λ input zeroed.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as tfc from '@tensorflow/tfjs-core';
import { expandGrid, PROBLEMS, RunPayloadSchema, type EvalPoint, type LambdaPoint, type RunPayload } from '@yoto/shared';
import { loadDataset, LossConditionalTrainer, type Problem } from '../src/engine/index.ts';
import { quadratic, quadraticAnchors, quadraticOptimum, type QuadraticModel } from '../src/problems/index.ts';
import { testBackend, type TestBackend } from './engine-fixtures.ts';

/** Mean distance to the optimum over the grid that the YOTO model must stay below (anchors in [−1, 1]^8). */
const TOLERANCE = 0.05;
const GRID = { q1: [0.1, 0.3, 1, 3, 10], q2: [0.1, 0.3, 1, 3, 10] };
const POINTS = expandGrid(GRID, PROBLEMS.quadratic.weightedTerms);
const QUAD = { dim: 8, anchorSeed: 3 };

let be: TestBackend;
before(async () => {
  be = await testBackend();
});

function payload(o: { kind?: 'yoto' | 'baseline'; point?: LambdaPoint; steps?: number } = {}): RunPayload {
  const kind = o.kind ?? 'yoto';
  const point = o.point ?? { q1: 1, q2: 1 };
  return RunPayloadSchema.parse({
    version: 1,
    sweepId: 'quadratic-test',
    runId: kind === 'yoto' ? 'yoto-s0' : 'baseline-s0',
    kind,
    variantId: 'base',
    variant: {},
    seed: 0,
    problem: 'quadratic',
    quadratic: QUAD,
    model: { filmHidden: 64 },
    conditioning: { perExample: true, normalize: 'none' },
    prior:
      kind === 'yoto'
        ? { q1: { dist: 'log-uniform', low: 0.1, high: 10 }, q2: { dist: 'log-uniform', low: 0.1, high: 10 } }
        : { q1: { dist: 'fixed', value: point.q1 }, q2: { dist: 'fixed', value: point.q2 } },
    fixedLambda: kind === 'yoto' ? null : point,
    evalGrid: POINTS,
    train: { steps: o.steps ?? 1500, batchSize: 64, lr: 3e-3, lrDecayAt: [0.6, 0.8], checkpointSeconds: 0 },
  });
}

async function train(p: RunPayload, problem?: Problem): Promise<EvalPoint[]> {
  const trainer = new LossConditionalTrainer({ payload: p, tf: be.tf, dataset: await loadDataset(p.dataset), ...(problem ? { problem } : {}) });
  try {
    await trainer.train();
    return await trainer.evaluate();
  } finally {
    trainer.dispose();
  }
}

const meanDistance = (evals: EvalPoint[]) => evals.reduce((s, e) => s + (e.distanceToOptimum ?? Infinity), 0) / evals.length;
const dist = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, v, i) => s + (v - (b[i] ?? 0)) ** 2, 0));

/** Weiszfeld's iteration: the point minimising the mean Euclidean distance to `xs`. */
function geometricMedian(xs: number[][]): number[] {
  let m = xs[0]!.map((_, d) => xs.reduce((s, x) => s + x[d]!, 0) / xs.length);
  for (let it = 0; it < 500; it++) {
    const w = xs.map((x) => 1 / Math.max(1e-12, dist(x, m)));
    const W = w.reduce((s, v) => s + v, 0);
    m = m.map((_, d) => xs.reduce((s, x, i) => s + w[i]! * x[d]!, 0) / W);
  }
  return m;
}

/** The quadratic problem with its λ input zeroed: trained on the same prior, blind to λ. */
function unconditioned(): Problem {
  const q = quadratic as unknown as Problem<QuadraticModel>;
  const blind = (tf: typeof be.tf, c: tfc.Tensor2D) => tf.zerosLike(c);
  return {
    ...q,
    perExampleTerms: (m, x, c, n) => q.perExampleTerms(m, x, blind(be.tf, c), n),
    loss(m, x, c, w, n) {
      return q.loss.call(this, m, x, blind(be.tf, c), w, n);
    },
    distancesToOptimum: (m, c, p) => q.distancesToOptimum!(m, blind(be.tf, c), p),
  } as Problem<QuadraticModel> as unknown as Problem;
}

describe('quadratic problem', () => {
  test('the optimum is the weighted mean of the anchors and minimises the loss', () => {
    const anchors = quadraticAnchors({ ...QUAD });
    assert.equal(anchors.length, 3);
    assert.ok(anchors.every((a) => a.length === 8 && a.every((v) => v >= -1 && v <= 1)));
    assert.deepEqual(quadraticAnchors({ ...QUAD }), anchors, 'anchors are a function of anchorSeed');
    const point = { q1: 3, q2: 0.5 };
    const w = quadraticOptimum(anchors, point);
    const loss = (x: number[]) => dist(x, anchors[0]!) ** 2 + 3 * dist(x, anchors[1]!) ** 2 + 0.5 * dist(x, anchors[2]!) ** 2;
    for (let d = 0; d < 8; d++) {
      const nudged = w.map((v, i) => (i === d ? v + 1e-3 : v));
      assert.ok(loss(nudged) > loss(w));
    }
    assert.deepEqual(quadraticOptimum([[0], [2], [4]], { q1: 1, q2: 2 }), [(0 + 2 + 8) / 4]);
  });

  test('a baseline reaches the optimum at its own λ', async () => {
    const point = { q1: 3, q2: 0.3 };
    const evals = await train(payload({ kind: 'baseline', point, steps: 600 }));
    const own = evals.find((e) => e.lambda.q1 === point.q1 && e.lambda.q2 === point.q2);
    assert.ok(own?.distanceToOptimum !== undefined && own.distanceToOptimum < 0.01, `distance at its own λ: ${own?.distanceToOptimum}`);
    // Its loss terms agree with the distances it reports.
    assert.ok(Math.abs(own.loss - (own.terms.q0! + 3 * own.terms.q1! + 0.3 * own.terms.q2!)) < 1e-4);
  });

  test(`the YOTO model lands within ${TOLERANCE} of the optimum on average over the grid, nearer than any λ-blind solution`, async () => {
    const evals = await train(payload());
    assert.equal(evals.length, POINTS.length);
    const yoto = meanDistance(evals);

    const anchors = quadraticAnchors({ ...QUAD });
    const optima = POINTS.map((p) => quadraticOptimum(anchors, p));
    const median = geometricMedian(optima);
    const bestConstant = optima.reduce((s, o) => s + dist(o, median), 0) / optima.length;

    const blind = meanDistance(await train(payload(), unconditioned()));
    console.log(`quadratic: mean distance to optimum YOTO ${yoto.toFixed(4)}, λ-blind model ${blind.toFixed(4)}, best constant ${bestConstant.toFixed(4)} (tolerance ${TOLERANCE})`);
    assert.ok(yoto < TOLERANCE, `YOTO mean distance ${yoto} ≥ ${TOLERANCE}`);
    assert.ok(yoto < bestConstant / 5, `YOTO ${yoto} vs best constant ${bestConstant}`);
    assert.ok(blind >= bestConstant - 1e-6, `a λ-blind model cannot beat the best constant (${blind} < ${bestConstant})`);
    assert.ok(yoto < blind / 5, `YOTO ${yoto} vs λ-blind model ${blind}`);
  });
});
