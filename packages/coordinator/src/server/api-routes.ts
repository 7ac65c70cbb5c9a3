/**
 * The REST API under `/api` (JSON in and out; errors as `{ error: { code, message, field? } }`):
 *
 *   POST /api/sweeps                  submit a spec (YAML or JSON body) → 201 { sweepId, runs, created } (200 when already submitted)
 *   GET  /api/sweeps                  { sweeps: [...] } newest first, with runs done
 *   GET  /api/sweeps/:sweepId         the sweep with every run's state and progress
 *   GET  /api/sweeps/:sweepId/report  the report JSON (404 until the aggregate wrote it)
 *   POST /api/sweeps/:sweepId/cancel  { removed, active }
 *
 * Validation is SweepService.submit's: a bad spec is a 400 naming every field, and
 * nothing is written or enqueued. Auth and the body limit are enforced before a handler runs.
 */
import type { FastifyInstance } from 'fastify';
import { isValidId } from '@yoto/shared';
import type { SweepService } from '../sweeps/sweep-service.ts';
import { HttpError } from './http-error.ts';
import type { SweepProgressReader } from './sweep-progress.ts';

export interface ApiDeps {
  sweeps: SweepService;
  progress: SweepProgressReader;
}

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

  app.get<{ Params: { sweepId: string } }>('/api/sweeps/:sweepId', async (req) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    const d = await sweeps.get(sweepId);
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

  app.post<{ Params: { sweepId: string } }>('/api/sweeps/:sweepId/cancel', async (req) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    return sweeps.cancel(sweepId);
  });
}
