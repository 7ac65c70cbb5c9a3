/**
 * The aggregate processor: a BullMQ worker on `QUEUES.aggregate`. A sweep's aggregate
 * job becomes processable when every train job (its children) has completed or failed
 * for good (children carry `ignoreDependencyOnFailure`); it compares YOTO with the
 * baselines — rows whose runs failed are marked missing — and writes
 * report.{json,md,html} to S3 (`s3Keys.report`), then the sweep's manifest.json
 * (every artifact with size and sha256), then marks the sweep completed.
 *
 * Impossible input (a result that does not parse, a plan that is not there) fails the
 * job with UnrecoverableError naming the run; S3 and Redis hiccups throw ordinary
 * errors and are retried (AGGREGATE_JOB_RETRY).
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES, YotoError, parseAggregatePayload, redisKeys, renderReportMarkdown, s3Keys, type AggregatePayload, type SweepPlan } from '@yoto/shared';
import { QUEUE_SETTINGS, createRedis, type Logger, type ObjectStore } from '@yoto/runtime';
import { AggregateInputError, ChildResultCollector, failedRuns, reportFromResults } from './aggregate-sweep.ts';
import { renderReportHtml } from './report-html.ts';
import { writeManifest } from './sweep-manifest.ts';

export interface AggregateWorkerOptions {
  /**
   * Redis: a `redis://` URL (the worker opens and closes its own connection) or an
   * ioredis client the caller owns, created with `maxRetriesPerRequest: null`
   * (runtime's `createRedis(url, 'worker')`).
   */
  redis: string | Redis;
  /** Artifact store holding plan.json; receives the reports. */
  store: ObjectStore;
  /** @defaultValue no logging */
  log?: Logger;
  /** BullMQ key prefix, the same the sweeps were submitted with. @defaultValue 'bull' */
  prefix?: string;
  /** Aggregate jobs processed in parallel; clamped to 1–4 (each holds a sweep's results in memory). @defaultValue 2 */
  concurrency?: number;
  /** Start fetching jobs at once. @defaultValue true */
  autorun?: boolean;
  /** Children's results read per Redis round trip. @defaultValue 500 */
  pageSize?: number;
}

const DEFAULTS = { prefix: 'bull', concurrency: 2, autorun: true, pageSize: 500 } as const;

/** What the aggregate job returns (kept small: the report itself is in S3). */
export interface AggregateSummary {
  sweepId: string;
  rows: number;
  runs: number;
  meanRatio: number;
  maxRatio: number;
  computeSaving: number;
  reportKey: string;
}

export class AggregateWorker {
  readonly worker: Worker<AggregatePayload, AggregateSummary>;
  private readonly opts: Required<Pick<AggregateWorkerOptions, 'prefix' | 'concurrency' | 'autorun' | 'pageSize'>> & AggregateWorkerOptions;
  private readonly redis: Redis;
  private readonly ownsRedis: boolean;
  private closing: Promise<void> | null = null;

  constructor(options: AggregateWorkerOptions) {
    this.opts = { ...DEFAULTS, ...options };
    this.ownsRedis = typeof options.redis === 'string';
    this.redis = typeof options.redis === 'string' ? createRedis(options.redis, 'worker', options.log) : options.redis;
    const concurrency = Math.min(4, Math.max(1, Math.floor(this.opts.concurrency)));
    this.worker = new Worker<AggregatePayload, AggregateSummary>(QUEUES.aggregate, (job) => this.process(job), {
      connection: this.redis,
      prefix: this.opts.prefix,
      concurrency,
      autorun: this.opts.autorun,
      ...QUEUE_SETTINGS,
    });
    this.worker.on('error', (err) => this.opts.log?.error({ err: { message: err.message } }, 'aggregate worker error'));
    this.worker.on('failed', (job, err) => {
      if (!job) return;
      const final = err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      this.opts.log?.error({ sweepId: job.data?.sweepId, attempt: job.attemptsMade, final, err: { message: err.message } }, 'aggregate failed');
      if (final) void this.markFailed(job, err.message);
    });
  }

  /** Resolves once the worker's connection is ready. */
  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  private async markFailed(job: Job<AggregatePayload>, reason: string): Promise<void> {
    try {
      const { sweepId } = parseAggregatePayload(job.data);
      const key = redisKeys.sweep(sweepId);
      // A cancelled sweep stays cancelled.
      if ((await this.redis.hget(key, 'status')) === 'cancelled') return;
      await this.redis.hset(key, { status: 'failed', error: `aggregate: ${reason}` });
    } catch {
      // The payload itself was bad: there is no sweep to mark.
    }
  }

  /** The processor; public so it can be driven directly in tests. */
  async process(job: Job<AggregatePayload, AggregateSummary>): Promise<AggregateSummary> {
    let payload: AggregatePayload;
    try {
      payload = parseAggregatePayload(job.data);
    } catch (err) {
      throw new UnrecoverableError(err instanceof Error ? err.message : String(err));
    }
    const { sweepId } = payload;
    const log = this.opts.log?.child({ sweepId, jobId: job.id, attempt: job.attemptsMade + 1 });
    const key = redisKeys.sweep(sweepId);
    if ((await this.redis.hget(key, 'status')) === 'cancelled') throw new UnrecoverableError(`sweep ${sweepId} was cancelled`);

    let plan: SweepPlan;
    try {
      plan = await this.opts.store.getJson<SweepPlan>(s3Keys.plan(sweepId));
    } catch (err) {
      if (err instanceof YotoError && err.code === 'NOT_FOUND') throw new UnrecoverableError(`plan of sweep ${sweepId} is missing from the store (${s3Keys.plan(sweepId)})`);
      throw err;
    }
    if (plan.sweepId !== sweepId) throw new UnrecoverableError(`stored plan ${s3Keys.plan(sweepId)} is for sweep ${plan.sweepId}`);

    let report;
    try {
      // Results a page at a time (HSCAN), each compacted as it is parsed: a 10,000-run
      // sweep never has every raw result in memory at once.
      const collector = new ChildResultCollector(plan);
      let cursor = 0;
      do {
        const page = await job.getDependencies({ processed: { cursor, count: this.opts.pageSize } });
        collector.add(page.processed ?? {});
        cursor = Number(page.nextProcessedCursor ?? 0);
      } while (cursor !== 0);
      const failed = failedRuns(sweepId, await job.getIgnoredChildrenFailures());
      report = reportFromResults(plan, collector.finish(failed), new Date(), failed);
    } catch (err) {
      if (err instanceof AggregateInputError) throw new UnrecoverableError(err.message);
      throw err;
    }

    const reportKey = s3Keys.report(sweepId, 'json');
    await this.opts.store.putJson(reportKey, report);
    await this.opts.store.put(s3Keys.report(sweepId, 'md'), renderReportMarkdown(report), { contentType: 'text/markdown; charset=utf-8' });
    await this.opts.store.put(s3Keys.report(sweepId, 'html'), renderReportHtml(report), { contentType: 'text/html; charset=utf-8' });
    const manifest = await writeManifest(this.opts.store, sweepId);
    log?.info({ artifacts: manifest.artifacts.length }, 'manifest written');
    await this.redis.multi().hset(key, { status: 'completed', reportKey }).hdel(key, 'error').exec();
    const summary: AggregateSummary = {
      sweepId,
      rows: report.rows.length,
      runs: report.summary.runs,
      meanRatio: report.summary.meanRatio,
      maxRatio: report.summary.maxRatio,
      computeSaving: report.summary.computeSaving,
      reportKey,
    };
    log?.info(summary, 'report written');
    return summary;
  }

  /** Stops taking jobs, waits for the running ones, closes connections. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.worker.close();
      if (this.ownsRedis) await this.redis.quit().catch(() => this.redis.disconnect());
    })();
    return this.closing;
  }
}
