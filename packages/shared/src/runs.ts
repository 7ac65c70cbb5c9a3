/**
 * The train job's payload and result: one schema each, parsed by the coordinator
 * when it enqueues / aggregates and by the worker when it trains / returns.
 */
import { z } from 'zod';
import { ValidationError, formatPath } from './errors.ts';
import { ID_PATTERN, ID_RULE } from './ids.ts';
import { ConditioningSchema, DatasetSchema, LambdaDistSchema, ModelSchema, QuadraticSchema, TrainSchema } from './spec.ts';
import { PROBLEM_NAMES, type ProblemName } from './problems.ts';

const ProbeRecordSchema = z.strictObject({
  step: z.number().int().min(0),
  fraction: z.number(),
  points: z.array(z.strictObject({ lambda: z.record(z.string(), z.number().positive()), loss: z.number() })),
});
export const AdaptiveTraceSchema = z.strictObject({
  bins: z.number().int().min(1),
  axes: z.array(z.strictObject({ term: z.string(), low: z.number().positive(), high: z.number().positive() })),
  updates: z.array(
    z.strictObject({
      step: z.number().int().min(0),
      fraction: z.number(),
      source: z.enum(['start', 'baselines', 'progress', 'hold']),
      masses: z.array(z.array(z.number())),
      gaps: z.array(z.array(z.number().nullable())),
    }),
  ),
  probes: z.array(ProbeRecordSchema),
});

const Id = z.string().regex(ID_PATTERN, `must be ${ID_RULE}`);
const LambdaPointSchema = z.record(z.string(), z.number().positive());

export const RUN_KINDS = ['yoto', 'baseline'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

export const RunPayloadSchema = z.strictObject({
  /** Payload format version; a worker refuses versions it does not know. */
  version: z.literal(1),
  sweepId: Id,
  runId: Id,
  kind: z.enum(RUN_KINDS),
  variantId: Id,
  /** The variant axes' values for this run, e.g. `{ "model.width": 2 }`. */
  variant: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  seed: z.number().int().min(0),
  problem: z.enum(PROBLEM_NAMES as [ProblemName, ...ProblemName[]]),
  /** Absent for a problem that trains without data (quadratic). */
  dataset: DatasetSchema.optional(),
  /** The quadratic problem's settings (that problem only). */
  quadratic: QuadraticSchema.optional(),
  model: ModelSchema,
  conditioning: ConditioningSchema,
  /** The training distribution of λ per weighted term. Baselines carry `fixed` priors. */
  prior: z.record(z.string(), LambdaDistSchema),
  /** Baselines: the λ they are trained at; YOTO: null. */
  fixedLambda: LambdaPointSchema.nullable(),
  /** Points at which the trained model is evaluated on the test split. */
  evalGrid: z.array(LambdaPointSchema).min(1),
  /** Training schedule (for YOTO, steps already include the multiplier). */
  train: TrainSchema,
  /**
   * Baselines compared with a gap-driven YOTO run: evaluate on the probe subset every
   * `everySteps` steps and publish the loss for it (adaptive.ts).
   */
  probe: z.strictObject({ everySteps: z.number().int().min(1), examples: z.number().int().min(1) }).optional(),
  /** Gap-driven YOTO runs: the baselines whose published probe curves steer P_λ. */
  peers: z.array(z.strictObject({ runId: Id, lambda: LambdaPointSchema })).optional(),
  /** YOTO runs whose baselines were planned under another variant (shared, see plan.ts). */
  baselineVariantId: Id.optional(),
});
export type RunPayload = z.output<typeof RunPayloadSchema>;

export const EvalPointSchema = z.strictObject({
  lambda: LambdaPointSchema,
  /** Unit term + Σ λ_k·term_k on the test split (mean per example). */
  loss: z.number(),
  terms: z.record(z.string(), z.number()),
  /**
   * Problem-specific evaluation figures beyond the loss terms (compression: actual
   * coded bits per pixel and PSNR); absent for problems without any.
   */
  metrics: z.record(z.string(), z.number()).optional(),
  /**
   * Problems with a closed-form optimum (quadratic): Euclidean distance between the
   * model's solution at this λ and the analytic optimum.
   */
  distanceToOptimum: z.number().min(0).optional(),
});
export type EvalPoint = z.output<typeof EvalPointSchema>;

export const BackendRecordSchema = z.strictObject({
  name: z.string(),
  threads: z.number().int().min(1),
  simd: z.boolean().optional(),
  native: z.string().optional(),
});
export type BackendRecord = z.output<typeof BackendRecordSchema>;

export const RunResultSchema = z.strictObject({
  version: z.literal(1),
  sweepId: Id,
  runId: Id,
  kind: z.enum(RUN_KINDS),
  variantId: Id,
  seed: z.number().int(),
  fixedLambda: LambdaPointSchema.nullable(),
  steps: z.number().int().min(0),
  batchSize: z.number().int().min(1),
  examples: z.number().int().min(0),
  /** Wall-clock seconds spent training (all attempts, excluding evaluation). */
  computeSeconds: z.number().min(0),
  evalSeconds: z.number().min(0),
  /** Forward+backward FLOPs per training example (model-specific estimate). */
  flopsPerExample: z.number().min(0),
  backend: BackendRecordSchema,
  worker: z.string(),
  evals: z.array(EvalPointSchema),
  /** Final training loss terms (running mean over the last steps). */
  finalTrain: z.record(z.string(), z.number()),
  artifacts: z.strictObject({
    final: z.string(),
    eval: z.string(),
    metrics: z.string(),
  }),
  resumedFromStep: z.number().int().nullable(),
  finishedAt: z.string(),
  /** Gap-driven YOTO runs: the density over log λ used through training, and the probes behind it. */
  adaptive: AdaptiveTraceSchema.optional(),
});
export type RunResult = z.output<typeof RunResultSchema>;

function parseWith<T extends z.ZodType>(schema: T, what: string, input: unknown, code: 'PAYLOAD_INVALID'): z.output<T> {
  const r = schema.safeParse(input);
  if (!r.success) {
    throw new ValidationError(code, what, r.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
  }
  return r.data;
}

export function parseRunPayload(input: unknown): RunPayload {
  return parseWith(RunPayloadSchema, 'train job payload', input, 'PAYLOAD_INVALID');
}

export function parseRunResult(input: unknown): RunResult {
  return parseWith(RunResultSchema, 'train job result', input, 'PAYLOAD_INVALID');
}

/** The aggregate job's payload. */
export const AggregatePayloadSchema = z.strictObject({ version: z.literal(1), sweepId: Id });
export type AggregatePayload = z.output<typeof AggregatePayloadSchema>;
export function parseAggregatePayload(input: unknown): AggregatePayload {
  return parseWith(AggregatePayloadSchema, 'aggregate job payload', input, 'PAYLOAD_INVALID');
}

/** Progress a train job publishes through `job.updateProgress`. */
export const RunProgressSchema = z.object({
  step: z.number().int(),
  totalSteps: z.number().int(),
  examplesPerSecond: z.number(),
  terms: z.record(z.string(), z.number()),
  loss: z.number(),
  phase: z.enum(['loading', 'training', 'evaluating', 'uploading', 'done']),
  backend: z.string().optional(),
  worker: z.string().optional(),
  etaSeconds: z.number().nullable().optional(),
});
export type RunProgress = z.output<typeof RunProgressSchema>;
