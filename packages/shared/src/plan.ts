/**
 * Spec -> plan: every run of a sweep with its full payload, under deterministic ids.
 * The same spec always yields the same sweep id and run ids, so resubmitting it
 * cannot enqueue anything twice.
 */
import { canonicalJson, numberToIdPart, shortHash } from './ids.ts';
import { expandGrid, lambdaLabel, type LambdaPoint } from './lambda.ts';
import { PROBLEMS } from './problems.ts';
import { applyVariant, QuadraticSchema, variantCombinations, YOTO_ONLY_PATHS, type SweepSpec, type VariantAssignment } from './spec.ts';
import type { RunPayload } from './runs.ts';

export interface PlannedVariant {
  variantId: string;
  /** Axis values, e.g. `{ "model.width": 2 }`; empty for a sweep without variants. */
  assignment: VariantAssignment;
  /**
   * Set when this variant differs from an earlier one only in YOTO-only axes
   * (`YOTO_ONLY_PATHS`): it plans no baselines and is compared with that variant's.
   */
  baselinesFrom?: string;
}

export interface SweepPlan {
  version: 1;
  sweepId: string;
  name: string;
  problem: SweepSpec['problem'];
  specHash: string;
  grid: LambdaPoint[];
  variants: PlannedVariant[];
  runs: RunPayload[];
}

function variantIdFor(assignment: VariantAssignment, index: number): string {
  const parts = Object.entries(assignment).map(([path, v]) => {
    const field = path.split('.').pop() ?? path;
    const value = typeof v === 'number' ? numberToIdPart(v) : String(v).toLowerCase().replace(/[^a-z0-9]+/g, '-');
    return `${field.toLowerCase().replace(/[^a-z0-9]+/g, '')}-${value}`;
  });
  const readable = parts.length ? parts.join('-') : 'base';
  return readable.length <= 28 && /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(readable) ? readable : `v${index}`;
}

function pointIdPart(point: LambdaPoint): string {
  return Object.entries(point)
    .map(([k, v]) => `${k}-${numberToIdPart(v)}`)
    .join('-');
}

export function sweepIdFor(spec: SweepSpec): string {
  return `${spec.name.slice(0, 50)}-${shortHash(canonicalJson(spec))}`.replace(/-+/g, '-');
}

export function planSweep(spec: SweepSpec): SweepPlan {
  const info = PROBLEMS[spec.problem];
  const sweepId = sweepIdFor(spec);
  const grid = expandGrid(spec.grid, info.weightedTerms);
  const variants: PlannedVariant[] = [];
  const runs: RunPayload[] = [];
  const combos = variantCombinations(spec.variants);
  const usedVariantIds = new Set<string>();
  // Variants that differ only in YOTO-only axes share the first one's baselines.
  const owners = new Map<string, string>();
  const applied = combos.map((assignment, vi) => {
    let variantId = variantIdFor(assignment, vi);
    if (usedVariantIds.has(variantId)) variantId = `v${vi}`;
    usedVariantIds.add(variantId);
    const baseKey = canonicalJson(Object.fromEntries(Object.entries(assignment).filter(([path]) => !(YOTO_ONLY_PATHS as readonly string[]).includes(path))));
    const owner = owners.get(baseKey) ?? variantId;
    owners.set(baseKey, owner);
    variants.push({ variantId, assignment, ...(owner !== variantId ? { baselinesFrom: owner } : {}) });
    return { variantId, owner, assignment, v: applyVariant(spec, assignment) };
  });
  const adaptiveOf = (v: SweepSpec) => (v.conditioning.adaptive?.mode === 'gap' ? v.conditioning.adaptive : null);
  for (const { variantId, owner, assignment, v } of applied) {
    // Baselines publish probe curves when any YOTO run that shares them is gap-driven.
    const probing = applied.filter((a) => a.owner === owner).map((a) => adaptiveOf(a.v)).find((a) => a !== null);
    for (const seed of v.seeds) {
      const common = {
        version: 1 as const,
        sweepId,
        variantId,
        variant: assignment,
        seed,
        problem: v.problem,
        ...(v.dataset ? { dataset: v.dataset } : {}),
        ...(v.problem === 'quadratic' ? { quadratic: v.quadratic ?? QuadraticSchema.parse({}) } : {}),
        model: v.model,
        conditioning: v.conditioning,
        evalGrid: grid,
      };
      runs.push({
        ...common,
        runId: `${variantId}-yoto-s${seed}`,
        kind: 'yoto',
        prior: v.lambda,
        fixedLambda: null,
        train: { ...v.train, steps: Math.max(1, Math.round(v.train.steps * v.yotoStepsMultiplier)) },
        ...(owner !== variantId ? { baselineVariantId: owner } : {}),
      });
      if (owner !== variantId) continue;
      for (const point of grid) {
        runs.push({
          ...common,
          runId: `${variantId}-${pointIdPart(point)}-s${seed}`,
          kind: 'baseline',
          prior: Object.fromEntries(Object.entries(point).map(([k, value]) => [k, { dist: 'fixed' as const, value }])),
          fixedLambda: point,
          train: v.train,
          ...(probing ? { probe: { everySteps: probing.everySteps, examples: probing.probeExamples } } : {}),
        });
      }
    }
  }
  const ids = new Set(runs.map((r) => r.runId));
  if (ids.size !== runs.length) {
    // Two grid points that round to the same id part; fall back to indices, still deterministic.
    runs.forEach((r, i) => {
      if (r.kind === 'baseline') r.runId = `${r.variantId}-b${i}-s${r.seed}`;
    });
  }
  for (const r of runs) {
    if (r.kind !== 'yoto' || r.conditioning.adaptive?.mode !== 'gap') continue;
    const from = r.baselineVariantId ?? r.variantId;
    r.peers = runs.filter((b) => b.kind === 'baseline' && b.variantId === from && b.seed === r.seed && b.fixedLambda).map((b) => ({ runId: b.runId, lambda: b.fixedLambda! }));
  }
  return { version: 1, sweepId, name: spec.name, problem: spec.problem, specHash: shortHash(canonicalJson(spec)), grid, variants, runs };
}

/** The variant whose baselines a variant is compared with (itself unless they are shared). */
export function baselineVariantOf(plan: Pick<SweepPlan, 'variants'>, variantId: string): string {
  return plan.variants.find((v) => v.variantId === variantId)?.baselinesFrom ?? variantId;
}

export function describeRun(run: Pick<RunPayload, 'kind' | 'fixedLambda'>): string {
  return run.kind === 'yoto' ? 'YOTO' : `baseline ${lambdaLabel(run.fixedLambda ?? {})}`;
}
