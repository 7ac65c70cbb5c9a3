/**
 * The aggregate's pure core: the train jobs' return values and the stored plan in,
 * the report out. Every way the input can be impossible (a result that does not
 * parse, a run the plan does not know, a result missing) is an AggregateInputError
 * naming the run, which the worker turns into an UnrecoverableError: retrying cannot
 * fix it. A run that failed for good is not missing: it arrives in `failures`
 * (BullMQ's ignored child failures, keyed like the values) and the report marks it.
 */
import { buildReport, inSupport, parseRunResult, ValidationError, YotoError, type LambdaPoint, type Report, type RunResult, type SweepPlan } from '@yoto/shared';

export class AggregateInputError extends YotoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PAYLOAD_INVALID', message, options);
    this.name = 'AggregateInputError';
  }
}

/** `bull:yoto-train:<sweepId>.<runId>` -> `<runId>` (the key's job id when it has another shape). */
export function runIdFromChildKey(key: string, sweepId: string): string {
  const jobId = key.slice(key.lastIndexOf(':') + 1);
  return jobId.startsWith(`${sweepId}.`) ? jobId.slice(sweepId.length + 1) : jobId;
}

/**
 * Parses and cross-checks the children's return values against the plan, a page at a
 * time, so a 10,000-run sweep never holds every raw result at once. What it keeps of
 * each result is what the report reads: a baseline is compared at its own λ only, so
 * its evaluations at the other grid points are dropped (a YOTO run keeps them all).
 */
export class ChildResultCollector {
  private readonly planned: Map<string, SweepPlan['runs'][number]>;
  private readonly results: RunResult[] = [];
  private readonly seen = new Set<string>();
  /** Child keys already taken (a paged scan may return one twice). */
  private readonly keys = new Set<string>();

  constructor(private readonly plan: SweepPlan) {
    this.planned = new Map(plan.runs.map((r) => [r.runId, r]));
  }

  /** One page of `child key -> return value`. */
  add(values: Record<string, unknown>): void {
    const plan = this.plan;
    for (const [key, value] of Object.entries(values)) {
      if (this.keys.has(key)) continue;
      this.keys.add(key);
      const runId = runIdFromChildKey(key, plan.sweepId);
      let result: RunResult;
      try {
        result = parseRunResult(value);
      } catch (err) {
        const detail = err instanceof ValidationError ? err.issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ') : String(err);
        throw new AggregateInputError(`result of run ${runId} is invalid: ${detail}`, { cause: err });
      }
      const run = this.planned.get(result.runId);
      if (result.sweepId !== plan.sweepId) throw new AggregateInputError(`result of run ${runId} belongs to sweep ${result.sweepId}, not ${plan.sweepId}`);
      if (!run || result.runId !== runId) throw new AggregateInputError(`result of run ${runId} names run ${result.runId}, which the plan of ${plan.sweepId} does not have at that job`);
      if (run.kind !== result.kind || run.variantId !== result.variantId) throw new AggregateInputError(`result of run ${runId} says kind ${result.kind}/variant ${result.variantId}; the plan says ${run.kind}/${run.variantId}`);
      if (this.seen.has(runId)) throw new AggregateInputError(`two results for run ${runId}`);
      this.seen.add(runId);
      this.results.push(compact(result));
    }
  }

  /** Every result; throws when a run that did not fail has none. */
  finish(failed: ReadonlyMap<string, string> = new Map()): RunResult[] {
    const missing = this.plan.runs.filter((r) => !this.seen.has(r.runId) && !failed.has(r.runId)).map((r) => r.runId);
    if (missing.length) throw new AggregateInputError(`no result for ${missing.length} run(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
    return this.results;
  }
}

const pointKey = (p: LambdaPoint) => JSON.stringify(Object.entries(p).sort(([a], [b]) => a.localeCompare(b)));

/** A baseline's result with only its own λ's evaluation (the one the report compares). */
function compact(r: RunResult): RunResult {
  if (r.kind !== 'baseline' || !r.fixedLambda) return r;
  const own = pointKey(r.fixedLambda);
  const evals = r.evals.filter((e) => pointKey(e.lambda) === own);
  return evals.length ? { ...r, evals } : r;
}

/** Parses and cross-checks every child's return value against the plan; runs in `failed` may lack one. */
export function parseChildResults(plan: SweepPlan, values: Record<string, unknown>, failed: ReadonlyMap<string, string> = new Map()): RunResult[] {
  const collector = new ChildResultCollector(plan);
  collector.add(values);
  return collector.finish(failed);
}

/**
 * Whether a grid point lies inside the training prior of the variant's YOTO run (the
 * prior is the same for every seed of a variant). Points outside are extrapolation.
 */
export function priorMembership(plan: SweepPlan): (variantId: string, p: LambdaPoint) => boolean {
  const priors = new Map(plan.runs.filter((r) => r.kind === 'yoto').map((r) => [r.variantId, r.prior]));
  return (variantId, p) => {
    const prior = priors.get(variantId);
    if (!prior) return false;
    return Object.entries(p).every(([term, x]) => {
      const d = prior[term];
      return d !== undefined && inSupport(d, x);
    });
  };
}

/** Child job key -> failure reason, as `job.getIgnoredChildrenFailures()` returns it, by run id. */
export function failedRuns(sweepId: string, failures: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(failures).map(([k, reason]) => [runIdFromChildKey(k, sweepId), reason || 'failed']));
}

export function aggregateSweep(plan: SweepPlan, childValues: Record<string, unknown>, now = new Date(), childFailures: Record<string, string> = {}): Report {
  const failed = failedRuns(plan.sweepId, childFailures);
  return reportFromResults(plan, parseChildResults(plan, childValues, failed), now, failed);
}

/** The report from already collected results (see ChildResultCollector). */
export function reportFromResults(plan: SweepPlan, results: RunResult[], now: Date, failed: ReadonlyMap<string, string>): Report {
  try {
    return buildReport(plan, results, priorMembership(plan), now, failed);
  } catch (err) {
    // buildReport only throws on input that cannot be reported (an evaluation missing).
    throw new AggregateInputError(err instanceof Error ? err.message : String(err), { cause: err });
  }
}
