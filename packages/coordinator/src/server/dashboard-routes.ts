/**
 * The dashboard's pages and streams:
 *
 *   GET /                                     sweep list (status, runs done/total, created, spec name)
 *   GET /sweeps/:sweepId                      every run, live through /events
 *   GET /sweeps/:sweepId/events               server-sent events (sweep-events.ts)
 *   GET /sweeps/:sweepId/report               the report with its plots
 *   GET /sweeps/:sweepId/runs/:runId/artifacts  a run's objects in S3
 *   GET /sweeps/:sweepId/files/<key>          one object, streamed from S3; <key> is
 *                                             relative to `sweeps/<sweepId>/`, so no
 *                                             request can reach outside the sweep
 *   GET /metrics                              Prometheus text format
 *   GET /api/queues/backlog                   JSON job counts per queue for autoscalers
 *                                             (KEDA metrics-api): ready = waiting + prioritized
 *   GET /healthz
 *   GET|POST /login, POST /logout             the token cookie for browsers
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isValidId, s3Keys } from '@yoto/shared';
import type { ObjectStore } from '@yoto/runtime';
import type { SweepService } from '../sweeps/sweep-service.ts';
import { TOKEN_COOKIE, type ApiAuth } from './api-auth.ts';
import { sweepIdParam } from './api-routes.ts';
import { HttpError } from './http-error.ts';
import { SWEEP_PAGE_RUNS, artifactsPage, loginPage, messagePage, reportPage, sweepListPage, sweepPage } from './pages.ts';
import type { QueueMetrics } from './queue-metrics.ts';
import type { SweepEventHub } from './sweep-events.ts';
import type { SweepProgressReader } from './sweep-progress.ts';

export interface DashboardDeps {
  sweeps: SweepService;
  store: ObjectStore;
  progress: SweepProgressReader;
  events: SweepEventHub;
  metrics: QueueMetrics;
  auth: ApiAuth;
  /** Shown in the page header, e.g. "read-only". */
  mode?: string;
}

/** Pages hold no user-supplied script; the only script is our inline SSE client. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function html(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).send(body);
}

/** An S3 key segment as the layout writes them. */
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function registerDashboardRoutes(app: FastifyInstance, deps: DashboardDeps): void {
  const { sweeps, store, mode } = deps;

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/', async (_req, reply) => html(reply, sweepListPage(await deps.progress.list(), mode)));

  app.get<{ Params: { sweepId: string } }>('/sweeps/:sweepId', async (req, reply) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    const d = await sweeps.get(sweepId, { limit: SWEEP_PAGE_RUNS });
    if (!d) return html(reply, messagePage('Not found', `No sweep ${sweepId}.`, mode), 404);
    return html(reply, sweepPage(d, mode));
  });

  app.get<{ Params: { sweepId: string } }>('/sweeps/:sweepId/events', async (req, reply) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    if (!(await sweeps.record(sweepId))) throw new HttpError(404, 'NOT_FOUND', `no sweep ${sweepId}`);
    reply.hijack();
    deps.events.subscribe(sweepId, reply.raw);
  });

  app.get<{ Params: { sweepId: string } }>('/sweeps/:sweepId/report', async (req, reply) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    const report = await sweeps.report(sweepId);
    if (!report) {
      const rec = await sweeps.record(sweepId);
      return html(reply, messagePage('No report yet', rec ? `Sweep ${sweepId} is ${rec.status}; the report appears when every run has finished.` : `No sweep ${sweepId}.`, mode), 404);
    }
    return html(reply, reportPage(report, mode));
  });

  app.get<{ Params: { sweepId: string; runId: string } }>('/sweeps/:sweepId/runs/:runId/artifacts', async (req, reply) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    const { runId } = req.params;
    if (!isValidId(runId)) throw new HttpError(400, 'BAD_RUN_ID', 'not a run id', { field: 'runId' });
    const objects: { key: string; size: number }[] = [];
    const prefix = s3Keys.run(sweepId, runId);
    for await (const o of store.list(prefix)) {
      // Keep the pointer to the latest checkpoint, not every checkpoint's files.
      if (o.key.includes('/checkpoints/') && !o.key.endsWith('/latest.json')) continue;
      objects.push(o);
      if (objects.length >= 1000) break;
    }
    return html(reply, artifactsPage(sweepId, runId, objects, mode));
  });

  app.get<{ Params: { sweepId: string; '*': string } }>('/sweeps/:sweepId/files/*', async (req, reply) => {
    const sweepId = sweepIdParam(req.params.sweepId);
    const rel = req.params['*'] ?? '';
    const segments = rel.split('/');
    if (!rel || segments.some((s) => !SEGMENT.test(s) || s === '.' || s === '..')) throw new HttpError(400, 'BAD_KEY', 'not an artifact key of this sweep', { field: 'key' });
    const key = s3Keys.sweep(sweepId) + rel;
    const obj = await store.stream(key);
    if (!obj) throw new HttpError(404, 'NOT_FOUND', `no object ${key}`);
    const name = segments[segments.length - 1] as string;
    reply.headers({
      'content-type': obj.contentType || 'application/octet-stream',
      // Downloads, never rendered on this origin: an artifact must not run script here.
      'content-disposition': `attachment; filename="${name}"`,
      'x-content-type-options': 'nosniff',
      'content-security-policy': 'sandbox',
    });
    if (obj.size !== undefined) reply.header('content-length', obj.size);
    if (obj.sha256) reply.header('x-yoto-sha256', obj.sha256);
    return reply.send(obj.body);
  });

  app.get('/api/queues/backlog', async () => deps.metrics.backlog());
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.metrics.render()));

  app.get('/login', async (_req, reply) => html(reply, loginPage()));
  app.post('/login', async (req, reply) => {
    const token = new URLSearchParams(typeof req.body === 'string' ? req.body : '').get('token');
    if (!deps.auth.matches(token)) return html(reply, loginPage('That token is not valid.'), 401);
    const secure = req.protocol === 'https' ? '; Secure' : '';
    return reply.header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token as string)}; HttpOnly; SameSite=Strict; Path=/${secure}`).redirect('/', 303);
  });
  app.post('/logout', async (_req, reply) => reply.header('set-cookie', `${TOKEN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`).redirect('/', 303));
}
