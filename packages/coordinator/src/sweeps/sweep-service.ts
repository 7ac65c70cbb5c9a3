/**
 * The sweep lifecycle on the coordinator side: submit (validate, plan, store, enqueue
 * one BullMQ flow), list, inspect, wait, cancel, and read reports.
 *
 * Storage order on submit is what makes it safe to retry: spec.json and plan.json go
 * to S3 first, then the sweep hash is registered, then ONE `FlowProducer.add` puts the
 * aggregate job and every train job into Redis atomically. Ids are deterministic
 * (sweepId from the spec's hash, job ids from `jobIds`), so resubmitting the same spec
 * finds the sweep and enqueues nothing.
 *
 * Large sweeps (more runs than `enqueueChunk`, e.g. 10,000) are not one transaction:
 * a single MULTI of that size holds the whole flow in the coordinator's memory and
 * blocks Redis for its length. They are enqueued behind a gate instead: one atomic
 * flow puts the aggregate and a gate child (queue `yoto-gate`, which no worker takes),
 * then the runs go in as children of the aggregate, `enqueueChunk` per `addBulk` (one
 * MULTI and one round trip per chunk), and only then is the gate removed. The
 * aggregate therefore cannot start before every run is in Redis, whatever happens in
 * between. If a chunk is refused the sweep is marked `failed-to-enqueue` with the gate
 * still closed; a coordinator that dies mid-way leaves the gate closed too, and the
 * gate's presence is what makes a resubmission finish the job: the runs already in
 * Redis keep their deterministic ids (adding them again is a no-op), the rest are
 * added, and the gate opens. Runs that started in the meantime are not wasted.
 *
 * Partial sweeps: train children carry BullMQ's `ignoreDependencyOnFailure` (not
 * `failParentOnFailure`): a run that fails for good (out of attempts, diverged) is
 * recorded among the parent's ignored failures and the aggregate still runs once every
 * other run is done; it reads the failures with `job.getIgnoredChildrenFailures()` and
 * the report marks the rows that lost a side. One bad λ no longer throws away the
 * rest of the grid.
 *
 * Pause / cancel are a status in the sweep hash that workers poll at progress ticks
 * (and check before starting a run): `paused` makes a running run checkpoint and park
 * itself in the delayed set, and a waiting run park as soon as a worker picks it
 * (PARK_MS, then re-checked); `resume` sets the status back and promotes the parked
 * jobs. `cancelled` makes running runs checkpoint and fail without retry, and `cancel`
 * removes every job that is not running.
 */
import { FlowProducer, Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  QUEUES,
  YotoError,
  describeRun,
  jobIds,
  parseRunPayload,
  parseSweepSpec,
  parseSweepSpecText,
  planSweep,
  redisKeys,
  RunProgressSchema,
  s3Keys,
  type AggregatePayload,
  type Report,
  type RunPayload,
  type RunProgress,
  type RunResult,
  type SweepPlan,
  type SweepSpec,
} from '@yoto/shared';
import { AGGREGATE_JOB_RETRY, TRAIN_JOB_RETRY, createRedis, type Logger, type ObjectStore } from '@yoto/runtime';
import {
  TERMINAL_STATUSES,
  deriveStatus,
  emptyCounts,
  parseSweepRecord,
  type RunState,
  type RunStatusRow,
  type SweepDetail,
  type SweepRecord,
  type SweepStatus,
} from './sweep-record.ts';

export interface SweepServiceOptions {
  /**
   * Redis for BullMQ and the sweep records: a `redis://` URL (the service opens and
   * closes its own connection) or an ioredis client the caller owns and closes.
   */
  redis: string | Redis;
  /** Artifact store for spec.json, plan.json and the reports. */
  store: ObjectStore;
  /** Logger; child loggers carry the sweepId. @defaultValue no logging */
  log?: Logger;
  /** BullMQ key prefix; workers must use the same one. @defaultValue 'bull' */
  prefix?: string;
  /** Poll interval of `waitForCompletion`. @defaultValue 1000 */
  pollMs?: number;
  /**
   * Runs per enqueue transaction. A sweep with at most this many runs is one atomic
   * flow; a larger one is enqueued in chunks of this size behind a gate (see the header).
   * @defaultValue 1000
   */
  enqueueChunk?: number;
}

const DEFAULTS = { prefix: 'bull', pollMs: 1000, enqueueChunk: 1000 } as const;

export interface SubmitResult {
  sweepId: string;
  /** Number of train jobs (the aggregate job not counted). */
  runs: number;
  /** False when a sweep with this id already existed: nothing was enqueued. */
  created: boolean;
  plan: SweepPlan;
  spec: SweepSpec;
}

export interface SweepListEntry extends Omit<SweepRecord, 'status'> {
  /**
   * The stored status refined by the aggregate job's state (completed / failed /
   * aggregating). Telling queued from running needs every run's state: see `get()`.
   */
  status: SweepStatus;
  /** State of the sweep's aggregate job (`missing` once removed or never enqueued). */
  aggregateState: RunState;
}

/** Which runs `get` reads: all of them by default, or `limit` runs from `offset`. */
export interface GetPage {
  /** First run (plan order). @defaultValue 0 */
  offset?: number;
  /** Runs to read; counts are then summarised (see `get`). @defaultValue every run */
  limit?: number;
}

export interface WaitOptions {
  /** Called after every poll with the sweep's current detail. */
  onUpdate?: (detail: SweepDetail) => void;
  signal?: AbortSignal;
  /** Give up with a TIMEOUT error after this long. @defaultValue no limit */
  timeoutMs?: number;
  /** Which runs each poll reads (see `get`); `{ limit: 0 }` polls the counts alone. @defaultValue every run */
  page?: GetPage;
}

export interface CancelResult {
  /** Jobs removed (children and the aggregate). */
  removed: number;
  /** Runs that were active: their workers see the cancellation within seconds, checkpoint and stop. */
  active: number;
}

export interface PauseResult {
  /** Runs that were active: they checkpoint and park within seconds. */
  active: number;
  /** Runs not yet finished (waiting, delayed or active) that the pause holds back. */
  held: number;
}

export interface ResumeResult {
  /** Parked (delayed) runs moved back to the queue now. */
  promoted: number;
}

const JOB_STATES: ReadonlySet<string> = new Set(['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'waiting-children']);
function toRunState(s: string): RunState {
  if (s === 'wait' || s === 'paused') return 'waiting';
  return JOB_STATES.has(s) ? (s as RunState) : 'missing';
}

function parseProgress(p: unknown): RunProgress | null {
  if (p === null || typeof p !== 'object') return null;
  const r = RunProgressSchema.safeParse(p);
  return r.success ? r.data : null;
}

export class SweepService {
  private readonly opts: Required<Pick<SweepServiceOptions, 'prefix' | 'pollMs' | 'enqueueChunk'>> & SweepServiceOptions;
  private readonly redis: Redis;
  private readonly ownsRedis: boolean;
  private readonly trainQueue: Queue<RunPayload, RunResult>;
  private readonly aggregateQueue: Queue<AggregatePayload>;
  private readonly gateQueue: Queue;
  private readonly flows: FlowProducer;
  /** Plans never change once written; cached so polling does not re-read S3. */
  private readonly plans = new Map<string, SweepPlan>();
  private closing: Promise<void> | null = null;

  constructor(options: SweepServiceOptions) {
    this.opts = { ...DEFAULTS, ...options };
    this.ownsRedis = typeof options.redis === 'string';
    this.redis = typeof options.redis === 'string' ? createRedis(options.redis, 'producer', options.log) : options.redis;
    const base = { connection: this.redis, prefix: this.opts.prefix };
    this.trainQueue = new Queue<RunPayload, RunResult>(QUEUES.train, base);
    this.aggregateQueue = new Queue<AggregatePayload>(QUEUES.aggregate, base);
    this.gateQueue = new Queue(QUEUES.gate, base);
    this.flows = new FlowProducer(base);
    // Errors surface through the commands that hit them; without a listener each
    // would also be printed as an unhandled 'error' event.
    const onError = (err: Error) => this.opts.log?.debug({ err: { message: err.message } }, 'bullmq client error');
    this.trainQueue.on('error', onError);
    this.aggregateQueue.on('error', onError);
    this.gateQueue.on('error', onError);
    this.flows.on('error', onError);
  }

  private get log(): Logger | undefined {
    return this.opts.log;
  }

  /**
   * Validates, plans, stores and enqueues a sweep. `specInput` is YAML/JSON text or an
   * already-parsed object. Throws ValidationError (nothing written) on a bad spec, and
   * a YotoError ENQUEUE_FAILED (sweep marked `failed-to-enqueue`, resubmittable) when
   * Redis refuses the flow.
   */
  async submit(specInput: unknown): Promise<SubmitResult> {
    const spec = typeof specInput === 'string' ? parseSweepSpecText(specInput) : parseSweepSpec(specInput);
    const plan = planSweep(spec);
    // The worker parses the payload with the same schema; a payload it would refuse must
    // never reach the queue.
    for (const run of plan.runs) parseRunPayload(run);
    const { sweepId } = plan;
    const key = redisKeys.sweep(sweepId);
    const log = this.log?.child({ sweepId });
    const result = (created: boolean): SubmitResult => ({ sweepId, runs: plan.runs.length, created, plan, spec });

    if (!(await this.needsEnqueue(sweepId))) {
      log?.info('sweep already submitted; nothing enqueued');
      return result(false);
    }

    const specKey = s3Keys.spec(sweepId);
    const planKey = s3Keys.plan(sweepId);
    await this.opts.store.putJson(specKey, spec);
    // Compact, unlike the other JSON artifacts: a 10,000-run plan is ~16 MB this way and
    // three times that indented, all of it held in memory while it uploads.
    await this.opts.store.put(planKey, JSON.stringify(plan), { contentType: 'application/json' });
    this.plans.set(sweepId, plan);

    // HSETNX on `created` is the claim: of two concurrent submitters only one proceeds
    // (unless the sweep is resubmittable, which needsEnqueue re-checks).
    const now = Date.now();
    const claimed = await this.redis.hsetnx(key, 'created', String(now));
    if (!claimed && !(await this.needsEnqueue(sweepId))) return result(false);
    const created = claimed ? now : Number((await this.redis.hget(key, 'created')) ?? now);
    // Fresh: this submit created the sweep and nothing is stored for any of its runs, so
    // a run's first start has nothing to look up in S3 (train-job.ts). Any other
    // (re-)enqueue clears the mark: its runs may have stored results or checkpoints
    // (a sweep resubmitted after Redis lost it, a retried enqueue).
    const fresh = claimed && !(await this.opts.store.anyUnder(s3Keys.sweep(sweepId) + 'runs/'));
    await this.redis
      .multi()
      .hset(key, {
        name: spec.name,
        problem: spec.problem,
        status: 'queued',
        totalRuns: String(plan.runs.length),
        aggregateJobId: jobIds.aggregate(sweepId),
        specKey,
        planKey,
        ...(fresh ? { fresh: '1' } : {}),
      })
      .hdel(key, 'error', 'reportKey', ...(fresh ? [] : ['fresh']))
      .zadd(redisKeys.sweeps, created, sweepId)
      .exec();

    try {
      if (plan.runs.length <= this.opts.enqueueChunk) {
        // One MULTI: the aggregate and every run, or nothing.
        await this.flows.add({ ...this.aggregateNode(sweepId), children: plan.runs.map((run) => this.trainNode(spec, run)) });
      } else {
        await this.enqueueGated(spec, plan);
      }
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      await this.redis.hset(key, { status: 'failed-to-enqueue', error: reason }).catch(() => undefined);
      log?.error({ err: { message: reason } }, 'enqueue failed');
      throw new YotoError('ENQUEUE_FAILED', `sweep ${sweepId} was stored but could not be enqueued (${reason}); it is marked failed-to-enqueue — submit the same spec again to retry`, { cause: err });
    }
    log?.info({ runs: plan.runs.length }, 'sweep submitted');
    return result(true);
  }

  private aggregateNode(sweepId: string) {
    return {
      name: 'aggregate',
      queueName: QUEUES.aggregate,
      data: { version: 1, sweepId } satisfies AggregatePayload,
      opts: { jobId: jobIds.aggregate(sweepId), ...AGGREGATE_JOB_RETRY, removeOnComplete: false, removeOnFail: false },
    };
  }

  private trainNode(spec: SweepSpec, run: RunPayload) {
    return {
      name: 'train',
      queueName: QUEUES.train,
      data: run,
      opts: {
        jobId: jobIds.train(run.sweepId, run.runId),
        // A gap-driven YOTO run queues behind its baselines, so that on a small pool
        // their probe curves exist by the time it compares itself with them.
        priority: run.kind === 'yoto' && run.peers?.length ? Math.min(spec.priority + 1, 2_097_152) : spec.priority,
        ...TRAIN_JOB_RETRY,
        // Results stay readable for the aggregate (getChildrenValues) and `status`.
        removeOnComplete: false,
        removeOnFail: false,
        // A run out of attempts is recorded on the parent, which still aggregates
        // what completed (partial sweep, see the header).
        ignoreDependencyOnFailure: true,
      },
    };
  }

  /** Aggregate + gate atomically, the runs in chunks under the aggregate, then the gate opens (see the header). */
  private async enqueueGated(spec: SweepSpec, plan: SweepPlan): Promise<void> {
    const { sweepId } = plan;
    const gateId = jobIds.gate(sweepId);
    const aggregateState = await this.aggregateQueue.getJobState(jobIds.aggregate(sweepId));
    if (aggregateState === 'unknown') {
      await this.flows.add({
        ...this.aggregateNode(sweepId),
        children: [{ name: 'gate', queueName: QUEUES.gate, data: { sweepId }, opts: { jobId: gateId, removeOnComplete: true, removeOnFail: true } }],
      });
    } else if ((await this.gateQueue.getJobState(gateId)) === 'unknown') {
      // The gate is open already: every run is in.
      return;
    }
    const parent = { id: jobIds.aggregate(sweepId), queue: `${this.opts.prefix}:${QUEUES.aggregate}` };
    const chunk = this.opts.enqueueChunk;
    const starts = Array.from({ length: Math.ceil(plan.runs.length / chunk) }, (_, i) => i * chunk);
    // Two chunks in flight: one is built and sent while Redis runs the other. Order
    // among chunks does not matter; the gate opens only after all of them succeeded.
    let failed = false;
    const send = async () => {
      for (let start = starts.shift(); start !== undefined && !failed; start = starts.shift()) {
        try {
          await this.trainQueue.addBulk(
            plan.runs.slice(start, start + chunk).map((run) => {
              const node = this.trainNode(spec, run);
              return { name: node.name, data: node.data, opts: { ...node.opts, parent } };
            }),
          );
        } catch (err) {
          failed = true; // the other sender stops after its chunk in flight
          throw err;
        }
      }
    };
    // allSettled: the error is reported once both senders have stopped.
    const sent = await Promise.allSettled([send(), send()]);
    const refused = sent.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (refused) throw refused.reason;
    await this.gateQueue.remove(gateId);
  }

  /**
   * Whether submit must (re-)enqueue: the sweep is unknown, failed to enqueue, is
   * registered as queued but its aggregate job does not exist (a crash between
   * registration and the flow add), or its gate is still closed (a chunked enqueue
   * that never finished).
   */
  private async needsEnqueue(sweepId: string): Promise<boolean> {
    const record = parseSweepRecord(sweepId, await this.redis.hgetall(redisKeys.sweep(sweepId)));
    if (!record) return true;
    if (record.status === 'failed-to-enqueue') return true;
    if (record.status === 'queued') {
      if ((await this.aggregateQueue.getJobState(jobIds.aggregate(sweepId))) === 'unknown') return true;
      return (await this.gateQueue.getJobState(jobIds.gate(sweepId))) !== 'unknown';
    }
    return false;
  }

  /** Every sweep, newest first. */
  async list(limit = 200): Promise<SweepListEntry[]> {
    const ids = await this.redis.zrevrange(redisKeys.sweeps, 0, limit - 1);
    const out: SweepListEntry[] = [];
    const hashes = await Promise.all(ids.map((id) => this.redis.hgetall(redisKeys.sweep(id))));
    const states = await Promise.all(ids.map((id) => this.aggregateQueue.getJobState(jobIds.aggregate(id))));
    ids.forEach((id, i) => {
      const record = parseSweepRecord(id, hashes[i] ?? {});
      if (!record) return;
      const aggregateState = toRunState(states[i] ?? 'unknown');
      out.push({ ...record, status: deriveStatus(record, aggregateState, []), aggregateState });
    });
    return out;
  }

  /** The stored record alone; null for an unknown sweep. */
  async record(sweepId: string): Promise<SweepRecord | null> {
    return parseSweepRecord(sweepId, await this.redis.hgetall(redisKeys.sweep(sweepId)));
  }

  /** The plan as stored in S3 (cached). */
  async plan(sweepId: string): Promise<SweepPlan> {
    const cached = this.plans.get(sweepId);
    if (cached) return cached;
    const plan = await this.opts.store.getJson<SweepPlan>(s3Keys.plan(sweepId));
    this.plans.set(sweepId, plan);
    return plan;
  }

  /**
   * The sweep with live per-run state and progress; null for an unknown sweep. Jobs are
   * read by their deterministic ids, all requests in flight at once (ioredis pipelines
   * them on one connection).
   *
   * With `limit`, only the runs `offset .. offset+limit` (plan order) are read, and the
   * counts come from the aggregate job's dependency sets (completed = processed
   * children, failed = children out of attempts) and the queue's active jobs of this
   * sweep; every other run is counted `waiting` (delayed retries and prioritized
   * runs included). That costs a handful of Redis calls whatever the sweep's size,
   * where reading every run of a 10,000-run sweep is 20,000 job reads.
   */
  async get(sweepId: string, page: GetPage = {}): Promise<SweepDetail | null> {
    const record = await this.record(sweepId);
    if (!record) return null;
    const plan = await this.plan(sweepId);
    const paged = page.limit !== undefined;
    const offset = Math.max(0, Math.floor(page.offset ?? 0));
    const end = paged ? Math.min(plan.runs.length, offset + Math.max(0, Math.floor(page.limit ?? 0))) : plan.runs.length;
    const planRuns = plan.runs.slice(paged ? offset : 0, end);
    const aggId = jobIds.aggregate(sweepId);
    const trainIds = planRuns.map((r) => jobIds.train(sweepId, r.runId));
    const [aggJob, aggState, jobs, states] = await Promise.all([
      this.aggregateQueue.getJob(aggId),
      this.aggregateQueue.getJobState(aggId),
      Promise.all(trainIds.map((id) => this.trainQueue.getJob(id))),
      Promise.all(trainIds.map((id) => this.trainQueue.getJobState(id))),
    ]);
    const runCounts = emptyCounts();
    const runs: RunStatusRow[] = planRuns.map((run, i) => {
      const job = jobs[i] as Job<RunPayload, RunResult> | undefined;
      const state = job ? toRunState(states[i] ?? 'unknown') : 'missing';
      runCounts[state] += 1;
      return {
        runId: run.runId,
        jobId: trainIds[i] as string,
        kind: run.kind,
        label: describeRun(run),
        variantId: run.variantId,
        seed: run.seed,
        state,
        progress: parseProgress(job?.progress),
        attemptsMade: job?.attemptsMade ?? 0,
        maxAttempts: job?.opts.attempts ?? TRAIN_JOB_RETRY.attempts,
        failedReason: job?.failedReason || null,
      };
    });
    const aggregateState = aggJob ? toRunState(aggState) : 'missing';
    const counts = paged ? await this.countRuns(sweepId, plan.runs.length, aggJob ?? undefined) : runCounts;
    const started = counts.active + counts.completed + counts.failed > 0;
    return {
      record,
      status: deriveStatus(record, aggregateState, paged ? started : runs),
      counts,
      aggregate: { jobId: aggId, state: aggregateState, failedReason: aggJob?.failedReason || null, attemptsMade: aggJob?.attemptsMade ?? 0 },
      runs,
      ...(paged ? { page: { offset, limit: end - Math.min(offset, end), total: plan.runs.length } } : {}),
    };
  }

  /** Runs per state without reading each run (see `get`); all `missing` once the aggregate job is gone. */
  private async countRuns(sweepId: string, total: number, aggJob: Job | undefined): Promise<Record<RunState, number>> {
    const counts = emptyCounts();
    if (!aggJob) {
      counts.missing = total;
      return counts;
    }
    const [deps, active] = await Promise.all([
      aggJob.getDependenciesCount({ processed: true, ignored: true, failed: true }),
      // Active jobs are bounded by the workers' concurrency, whatever the sweep's size.
      this.trainQueue.getJobs(['active']),
    ]);
    const prefix = `${jobIds.train(sweepId, 'x').slice(0, -1)}`;
    counts.completed = deps.processed ?? 0;
    counts.failed = (deps.ignored ?? 0) + (deps.failed ?? 0);
    counts.active = active.filter((j) => j?.id?.startsWith(prefix)).length;
    counts.waiting = Math.max(0, total - counts.completed - counts.failed - counts.active);
    return counts;
  }

  /** The report JSON once the aggregate has written it, else null. */
  async report(sweepId: string): Promise<Report | null> {
    return this.opts.store.getJsonIfExists<Report>(s3Keys.report(sweepId, 'json'));
  }

  async reportMarkdown(sweepId: string): Promise<string | null> {
    const b = await this.opts.store.getIfExists(s3Keys.report(sweepId, 'md'));
    return b === null ? null : b.toString('utf8');
  }

  /**
   * Polls until the sweep completes, fails (aggregate failed, or a run out of
   * attempts) or is cancelled, and returns its final detail. Throws NOT_FOUND for an
   * unknown sweep, TIMEOUT after `timeoutMs`, and the signal's reason when aborted.
   */
  async waitForCompletion(sweepId: string, opts: WaitOptions = {}): Promise<SweepDetail> {
    const started = Date.now();
    for (;;) {
      opts.signal?.throwIfAborted();
      const detail = await this.get(sweepId, opts.page);
      if (!detail) throw new YotoError('NOT_FOUND', `no sweep ${sweepId}`);
      opts.onUpdate?.(detail);
      if (TERMINAL_STATUSES.has(detail.status)) return detail;
      if (opts.timeoutMs !== undefined && Date.now() - started >= opts.timeoutMs) {
        throw new YotoError('TIMEOUT', `sweep ${sweepId} did not finish within ${Math.round(opts.timeoutMs / 1000)} s (status ${detail.status}: ${detail.counts.completed}/${detail.page?.total ?? detail.runs.length} runs completed)`);
      }
      await sleep(this.opts.pollMs, opts.signal);
    }
  }

  /**
   * Cancels a sweep: marks it cancelled (so an aggregate that still starts refuses to
   * run), removes the aggregate job and every run that is not active. Active runs are
   * locked by their workers, which poll the status: they checkpoint, stop, and fail
   * without retry ("sweep cancelled") within seconds.
   */
  async cancel(sweepId: string): Promise<CancelResult> {
    const key = redisKeys.sweep(sweepId);
    const record = await this.record(sweepId);
    if (!record) throw new YotoError('NOT_FOUND', `no sweep ${sweepId}`);
    if (record.status === 'completed') throw new YotoError('CONFLICT', `sweep ${sweepId} has already completed`);
    await this.redis.hset(key, { status: 'cancelled' });
    const aggId = jobIds.aggregate(sweepId);
    const plan = await this.plan(sweepId);
    const trainIds = plan.runs.map((r) => jobIds.train(sweepId, r.runId));
    const statesBefore = await Promise.all(trainIds.map((id) => this.trainQueue.getJobState(id)));
    const existing = statesBefore.filter((s) => s !== 'unknown').length;
    // Whole flow at once when nothing is locked.
    if ((await this.aggregateQueue.getJobState(aggId)) !== 'unknown') {
      const ok = await this.aggregateQueue.remove(aggId, { removeChildren: true });
      if (ok === 1) {
        this.log?.info({ sweepId, removed: existing + 1 }, 'sweep cancelled');
        return { removed: existing + 1, active: 0 };
      }
    }
    // Some run is active (locked): remove the others one by one, then the parent.
    let removed = 0;
    let active = 0;
    for (const [i, id] of trainIds.entries()) {
      const state = await this.trainQueue.getJobState(id);
      if (state === 'unknown') continue;
      if (state === 'active') {
        active += 1;
        continue;
      }
      if ((await this.trainQueue.remove(id, { removeChildren: false })) === 1) removed += 1;
      else if (statesBefore[i] !== 'unknown') active += 1;
    }
    if ((await this.aggregateQueue.getJobState(aggId)) !== 'unknown' && (await this.aggregateQueue.remove(aggId, { removeChildren: false })) === 1) removed += 1;
    // A gate left by an unfinished chunked enqueue has no parent to wait for any more.
    await this.gateQueue.remove(jobIds.gate(sweepId));
    this.log?.info({ sweepId, removed, active }, 'sweep cancelled');
    return { removed, active };
  }

  /**
   * Pauses a sweep: running runs checkpoint and park themselves (workers poll the
   * status), waiting runs are parked when a worker picks them. Nothing is lost and no
   * attempt is burned; `resume` continues every run from its checkpoint.
   */
  async pause(sweepId: string): Promise<PauseResult> {
    const record = await this.record(sweepId);
    if (!record) throw new YotoError('NOT_FOUND', `no sweep ${sweepId}`);
    if (record.status !== 'queued' && record.status !== 'paused') throw new YotoError('CONFLICT', `sweep ${sweepId} is ${record.status}; only a queued or running sweep can be paused`);
    await this.redis.hset(redisKeys.sweep(sweepId), { status: 'paused' });
    const states = await this.trainStates(sweepId);
    const active = states.filter((s) => s.state === 'active').length;
    const held = states.filter((s) => s.state !== 'completed' && s.state !== 'failed' && s.state !== 'unknown').length;
    this.log?.info({ sweepId, active, held }, 'sweep paused');
    return { active, held };
  }

  /** Resumes a paused sweep: its parked runs go back to the queue at once. */
  async resume(sweepId: string): Promise<ResumeResult> {
    const record = await this.record(sweepId);
    if (!record) throw new YotoError('NOT_FOUND', `no sweep ${sweepId}`);
    if (record.status !== 'paused') throw new YotoError('CONFLICT', `sweep ${sweepId} is ${record.status}, not paused`);
    await this.redis.hset(redisKeys.sweep(sweepId), { status: 'queued' });
    let promoted = 0;
    for (const { id, state } of await this.trainStates(sweepId)) {
      if (state !== 'delayed') continue;
      const job = await this.trainQueue.getJob(id);
      // A job that left the delayed set meanwhile is already on its way.
      if (job && (await job.promote().then(() => true, () => false))) promoted += 1;
    }
    this.log?.info({ sweepId, promoted }, 'sweep resumed');
    return { promoted };
  }

  private async trainStates(sweepId: string): Promise<{ id: string; state: string }[]> {
    const plan = await this.plan(sweepId);
    const ids = plan.runs.map((r) => jobIds.train(sweepId, r.runId));
    const states = await Promise.all(ids.map((id) => this.trainQueue.getJobState(id)));
    return ids.map((id, i) => ({ id, state: states[i] ?? 'unknown' }));
  }

  /** Closes the BullMQ clients and, when the service opened it, the Redis connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([this.trainQueue.close(), this.aggregateQueue.close(), this.gateQueue.close(), this.flows.close()]);
      if (this.ownsRedis) await this.redis.quit().catch(() => this.redis.disconnect());
    })();
    return this.closing;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

