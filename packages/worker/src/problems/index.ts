/** Problem plug-ins by name; the names are shared's PROBLEMS keys, so planner and worker agree. */
import { YotoError, type ProblemName } from '@yoto/shared';
import { betaVae } from './beta-vae.ts';
import { compression } from './compression.ts';
import type { ConditionalModel, Problem } from './problem.ts';
import { quadratic } from './quadratic.ts';

export const PROBLEM_PLUGINS: Record<ProblemName, Problem> = {
  'beta-vae': betaVae as Problem<ConditionalModel> as Problem,
  compression: compression as Problem<ConditionalModel> as Problem,
  quadratic: quadratic as Problem<ConditionalModel> as Problem,
};

export function getProblem(name: string): Problem {
  const p = (PROBLEM_PLUGINS as Record<string, Problem | undefined>)[name];
  if (!p) throw new YotoError('PAYLOAD_INVALID', `unknown problem "${name}"; this worker knows ${Object.keys(PROBLEM_PLUGINS).join(', ')}`);
  return p;
}

export { betaVae } from './beta-vae.ts';
export { compression, psnr } from './compression.ts';
export { quadratic, quadraticAnchors, quadraticOptimum, QuadraticModel } from './quadratic.ts';
export { weightedObjective, type ConditionalModel, type EvalBatchSums, type LossOutput, type Problem } from './problem.ts';
