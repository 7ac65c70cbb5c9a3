/**
 * Specs and synthetic run results for the coordinator tests. The results are what a
 * train worker would return (schema-valid RunResults), computed from the payload by
 * a closed-form loss curve — no training engine — so the aggregate is tested alone.
 */
import { randomBytes } from 'node:crypto';
import { s3Keys, type LambdaPoint, type RunPayload, type RunResult } from '@yoto/shared';

/** A unique lower-case suffix for names and BullMQ prefixes. */
export function uniq(): string {
  return randomBytes(4).toString('hex');
}

/** A small valid β-VAE spec (1 variant × (1 YOTO + 3 baselines) = 4 runs unless changed). */
export function smallSpec(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    problem: 'beta-vae',
    dataset: { name: 'mnist', trainExamples: 256, testExamples: 64 },
    model: { arch: 'mlp', latentDim: 4 },
    lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 4 } },
    grid: { kl: [0.5, 2, 8] },
    train: { steps: 10, batchSize: 32 },
    ...extra,
  };
}

/** Baseline test loss at λ: a smooth curve; YOTO is `yotoFactor` times it. */
export function syntheticLoss(kind: 'yoto' | 'baseline', lambda: LambdaPoint, yotoFactor = 1.05): number {
  const l = lambda.kl ?? 1;
  const base = 80 + 5 * Math.log2(l + 1);
  return kind === 'yoto' ? base * yotoFactor : base;
}

/** Compute seconds a run "spent": YOTO 2 s, a baseline 1.5 s. */
export function syntheticCompute(kind: 'yoto' | 'baseline'): number {
  return kind === 'yoto' ? 2 : 1.5;
}

export function syntheticResult(p: RunPayload, worker = 'test-worker'): RunResult {
  const evals = p.evalGrid.map((lambda) => {
    const loss = syntheticLoss(p.kind, lambda);
    const kl = 2 / (1 + (lambda.kl ?? 1));
    return { lambda, loss, terms: { recon: loss - (lambda.kl ?? 1) * kl, kl } };
  });
  return {
    version: 1,
    sweepId: p.sweepId,
    runId: p.runId,
    kind: p.kind,
    variantId: p.variantId,
    seed: p.seed,
    fixedLambda: p.fixedLambda,
    steps: p.train.steps,
    batchSize: p.train.batchSize,
    examples: p.train.steps * p.train.batchSize,
    computeSeconds: syntheticCompute(p.kind),
    evalSeconds: 0.1,
    flopsPerExample: 1000,
    backend: { name: 'cpu', threads: 1 },
    worker,
    evals,
    finalTrain: { recon: 50, kl: 3 },
    artifacts: { final: s3Keys.finalDir(p.sweepId, p.runId), eval: s3Keys.finalEval(p.sweepId, p.runId), metrics: s3Keys.metrics(p.sweepId, p.runId) },
    resumedFromStep: null,
    finishedAt: new Date().toISOString(),
  };
}
