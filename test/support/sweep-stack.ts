/**
 * The whole yoto stack in one test process, for tests that run real sweeps: a private
 * redis-server, the embedded S3 server, the sweep service, the aggregate worker and N
 * train workers on the real engine (wasm unless `backend` says otherwise). `stop()` tears it down in reverse order and
 * may be called more than once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createRedis, ObjectStore, type Logger } from '@yoto/runtime';
import { AggregateWorker, startEmbeddedS3, startRedisServer, SweepService, type EmbeddedS3, type RedisServer } from '@yoto/coordinator';
import { TrainWorker, type BackendPreference } from '@yoto/worker';

export interface SweepStack {
  dir: string;
  redis: RedisServer;
  s3: EmbeddedS3;
  store: ObjectStore;
  sweeps: SweepService;
  aggregate: AggregateWorker;
  workers: TrainWorker[];
  stop(): Promise<void>;
}

export async function startSweepStack(opts: { name: string; workers: number; log: Logger; bucket?: string; backend?: BackendPreference }): Promise<SweepStack> {
  const dir = await mkdtemp(join(tmpdir(), `yoto-${opts.name}-`));
  const { log } = opts;
  const redis = await startRedisServer({ dir: join(dir, 'redis') });
  const s3 = await startEmbeddedS3({ dir: join(dir, 's3'), bucket: opts.bucket ?? 'e2e' });
  const store = new ObjectStore(s3.s3Config(), log);
  await store.ensureBucket();
  const sweeps = new SweepService({ redis: redis.url, store, log, pollMs: 250 });
  const aggregate = new AggregateWorker({ redis: redis.url, store, log });
  const connections: Redis[] = [];
  const workers: TrainWorker[] = [];
  for (let i = 0; i < opts.workers; i++) {
    const connection = createRedis(redis.url, 'worker', log);
    connections.push(connection);
    workers.push(new TrainWorker({ connection, store, log, workerName: `${opts.name}-${i}`, backend: opts.backend ?? 'wasm' }));
  }
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(workers.map((w) => w.close()));
      await aggregate.close();
      await sweeps.close();
      for (const c of connections) c.disconnect();
      store.close();
      await s3.stop();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    })());
  return { dir, redis, s3, store, sweeps, aggregate, workers, stop };
}
