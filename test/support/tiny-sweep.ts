/**
 * The smallest beta-vae sweep that exercises every artifact for real: one YOTO run and
 * two baselines (kl = 0.5, 8) of 30 steps on the shapes dataset. A checkpoint every
 * 10 steps leaves three per run, of which the worker keeps two, so `gc` has something
 * to prune; strong FiLM multipliers make λ visible in sampled images after so few steps.
 */
export function tinySweepSpec(name: string) {
  return {
    name,
    problem: 'beta-vae',
    dataset: { name: 'shapes', trainExamples: 256, testExamples: 64 },
    model: { arch: 'mlp', latentDim: 4, width: 0.25, filmHidden: 16, filmScale: 1, filmShift: 1 },
    lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 8 } },
    grid: { kl: [0.5, 8] },
    train: { steps: 30, batchSize: 32, lr: 0.002, checkpointEvery: 10, evalBatchSize: 64 },
    seeds: [0],
  };
}

/** The shapes dataset's images are 28×28: one tile of the λ dial's grid. */
export const SHAPES_TILE = 28;
