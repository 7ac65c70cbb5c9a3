/**
 * `yoto worker`: one train-queue worker process. Configuration comes from the
 * environment, parsed once here:
 *   REDIS_URL, S3_* (see @yoto/runtime config), or `.yoto/endpoints.json` from `yoto up`
 *   YOTO_BACKEND      auto | tensorflow | native-cpu | wasm | cpu   (default auto)
 *   YOTO_THREADS      backend threads; native-cpu's OpenBLAS pool (default: all cores)
 *   YOTO_CONCURRENCY  runs trained at once                (default 1: one per GPU / core group)
 *   YOTO_WORKER_NAME  shown in progress and results       (default <hostname>-<pid>)
 *   YOTO_KEEP_CHECKPOINTS  checkpoint directories kept per run (default 2)
 *   YOTO_LOCK_DURATION_MS    job lock; a dead worker's job is recovered within
 *                            lock + 2 × stalled interval   (default 60000)
 *   YOTO_STALLED_INTERVAL_MS how often stalled jobs are looked for (default 30000)
 *                            Every worker of a queue must use the same two values.
 * SIGTERM / SIGINT: running jobs checkpoint and go back to the queue, then the process
 * exits; a second signal forces.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { formatPath, ValidationError, YotoError } from '@yoto/shared';
import { createLogger, createRedis, loadConnectionConfig, ObjectStore, redactUrl } from '@yoto/runtime';
import { TrainWorker } from './run/train-worker.ts';

const WorkerEnvSchema = z.object({
  YOTO_BACKEND: z.enum(['auto', 'tensorflow', 'native-cpu', 'wasm', 'cpu']).default('auto'),
  YOTO_THREADS: z.coerce.number().int().min(1).max(256).optional(),
  YOTO_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  YOTO_WORKER_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  YOTO_KEEP_CHECKPOINTS: z.coerce.number().int().min(1).max(100).default(2),
  YOTO_LOCK_DURATION_MS: z.coerce.number().int().min(1000).max(3_600_000).optional(),
  YOTO_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).max(3_600_000).optional(),
}).refine((e) => (e.YOTO_STALLED_INTERVAL_MS ?? 30_000) <= (e.YOTO_LOCK_DURATION_MS ?? 60_000), {
  path: ['YOTO_STALLED_INTERVAL_MS'],
  message: 'must not exceed YOTO_LOCK_DURATION_MS (default 60000)',
});

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { config, missing } = loadConnectionConfig(process.env);
  const log = createLogger({ name: 'yoto-worker', level: config?.logLevel ?? process.env.LOG_LEVEL ?? 'info' });
  if (!config) {
    log.fatal({ missing }, 'no Redis / S3 configured: set REDIS_URL and S3_ENDPOINT (or S3_BUCKET for AWS), or run `yoto up`');
    process.exitCode = 2;
    return;
  }
  const parsed = WorkerEnvSchema.safeParse(process.env);
  if (!parsed.success) {
    throw new ValidationError('CONFIG_INVALID', 'worker configuration', parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
  }
  const env = parsed.data;
  const workerName = env.YOTO_WORKER_NAME ?? `${hostname()}-${process.pid}`;
  const wlog = log.child({ worker: workerName });
  const store = new ObjectStore(config.s3, wlog);
  const connection = createRedis(config.redisUrl, 'worker', wlog);
  const worker = new TrainWorker({
    connection,
    store,
    log: wlog,
    workerName,
    concurrency: env.YOTO_CONCURRENCY,
    backend: env.YOTO_BACKEND,
    keepCheckpoints: env.YOTO_KEEP_CHECKPOINTS,
    ...(env.YOTO_LOCK_DURATION_MS ? { lockDurationMs: env.YOTO_LOCK_DURATION_MS } : {}),
    ...(env.YOTO_STALLED_INTERVAL_MS ? { stalledIntervalMs: env.YOTO_STALLED_INTERVAL_MS } : {}),
    ...(env.YOTO_THREADS ? { threads: env.YOTO_THREADS } : {}),
  });
  await worker.waitUntilReady();
  wlog.info({ redis: redactUrl(config.redisUrl), bucket: config.s3.bucket, concurrency: env.YOTO_CONCURRENCY, backend: env.YOTO_BACKEND }, 'worker ready');

  let signals = 0;
  const shutdown = (sig: string) => {
    signals += 1;
    if (signals > 1) {
      wlog.warn({ signal: sig }, 'second signal: forcing shutdown');
      void worker.close(true).finally(() => process.exit(130));
      return;
    }
    wlog.info({ signal: sig }, 'stopping: running jobs checkpoint and return to the queue');
    void worker
      .close()
      .then(async () => {
        await connection.quit().catch(() => connection.disconnect());
        store.close();
        wlog.info('worker stopped');
      })
      .catch((err: unknown) => {
        wlog.error({ err }, 'error while stopping');
        process.exitCode = 1;
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  const msg = err instanceof YotoError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`yoto worker: ${msg}\n`);
  process.exitCode = 1;
});
