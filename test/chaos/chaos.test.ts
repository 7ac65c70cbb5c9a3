/**
 * Chaos: one sweep on a durable redis-server (AOF), the embedded S3 server and real
 * worker PROCESSES (wasm backend), while the test SIGKILLs workers mid-run (starting a
 * replacement each time), restarts redis-server, and takes S3 away for over 10 s.
 * Nothing may be lost: the sweep completes, every run reaches its planned steps, every
 * killed run resumed from a checkpoint, every metrics.jsonl has each logged step once,
 * and every artifact in the manifest verifies against its sha256.
 *
 * The default variant is sized for CI (≈1–1.5 min on a quiet 2-core machine);
 * YOTO_CHAOS_FULL=1 runs a longer sweep with more kills.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s3Keys, type Manifest, type RunResult } from '@yoto/shared';
import { createLogger, ObjectStore, sha256Hex, type ConnectionConfig } from '@yoto/runtime';
import {
  AggregateWorker,
  startEmbeddedS3,
  startRedisServer,
  startWorkerProcesses,
  SweepService,
  type EmbeddedS3,
  type LocalWorkers,
  type RedisServer,
  type SweepDetail,
  type WorkerExit,
} from '@yoto/coordinator';

const FULL = process.env.YOTO_CHAOS_FULL === '1';
const KILLS = FULL ? 5 : 3;
const CHECKPOINT_EVERY = 5;
// Long enough that, with a fast engine, runs are still mid-training at every kill.
const STEPS = FULL ? 900 : 600;
const S3_OUTAGE_MS = 11_000;
const LOCK_MS = 4000;
const STALLED_MS = 2000;

const log = createLogger({ name: 'chaos', level: process.env.LOG_LEVEL ?? 'warn' });
const say = (msg: string) => process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
let t0 = Date.now();

let dir: string;
let redis: RedisServer;
let s3: EmbeddedS3;
let store: ObjectStore;
let sweeps: SweepService;
let aggregate: AggregateWorker;
let config: ConnectionConfig;
const pools: LocalWorkers[] = [];
const expectedExits = new Set<number>();
const unexpectedExits: WorkerExit[] = [];
/** worker name -> pid */
const pids = new Map<string, number>();

const SPEC = {
  name: 'chaos',
  problem: 'beta-vae',
  dataset: { name: 'shapes', trainExamples: 256, testExamples: 64 },
  model: { arch: 'mlp', latentDim: 4, width: 0.25, filmHidden: 16 },
  lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 8 } },
  grid: { kl: FULL ? [0.5, 1, 2, 4, 8, 16, 32] : [0.5, 1, 2, 4, 8] },
  train: { steps: STEPS, batchSize: 16, lr: 0.001, checkpointEvery: CHECKPOINT_EVERY, checkpointSeconds: 0, evalBatchSize: 64 },
  seeds: [0],
};

function spawnWorkers(count: number, prefix: string): void {
  const pool = startWorkerProcesses({
    count,
    config,
    log,
    namePrefix: prefix,
    stopTimeoutMs: 10_000,
    extraEnv: {
      YOTO_BACKEND: 'wasm',
      YOTO_THREADS: '1',
      YOTO_LOCK_DURATION_MS: String(LOCK_MS),
      YOTO_STALLED_INTERVAL_MS: String(STALLED_MS),
      LOG_LEVEL: 'info',
    },
    onExit: (exit) => {
      if (!expectedExits.has(exit.pid)) unexpectedExits.push(exit);
    },
  });
  pools.push(pool);
  for (const w of pool.workers) pids.set(w.name, w.pid);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  t0 = Date.now();
  dir = await mkdtemp(join(tmpdir(), 'yoto-chaos-'));
  redis = await startRedisServer({ dir: join(dir, 'redis'), durable: true, log });
  s3 = await startEmbeddedS3({ dir: join(dir, 's3'), bucket: 'chaos', log });
  store = new ObjectStore(s3.s3Config(), log);
  await store.ensureBucket();
  config = { redisUrl: redis.url, s3: s3.s3Config(), logLevel: 'info', home: join(dir, 'home') };
  sweeps = new SweepService({ redis: redis.url, store, log, pollMs: 250 });
  aggregate = new AggregateWorker({ redis: redis.url, store, log });
  spawnWorkers(2, 'w');
});

after(async () => {
  await Promise.all(pools.map((p) => p.stop()));
  await aggregate?.close();
  await sweeps?.close();
  store?.close();
  await s3?.stop();
  await redis?.stop();
  if (process.env.YOTO_CHAOS_KEEP !== '1') await rm(dir, { recursive: true, force: true });
  else say(`kept ${dir}`);
});

interface ActiveRun {
  runId: string;
  worker: string;
  step: number;
}

/** runId -> when its worker was killed, until the run trains again somewhere. */
const awaitingRecovery = new Map<string, number>();
const awaitingStall = new Map<string, number>();
const recoverySeconds: number[] = [];
const stallSeconds: number[] = [];
function noteRecoveries(detail: SweepDetail | null): void {
  for (const r of detail?.runs ?? []) {
    const lockedAt = awaitingStall.get(r.runId);
    if (lockedAt !== undefined && r.state !== 'active') {
      awaitingStall.delete(r.runId);
      stallSeconds.push((Date.now() - lockedAt) / 1000);
    }
    const killedAt = awaitingRecovery.get(r.runId);
    if (killedAt === undefined || r.state !== 'active' || r.progress?.phase !== 'training' || pids.has(r.progress.worker ?? '') === false) continue;
    awaitingRecovery.delete(r.runId);
    recoverySeconds.push((Date.now() - killedAt) / 1000);
  }
}

async function activeRuns(sweepId: string): Promise<ActiveRun[]> {
  const detail = await sweeps.get(sweepId);
  noteRecoveries(detail);
  return (detail?.runs ?? [])
    .filter((r) => r.state === 'active' && r.progress?.phase === 'training' && r.progress.worker)
    .map((r) => ({ runId: r.runId, worker: r.progress!.worker!, step: r.progress!.step }));
}

async function pointerStep(sweepId: string, runId: string): Promise<number> {
  const p = await store.getJsonIfExists<{ step: number }>(s3Keys.checkpointLatest(sweepId, runId)).catch(() => null);
  return p?.step ?? 0;
}

/** Waits for a training run (preferring one not killed yet) past a stored checkpoint, and SIGKILLs its worker. */
async function killOne(sweepId: string, killed: Map<string, number>, n: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const runs = await activeRuns(sweepId);
    const candidates: { run: ActiveRun; ckpt: number }[] = [];
    for (const run of runs) {
      if (!pids.has(run.worker)) continue;
      const ckpt = await pointerStep(sweepId, run.runId);
      // Past a checkpoint, with un-checkpointed steps to lose, and not about to finish.
      if (ckpt >= CHECKPOINT_EVERY && run.step > ckpt && run.step < STEPS - CHECKPOINT_EVERY) candidates.push({ run, ckpt });
    }
    candidates.sort((a, b) => Number(killed.has(a.run.runId)) - Number(killed.has(b.run.runId)));
    const pick = candidates[0];
    if (pick) {
      const pid = pids.get(pick.run.worker) as number;
      expectedExits.add(pid);
      pids.delete(pick.run.worker);
      process.kill(pid, 'SIGKILL');
      awaitingRecovery.set(pick.run.runId, Date.now());
      awaitingStall.set(pick.run.runId, Date.now());
      killed.set(pick.run.runId, Math.max(killed.get(pick.run.runId) ?? 0, pick.ckpt));
      say(`kill ${n}: SIGKILL ${pick.run.worker} (pid ${pid}) training ${pick.run.runId} at step ${pick.run.step}, checkpoint ${pick.ckpt}`);
      spawnWorkers(1, `r${n}-`);
      return;
    }
    await sleep(200);
  }
  assert.fail(`no run reached a killable state for kill ${n}`);
}

/** Waits until `n` runs are training on live workers, and returns their steps. */
async function training(sweepId: string, n: number): Promise<Map<string, number>> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const runs = (await activeRuns(sweepId)).filter((r) => pids.has(r.worker));
    if (runs.length >= n) return new Map(runs.map((r) => [r.runId, r.step]));
    await sleep(200);
  }
  return assert.fail(`fewer than ${n} runs training after 120 s`);
}

async function workerLogTail(): Promise<string> {
  const out: string[] = [];
  for (const pool of pools) {
    for (const w of pool.workers) {
      if (!w.logFile) continue;
      const text = await readFile(w.logFile, 'utf8').catch(() => '');
      const lines = text.trim().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-5);
      if (lines.length) out.push(`--- ${w.name}\n${lines.join('\n')}`);
    }
  }
  return out.join('\n');
}

test(`chaos: ${KILLS} worker kills, a redis restart and an S3 outage lose nothing`, { timeout: FULL ? 900_000 : 300_000 }, async () => {
  const submitted = await sweeps.submit(SPEC);
  const { sweepId, plan } = submitted;
  say(`submitted ${sweepId}: ${submitted.runs} runs × ${STEPS} steps`);
  const killed = new Map<string, number>();

  await killOne(sweepId, killed, 1);

  // Redis restart (AOF) while runs train: the worker processes reconnect and carry on.
  // (One training run is enough; waiting for two races the sweep's end on a fast engine.)
  const stepsBefore = await training(sweepId, 1);
  const beforeRestart = Date.now();
  await redis.restart();
  say(`redis-server restarted in ${Date.now() - beforeRestart} ms while ${[...stepsBefore.keys()].join(', ')} trained`);
  const progressed = Date.now() + 60_000;
  for (;;) {
    const now = await training(sweepId, 1);
    if ([...now].some(([runId, step]) => step > (stepsBefore.get(runId) ?? Infinity))) break;
    assert.ok(Date.now() < progressed, 'no run reported progress within 60 s of the redis restart');
    await sleep(200);
  }
  say(`training reported again ${((Date.now() - beforeRestart) / 1000).toFixed(1)} s after the redis restart`);
  assert.equal(unexpectedExits.length, 0, `a worker process died after the redis restart: ${unexpectedExits.map((e) => e.lastLines.slice(-3).join('\n')).join('\n')}`);

  // S3 outage of over 10 s while runs train (checkpoint uploads must wait it out);
  // then the same port, dir and credentials again.
  await training(sweepId, 1);
  const { port, dir: s3dir, bucket, accessKeyId, secretAccessKey } = s3;
  await s3.stop();
  say('S3 down');
  await sleep(S3_OUTAGE_MS);
  s3 = await startEmbeddedS3({ port, dir: s3dir, bucket, credentials: { accessKeyId, secretAccessKey }, log });
  say('S3 back');
  const beforeOutage = await training(sweepId, 1);
  for (;;) {
    const now = await training(sweepId, 1);
    if ([...now].some(([runId, step]) => step > (beforeOutage.get(runId) ?? Infinity) + CHECKPOINT_EVERY)) break;
    await sleep(200);
  }
  say('training past a checkpoint again after the S3 outage');

  for (let n = 2; n <= KILLS; n++) {
    await killOne(sweepId, killed, n);
    await sleep(1000);
  }

  // Recovery time: how long each killed run took to be active (training) again.
  const detail = await sweeps.waitForCompletion(sweepId, {
    timeoutMs: FULL ? 800_000 : 240_000,
    onUpdate: noteRecoveries,
  });
  say(`sweep ${detail.status} (${detail.counts.completed}/${detail.runs.length} runs)`);
  assert.equal(
    detail.status,
    'completed',
    `sweep ended ${detail.status}: ${JSON.stringify(detail.runs.filter((r) => r.failedReason).map((r) => [r.runId, r.failedReason]))} ${detail.aggregate.failedReason ?? ''}\n${await workerLogTail()}`,
  );
  assert.deepEqual(unexpectedExits.map((e) => ({ name: e.name, code: e.code, signal: e.signal, last: e.lastLines.slice(-3) })), [], 'a worker process died on its own (crash loop?)');

  for (const run of plan.runs) {
    const result = await store.getJson<RunResult>(s3Keys.finalResult(sweepId, run.runId));
    assert.equal(result.steps, run.train.steps, `${run.runId} final step`);
    const killedAt = killed.get(run.runId);
    if (killedAt !== undefined) {
      assert.ok(result.resumedFromStep !== null && result.resumedFromStep >= killedAt && result.resumedFromStep > 0, `${run.runId} was killed after checkpoint ${killedAt} but resumed from ${result.resumedFromStep}`);
    }
    const steps = (await store.get(s3Keys.metrics(sweepId, run.runId)))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { step: number }).step);
    const gaps = new Set(steps.slice(1).map((s, i) => s - (steps[i] as number)));
    assert.deepEqual([...gaps], [CHECKPOINT_EVERY], `${run.runId} metrics steps not evenly spaced: ${steps.join(',')}`);
    assert.equal(steps[0], CHECKPOINT_EVERY, `${run.runId} metrics start`);
    assert.equal(steps.at(-1), run.train.steps, `${run.runId} metrics end`);
  }
  assert.equal(killed.size >= Math.min(KILLS, plan.runs.length) - 1, true, `kills hit ${killed.size} distinct runs`);

  // The manifest lists every artifact, and each verifies.
  const manifest = await store.getJson<Manifest>(s3Keys.manifest(sweepId));
  assert.equal(manifest.sweepId, sweepId);
  const kinds = new Set(manifest.artifacts.map((a) => a.kind));
  for (const k of ['checkpoint', 'final', 'eval', 'metrics', 'report'] as const) assert.ok(kinds.has(k), `manifest has no ${k} artifact`);
  for (const a of manifest.artifacts) {
    const bytes = await store.get(a.key);
    assert.equal(bytes.byteLength, a.size, `${a.key} size`);
    assert.equal(sha256Hex(bytes), a.sha256, `${a.key} sha256`);
  }
  for (const run of plan.runs) assert.ok(manifest.artifacts.some((a) => a.runId === run.runId && a.kind === 'final'), `manifest lists ${run.runId}'s final model`);
  say(`done: ${killed.size} runs killed, stall detected after ${stallSeconds.map((s) => s.toFixed(1)).join(', ')} s, training again after ${recoverySeconds.map((s) => s.toFixed(1)).join(', ')} s; ${manifest.artifacts.length} artifacts verified`);
});
