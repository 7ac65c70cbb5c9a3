/**
 * The REST API under `/api` (JSON in and out; errors as `{ error: { code, message, field? } }`):
 *
 *   POST /api/sweeps                  submit a spec (YAML or JSON body) → 201 { sweepId, runs, created } (200 when already submitted)
 *   GET  /api/sweeps                  { sweeps: [...] } newest first, with runs done
 *   GET  /api/sweeps/:sweepId         the sweep with every run's state and progress
 *   GET  /api/sweeps/:sweepId/report  the report JSON (404 until the aggregate wrote it)
 *   POST /api/sweeps/:sweepId/cancel  { removed, active }
 *   GET  /api/sweeps/:sweepId/sample?lambda=kl=4[&n=16&seed=0&run=RUN&reconstruct=1&compare=1]
 *                                     image/png from the λ dial (as `yoto sample`); λ outside the
 *                                     run's training range is a 400 naming the range. One
 *                                     decode at a time per server (each is a child process).
 *
 * Validation is SweepService.submit's: a bad spec is a 400 naming every field, and
 * nothing is written or enqueued. Auth and the body limit are enforced before a handler runs.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DIAL_LIMITS, isValidId } from '@yoto/shared';
import type { ObjectStore } from '@yoto/runtime';
import { sampleSweep } from '../artifacts/run-models.ts';
import type { SweepService } from '../sweeps/sweep-service.ts';
import { HttpError } from './http-error.ts';
import type { SweepProgressReader } from './sweep-progress.ts';

export interface ApiDeps {
  sweeps: SweepService;
  progress: SweepProgressReader;
  /** Artifact store the λ dial reads finished runs from. */
  store: ObjectStore;
}

function intParam(value: string | undefined, name: string, min: number, max: number, dflt: number): number {
  if (value === undefined || value === '') return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, 'INPUT_INVALID', `${name} must be an integer in ${min}..${max}`, { field: name });
  return n;
}

/** Runs `GET /api/sweeps/:id` returns unless asked for more. */
export const API_RUNS_PAGE = 500;

const flag = (v: string | undefined) => v === '1' || v === 'true';

export function sweepIdParam(value: string): string {
  if (!isValidId(value)) throw new HttpError(400, 'BAD_SWEEP_ID', 'not a sweep id (lower-case letters, digits and "-")', { field: 'sweepId' });
  return value;
}

export function registerApiRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { sweeps } = deps;

  app.post('/api/sweeps', async (req, reply) => {
    const body = req.body;
    if (typeof body !== 'string' || body.trim() === '') throw new HttpError(400, 'SPEC_INVALID', 'request body must be a sweep spec (YAML or JSON)', { field: '' });
    const res = await sweeps.submit(body);
    reply.code(res.created ? 201 : 200);
    return { sweepId: res.sweepId, runs: res.runs, created: res.created };
  });

  app.get('/api/sweeps', async () => ({ sweeps: await deps.progress.list() }));

  // Counts of every run, and a page of the runs (`?offset=&limit=`, API_RUNS_PAGE by default).
  app.get<{ Params: { sweepId: string }; Querystring: Record<string, string | undefined> }>('/api/sweeps/:sweepId', async (req) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    const offset = intParam(req.query.offset, 'offset', 0, 2 ** 31 - 1, 0);
    const limit = intParam(req.query.limit, 'limit', 0, 2 ** 31 - 1, API_RUNS_PAGE);
    const d = await sweeps.get(sweepId, { offset, limit });
    if (!d) throw new HttpError(404, 'NOT_FOUND', `no sweep ${sweepId}`);
    return d;
  });

  app.get<{ Params: { sweepId: string } }>('/api/sweeps/:sweepId/report', async (req) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    const report = await sweeps.report(sweepId);
    if (report) return report;
    const rec = await sweeps.record(sweepId);
    throw new HttpError(404, 'NOT_FOUND', rec ? `no report for sweep ${sweepId} yet (status ${rec.status})` : `no sweep ${sweepId}`);
  });

  // Decodes run one after another: each is a tfjs child process with a model in memory.
  let decoding: Promise<unknown> = Promise.resolve();
  app.get<{ Params: { sweepId: string }; Querystring: Record<string, string | undefined> }>('/api/sweeps/:sweepId/sample', async (req, reply) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    const q = req.query;
    if (!q.lambda) throw new HttpError(400, 'INPUT_INVALID', 'lambda is required, e.g. ?lambda=kl=4 or ?lambda=kl=0.5:512:8', { field: 'lambda' });
    if (q.run !== undefined && !isValidId(q.run)) throw new HttpError(400, 'INPUT_INVALID', 'run is not a run id', { field: 'run' });
    const opts = {
      ...(q.run ? { runId: q.run } : {}),
      lambda: q.lambda,
      n: intParam(q.n, 'n', 1, DIAL_LIMITS.samples, 16),
      seed: intParam(q.seed, 'seed', 0, 2 ** 31 - 1, 0),
      reconstruct: flag(q.reconstruct),
      compare: flag(q.compare),
    };
    const job = decoding.then(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'yoto-sample-'));
      try {
        const out = join(dir, 'sample.png');
        await sampleSweep(deps.store, sweepId, { ...opts, out });
        return await readFile(out);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
    decoding = job.catch(() => undefined);
    const png = await job;
    reply.header('content-type', 'image/png').header('cache-control', 'no-store');
    return png;
  });

  app.post<{ Params: { sweepId: string } }>('/api/sweeps/:sweepId/cancel', async (req) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    return sweeps.cancel(sweepId);
  });
}
