/**
 * `/metrics` in the Prometheus text format (version 0.0.4).
 *
 * Read at scrape time from Redis:
 *   yoto_queue_jobs{queue,state}            jobs per BullMQ state. `waiting` and
 *                                           `prioritized` are separate sets in BullMQ 5+
 *                                           (every yoto train job has a priority, so it
 *                                           sits in `prioritized`, not `wait`);
 *   yoto_queue_ready_jobs{queue}            waiting + prioritized: what autoscaling should watch
 *   yoto_worker_examples_per_second{worker,backend}  summed over the worker's active runs
 *   yoto_worker_active_runs{worker}
 * Counted by this process from the queues' event streams since it started:
 *   yoto_runs_completed_total{kind}
 *   yoto_run_duration_seconds{kind}         histogram of training compute seconds per run
 *   yoto_job_failures_total{queue}          jobs that failed (retries included)
 */
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES, RunProgressSchema } from '@yoto/shared';
import { createRedis, type Logger } from '@yoto/runtime';

export const JOB_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'waiting-children'] as const;
const BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600] as const;

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

const labelValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (l: Record<string, string>) => `{${Object.entries(l).map(([k, v]) => `${k}="${labelValue(v)}"`).join(',')}}`;

export interface QueueBacklog {
  waiting: number;
  prioritized: number;
  /** waiting + prioritized */
  ready: number;
  active: number;
  delayed: number;
  /** ready + active */
  demand: number;
}

export class QueueMetrics {
  private readonly events: QueueEvents[] = [];
  private readonly connections: Redis[] = [];
  private readonly durations = new Map<string, Histogram>();
  private readonly completed = new Map<string, number>();
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly queues: { train: Queue; aggregate: Queue },
    opts: { eventsConnection?: { redisUrl: string; prefix: string }; log?: Logger },
  ) {
    if (opts.eventsConnection) {
      for (const name of [QUEUES.train, QUEUES.aggregate]) {
        // QueueEvents blocks on XREAD: each gets its own connection.
        const connection = createRedis(opts.eventsConnection.redisUrl, 'worker', opts.log);
        this.connections.push(connection);
        const ev = new QueueEvents(name, { connection, prefix: opts.eventsConnection.prefix });
        ev.on('error', (err) => opts.log?.debug({ err: { message: err.message } }, 'queue events error'));
        ev.on('failed', () => this.failures.set(name, (this.failures.get(name) ?? 0) + 1));
        if (name === QUEUES.train) ev.on('completed', ({ returnvalue }) => this.onRunCompleted(returnvalue));
        this.events.push(ev);
      }
    }
  }

  /** Resolves once the event streams are being read (events before this are not counted). */
  async waitUntilReady(): Promise<void> {
    await Promise.all(this.events.map((e) => e.waitUntilReady()));
  }

  private onRunCompleted(returnvalue: unknown): void {
    let v = returnvalue;
    if (typeof v === 'string') {
      try {
        v = JSON.parse(v);
      } catch {
        return;
      }
    }
    const r = v as { kind?: unknown; computeSeconds?: unknown } | null;
    const kind = r && (r.kind === 'yoto' || r.kind === 'baseline') ? r.kind : 'unknown';
    this.completed.set(kind, (this.completed.get(kind) ?? 0) + 1);
    const secs = typeof r?.computeSeconds === 'number' && Number.isFinite(r.computeSeconds) ? r.computeSeconds : null;
    if (secs === null) return;
    let h = this.durations.get(kind);
    if (!h) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.durations.set(kind, h);
    }
    BUCKETS.forEach((b, i) => {
      if (secs <= b) (h as Histogram).counts[i] = ((h as Histogram).counts[i] ?? 0) + 1;
    });
    h.sum += secs;
    h.count += 1;
  }

  /**
   * `GET /api/queues/backlog` (what KEDA's metrics-api scaler reads): per queue,
   * `ready` = waiting + prioritized (BullMQ keeps prioritized jobs in a sorted set, so
   * `LLEN <prefix>:<queue>:wait` alone under-counts: every yoto train job has a
   * priority), `active`, `delayed` (retries in backoff), and `demand` = ready + active:
   * the workers the queue can keep busy right now.
   */
  async backlog(): Promise<Record<'train' | 'aggregate', QueueBacklog>> {
    const [train, aggregate] = await Promise.all([this.queues.train, this.queues.aggregate].map((q) => q.getJobCounts('waiting', 'prioritized', 'active', 'delayed')));
    const shape = (c: Record<string, number> | undefined): QueueBacklog => {
      const n = (k: string) => c?.[k] ?? 0;
      const ready = n('waiting') + n('prioritized');
      return { waiting: n('waiting'), prioritized: n('prioritized'), ready, active: n('active'), delayed: n('delayed'), demand: ready + n('active') };
    };
    return { train: shape(train), aggregate: shape(aggregate) };
  }

  async render(): Promise<string> {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    const counts = await Promise.all([this.queues.train, this.queues.aggregate].map((q) => q.getJobCounts(...JOB_STATES)));
    metric('yoto_queue_jobs', 'gauge', 'Jobs per queue and BullMQ state (prioritized jobs are kept apart from waiting ones).');
    const names = [QUEUES.train, QUEUES.aggregate];
    counts.forEach((c, i) => {
      for (const s of JOB_STATES) out.push(`yoto_queue_jobs${labels({ queue: names[i] as string, state: s })} ${c[s] ?? 0}`);
    });
    metric('yoto_queue_ready_jobs', 'gauge', 'Jobs ready to be taken by a worker: waiting + prioritized.');
    counts.forEach((c, i) => out.push(`yoto_queue_ready_jobs${labels({ queue: names[i] as string })} ${(c.waiting ?? 0) + (c.prioritized ?? 0)}`));

    const active = await this.queues.train.getActive(0, 999);
    const perWorker = new Map<string, { eps: number; runs: number; backend: string }>();
    for (const job of active) {
      const p = RunProgressSchema.safeParse(job.progress);
      const worker = (p.success && p.data.worker) || 'unknown';
      const w = perWorker.get(worker) ?? { eps: 0, runs: 0, backend: (p.success && p.data.backend) || 'unknown' };
      w.runs += 1;
      if (p.success && p.data.phase === 'training') w.eps += p.data.examplesPerSecond;
      perWorker.set(worker, w);
    }
    metric('yoto_worker_examples_per_second', 'gauge', 'Training throughput per worker, summed over its active runs.');
    for (const [worker, w] of perWorker) out.push(`yoto_worker_examples_per_second${labels({ worker, backend: w.backend })} ${+w.eps.toFixed(3)}`);
    metric('yoto_worker_active_runs', 'gauge', 'Runs each worker is processing now.');
    for (const [worker, w] of perWorker) out.push(`yoto_worker_active_runs${labels({ worker })} ${w.runs}`);

    metric('yoto_runs_completed_total', 'counter', 'Train runs completed since this server started.');
    for (const [kind, n] of this.completed) out.push(`yoto_runs_completed_total${labels({ kind })} ${n}`);
    metric('yoto_run_duration_seconds', 'histogram', 'Training compute seconds of runs completed since this server started.');
    for (const [kind, h] of this.durations) {
      BUCKETS.forEach((b, i) => out.push(`yoto_run_duration_seconds_bucket${labels({ kind, le: String(b) })} ${h.counts[i] ?? 0}`));
      out.push(`yoto_run_duration_seconds_bucket${labels({ kind, le: '+Inf' })} ${h.count}`);
      out.push(`yoto_run_duration_seconds_sum${labels({ kind })} ${+h.sum.toFixed(3)}`);
      out.push(`yoto_run_duration_seconds_count${labels({ kind })} ${h.count}`);
    }
    metric('yoto_job_failures_total', 'counter', 'Jobs that failed an attempt (retries included) since this server started.');
    for (const name of names) out.push(`yoto_job_failures_total${labels({ queue: name })} ${this.failures.get(name) ?? 0}`);
    return `${out.join('\n')}\n`;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.events.map((e) => e.close()));
    for (const c of this.connections) c.disconnect();
  }
}
