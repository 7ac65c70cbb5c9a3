/**
 * `yoto sample`, `yoto export` and `GET /api/sweeps/:id/sample` on the coordinator side.
 *
 * Decoding a model needs TensorFlow.js and the engine's model code, which live in
 * @yoto/worker — and the coordinator never imports the worker (DESIGN.md). So, as
 * `yoto worker` runs the worker's entry file, these run the worker's model tools entry
 * (packages/worker/src/model-tools/main.ts) as a child process: this side resolves
 * the run and the λ (plan.json, the prior's range, the nearest baseline), fetches the
 * run's final artifacts into a private temp directory (ObjectStore.get verifies each
 * sha256), and hands the child a ModelToolRequest (@yoto/shared, parsed on both
 * sides). The child never sees the network or credentials, and a crash in tfjs
 * cannot take the dashboard server down with it.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  assertInPrior,
  DIAL_LIMITS,
  nearestBaseline,
  parseLambdaArg,
  PROBLEMS,
  s3Keys,
  YotoError,
  type ModelToolRequest,
  type ModelToolResult,
  type RunPayload,
  type SweepPlan,
  type YotoErrorCode,
} from '@yoto/shared';
import type { ObjectStore } from '@yoto/runtime';
import { workerCommand } from '../services/worker-processes.ts';

/** The model tools entry, next to this package in the repository. */
export const MODEL_TOOLS_ENTRY = fileURLToPath(new URL('../../../worker/src/model-tools/main.ts', import.meta.url));

export interface SampleOptions {
  /** @defaultValue the sweep's first YOTO run */
  runId?: string;
  /** `term=value` or `term=low:high:steps` (parseLambdaArg). */
  lambda: string;
  /** @defaultValue 16 */
  n?: number;
  /** @defaultValue 0 */
  seed?: number;
  reconstruct?: boolean;
  compare?: boolean;
  out: string;
}

export interface ModelToolsOptions {
  /** Environment of the child (YOTO_BACKEND, LOG_LEVEL). @defaultValue process.env */
  env?: NodeJS.ProcessEnv;
  /** Kills the child after this long. @defaultValue 120000 */
  timeoutMs?: number;
}

export async function readPlan(store: ObjectStore, sweepId: string): Promise<SweepPlan> {
  const plan = await store.getJsonIfExists<SweepPlan>(s3Keys.plan(sweepId));
  if (!plan) throw new YotoError('NOT_FOUND', `no sweep ${sweepId} in the store (see \`yoto status\`)`);
  return plan;
}

export function pickRun(plan: SweepPlan, runId?: string): RunPayload {
  if (runId) {
    const run = plan.runs.find((r) => r.runId === runId);
    if (!run) throw new YotoError('NOT_FOUND', `sweep ${plan.sweepId} has no run ${runId}; runs: ${plan.runs.map((r) => r.runId).join(', ')}`);
    return run;
  }
  const yoto = plan.runs.find((r) => r.kind === 'yoto');
  if (!yoto) throw new YotoError('NOT_FOUND', `sweep ${plan.sweepId} has no YOTO run`);
  return yoto;
}

/** Fetches (and verifies) a finished run's final state and eval.json into `dir`. */
async function fetchFinal(store: ObjectStore, run: RunPayload, dir: string): Promise<{ run: RunPayload; dir: string }> {
  if (!(await store.head(s3Keys.finalResult(run.sweepId, run.runId)))) {
    throw new YotoError('NOT_FOUND', `run ${run.runId} has not finished yet (no final/result.json); see \`yoto status ${run.sweepId}\``);
  }
  const runDir = join(dir, run.runId);
  await mkdir(runDir, { recursive: true });
  const final = s3Keys.finalDir(run.sweepId, run.runId);
  for (const name of ['state.json', 'tensors.bin']) await writeFile(join(runDir, name), await store.get(final + name));
  const evals = await store.getIfExists(s3Keys.finalEval(run.sweepId, run.runId));
  if (evals) await writeFile(join(runDir, 'eval.json'), evals);
  return { run, dir: runDir };
}

/** Runs the model tools child on one request; rejects with its `error:` line. */
export function runModelTools(request: ModelToolRequest, dir: string, opts: ModelToolsOptions = {}): Promise<ModelToolResult> {
  return (async () => {
    const reqPath = join(dir, 'request.json');
    await writeFile(reqPath, JSON.stringify(request));
    const { command, args } = workerCommand(MODEL_TOOLS_ENTRY);
    const env = { ...(opts.env ?? process.env), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    const child = spawn(command, [...args, reqPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    }).finally(() => clearTimeout(timer));
    const last = stdout.trim().split('\n').pop() ?? '';
    let parsed: (ModelToolResult & { error?: { code: string; message: string } }) | null;
    try {
      parsed = JSON.parse(last) as ModelToolResult & { error?: { code: string; message: string } };
    } catch {
      parsed = null;
    }
    if (code === 0 && parsed && !parsed.error) return parsed;
    const failure = parsed?.error;
    if (failure) {
      const known = failure.code === 'INTERNAL' ? null : (failure.code as YotoErrorCode);
      throw new YotoError(known ?? 'TOOL_FAILED', `model tools: ${failure.message}`);
    }
    throw new YotoError('TOOL_FAILED', `model tools exited with ${code ?? 'a signal (timeout?)'}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  })();
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'yoto-model-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Decodes a PNG grid from a run at the requested λ (see SampleOptions). Refuses λ outside the run's prior. */
export async function sampleSweep(store: ObjectStore, sweepId: string, opts: SampleOptions, tools: ModelToolsOptions = {}): Promise<ModelToolResult> {
  const n = opts.n ?? 16;
  if (!Number.isInteger(n) || n < 1 || n > DIAL_LIMITS.samples) throw new YotoError('INPUT_INVALID', `n must be an integer in 1..${DIAL_LIMITS.samples}`);
  const plan = await readPlan(store, sweepId);
  const run = pickRun(plan, opts.runId);
  const points = parseLambdaArg(opts.lambda, PROBLEMS[run.problem].weightedTerms);
  assertInPrior(run, points);
  const baselines = opts.compare
    ? points.map((p) => {
        const b = nearestBaseline(plan.runs, run, p);
        if (!b) throw new YotoError('NOT_FOUND', `--compare: sweep ${sweepId} has no baseline for variant ${run.variantId}, seed ${run.seed}`);
        return b;
      })
    : [];
  return withTempDir(async (dir) => {
    const model = await fetchFinal(store, run, dir);
    const fetched = new Map<string, { run: RunPayload; dir: string }>();
    for (const b of baselines) if (!fetched.has(b.runId)) fetched.set(b.runId, await fetchFinal(store, b, dir));
    const request: ModelToolRequest = {
      op: 'sample',
      model,
      points,
      ...(opts.compare ? { compare: baselines.map((b) => fetched.get(b.runId)!) } : {}),
      n,
      seed: opts.seed ?? 0,
      reconstruct: opts.reconstruct ?? false,
      out: opts.out,
    };
    return runModelTools(request, dir, tools);
  });
}

/** Writes a standalone tfjs Layers model directory for one finished run. */
export async function exportRun(store: ObjectStore, sweepId: string, runId: string, outDir: string, tools: ModelToolsOptions = {}): Promise<ModelToolResult> {
  const plan = await readPlan(store, sweepId);
  const run = pickRun(plan, runId);
  return withTempDir(async (dir) => runModelTools({ op: 'export', model: await fetchFinal(store, run, dir), outDir }, dir, tools));
}
