/**
 * What the planner and the report need to know about each problem, without the
 * model code (which lives in the worker). A problem's loss is
 * `unitTerm + Σ λ_k · term_k` over its weighted terms.
 */
export interface ProblemInfo {
  name: string;
  /** Every loss term the problem reports, in display order. */
  terms: readonly string[];
  /** Terms that carry a λ weight; the spec's `lambda` and `grid` keys must be exactly these. */
  weightedTerms: readonly string[];
  /**
   * Datasets the problem can train on. Empty for a problem whose loss reads no data
   * (quadratic): its spec has no `dataset`, and the worker feeds it λ draws alone.
   */
  datasets: readonly DatasetName[];
  /** Which architectures it supports. */
  archs: readonly ModelArch[];
  /** One-line description for `yoto validate` and docs. */
  summary: string;
  /** Axis names for the trade-off plot (x, y) over terms. */
  tradeoff: readonly [string, string];
  /**
   * Codec problems: the evaluation metrics that make the rate–distortion curve
   * (rate in bits per pixel, quality in dB); the report then adds RD curves and the
   * BD-rate of YOTO against the baselines.
   */
  rd?: { rate: string; quality: string };
}

export const DATASETS = ['mnist', 'fashion-mnist', 'shapes'] as const;
export type DatasetName = (typeof DATASETS)[number];

export const MODEL_ARCHS = ['conv', 'mlp'] as const;
export type ModelArch = (typeof MODEL_ARCHS)[number];

/** Train/test sizes each dataset can supply. */
export const DATASET_LIMITS: Record<DatasetName, { train: number; test: number }> = {
  mnist: { train: 60000, test: 10000 },
  'fashion-mnist': { train: 60000, test: 10000 },
  shapes: { train: 100000, test: 20000 },
};

export const PROBLEMS = {
  'beta-vae': {
    name: 'beta-vae',
    terms: ['recon', 'kl'],
    weightedTerms: ['kl'],
    datasets: DATASETS,
    archs: MODEL_ARCHS,
    summary: 'β-VAE: Bernoulli reconstruction NLL (nats, summed over pixels) + β·KL(q(z|x) ‖ N(0, I))',
    tradeoff: ['kl', 'recon'],
  },
  compression: {
    name: 'compression',
    terms: ['rate', 'distortion'],
    weightedTerms: ['distortion'],
    datasets: DATASETS,
    archs: ['conv'],
    summary: 'learned image compression: rate (bits per pixel) + λ·distortion (MSE per pixel on the 8-bit scale [0, 255]); evaluated with real rANS bitstreams, PSNR and BD-rate',
    tradeoff: ['rate', 'distortion'],
    rd: { rate: 'actualBpp', quality: 'psnr' },
  },
  quadratic: {
    name: 'quadratic',
    terms: ['q0', 'q1', 'q2'],
    weightedTerms: ['q1', 'q2'],
    datasets: [],
    archs: MODEL_ARCHS,
    summary: 'conflicting quadratics q_i = ‖w − a_i‖²: q0 + λ1·q1 + λ2·q2, optimum w* = (a0 + λ1·a1 + λ2·a2)/(1 + λ1 + λ2) in closed form',
    tradeoff: ['q1', 'q0'],
  },
} as const satisfies Record<string, ProblemInfo>;

/** Whether a problem trains on a dataset (false: its loss reads no data). */
export function needsDataset(name: ProblemName): boolean {
  return PROBLEMS[name].datasets.length > 0;
}

export type ProblemName = keyof typeof PROBLEMS;
export const PROBLEM_NAMES = Object.keys(PROBLEMS) as ProblemName[];

export function problemInfo(name: ProblemName): ProblemInfo {
  return PROBLEMS[name];
}
