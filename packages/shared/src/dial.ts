/**
 * The λ dial: reading `--lambda kl=4` / `kl=0.5:512:8` (a log-spaced strip), checking
 * a trained YOTO run can be asked for it (inside its training prior), and picking the
 * baseline nearest to a λ for side-by-side comparison. Pure; the CLI, the API and
 * the model tools share it. Also the request the coordinator hands the model tools
 * (`yoto sample`, `yoto export`), parsed on both sides with one schema.
 */
import { z } from 'zod';
import { YotoError } from './errors.ts';
import { inSupport, type LambdaDist, type LambdaPoint } from './lambda.ts';
import { RunPayloadSchema, type RunPayload } from './runs.ts';

/** Most points in one strip and most samples per point: one PNG stays small. */
export const DIAL_LIMITS = { stripPoints: 32, samples: 256 } as const;

/**
 * `term=value` or `term=low:high:steps` (steps ≥ 2, log-spaced, both ends included),
 * several terms joined by `,`. Every term must be one of `terms`; at most one may be a
 * strip. Returns the points in order (one for a plain value).
 */
export function parseLambdaArg(arg: string, terms: readonly string[]): LambdaPoint[] {
  const bad = (msg: string) => new YotoError('INPUT_INVALID', `--lambda ${JSON.stringify(arg)}: ${msg}`);
  const fixed: LambdaPoint = {};
  let strip = null as { term: string; values: number[] } | null;
  for (const part of arg.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Za-z_][\w-]*)=(.+)$/.exec(part);
    if (!m) throw bad(`expected term=value or term=low:high:steps, got ${JSON.stringify(part)}`);
    const term = m[1] as string;
    if (!terms.includes(term)) throw bad(`unknown term "${term}"; this problem weights ${terms.join(', ')}`);
    if (term in fixed || strip?.term === term) throw bad(`term "${term}" given twice`);
    const nums = (m[2] as string).split(':').map(Number);
    if (!nums.every((x) => Number.isFinite(x))) throw bad(`"${m[2]}" is not a number or low:high:steps`);
    if (nums.length === 1) {
      if (!((nums[0] as number) > 0)) throw bad(`λ must be positive, got ${nums[0]}`);
      fixed[term] = nums[0] as number;
    } else if (nums.length === 3) {
      if (strip) throw bad('only one term can be a strip');
      const [low, high, steps] = nums as [number, number, number];
      if (!(low > 0 && high > 0)) throw bad('strip ends must be positive');
      if (!Number.isInteger(steps) || steps < 2 || steps > DIAL_LIMITS.stripPoints) throw bad(`strip steps must be an integer in 2..${DIAL_LIMITS.stripPoints}`);
      strip = { term, values: logSpace(low, high, steps) };
    } else {
      throw bad(`"${m[2]}" is neither a value nor low:high:steps`);
    }
  }
  const missing = terms.filter((t) => !(t in fixed) && strip?.term !== t);
  if (missing.length) throw bad(`no value for ${missing.join(', ')}`);
  if (!strip) return [fixed];
  const s = strip;
  return s.values.map((v) => ({ ...fixed, [s.term]: v }));
}

/** `steps` values from low to high, equally spaced in log λ (ends exact). */
export function logSpace(low: number, high: number, steps: number): number[] {
  const a = Math.log(low);
  const b = Math.log(high);
  return Array.from({ length: steps }, (_, i) => (i === 0 ? low : i === steps - 1 ? high : Math.exp(a + ((b - a) * i) / (steps - 1))));
}

function describeDist(d: LambdaDist): string {
  return d.dist === 'fixed' ? `fixed at ${d.value}` : `[${d.low}, ${d.high}] (${d.dist})`;
}

/**
 * Throws a user-facing error (INPUT_INVALID, naming the range) when a point lies outside the run's
 * training prior: the model never saw that conditioning, so what it would draw is
 * extrapolation, not the dial.
 */
export function assertInPrior(run: Pick<RunPayload, 'runId' | 'prior'>, points: readonly LambdaPoint[]): void {
  for (const p of points) {
    for (const [term, value] of Object.entries(p)) {
      const d = run.prior[term];
      if (!d) throw new YotoError('INPUT_INVALID', `run ${run.runId} has no prior for "${term}"`);
      if (!inSupport(d, value)) {
        throw new YotoError('INPUT_INVALID', `λ ${term}=${value} is outside run ${run.runId}'s training range ${describeDist(d)}; pick a value inside it`);
      }
    }
  }
}

/** Distance in log λ, summed over terms. */
function logDistance(a: LambdaPoint, b: LambdaPoint): number {
  let d = 0;
  for (const [t, v] of Object.entries(a)) d += Math.abs(Math.log(v) - Math.log(b[t] ?? v));
  return d;
}

/**
 * The baseline of the same variant and seed whose fixed λ is nearest (in log λ) to
 * `point`; null when the sweep has none.
 */
export function nearestBaseline(runs: readonly RunPayload[], of: Pick<RunPayload, 'variantId' | 'seed' | 'baselineVariantId'>, point: LambdaPoint): RunPayload | null {
  let best: RunPayload | null = null;
  let bestD = Infinity;
  for (const r of runs) {
    if (r.kind !== 'baseline' || !r.fixedLambda || r.variantId !== (of.baselineVariantId ?? of.variantId) || r.seed !== of.seed) continue;
    const d = logDistance(point, r.fixedLambda);
    if (d < bestD) [best, bestD] = [r, d];
  }
  return best;
}

/** A run and the local directory holding its final artifacts (state.json, tensors.bin, eval.json). */
const ModelFilesSchema = z.strictObject({ run: RunPayloadSchema, dir: z.string().min(1) });
const Point = z.record(z.string(), z.number().positive());

/**
 * What the model tools process (`packages/worker/src/model-tools/main.ts`) is asked to
 * do. The coordinator fetches and verifies the artifacts into local directories
 * first, so the tools never touch the network or hold credentials.
 */
export const ModelToolRequestSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('sample'),
    /** The model decoded (normally the variant's YOTO run). */
    model: ModelFilesSchema,
    /** One row per point: a single point is a grid of `n`, several are a strip. */
    points: z.array(Point).min(1).max(DIAL_LIMITS.stripPoints),
    /** Per point, the nearest baseline drawn beside it with the same z (`--compare`). */
    compare: z.array(ModelFilesSchema).optional(),
    n: z.number().int().min(1).max(DIAL_LIMITS.samples),
    seed: z.number().int().min(0),
    /** Reconstruct the first `n` test images instead of sampling z ~ N(0, I). */
    reconstruct: z.boolean(),
    /** Where the PNG goes. */
    out: z.string().min(1),
  }),
  z.strictObject({
    op: z.literal('export'),
    model: ModelFilesSchema,
    outDir: z.string().min(1),
  }),
]);
export type ModelToolRequest = z.output<typeof ModelToolRequestSchema>;

/** The tools' last line of JSON on stdout when they succeed. */
export interface ModelToolResult {
  op: 'sample' | 'export';
  files: string[];
  /** sample: PNG size in pixels. */
  width?: number;
  height?: number;
  /** sample: per row (point), the mean decoded intensity of the YOTO images — the dial's effect, measurable. */
  rowMeans?: number[];
  /**
   * sample, compression problem: per point, the bitstream file written, its size, its
   * bits per pixel (header included), the model's estimate and the reconstruction's PSNR (dB).
   */
  codec?: { lambda: Record<string, number>; file: string; bytes: number; bpp: number; estimatedBpp: number; psnr: number }[];
}
