// The orchestration's own cost, in one run on a private redis-server and embedded S3:
//  (a) raw BullMQ: add N tiny jobs (addBulk) and process them (no-op processor);
//  (a2) raw BullMQ whose processor runs the same quadratic training in-process;
//  (a3) as (a2), and the processor also stores the same durable artifacts a yoto run
//       does (final model state, eval.json, metrics.jsonl, then result.json), one
//       plain PUT each, no verification: what a hand-written durable worker costs;
//  (b) the same N through yoto: SweepService.submit of a quadratic sweep at 1 step,
//      trained by a TrainWorker (training threads, checkpoints/artifacts to S3,
//      verified results), with the same concurrency; plus the aggregate;
//  (c) submit time of a 10,000-run quadratic sweep (coordinator in its own process);
//  (d) that coordinator's peak RSS, and Redis memory with the 10k runs enqueued;
//  (e) 100 in-process BullMQ workers on one Redis (yoto's queue settings): p50/p99
//      enqueue-to-start latency at a steady arrival rate;
//  (f) with `--full-sweep N` (off by default): an N-run quadratic sweep (1 step) end to
//      end, trained by a TrainWorker here, aggregated by an AggregateWorker in its own
//      process (its wall time and peak RSS), then `yoto status` of it from a fresh
//      process: the summary with the first page of runs, and every run.
//  With `--rounds R` (default 1), (a3) and (b) are measured R times, alternating, and
//  the wrapper/(a3) ratio is reported per round and as the median (the machine's
//  other load moves single runs by ±20%). For (a3) and (b) the CPU time per run of this
//  process (every thread) and of redis-server is printed too: steadier than wall time.
// Run: npm run bench -- orchestration [--n 416] [--concurrency 4] [--latency-jobs 2000] [--rate 200] [--workers 100] [--parts abcde] [--rounds 1] [--full-sweep 10000]
// Writes bench/results/orchestration.json.
import { spawn } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger, createRedis, ObjectStore, QUEUE_SETTINGS } from '@yoto/runtime';
import { AggregateWorker, startEmbeddedS3, startRedisServer, SweepService } from '@yoto/coordinator';
import { getTf, loadDataset, LossConditionalTrainer, selectBackend, serializeState, TrainWorker } from '@yoto/worker';
import { QUEUES, parseSweepSpec, planSweep, s3Keys, type RunPayload } from '@yoto/shared';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const SEEDS = Math.max(1, Math.min(16, Math.round(arg('n', 416) / 26)));
const N = SEEDS * 26; // 5×5 grid: 1 YOTO + 25 baselines per seed
const CONCURRENCY = arg('concurrency', 4);
const LATENCY_JOBS = arg('latency-jobs', 2000);
const RATE = arg('rate', 200);
const LATENCY_WORKERS = arg('workers', 100);
/** Which parts to run, e.g. `--parts ab` (default all: abcde; c and d are one step). */
const PARTS = (() => {
  const i = process.argv.indexOf('--parts');
  return i >= 0 ? (process.argv[i + 1] ?? '') : 'abcde';
})();
const FULL_SWEEP = arg('full-sweep', 0);
const ROUNDS = Math.max(1, arg('rounds', 1));
const load = loadavg()[0] ?? 0;

const quadSpec = (name: string, extra: Record<string, unknown>) => ({
  name,
  problem: 'quadratic',
  quadratic: { dim: 4 },
  model: { filmHidden: 8 },
  lambda: { q1: { dist: 'log-uniform', low: 0.1, high: 10 }, q2: { dist: 'log-uniform', low: 0.1, high: 10 } },
  train: { steps: 1, batchSize: 8, checkpointEvery: 500 },
  ...extra,
});
const GRID5 = [0.1, 0.3, 1, 3, 10];
const GRID7 = [0.1, 0.3, 1, 2, 3, 5, 10];

const dir = await mkdtemp(join(tmpdir(), 'yoto-bench-orch-'));
/** Per-phase milliseconds summed over the wrapper's runs (from each run's "run complete" log line). */
const phaseTotals: Record<string, number> = {};
let phaseRuns = 0;
const log = createLogger({
  name: 'bench',
  level: 'info',
  hooks: {
    logMethod(args, method, level) {
      const [fields, msg] = args as unknown as [Record<string, unknown>, string];
      if (msg === 'run complete' && fields && typeof fields.phasesMs === 'object') {
        phaseRuns += 1;
        for (const [k, v] of Object.entries(fields.phasesMs as Record<string, number>)) phaseTotals[k] = (phaseTotals[k] ?? 0) + v;
      }
      if (level >= 50) method.apply(this, args);
    },
  },
});
/**
 * Requests the embedded S3 server (the only HTTP server in this process) answered, by
 * method, and their summed server-side latency; reset before a timed part.
 */
const s3Requests = { byMethod: {} as Record<string, number>, total: 0, latencyMs: 0 };
const requestStart = new WeakMap<object, number>();
subscribe('http.server.request.start', (m) => {
  const { request } = m as { request: { method?: string } };
  const method = request.method ?? '?';
  s3Requests.byMethod[method] = (s3Requests.byMethod[method] ?? 0) + 1;
  s3Requests.total += 1;
  requestStart.set(request, performance.now());
});
subscribe('http.server.response.finish', (m) => {
  const { request } = m as { request: object };
  const t = requestStart.get(request);
  if (t !== undefined) s3Requests.latencyMs += performance.now() - t;
});
const resetS3Requests = () => Object.assign(s3Requests, { byMethod: {}, total: 0, latencyMs: 0 });
const s3RequestStats = (runs: number) => ({
  s3RequestsPerRun: s3Requests.total / runs,
  s3RequestsByMethod: { ...s3Requests.byMethod },
  s3MeanLatencyMs: s3Requests.total ? s3Requests.latencyMs / s3Requests.total : 0,
});
const redis = await startRedisServer({ dir: join(dir, 'redis') });
const s3 = await startEmbeddedS3({ dir: join(dir, 's3'), bucket: 'bench' });
const store = new ObjectStore(s3.s3Config());
await store.ensureBucket();
const admin = new Redis(redis.url, { maxRetriesPerRequest: null });
const conn = () => createRedis(redis.url, 'worker');
const secs = (t0: number) => (performance.now() - t0) / 1000;

/** CPU seconds of redis-server so far (INFO cpu: user + sys, main thread and children). */
async function redisCpuSeconds(): Promise<number> {
  const info = await admin.info('cpu');
  const field = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}
/**
 * CPU time per run over a timed part: this process (every thread: BullMQ, training threads,
 * the embedded S3 server, the AWS SDK) and redis-server. Steadier than wall time on shared cores.
 */
async function cpuMeter(): Promise<(runs: number) => Promise<{ processMsPerRun: number; redisMsPerRun: number }>> {
  const c0 = process.cpuUsage();
  const r0 = await redisCpuSeconds();
  return async (runs) => {
    const c = process.cpuUsage(c0);
    const r = await redisCpuSeconds();
    return { processMsPerRun: (c.user + c.system) / 1000 / runs, redisMsPerRun: ((r - r0) * 1000) / runs };
  };
}

/** Resolves when `count` jobs of the worker have completed; rejects on the first failure. */
function completions(w: Worker, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let n = 0;
    w.on('completed', () => {
      if (++n === count) resolve();
    });
    w.on('failed', (job, err) => reject(new Error(`job ${job?.id} failed: ${err.message}`)));
  });
}

// (a) raw BullMQ.
async function rawBullmq(): Promise<{ seconds: number; jobsPerSecond: number }> {
  const prefix = 'raw';
  const c1 = conn();
  const c2 = conn();
  const q = new Queue('raw', { connection: c1, prefix });
  const w = new Worker('raw', async (job: Job) => ({ i: (job.data as { i: number }).i }), { connection: c2, prefix, concurrency: CONCURRENCY, autorun: false, ...QUEUE_SETTINGS });
  const done = completions(w, N);
  const t0 = performance.now();
  void w.run();
  for (let i = 0; i < N; i += 1000) await q.addBulk(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ name: 'tiny', data: { i: i + k }, opts: { removeOnComplete: false } })));
  await done;
  const seconds = secs(t0);
  await w.close();
  await q.close();
  c1.disconnect();
  c2.disconnect();
  return { seconds, jobsPerSecond: N / seconds };
}

// (a2) raw BullMQ whose processor trains the same quadratic runs in-process (no
// thread, no S3, no progress); (a3) the same, storing the run's durable artifacts
// (plain PUTs, result.json last). The wrapper's own cost is the gap between (a3) and (b).
// Each round writes under a sweep id of its own, as (b) does: overwriting existing keys
// is cheaper on the embedded S3 (no new directories), which would flatter (a3).
async function rawBullmqTraining(durable: boolean, round = 0) {
  await selectBackend({ preferred: 'wasm' });
  const tf = getTf();
  const plan = planSweep(parseSweepSpec(quadSpec(durable ? `raw-durable-${round}` : 'raw-train', { grid: { q1: GRID5, q2: GRID5 }, seeds: Array.from({ length: SEEDS }, (_, i) => i) })));
  const prefix = durable ? 'rawdurable' : 'rawtrain';
  const c1 = conn();
  const c2 = conn();
  let puts = 0;
  const put = (key: string, body: Uint8Array | string, contentType?: string) => {
    puts += 1;
    return store.put(key, body, contentType ? { contentType } : {});
  };
  const q = new Queue(prefix, { connection: c1, prefix });
  const w = new Worker(
    prefix,
    async (job: Job) => {
      const payload = job.data as RunPayload;
      const { sweepId, runId } = payload;
      const trainer = new LossConditionalTrainer({ payload, tf, dataset: await loadDataset(payload.dataset) });
      try {
        const metrics: string[] = [];
        const summary = await trainer.train({ onProgress: (p) => void metrics.push(JSON.stringify({ step: p.step, loss: p.loss, terms: p.terms, lr: p.lr, examplesPerSecond: p.examplesPerSecond, time: new Date().toISOString() })) });
        const evals = await trainer.evaluate();
        if (!durable) return { evals };
        const files = serializeState(await trainer.exportState()).files;
        const finalDir = s3Keys.finalDir(sweepId, runId);
        await Promise.all([
          ...Object.entries(files).map(([name, data]) => put(finalDir + name, data)),
          put(s3Keys.finalEval(sweepId, runId), JSON.stringify({ runId, kind: payload.kind, fixedLambda: payload.fixedLambda, evals }, null, 2), 'application/json'),
          put(s3Keys.metrics(sweepId, runId), metrics.map((l) => l + '\n').join(''), 'application/x-ndjson'),
        ]);
        const result = { version: 1, sweepId, runId, kind: payload.kind, steps: summary.step, evals, finalTrain: summary.finalTrain, finishedAt: new Date().toISOString() };
        await put(s3Keys.finalResult(sweepId, runId), JSON.stringify(result, null, 2), 'application/json');
        return result;
      } finally {
        trainer.dispose();
      }
    },
    { connection: c2, prefix, concurrency: CONCURRENCY, autorun: false, ...QUEUE_SETTINGS },
  );
  const done = completions(w, N);
  resetS3Requests();
  const cpu = await cpuMeter();
  const t0 = performance.now();
  void w.run();
  await q.addBulk(plan.runs.map((run) => ({ name: 'train', data: run, opts: { removeOnComplete: false } })));
  await done;
  const seconds = secs(t0);
  const cpuPerRun = await cpu(N);
  const requests = s3RequestStats(N);
  await w.close();
  await q.close();
  c1.disconnect();
  c2.disconnect();
  return { seconds, jobsPerSecond: N / seconds, putsPerRun: puts / N, cpuPerRun, ...requests };
}

// (b) the same N through yoto.
async function yotoWrapper(round = 0) {
  const prefix = 'yoto';
  const sweeps = new SweepService({ redis: redis.url, store, prefix, log });
  const c = conn();
  const worker = new TrainWorker({ connection: c, store, log, workerName: 'bench', backend: 'wasm', concurrency: CONCURRENCY, prefix });
  const aggregate = new AggregateWorker({ redis: redis.url, store, log, prefix });
  await worker.waitUntilReady();
  // Warm-up (not timed): the training threads start and load their backend once per worker.
  const warm = await sweeps.submit(quadSpec(`warmup-${round}`, { grid: { q1: [1], q2: [1] }, seeds: Array.from({ length: CONCURRENCY }, (_, i) => i) }));
  await sweeps.waitForCompletion(warm.sweepId, { timeoutMs: 300_000 });
  const done = completions(worker.worker, N);
  for (const k of Object.keys(phaseTotals)) delete phaseTotals[k];
  phaseRuns = 0;
  resetS3Requests();
  const cpu = await cpuMeter();
  const t0 = performance.now();
  const res = await sweeps.submit(quadSpec(`wrapper-${round}`, { grid: { q1: GRID5, q2: GRID5 }, seeds: Array.from({ length: SEEDS }, (_, i) => i) }));
  const submitSeconds = secs(t0);
  await done;
  const seconds = secs(t0);
  const cpuPerRun = await cpu(N);
  // Submit's own requests (spec, plan, the fresh check) are included: 3 for the sweep.
  const requests = s3RequestStats(N);
  const detail = await sweeps.waitForCompletion(res.sweepId, { timeoutMs: 600_000 });
  const withAggregate = secs(t0);
  if (detail.status !== 'completed') console.error(`sweep ${detail.status}: aggregate ${detail.aggregate.failedReason}; runs: ${JSON.stringify(detail.runs.filter((r) => r.failedReason).slice(0, 3).map((r) => [r.runId, r.failedReason]))}`);
  const report = await sweeps.report(res.sweepId);
  await worker.close();
  await aggregate.close();
  await sweeps.close();
  c.disconnect();
  const phasesMsPerRun = Object.fromEntries(Object.entries(phaseTotals).map(([k, v]) => [k, +(v / Math.max(1, phaseRuns)).toFixed(1)]));
  return { phasesMsPerRun, cpuPerRun, ...requests, runs: res.runs, status: detail.status, submitSeconds, seconds, jobsPerSecond: N / seconds, withAggregateSeconds: withAggregate, reportRows: report?.rows.length ?? 0 };
}

// (c) + (d) the 10k submit, coordinator in its own process.
async function submit10k() {
  const spec = quadSpec('scale-10k', {
    grid: { q1: GRID7, q2: GRID7 },
    seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    variants: { 'train.lr': [0.001, 0.002, 0.003, 0.004, 0.005], 'model.filmHidden': [8, 16, 32, 64] },
  });
  // Asynchronous: the embedded S3 server answering the child lives in this process.
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'orchestration', 'submit-child.ts'), JSON.stringify({ redisUrl: redis.url, s3: s3.s3Config(), spec, prefix: 'scale' })], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`submit child failed (${code}): ${stderr.slice(-2000)}`);
  const last = stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(last) as { runs: number; planSeconds: number; submitSeconds: number; rssBeforeMiB: number; rssAfterMiB: number; maxRssMiB: number; sweepId: string };
}

/** Child processes still running: killed if the bench fails before they finish. */
const children = new Set<ReturnType<typeof spawn>>();
/** Runs a bench child script with a JSON argument; resolves with its last JSON line. */
function child(script: string, input: unknown, onLine?: (line: Record<string, unknown>) => void): Promise<Record<string, unknown>> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'orchestration', script), JSON.stringify(input)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  let buf = '';
  let last: Record<string, unknown> = {};
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      last = JSON.parse(line) as Record<string, unknown>;
      onLine?.(last);
    }
  });
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  children.add(proc);
  return new Promise((resolve, reject) =>
    proc.on('exit', (code) => {
      children.delete(proc);
      if (code === 0) resolve(last);
      else reject(new Error(`${script} failed (${code}): ${stderr.slice(-2000)}`));
    }),
  );
}

// (f) a full N-run sweep end to end, the aggregate in its own process.
async function fullSweep(n: number) {
  const prefix = 'full';
  const seeds = Math.max(1, Math.min(10, Math.ceil(n / 50)));
  const lrs = Math.max(1, Math.round(n / (50 * seeds)));
  const spec = quadSpec('full-sweep', {
    grid: { q1: GRID7, q2: GRID7 },
    seeds: Array.from({ length: seeds }, (_, i) => i),
    // A variants axis holds at most 16 values: past that, two batch sizes double it.
    ...(lrs > 1 ? { variants: { 'train.lr': Array.from({ length: lrs > 16 ? Math.ceil(lrs / 2) : lrs }, (_, i) => +(0.001 * (i + 1)).toFixed(4)), ...(lrs > 16 ? { 'train.batchSize': [8, 16] } : {}) } } : {}),
  });
  const sweeps = new SweepService({ redis: redis.url, store, prefix, log });
  const c = conn();
  const worker = new TrainWorker({ connection: c, store, log, workerName: 'bench-full', backend: 'wasm', concurrency: CONCURRENCY, prefix });
  await worker.waitUntilReady();
  let ready!: () => void;
  const aggregateReady = new Promise<void>((r) => (ready = r));
  const aggregated = child('aggregate-child.ts', { redisUrl: redis.url, s3: s3.s3Config(), prefix }, (line) => line.ready && ready());
  await aggregateReady;
  const t0 = performance.now();
  const res = await sweeps.submit(spec);
  const submitSeconds = secs(t0);
  const detail = await sweeps.waitForCompletion(res.sweepId, { timeoutMs: 3_600_000, page: { limit: 0 } });
  const sweepSeconds = secs(t0);
  const aggregate = await aggregated;
  await worker.close();
  const report = await sweeps.report(res.sweepId);
  const plan = await sweeps.plan(res.sweepId);
  const manifest = await store.getJsonIfExists<{ artifacts: unknown[] }>(`sweeps/${res.sweepId}/manifest.json`);
  const redisUsed = await redisMemory();
  await sweeps.close();
  c.disconnect();
  // `yoto status` in a fresh process: summary + first page (what the CLI prints), then every run.
  const statusPaged = await child('status-child.ts', { redisUrl: redis.url, s3: s3.s3Config(), prefix, sweepId: res.sweepId, limit: 20 });
  const statusFull = await child('status-child.ts', { redisUrl: redis.url, s3: s3.s3Config(), prefix, sweepId: res.sweepId });
  // One row per variant per grid point.
  const expectedRows = plan.variants.length * plan.grid.length;
  return {
    runs: res.runs,
    status: detail.status,
    submitSeconds,
    sweepSeconds,
    runsPerSecond: res.runs / sweepSeconds,
    aggregate,
    reportRows: report?.rows.length ?? 0,
    reportRuns: report?.summary.runs ?? 0,
    expectedRows,
    manifestArtifacts: manifest?.artifacts.length ?? 0,
    redisAfter: redisUsed,
    statusPaged,
    statusFull,
  };
}

async function redisMemory(): Promise<{ usedMiB: number; peakMiB: number }> {
  const info = await admin.info('memory');
  const field = (k: string) => Number(/^(\w+):(\d+)/m.exec(info.split('\n').find((l) => l.startsWith(`${k}:`)) ?? '')?.[2] ?? NaN) / 2 ** 20;
  return { usedMiB: field('used_memory'), peakMiB: field('used_memory_peak') };
}

// (e) enqueue-to-start latency with many workers.
async function latency() {
  const prefix = 'lat';
  const connections: Redis[] = [];
  const workers: Worker[] = [];
  const waits: number[] = [];
  let done = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  for (let i = 0; i < LATENCY_WORKERS; i++) {
    const c = conn();
    connections.push(c);
    const w = new Worker(
      'lat',
      async (job: Job) => {
        waits.push(Date.now() - (job.data as { at: number }).at);
        await new Promise((r) => setTimeout(r, 20)); // a short job
      },
      { connection: c, prefix, concurrency: 1, ...QUEUE_SETTINGS },
    );
    w.on('completed', () => {
      if (++done === LATENCY_JOBS) resolveAll();
    });
    workers.push(w);
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const pc = conn();
  const q = new Queue('lat', { connection: pc, prefix });
  const t0 = performance.now();
  for (let i = 0; i < LATENCY_JOBS; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    await q.add('tick', { at: Date.now() }, { removeOnComplete: true });
  }
  await all;
  const seconds = secs(t0);
  await Promise.all(workers.map((w) => w.close()));
  await q.close();
  for (const c of [...connections, pc]) c.disconnect();
  const sorted = [...waits].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return { workers: LATENCY_WORKERS, jobs: LATENCY_JOBS, ratePerSecond: RATE, seconds, p50Ms: pct(0.5), p99Ms: pct(0.99), maxMs: sorted.at(-1) ?? NaN };
}

try {
  console.log(`orchestration bench: N=${N}, concurrency ${CONCURRENCY}, load average ${load.toFixed(2)}`);
  const result: Record<string, unknown> = { n: N, concurrency: CONCURRENCY, loadAverage: load, node: process.version, at: new Date().toISOString() };
  let raw: Awaited<ReturnType<typeof rawBullmq>> | null = null;
  if (PARTS.includes('a')) {
    raw = await rawBullmq();
    result.raw = raw;
    console.log(`(a) raw BullMQ: ${N} tiny jobs in ${raw.seconds.toFixed(2)} s = ${raw.jobsPerSecond.toFixed(0)} jobs/s`);
  }
  let rawTrain: Awaited<ReturnType<typeof rawBullmqTraining>> | null = null;
  let rawDurable: Awaited<ReturnType<typeof rawBullmqTraining>> | null = null;
  if (PARTS.includes('a')) {
    rawTrain = await rawBullmqTraining(false);
    result.rawTraining = rawTrain;
    console.log(`(a2) raw BullMQ + the same training in-process (no S3, no thread): ${rawTrain.seconds.toFixed(2)} s = ${rawTrain.jobsPerSecond.toFixed(1)} runs/s`);
    rawDurable = await rawBullmqTraining(true);
    result.rawDurable = rawDurable;
    console.log(`(a3) raw BullMQ + the same training + the same artifacts to S3 (${rawDurable.putsPerRun} plain PUTs per run, mean S3 latency ${rawDurable.s3MeanLatencyMs.toFixed(1)} ms): ${rawDurable.seconds.toFixed(2)} s = ${rawDurable.jobsPerSecond.toFixed(1)} runs/s`);
    // Wall time the artifacts add per run, and per request, at this concurrency.
    const extraMs = 1000 / rawDurable.jobsPerSecond - 1000 / rawTrain.jobsPerSecond;
    result.durableCost = { msPerRun: extraMs, msPerPut: extraMs / rawDurable.putsPerRun };
    console.log(`    CPU per run: bench process ${rawDurable.cpuPerRun.processMsPerRun.toFixed(2)} ms, redis-server ${rawDurable.cpuPerRun.redisMsPerRun.toFixed(2)} ms`);
    console.log(`    S3 artifacts add ${extraMs.toFixed(2)} ms of wall time per run = ${(extraMs / rawDurable.putsPerRun).toFixed(2)} ms per PUT (vs ${(1000 / (raw?.jobsPerSecond ?? NaN)).toFixed(2)} ms per no-op job)`);
  }
  if (PARTS.includes('b')) {
    const wrapper = await yotoWrapper();
    result.wrapper = wrapper;
    console.log(`(b) yoto wrapper: ${wrapper.runs} quadratic runs (1 step) in ${wrapper.seconds.toFixed(2)} s = ${wrapper.jobsPerSecond.toFixed(1)} runs/s (submit ${wrapper.submitSeconds.toFixed(2)} s; with aggregate ${wrapper.withAggregateSeconds.toFixed(2)} s, ${wrapper.status})`);
    console.log(`    CPU per run: bench process ${wrapper.cpuPerRun.processMsPerRun.toFixed(2)} ms, redis-server ${wrapper.cpuPerRun.redisMsPerRun.toFixed(2)} ms`);
    console.log(`    per run (ms, mean of ${N}): ${JSON.stringify(wrapper.phasesMsPerRun)}; S3 requests per run ${wrapper.s3RequestsPerRun.toFixed(2)} (${JSON.stringify(wrapper.s3RequestsByMethod)}, mean latency ${wrapper.s3MeanLatencyMs.toFixed(1)} ms)`);
    if (raw) {
      result.ratio = wrapper.jobsPerSecond / raw.jobsPerSecond;
      console.log(`    wrapper / raw throughput: ${(wrapper.jobsPerSecond / raw.jobsPerSecond).toFixed(3)}`);
    }
    if (rawTrain) {
      result.ratioTraining = wrapper.jobsPerSecond / rawTrain.jobsPerSecond;
      console.log(`    wrapper / raw-with-training throughput: ${(wrapper.jobsPerSecond / rawTrain.jobsPerSecond).toFixed(3)}`);
    }
    if (rawDurable) {
      result.ratioDurable = wrapper.jobsPerSecond / rawDurable.jobsPerSecond;
      console.log(`    wrapper / raw-with-training-and-artifacts throughput: ${(wrapper.jobsPerSecond / rawDurable.jobsPerSecond).toFixed(3)}`);
    }
    if (rawDurable && ROUNDS > 1) {
      const rounds = [{ durable: rawDurable.jobsPerSecond, wrapper: wrapper.jobsPerSecond, phasesMsPerRun: wrapper.phasesMsPerRun, cpuDurable: rawDurable.cpuPerRun, cpuWrapper: wrapper.cpuPerRun }];
      for (let r = 1; r < ROUNDS; r++) {
        const d = await rawBullmqTraining(true, r);
        const w = await yotoWrapper(r);
        rounds.push({ durable: d.jobsPerSecond, wrapper: w.jobsPerSecond, phasesMsPerRun: w.phasesMsPerRun, cpuDurable: d.cpuPerRun, cpuWrapper: w.cpuPerRun });
        console.log(
          `    round ${r + 1}: (a3) ${d.jobsPerSecond.toFixed(1)} runs/s, (b) ${w.jobsPerSecond.toFixed(1)} runs/s, ratio ${(w.jobsPerSecond / d.jobsPerSecond).toFixed(3)}; ` +
            `CPU ms per run (process + redis) (a3) ${d.cpuPerRun.processMsPerRun.toFixed(2)} + ${d.cpuPerRun.redisMsPerRun.toFixed(2)}, (b) ${w.cpuPerRun.processMsPerRun.toFixed(2)} + ${w.cpuPerRun.redisMsPerRun.toFixed(2)}; per run ${JSON.stringify(w.phasesMsPerRun)}`,
        );
      }
      const ratios = rounds.map((x) => x.wrapper / x.durable).sort((a, b) => a - b);
      const median = ratios[Math.floor(ratios.length / 2)] ?? NaN;
      result.rounds = rounds;
      result.ratioDurableMedian = median;
      console.log(`    wrapper / (a3) over ${ROUNDS} rounds: ${ratios.map((x) => x.toFixed(3)).join(', ')}; median ${median.toFixed(3)}`);
    }
  }
  if (PARTS.includes('c') || PARTS.includes('d')) {
    const redisBefore = await redisMemory();
    const big = await submit10k();
    const redisAfter = await redisMemory();
    const trainCount = await new Queue(QUEUES.train, { connection: admin, prefix: 'scale' }).getJobCountByTypes('waiting', 'prioritized', 'waiting-children', 'delayed');
    result.submit10k = big;
    result.trainJobs10k = trainCount;
    result.redisMemory = { before: redisBefore, after: redisAfter };
    console.log(`(c) 10k-run sweep: ${big.runs} runs (${trainCount} train jobs in Redis) submitted in ${big.submitSeconds.toFixed(2)} s (plan alone ${big.planSeconds.toFixed(2)} s)`);
    console.log(`(d) coordinator RSS: ${big.rssBeforeMiB.toFixed(0)} MiB idle, peak ${big.maxRssMiB.toFixed(0)} MiB, ${big.rssAfterMiB.toFixed(0)} MiB after; Redis used_memory ${redisBefore.usedMiB.toFixed(1)} -> ${redisAfter.usedMiB.toFixed(1)} MiB (peak ${redisAfter.peakMiB.toFixed(1)})`);
  }
  if (PARTS.includes('e')) {
    const lat = await latency();
    result.latency = lat;
    console.log(`(e) ${lat.workers} workers, ${lat.jobs} jobs at ${lat.ratePerSecond}/s: enqueue-to-start p50 ${lat.p50Ms} ms, p99 ${lat.p99Ms} ms, max ${lat.maxMs} ms`);
  }
  if (FULL_SWEEP > 0) {
    const f = await fullSweep(FULL_SWEEP);
    result.fullSweep = f;
    console.log(`(f) full sweep: ${f.runs} runs, ${f.status}, ${f.sweepSeconds.toFixed(1)} s end to end (${f.runsPerSecond.toFixed(1)} runs/s, submit ${f.submitSeconds.toFixed(2)} s)`);
    console.log(`    aggregate (own process): ${JSON.stringify(f.aggregate)}; report ${f.reportRows} rows (expected ${f.expectedRows}), ${f.reportRuns} runs; manifest ${f.manifestArtifacts} artifacts; Redis used_memory ${f.redisAfter.usedMiB.toFixed(1)} MiB (peak ${f.redisAfter.peakMiB.toFixed(1)})`);
    console.log(`    status, summary + 20 runs: ${JSON.stringify(f.statusPaged)}`);
    console.log(`    status, every run: ${JSON.stringify(f.statusFull)}`);
  }
  const out = join(here, '..', 'results', 'orchestration.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const proc of children) proc.kill();
  admin.disconnect();
  store.close();
  await s3.stop();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}
