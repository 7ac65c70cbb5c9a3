/**
 * The sweep spec: the one thing a user writes. Parsed once with `parseSweepSpec`,
 * which returns a fully defaulted spec or throws a ValidationError naming every bad
 * field. The planner, the API and the CLI all go through here.
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { ValidationError, formatPath, type FieldIssue } from './errors.ts';
import { ID_PATTERN, ID_RULE } from './ids.ts';
import { DATASETS, DATASET_LIMITS, MODEL_ARCHS, PROBLEMS, PROBLEM_NAMES, needsDataset, type ProblemName } from './problems.ts';
import { expandGrid } from './lambda.ts';
import { AdaptiveSchema } from './adaptive.ts';

/** Hard limits; each is named in the error that enforces it. */
export const LIMITS = {
  maxGridPointsPerTerm: 64,
  maxGridPoints: 64,
  maxSteps: 1_000_000,
  maxBatchSize: 1024,
  maxVariantValues: 16,
  maxVariantCombinations: 32,
  maxSeeds: 16,
  maxRuns: 10_000,
  maxYotoStepsMultiplier: 64,
  maxWidth: 16,
  maxLatentDim: 512,
  maxQuadraticDim: 1024,
  maxAnchorAbs: 1e4,
  maxSpecBytes: 256 * 1024,
  minLambda: 1e-8,
  maxLambda: 1e8,
} as const;

const positive = z.number().positive().min(LIMITS.minLambda).max(LIMITS.maxLambda);

const LambdaDistSchema = z.discriminatedUnion('dist', [
  z.strictObject({ dist: z.literal('log-uniform'), low: positive, high: positive }),
  z.strictObject({ dist: z.literal('uniform'), low: z.number().min(0).max(LIMITS.maxLambda), high: positive }),
  z.strictObject({ dist: z.literal('fixed'), value: positive }),
]);

const DatasetSchema = z.strictObject({
  name: z.enum(DATASETS),
  trainExamples: z.number().int().min(64).default(10000),
  testExamples: z.number().int().min(16).default(2000),
});

/**
 * The quadratic problem's anchors a_0…a_K (one per term, in `terms` order): given
 * explicitly, or drawn uniformly from [−1, 1]^dim by a PRNG keyed by `anchorSeed`
 * (the same for every run of the sweep, so every run solves the same problem).
 */
const QuadraticSchema = z.strictObject({
  dim: z.number().int().min(1).max(LIMITS.maxQuadraticDim).default(8),
  anchorSeed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  anchors: z.array(z.array(z.number().min(-LIMITS.maxAnchorAbs).max(LIMITS.maxAnchorAbs))).optional(),
});

const ModelSchema = z.strictObject({
  arch: z.enum(MODEL_ARCHS).default('conv'),
  latentDim: z.number().int().min(1).max(LIMITS.maxLatentDim).default(10),
  width: z.number().positive().max(LIMITS.maxWidth).default(1),
  /** Hidden units of the FiLM MLPs that map log λ to per-channel scale and shift. */
  filmHidden: z.number().int().min(1).max(4096).default(256),
  /** Post-processing multipliers: scale = 1 + filmScale·s, shift = filmShift·t (paper: 0.01). */
  filmScale: z.number().min(0).max(10).default(0.01),
  filmShift: z.number().min(0).max(10).default(0.01),
});

const ConditioningSchema = z.strictObject({
  /** Draw λ per example (the paper) or once per batch. */
  perExample: z.boolean().default(true),
  /** Divide the loss weights by their geometric mean (off by default, as in the paper). */
  normalize: z.enum(['none', 'geometric-mean']).default('none'),
  /** Gap-driven P_λ for the YOTO run (see adaptive.ts); absent = sample the prior. */
  adaptive: AdaptiveSchema.optional(),
});

const TrainSchema = z.strictObject({
  steps: z.number().int().min(1).max(LIMITS.maxSteps),
  batchSize: z.number().int().min(1).max(LIMITS.maxBatchSize).default(64),
  lr: z.number().positive().max(1).default(2e-4),
  /** Multiply lr by `lrDecayFactor` at each of these fractions of the run (step decay). */
  lrDecayAt: z.array(z.number().gt(0).lt(1)).max(8).default([0.6, 0.8]),
  lrDecayFactor: z.number().gt(0).max(1).default(0.5),
  weightDecay: z.number().min(0).max(1).default(1e-5),
  checkpointEvery: z.number().int().min(1).max(LIMITS.maxSteps).default(500),
  /** Checkpoint at least this often in wall-clock seconds (0 = steps only). */
  checkpointSeconds: z.number().min(0).max(86400).default(300),
  /** Examples per evaluation batch (does not change results, only memory). */
  evalBatchSize: z.number().int().min(1).max(4096).default(500),
});

/** Spec fields a `variants` axis may vary, each re-validated with the value applied. */
export const VARIANT_PATHS = [
  'model.width',
  'model.latentDim',
  'model.arch',
  'model.filmHidden',
  'model.filmScale',
  'model.filmShift',
  'train.lr',
  'train.batchSize',
  'train.steps',
  'conditioning.perExample',
  'conditioning.normalize',
  'conditioning.adaptive.mode',
  'conditioning.adaptive.rate',
  'conditioning.adaptive.floor',
  'conditioning.adaptive.bins',
  'yotoStepsMultiplier',
] as const;
export type VariantPath = (typeof VARIANT_PATHS)[number];

/**
 * Variant axes that change only the YOTO run. Variants that differ in nothing else
 * share one set of baselines (trained once, compared with every such YOTO run).
 */
export const YOTO_ONLY_PATHS: readonly VariantPath[] = [
  'conditioning.adaptive.mode',
  'conditioning.adaptive.rate',
  'conditioning.adaptive.floor',
  'conditioning.adaptive.bins',
  'yotoStepsMultiplier',
];

const VariantValue = z.union([z.number(), z.string().max(64), z.boolean()]);

const SpecObject = z.strictObject({
  name: z.string().regex(ID_PATTERN, `must be ${ID_RULE}`),
  description: z.string().max(2000).optional(),
  problem: z.enum(PROBLEM_NAMES as [ProblemName, ...ProblemName[]]),
  /** Required by every problem that trains on data; absent for a data-free problem (quadratic). */
  dataset: DatasetSchema.optional(),
  /** Settings of the `quadratic` problem (defaults apply when absent). */
  quadratic: QuadraticSchema.optional(),
  model: ModelSchema.prefault({}),
  conditioning: ConditioningSchema.prefault({}),
  lambda: z.record(z.string(), LambdaDistSchema),
  grid: z.record(z.string(), z.array(positive).min(1, 'must list at least one λ').max(LIMITS.maxGridPointsPerTerm)),
  train: TrainSchema,
  yotoStepsMultiplier: z.number().positive().max(LIMITS.maxYotoStepsMultiplier).default(1),
  variants: z.record(z.string(), z.array(VariantValue).min(1).max(LIMITS.maxVariantValues)).default({}),
  seeds: z.array(z.number().int().min(0).max(2 ** 31 - 1)).min(1).max(LIMITS.maxSeeds).default([0]),
  /** BullMQ priority: 1 is most urgent. */
  priority: z.number().int().min(1).max(2_097_152).default(5),
});

export type SweepSpec = z.output<typeof SpecObject>;
export type SweepSpecInput = z.input<typeof SpecObject>;
export type TrainConfig = SweepSpec['train'];
export type ModelConfig = SweepSpec['model'];
export type DatasetConfig = z.output<typeof DatasetSchema>;
export type QuadraticConfig = z.output<typeof QuadraticSchema>;
export type ConditioningConfig = SweepSpec['conditioning'];
export type LambdaDistConfig = z.output<typeof LambdaDistSchema>;

function zodIssues(err: z.ZodError, prefix: ReadonlyArray<PropertyKey> = []): FieldIssue[] {
  return err.issues.map((i) => ({ path: formatPath([...prefix, ...i.path]), message: i.message }));
}

/** Cross-field rules zod's shape cannot express. */
function semanticIssues(spec: SweepSpec): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const info = PROBLEMS[spec.problem];
  const want = [...info.weightedTerms].sort().join(', ');
  const check = (field: 'lambda' | 'grid') => {
    const keys = Object.keys(spec[field]);
    for (const k of keys) {
      if (!(info.weightedTerms as readonly string[]).includes(k)) issues.push({ path: `${field}.${k}`, message: `unknown term for problem ${spec.problem}; expected exactly: ${want}` });
    }
    for (const t of info.weightedTerms) {
      if (!keys.includes(t)) issues.push({ path: `${field}.${t}`, message: `missing: problem ${spec.problem} weights the term "${t}"` });
    }
  };
  check('lambda');
  check('grid');
  for (const [k, d] of Object.entries(spec.lambda)) {
    if (d.dist !== 'fixed' && !(d.low < d.high)) issues.push({ path: `lambda.${k}.low`, message: `must be below high (${d.low} ≥ ${d.high})` });
  }
  for (const [k, values] of Object.entries(spec.grid)) {
    const seen = new Set<number>();
    values.forEach((v, i) => {
      if (seen.has(v)) issues.push({ path: `grid.${k}[${i}]`, message: `duplicate λ ${v}` });
      seen.add(v);
    });
  }
  const points = expandGrid(spec.grid, info.weightedTerms).length;
  if (points > LIMITS.maxGridPoints) issues.push({ path: 'grid', message: `${points} grid points exceed the limit of ${LIMITS.maxGridPoints}` });
  if (!(info.archs as readonly string[]).includes(spec.model.arch)) issues.push({ path: 'model.arch', message: `problem ${spec.problem} supports ${info.archs.join(', ')}, not ${spec.model.arch}` });
  issues.push(...dataIssues(spec));
  const decay = spec.train.lrDecayAt;
  for (let i = 1; i < decay.length; i++) {
    if (!((decay[i] ?? 0) > (decay[i - 1] ?? 0))) issues.push({ path: `train.lrDecayAt[${i}]`, message: 'must be increasing' });
  }
  if (new Set(spec.seeds).size !== spec.seeds.length) issues.push({ path: 'seeds', message: 'duplicate seed' });
  const adaptive = spec.conditioning.adaptive;
  if (adaptive?.mode === 'gap') {
    for (const [k, d] of Object.entries(spec.lambda)) {
      if (d.dist !== 'log-uniform') issues.push({ path: `lambda.${k}.dist`, message: `conditioning.adaptive.mode gap re-weights a log-uniform prior; ${k} is ${d.dist}` });
    }
    if (spec.dataset && adaptive.probeExamples > spec.dataset.trainExamples) issues.push({ path: 'conditioning.adaptive.probeExamples', message: `larger than dataset.trainExamples (${spec.dataset.trainExamples})` });
  }
  return issues;
}

/** `dataset` and `quadratic`: present exactly when the problem uses them, and within their limits. */
function dataIssues(spec: SweepSpec): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const info = PROBLEMS[spec.problem];
  const ds = spec.dataset;
  if (!needsDataset(spec.problem)) {
    if (ds) issues.push({ path: 'dataset', message: `problem ${spec.problem} trains without data; remove this field` });
  } else if (!ds) {
    issues.push({ path: 'dataset', message: `required: problem ${spec.problem} trains on one of ${info.datasets.join(', ')}` });
  } else {
    if (!(info.datasets as readonly string[]).includes(ds.name)) issues.push({ path: 'dataset.name', message: `problem ${spec.problem} does not support ${ds.name}` });
    const lim = DATASET_LIMITS[ds.name];
    if (ds.trainExamples > lim.train) issues.push({ path: 'dataset.trainExamples', message: `${ds.name} has ${lim.train} training examples; asked for ${ds.trainExamples}` });
    if (ds.testExamples > lim.test) issues.push({ path: 'dataset.testExamples', message: `${ds.name} has ${lim.test} test examples; asked for ${ds.testExamples}` });
    if (spec.train.batchSize > ds.trainExamples) issues.push({ path: 'train.batchSize', message: `larger than dataset.trainExamples (${ds.trainExamples})` });
  }
  const q = spec.quadratic;
  if (q && spec.problem !== 'quadratic') issues.push({ path: 'quadratic', message: `only for problem quadratic, not ${spec.problem}` });
  if (q?.anchors) {
    const want = info.terms.length;
    if (q.anchors.length !== want) issues.push({ path: 'quadratic.anchors', message: `needs ${want} anchors (one per term: ${info.terms.join(', ')}); got ${q.anchors.length}` });
    q.anchors.forEach((a, i) => {
      if (a.length !== q.dim) issues.push({ path: `quadratic.anchors[${i}]`, message: `has ${a.length} coordinates; quadratic.dim is ${q.dim}` });
    });
  }
  return issues;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    cur[p] = next && typeof next === 'object' ? { ...(next as Record<string, unknown>) } : {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1] as string] = value;
}

/** One combination of variant axis values, e.g. `{ 'model.width': 2 }`. */
export type VariantAssignment = Record<string, string | number | boolean>;

/** Every combination of the spec's variant axes (one empty assignment when it has none). */
export function variantCombinations(variants: Record<string, ReadonlyArray<string | number | boolean>>): VariantAssignment[] {
  let out: VariantAssignment[] = [{}];
  for (const [path, values] of Object.entries(variants)) {
    const next: VariantAssignment[] = [];
    for (const a of out) for (const v of values) next.push({ ...a, [path]: v });
    out = next;
  }
  return out;
}

/** The spec with one variant assignment applied and re-validated (without its variants). */
export function applyVariant(spec: SweepSpec, assignment: VariantAssignment): SweepSpec {
  const raw = structuredClone({ ...spec, variants: {} }) as unknown as Record<string, unknown>;
  for (const [path, value] of Object.entries(assignment)) setPath(raw, path, value);
  return SpecObject.parse(raw);
}

/**
 * Number of training runs a spec plans: seeds × (one YOTO run per variant + grid
 * baselines per group of variants that differ only in YOTO-only axes).
 */
export function countRuns(spec: SweepSpec): number {
  const combos = Object.values(spec.variants).reduce((n, v) => n * v.length, 1);
  const baselineGroups = Object.entries(spec.variants).reduce((n, [path, v]) => ((YOTO_ONLY_PATHS as readonly string[]).includes(path) ? n : n * v.length), 1);
  const points = expandGrid(spec.grid, PROBLEMS[spec.problem].weightedTerms).length;
  return spec.seeds.length * (combos + baselineGroups * points);
}

function variantIssues(spec: SweepSpec): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const combos = Object.values(spec.variants).reduce((n, v) => n * v.length, 1);
  for (const path of Object.keys(spec.variants)) {
    if (!(VARIANT_PATHS as readonly string[]).includes(path)) {
      issues.push({ path: `variants.${path}`, message: `not a variable field; allowed: ${VARIANT_PATHS.join(', ')}` });
    }
  }
  if (issues.length) return issues;
  if (combos > LIMITS.maxVariantCombinations) {
    return [{ path: 'variants', message: `${combos} combinations exceed the limit of ${LIMITS.maxVariantCombinations}` }];
  }
  // Each value is checked by applying it alone, so the error names the exact entry.
  for (const [path, values] of Object.entries(spec.variants)) {
    values.forEach((v, i) => {
      const r = SpecObject.safeParse((() => {
        const raw = structuredClone({ ...spec, variants: {} }) as unknown as Record<string, unknown>;
        setPath(raw, path, v);
        return raw;
      })());
      if (!r.success) {
        for (const iss of r.error.issues) issues.push({ path: `variants.${path}[${i}]`, message: `${formatPath(iss.path)}: ${iss.message}` });
      } else {
        for (const iss of semanticIssues(r.data)) issues.push({ path: `variants.${path}[${i}]`, message: `${iss.path}: ${iss.message}` });
      }
    });
  }
  return issues;
}

/**
 * Validates an already-parsed spec object. Throws ValidationError (code SPEC_INVALID)
 * listing every bad field; returns the spec with defaults filled in.
 */
export function parseSweepSpec(input: unknown): SweepSpec {
  const r = SpecObject.safeParse(input);
  if (!r.success) throw new ValidationError('SPEC_INVALID', 'sweep spec', zodIssues(r.error));
  const spec = r.data;
  const issues = [...semanticIssues(spec), ...variantIssues(spec)];
  if (issues.length === 0) {
    const runs = countRuns(spec);
    if (runs > LIMITS.maxRuns) issues.push({ path: 'variants', message: `the sweep plans ${runs} runs; the limit is ${LIMITS.maxRuns}` });
  }
  if (issues.length) throw new ValidationError('SPEC_INVALID', 'sweep spec', issues);
  return spec;
}

/** Parses YAML or JSON text (JSON is YAML) and validates it. */
export function parseSweepSpecText(text: string): SweepSpec {
  if (text.length > LIMITS.maxSpecBytes) {
    throw new ValidationError('SPEC_INVALID', 'sweep spec', [{ path: '', message: `larger than ${LIMITS.maxSpecBytes} bytes` }]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 50, uniqueKeys: true });
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ValidationError('SPEC_INVALID', 'sweep spec', [{ path: '', message: `not valid YAML/JSON: ${msg}` }]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ValidationError('SPEC_INVALID', 'sweep spec', [{ path: '', message: 'must be a mapping (an object) at the top level' }]);
  }
  return parseSweepSpec(raw);
}

export { LambdaDistSchema, TrainSchema, ModelSchema, DatasetSchema, ConditioningSchema, QuadraticSchema, SpecObject as SweepSpecSchema };
