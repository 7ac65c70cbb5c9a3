/**
 * The BullMQ worker of the train queue. Each concurrency slot owns one long-lived
 * training thread (backend and datasets initialised once, reused across jobs), so
 * the main thread only does queue, S3 and progress I/O and always renews its locks.
 *
 * `close()` is idempotent: it asks every running job to checkpoint and hand itself
 * back to the queue (no attempt burned), waits for that, then closes the queue
 * connection and the threads. A second call while closing forces: threads are
 * terminated at once, and their jobs are recovered by stall detection elsewhere.
 */
import { Worker, type Job } from 'bullmq';
import { QUEUES, redisKeys } from '@yoto/shared';
import { stallSettings, type Logger, type ObjectStore, type StoreRetryOptions } from '@yoto/runtime';
import type { Redis } from 'ioredis';
import type { BackendPreference } from '../backend/index.ts';
import { runTrainJob } from './train-job.ts';
import { TrainingThread } from './training-thread-client.ts';
import { RedisProbeChannel } from './probe-channel.ts';

export interface TrainWorkerOptions {
  connection: Redis;
  store: ObjectStore;
  log: Logger;
  /** Shown in progress and results. @defaultValue `<hostname>-<pid>` */
  workerName: string;
  /** Runs trained at once by this process (one training thread each). @defaultValue 1 */
  concurrency?: number;
  /** @defaultValue 'auto' */
  backend?: BackendPreference;
  /** Threads for the backend (wasm). @defaultValue backend's choice */
  threads?: number;
  /** BullMQ key prefix. @defaultValue 'bull' */
  prefix?: string;
  /** Checkpoint directories kept per run. @defaultValue 2 */
  keepCheckpoints?: number;
  /**
   * Job lock duration; a crashed worker's job is recovered after at most
   * lockDuration + 2·stalledInterval. Every worker of the queue must agree.
   * @defaultValue QUEUE_SETTINGS.lockDuration (60 s)
   */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs. @defaultValue QUEUE_SETTINGS.stalledInterval (30 s) */
  stalledIntervalMs?: number;
  /** How long store writes wait out an outage. @defaultValue ≈2 min */
  storeRetry?: StoreRetryOptions;
}

export class TrainWorker {
  readonly worker: Worker;
  private readonly threads: TrainingThread[] = [];
  private readonly free: TrainingThread[] = [];
  private readonly stop = new AbortController();
  private closing: Promise<void> | null = null;
  private readonly probes: RedisProbeChannel;

  constructor(private readonly opts: TrainWorkerOptions) {
    const concurrency = Math.max(1, opts.concurrency ?? 1);
    this.probes = new RedisProbeChannel(opts.connection);
    for (let i = 0; i < concurrency; i++) {
      const t = new TrainingThread();
      this.threads.push(t);
      this.free.push(t);
    }
    this.worker = new Worker(QUEUES.train, (job, token) => this.process(job, token), {
      connection: opts.connection,
      concurrency,
      prefix: opts.prefix ?? 'bull',
      ...stallSettings({
        ...(opts.lockDurationMs ? { lockDuration: opts.lockDurationMs } : {}),
        ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
      }),
      autorun: true,
    });
    this.worker.on('failed', (job, err) => {
      opts.log.error({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: { message: err.message } }, 'train job failed');
    });
    this.worker.on('error', (err) => opts.log.error({ err: { message: err.message } }, 'train worker error'));
  }

  private async process(job: Job, token: string | undefined) {
    const thread = this.free.pop();
    if (!thread) throw new Error('no free training thread (concurrency mismatch)');
    try {
      return await runTrainJob(job, token, {
        store: this.opts.store,
        log: this.opts.log,
        workerName: this.opts.workerName,
        backend: { preferred: this.opts.backend ?? 'auto', ...(this.opts.threads ? { threads: this.opts.threads } : {}) },
        thread,
        stopSignal: this.stop.signal,
        ...(this.opts.keepCheckpoints ? { keepCheckpoints: this.opts.keepCheckpoints } : {}),
        ...(this.opts.storeRetry ? { storeRetry: this.opts.storeRetry } : {}),
        sweepState: async (sweepId) => {
          const [status, fresh] = await this.opts.connection.hmget(redisKeys.sweep(sweepId), 'status', 'fresh');
          return { status: status ?? null, fresh: fresh === '1' };
        },
        probes: this.probes,
      });
    } catch (err) {
      // A thread that failed mid-run may hold half-built state: start the next job on a fresh one.
      if (!(err instanceof Error && err.name === 'DelayedError')) await thread.terminate();
      throw err;
    } finally {
      this.free.push(thread);
    }
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  close(force = false): Promise<void> {
    if (this.closing && !force) return this.closing;
    if (force) {
      this.closing = Promise.all(this.threads.map((t) => t.terminate())).then(() => this.worker.close(true));
      return this.closing;
    }
    this.stop.abort();
    this.closing = (async () => {
      await this.worker.close();
      await Promise.all(this.threads.map((t) => t.terminate()));
    })();
    return this.closing;
  }
}
