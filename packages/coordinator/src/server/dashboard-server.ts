/**
 * The HTTP server of `yoto dashboard` / `yoto up` / `yoto demo --dashboard`: the
 * dashboard pages (dashboard-routes.ts), the REST API (api-routes.ts), bull-board at
 * `/queues` for both yoto queues, and `/metrics`.
 *
 * Order of checks for every request: auth (api-auth.ts; before the body is read, so
 * an unauthenticated client cannot make the server buffer anything), then the body
 * limit (413), then the handler. Fastify's own logger is off: request lines would
 * carry headers, and the token must never reach a log.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { QUEUES, YotoError } from '@yoto/shared';
import { createRedis, type Logger, type ObjectStore } from '@yoto/runtime';
import { SweepService } from '../sweeps/sweep-service.ts';
import { ApiAuth } from './api-auth.ts';
import { registerApiRoutes } from './api-routes.ts';
import { registerDashboardRoutes } from './dashboard-routes.ts';
import { HttpError, toHttpError } from './http-error.ts';
import { messagePage } from './pages.ts';
import { QueueMetrics } from './queue-metrics.ts';
import { isLoopback, type ServerConfig } from './server-config.ts';
import { SweepEventHub } from './sweep-events.ts';
import { SweepProgressReader } from './sweep-progress.ts';

export interface DashboardServerOptions {
  /** Redis of the sweeps; the server opens its own connections to it. */
  redisUrl: string;
  /** The artifact store (reports, downloads). The caller owns it. */
  store: ObjectStore;
  config: ServerConfig;
  /** @defaultValue no logging */
  log?: Logger;
  /** BullMQ key prefix. @defaultValue 'bull' */
  prefix?: string;
}

export interface DashboardServer {
  /** `http://host:port` as bound (loopback hosts as given, the kernel's port when 0 was asked). */
  readonly url: string;
  readonly port: number;
  readonly app: FastifyInstance;
  /** Ends live streams, stops listening, closes the server's connections. Idempotent. */
  close(): Promise<void>;
}

/** Refuses a configuration that would expose the API without a token. */
export function assertSafeBind(config: Pick<ServerConfig, 'host' | 'apiToken'>): void {
  if (!isLoopback(config.host) && !config.apiToken) {
    throw new YotoError('CONFIG_INVALID', `refusing to listen on ${config.host} without YOTO_API_TOKEN: beyond loopback every request needs the token (set YOTO_API_TOKEN, or bind 127.0.0.1)`);
  }
}

export async function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  const { config, store, log } = opts;
  assertSafeBind(config);
  const prefix = opts.prefix ?? 'bull';
  const auth = new ApiAuth(config);
  const redis = createRedis(opts.redisUrl, 'producer', log);
  const sweeps = new SweepService({ redis, store, prefix, ...(log ? { log } : {}) });
  const queues = { train: new Queue(QUEUES.train, { connection: redis, prefix }), aggregate: new Queue(QUEUES.aggregate, { connection: redis, prefix }) };
  const onQueueError = (err: Error) => log?.debug({ err: { message: err.message } }, 'queue client error');
  queues.train.on('error', onQueueError);
  queues.aggregate.on('error', onQueueError);
  const metrics = new QueueMetrics(queues, { eventsConnection: { redisUrl: opts.redisUrl, prefix }, ...(log ? { log } : {}) });
  const events = new SweepEventHub(sweeps, config.eventIntervalMs, log);
  const progress = new SweepProgressReader(sweeps, queues.aggregate);
  const mode = config.readOnly ? 'read-only' : auth.writable ? undefined : 'read-only (no YOTO_API_TOKEN)';

  const app = Fastify({ logger: false, bodyLimit: config.bodyLimit, forceCloseConnections: true, trustProxy: false });

  const releaseAll = async () => {
    events.close();
    await metrics.close();
    await Promise.allSettled([queues.train.close(), queues.aggregate.close(), sweeps.close()]);
    await redis.quit().catch(() => redis.disconnect());
  };

  try {
    app.addHook('onRequest', async (req, reply) => {
      try {
        auth.check(req);
      } catch (err) {
        // A browser asking for a page is sent to the login form instead of a JSON error.
        const path = req.url.split('?')[0] ?? '';
        if (err instanceof HttpError && err.statusCode === 401 && req.method === 'GET' && !path.startsWith('/api/') && path !== '/metrics' && /text\/html/.test(req.headers.accept ?? '')) {
          return reply.redirect('/login', 303);
        }
        throw err;
      }
    });

    app.setErrorHandler((err, req, reply) => {
      const { error, internal } = toHttpError(err);
      if (internal) log?.error({ method: req.method, path: req.url.split('?')[0], err: { message: (err as Error).message, stack: (err as Error).stack } }, 'request failed');
      else log?.debug({ method: req.method, path: req.url.split('?')[0], status: error.statusCode, code: error.code }, 'request refused');
      return reply.code(error.statusCode).type('application/json; charset=utf-8').send(error.body());
    });

    app.setNotFoundHandler((req, reply) => {
      const path = req.url.split('?')[0] ?? '';
      const e = new HttpError(404, 'NOT_FOUND', `no route ${req.method} ${path}`);
      if (req.method === 'GET' && !path.startsWith('/api/') && /text\/html/.test(req.headers.accept ?? '')) {
        return reply.code(404).type('text/html; charset=utf-8').send(messagePage('Not found', e.message, mode));
      }
      return reply.code(404).send(e.body());
    });

    // Our routes read bodies as text: specs are YAML or JSON, the login form is urlencoded.
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: config.bodyLimit }, (_req, body, done) => done(null, body));
      registerApiRoutes(scope, { sweeps, progress, store });
      registerDashboardRoutes(scope, { sweeps, store, progress, events, metrics, auth, ...(mode ? { mode } : {}) });
    });

    const board = new FastifyAdapter();
    board.setBasePath('/queues');
    createBullBoard({
      queues: [new BullMQAdapter(queues.train, { readOnlyMode: !auth.writable }), new BullMQAdapter(queues.aggregate, { readOnlyMode: !auth.writable })],
      serverAdapter: board,
      options: { uiConfig: { boardTitle: 'yoto queues' } },
    });
    await app.register(board.registerPlugin(), { prefix: '/queues' });

    app.addHook('preClose', async () => events.close());
    app.addHook('onClose', async () => releaseAll());

    await metrics.waitUntilReady();
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await app.close().catch(() => undefined);
    await releaseAll().catch(() => undefined);
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const hostForUrl = config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host;
  const url = `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl}:${port}`;
  log?.info({ url, readOnly: config.readOnly, writable: auth.writable, readsNeedToken: auth.readsNeedToken }, 'dashboard listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    app,
    close() {
      closing ??= app.close().then(() => undefined);
      return closing;
    },
  };
}
