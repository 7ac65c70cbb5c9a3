/**
 * Everything `yoto demo` and `yoto up` run on one machine, started and stopped in
 * order: the embedded services (what the environment does not configure), the
 * aggregate worker in this process, and N local worker processes.
 *
 * Stop order matters: workers first (SIGTERM lets them finish or checkpoint their job
 * while Redis and S3 are still up), then the aggregate worker, then S3 and Redis.
 */
import { ObjectStore, type ConnectionConfig, type Logger } from '@yoto/runtime';
import { AggregateWorker } from '../aggregate/aggregate-worker.ts';
import { startServices, type EmbeddedServices, type EmbeddedServicesOptions } from './embedded.ts';
import { startWorkerProcesses, type LocalWorkers, type WorkerExit } from './worker-processes.ts';

export interface LocalClusterOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Number of local worker processes (0: none, e.g. when workers run elsewhere). */
  workers: number;
  /** @defaultValue false */
  durableRedis?: boolean;
  /** @defaultValue 'if-free' */
  endpointsFile?: EmbeddedServicesOptions['endpointsFile'];
  /** @defaultValue 'file' (`<home>/logs/local-<i>.log`) */
  workerLogTo?: 'file' | 'parent';
  /** Extra environment of the workers (YOTO_BACKEND, YOTO_CONCURRENCY). */
  workerEnv?: Record<string, string>;
  /** A worker process exited on its own. */
  onWorkerExit?: (exit: WorkerExit) => void;
}

export interface LocalCluster {
  readonly config: ConnectionConfig;
  readonly services: EmbeddedServices;
  readonly store: ObjectStore;
  readonly aggregate: AggregateWorker;
  readonly workers: LocalWorkers;
  /** Stops workers, the aggregate worker, then the services. Idempotent. */
  stop(): Promise<void>;
}

export async function startLocalCluster(opts: LocalClusterOptions): Promise<LocalCluster> {
  const { log } = opts;
  const services = await startServices({
    home: opts.home,
    env: opts.env,
    log,
    durableRedis: opts.durableRedis ?? false,
    endpointsFile: opts.endpointsFile ?? 'if-free',
  });
  const { config } = services;
  const store = new ObjectStore(config.s3, log.child({ component: 'store' }));
  let aggregate: AggregateWorker | null = null;
  let workers: LocalWorkers | null = null;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await workers?.stop();
      await aggregate?.close().catch((err: Error) => log.warn({ err }, 'closing the aggregate worker failed'));
      store.close();
      await services.stop();
    })();
    return stopping;
  };

  try {
    if (!services.s3) {
      // An external bucket may not exist yet (fresh MinIO); AWS users may lack the rights to check.
      await store.ensureBucket().catch((err: Error) => log.warn({ bucket: config.s3.bucket, err: { message: err.message } }, 'could not ensure the bucket exists'));
    }
    aggregate = new AggregateWorker({ redis: config.redisUrl, store, log: log.child({ component: 'aggregate' }) });
    await aggregate.waitUntilReady();
    workers = startWorkerProcesses({
      count: opts.workers,
      config,
      log: log.child({ component: 'workers' }),
      logTo: opts.workerLogTo ?? 'file',
      env: opts.env,
      ...(opts.workerEnv ? { extraEnv: opts.workerEnv } : {}),
      ...(opts.onWorkerExit ? { onExit: opts.onWorkerExit } : {}),
    });
    return { config, services, store, aggregate, workers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Runs `shutdown` on the first SIGINT/SIGTERM; a second signal exits at once (the
 * exit hook still kills the child processes). Returns a function that removes the
 * handlers.
 */
export function onShutdownSignal(shutdown: (signal: NodeJS.Signals) => void, log?: Logger): () => void {
  let received = 0;
  const handler = (signal: NodeJS.Signals) => {
    received += 1;
    if (received === 1) {
      shutdown(signal);
      return;
    }
    log?.warn({ signal }, 'second signal: exiting without waiting');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
