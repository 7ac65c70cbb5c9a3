/**
 * The aggregate end to end against a real redis-server and s3rver, with a plain
 * BullMQ worker in the test standing in for training: it returns schema-valid
 * RunResults computed from the payload (helpers/fixtures.ts), so only the flow and
 * the aggregate are under test. Plus the pure checks of aggregateSweep.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES, jobIds, parseSweepSpec, planSweep, redisKeys, renderReportMarkdown, s3Keys, type Manifest, type Report, type RunPayload, type RunResult } from '@yoto/shared';
import { AggregateInputError, AggregateWorker, SweepService, aggregateSweep, renderReportHtml } from '../src/index.ts';
import { sha256Hex } from '@yoto/runtime';
import { useTestServices } from './helpers/services.ts';
import { smallSpec, syntheticLoss, syntheticResult, uniq } from './helpers/fixtures.ts';

type TrainBehaviour = (job: Job<RunPayload, RunResult>) => Promise<unknown>;

describe('aggregate (real redis-server + s3rver, synthetic train results)', () => {
  const t = useTestServices();

  /** A sweep service, the aggregate worker and a stand-in train worker on a fresh prefix. */
  async function rig(behaviour: TrainBehaviour, trainConcurrency = 4) {
    const prefix = `t-${uniq()}`;
    const service = new SweepService({ redis: t.redis.url, store: t.s3.store, prefix, pollMs: 100 });
    // A tiny page size: results are read in several HSCAN pages once the hash outgrows its compact encoding.
    const aggregate = new AggregateWorker({ redis: t.redis.url, store: t.s3.store, prefix, concurrency: 2, pageSize: 3 });
    const trainConn = new Redis(t.redis.url, { maxRetriesPerRequest: null });
    const train = new Worker<RunPayload, unknown>(QUEUES.train, (job) => behaviour(job as Job<RunPayload, RunResult>), { connection: trainConn, prefix, concurrency: trainConcurrency });
    t.closers.push(async () => {
      await train.close();
      await trainConn.quit();
      await aggregate.close();
      await service.close();
    });
    await Promise.all([aggregate.waitUntilReady(), train.waitUntilReady()]);
    return { prefix, service, aggregate, train };
  }

  const honest: TrainBehaviour = async (job) => {
    await job.updateProgress({ step: job.data.train.steps, totalSteps: job.data.train.steps, examplesPerSecond: 1000, terms: { recon: 50, kl: 3 }, loss: 53, phase: 'done', backend: 'cpu', worker: 'test-worker', etaSeconds: 0 });
    return syntheticResult(job.data);
  };

  test('every run completes -> report.{json,md,html} in S3, rows per variant per λ, sweep completed', async () => {
    const { service } = await rig(honest);
    const spec = smallSpec(`agg-${uniq()}`, { variants: { 'model.width': [1, 2] } });
    const sub = await service.submit(spec);
    assert.equal(sub.runs, 8); // 2 variants × (1 YOTO + 3 baselines)
    const seen: string[] = [];
    const done = await service.waitForCompletion(sub.sweepId, { timeoutMs: 60_000, onUpdate: (d) => seen.push(d.status) });
    assert.equal(done.status, 'completed', JSON.stringify({ aggregate: done.aggregate, seen }));
    assert.equal(done.counts.completed, 8);
    assert.equal(done.aggregate.state, 'completed');
    for (const r of done.runs) {
      assert.equal(r.progress?.phase, 'done');
      assert.equal(r.progress?.worker, 'test-worker');
    }

    const h = await t.client.hgetall(redisKeys.sweep(sub.sweepId));
    assert.equal(h.status, 'completed');
    assert.equal(h.reportKey, s3Keys.report(sub.sweepId, 'json'));

    const report = (await service.report(sub.sweepId)) as Report;
    assert.ok(report);
    assert.equal(report.sweepId, sub.sweepId);
    const variants = sub.plan.variants.map((v) => v.variantId);
    assert.deepEqual(variants, ['width-1', 'width-2']);
    assert.equal(report.rows.length, 2 * 3);
    for (const v of variants) {
      const rows = report.rows.filter((r) => r.variantId === v);
      assert.deepEqual(rows.map((r) => r.lambda.kl), [0.5, 2, 8]);
      for (const row of rows) {
        const kl = row.lambda.kl as number;
        assert.ok(Math.abs(row.baseline.loss - syntheticLoss('baseline', row.lambda)) < 1e-9);
        assert.ok(Math.abs(row.yoto.loss - syntheticLoss('yoto', row.lambda)) < 1e-9);
        assert.ok(Math.abs(row.ratio - row.yoto.loss / row.baseline.loss) < 1e-12);
        assert.ok(Math.abs(row.ratio - 1.05) < 1e-9);
        // Prior is log-uniform [0.5, 4]: 8 is extrapolation.
        assert.equal(row.inPrior, kl <= 4, `inPrior at ${kl}`);
        assert.deepEqual(row.baseline.runIds, [`${v}-kl-${String(kl).replace('.', 'p')}-s0`]);
        assert.deepEqual(row.yoto.runIds, [`${v}-yoto-s0`]);
      }
    }
    // Compute: 2 YOTO runs × 2 s vs 6 baselines × 1.5 s.
    assert.equal(report.summary.yotoComputeSeconds, 4);
    assert.equal(report.summary.baselineComputeSeconds, 9);
    assert.ok(Math.abs(report.summary.computeSaving - 2.25) < 1e-9);
    assert.equal(report.summary.runs, 8);
    assert.equal(report.runs.length, 8);

    const md = await service.reportMarkdown(sub.sweepId);
    assert.ok(md?.startsWith(`# yoto report: ${spec.name}`));
    assert.match(md ?? '', /\| width-2 \| kl=8 \| no \|/);
    const html = (await t.s3.store.get(s3Keys.report(sub.sweepId, 'html'))).toString('utf8');
    assert.match(html, /^<!doctype html>/);
    assert.equal((html.match(/<svg /g) ?? []).length, 2 * 3 + 1, 'loss, ratio and trade-off plots per variant, and the ratio against the width axis');
    assert.match(html, /<figure data-kind="variants"[^>]*>.*YOTO \/ baseline ratio vs model\.width/s);
    // One point per grid λ per series: loss (YOTO, baseline), ratio, trade-off (YOTO, baseline) = 5 series × 3 λ × 2 variants.
    assert.equal((html.match(/<circle [^>]*data-lambda="kl=/g) ?? []).length, 5 * 3 * 2);
    assert.match(html, /<td>width-1<\/td><td>kl=0\.5<\/td><td>yes<\/td>/);
    assert.doesNotMatch(html, /<script/);

    // Resubmitting a completed sweep enqueues nothing.
    assert.equal((await service.submit(spec)).created, false);
    const listed = (await service.list()).find((e) => e.sweepId === sub.sweepId);
    assert.equal(listed?.status, 'completed');
  });

  test('a result that does not parse fails the aggregate unrecoverably, naming the run', async () => {
    const { service } = await rig(async (job) => {
      const r = syntheticResult(job.data) as Partial<RunResult>;
      if (job.data.kind === 'yoto') delete r.evals;
      return r;
    });
    const sub = await service.submit(smallSpec(`aggbad-${uniq()}`));
    const done = await service.waitForCompletion(sub.sweepId, { timeoutMs: 60_000 });
    assert.equal(done.status, 'failed');
    assert.equal(done.aggregate.state, 'failed');
    assert.equal(done.aggregate.attemptsMade, 1, 'not retried');
    assert.match(done.aggregate.failedReason ?? '', /result of run base-yoto-s0 is invalid: evals/);
    const h = await t.client.hgetall(redisKeys.sweep(sub.sweepId));
    // The worker marks the sweep failed shortly after the job fails.
    for (let i = 0; i < 50 && h.status !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      Object.assign(h, await t.client.hgetall(redisKeys.sweep(sub.sweepId)));
    }
    assert.equal(h.status, 'failed');
    assert.match(h.error ?? '', /base-yoto-s0/);
    assert.equal(await service.report(sub.sweepId), null);
  });

  test('a run out of attempts: the aggregate still runs and the report marks the missing rows', async () => {
    const { service } = await rig(async (job) => {
      if (job.data.kind === 'baseline' && job.data.fixedLambda?.kl === 2) throw new UnrecoverableError('diverged at step 3');
      return syntheticResult(job.data);
    });
    const sub = await service.submit(smallSpec(`aggfail-${uniq()}`));
    const done = await service.waitForCompletion(sub.sweepId, { timeoutMs: 60_000 });
    assert.equal(done.status, 'completed');
    const bad = done.runs.find((r) => r.runId === 'base-kl-2-s0');
    assert.equal(bad?.state, 'failed');
    assert.equal(bad?.failedReason, 'diverged at step 3');
    const report = (await service.report(sub.sweepId)) as Report;
    assert.ok(report, 'a partial report is written');
    assert.deepEqual(report.failedRuns.map((m) => [m.runId, m.reason]), [['base-kl-2-s0', 'diverged at step 3']]);
    assert.deepEqual(report.incomplete.map((r) => [r.lambda.kl, r.baseline, r.yoto !== null, r.missing.map((m) => m.runId)]), [[2, null, true, ['base-kl-2-s0']]]);
    assert.equal(report.summary.missing, 1);
    assert.equal(report.summary.complete, report.rows.length);
    assert.ok(report.rows.every((r) => r.lambda.kl !== 2));
    const md = await service.reportMarkdown(sub.sweepId);
    assert.match(md ?? '', /Partial sweep/);
    assert.match(md ?? '', /\| kl=2 \| [a-z]+ \| MISSING \|/);
    assert.match(md ?? '', /\| base-kl-2-s0 \| baseline \| 0 \| diverged at step 3 \|/);
    // The manifest lists what the sweep stored, each with its size and sha256.
    const manifest = await t.s3.store.getJson<Manifest>(s3Keys.manifest(sub.sweepId));
    const byKey = new Map(manifest.artifacts.map((a) => [a.key, a]));
    for (const k of [s3Keys.spec(sub.sweepId), s3Keys.plan(sub.sweepId), s3Keys.report(sub.sweepId, 'json'), s3Keys.report(sub.sweepId, 'md')]) {
      const a = byKey.get(k);
      assert.ok(a, `manifest lists ${k}`);
      assert.equal(a.sha256, sha256Hex(await t.s3.store.get(k)));
    }
    assert.equal(byKey.get(s3Keys.report(sub.sweepId, 'json'))?.kind, 'report');
  });

  test('cancel while a run is active: the others and the aggregate go, the active run finishes harmlessly', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const isActive = new Promise<void>((r) => (started = r));
    const finished: string[] = [];
    // One job at a time, and BullMQ takes equal-priority jobs in insertion order: the
    // YOTO run (first in the plan) becomes active and holds the worker at the gate.
    const { service, prefix } = await rig(async (job) => {
      started();
      await gate;
      finished.push(job.data.runId);
      return syntheticResult(job.data);
    }, 1);
    const sub = await service.submit(smallSpec(`aggcancel-${uniq()}`));
    const yotoId = jobIds.train(sub.sweepId, 'base-yoto-s0');
    const q = new Queue(QUEUES.train, { connection: t.client, prefix });
    try {
      await isActive;
      assert.equal(await q.getJobState(yotoId), 'active');
      const out = await service.cancel(sub.sweepId);
      assert.deepEqual(out, { removed: 4, active: 1 }); // 3 baselines + the aggregate; YOTO is locked
      const d = await service.get(sub.sweepId);
      assert.equal(d?.status, 'cancelled');
      assert.equal(d?.counts.active, 1);
      assert.equal(d?.counts.missing, 3);
      release();
      for (let i = 0; i < 100 && (await q.getJobState(yotoId)) === 'active'; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await q.getJobState(yotoId), 'completed');
      assert.deepEqual(finished, ['base-yoto-s0']);
      assert.equal(await service.report(sub.sweepId), null);
      assert.equal((await t.client.hgetall(redisKeys.sweep(sub.sweepId))).status, 'cancelled');
    } finally {
      await q.close();
    }
  });
});

describe('aggregateSweep (pure)', () => {
  const plan = planSweep(parseSweepSpec(smallSpec('pure-agg')));
  const key = (runId: string) => `bull:${QUEUES.train}:${jobIds.train(plan.sweepId, runId)}`;
  const allValues = () => Object.fromEntries(plan.runs.map((r) => [key(r.runId), syntheticResult(r)]));

  test('builds one row per grid λ with ratio yoto/baseline', () => {
    const report = aggregateSweep(plan, allValues(), new Date(0));
    assert.equal(report.rows.length, 3);
    assert.equal(report.generatedAt, new Date(0).toISOString());
    assert.deepEqual(report.rows.map((r) => r.inPrior), [true, true, false]);
  });

  test('a missing result is named', () => {
    const values = allValues();
    delete values[key('base-kl-8-s0')];
    assert.throws(() => aggregateSweep(plan, values), (e: unknown) => e instanceof AggregateInputError && /no result for 1 run\(s\): base-kl-8-s0/.test(e.message));
  });

  test('a result under the wrong job, or of another sweep, is refused', () => {
    const values = allValues();
    values[key('base-kl-2-s0')] = syntheticResult(plan.runs.find((r) => r.runId === 'base-kl-8-s0') as RunPayload);
    assert.throws(() => aggregateSweep(plan, values), /result of run base-kl-2-s0 names run base-kl-8-s0/);
    const other = allValues();
    other[key('base-yoto-s0')] = { ...syntheticResult(plan.runs[0] as RunPayload), sweepId: 'another-sweep' };
    assert.throws(() => aggregateSweep(plan, other), /belongs to sweep another-sweep/);
  });

  test('a result without the evaluation at a grid λ is refused', () => {
    const values = allValues();
    const y = syntheticResult(plan.runs[0] as RunPayload);
    values[key(y.runId)] = { ...y, evals: y.evals.slice(0, 2) };
    assert.throws(() => aggregateSweep(plan, values), (e: unknown) => e instanceof AggregateInputError && /no evaluation at kl=8/.test(e.message));
  });
});

describe('variant comparison (pure)', () => {
  test('shared baselines, per-seed ratios, P_λ of gap-driven runs and the ratio-vs-width figure', () => {
    const spec = smallSpec('cmp', {
      conditioning: { adaptive: { bins: 2, everySteps: 5, probeExamples: 32 } },
      variants: { 'model.width': [0.5, 1, 2], 'conditioning.adaptive.mode': ['off', 'gap'] },
      seeds: [0, 1],
    });
    const plan = planSweep(parseSweepSpec(spec));
    assert.equal(plan.runs.filter((r) => r.kind === 'baseline').length, 3 * 2 * 3, 'one baseline grid per width and seed, shared by off and gap');
    const values = Object.fromEntries(
      plan.runs.map((r) => {
        const res = syntheticResult(r);
        // Seed 1 of every YOTO run is 10% worse at every λ than seed 0's 5%.
        if (r.kind === 'yoto' && r.seed === 1) res.evals = res.evals.map((e) => ({ ...e, loss: e.loss * (1.1 / 1.05) }));
        if (r.kind === 'yoto' && r.conditioning.adaptive?.mode === 'gap') {
          res.adaptive = {
            bins: 2,
            axes: [{ term: 'kl', low: 0.5, high: 4 }],
            probes: [],
            updates: [
              { step: 0, fraction: 0, source: 'start', masses: [[0.5, 0.5]], gaps: [[null, null]] },
              { step: 5, fraction: 0.5, source: 'baselines', masses: [[0.7, 0.3]], gaps: [[0.1, 0]] },
            ],
          };
        }
        return [`bull:${QUEUES.train}:${jobIds.train(plan.sweepId, r.runId)}`, res];
      }),
    );
    const report = aggregateSweep(plan, values, new Date(0));
    assert.equal(report.rows.length, 6 * 3);
    for (const v of report.variants) {
      assert.deepEqual(v.perSeed?.map((x) => [x.seed, +x.maxRatio.toFixed(6)]), [[0, 1.05], [1, 1.1]], v.variantId);
      if (v.variant['conditioning.adaptive.mode'] === 'gap') assert.ok(v.baselinesFrom, `${v.variantId} compares with shared baselines`);
    }
    assert.equal(report.densities?.length, 3 * 2);
    const d = report.densities![0]!;
    assert.deepEqual(d.bins.map((b) => [b.prior, b.final, +b.mean.toFixed(6)]), [[0.5, 0.7, 0.6], [0.5, 0.3, 0.4]]);
    assert.deepEqual(d.sources, { baselines: 1 });
    const html = renderReportHtml(report);
    assert.equal((html.match(/<figure data-kind="density"/g) ?? []).length, 6);
    assert.match(html, /YOTO \/ baseline ratio vs model\.width/);
    // Worst and mean per adaptive mode, three widths each.
    const fig = html.slice(html.indexOf('data-plot="variants-model.width"'));
    assert.equal((fig.slice(0, fig.indexOf('</svg>')).match(/<circle [^>]*data-series/g) ?? []).length, 2 * 2 * 3);
    const md = renderReportMarkdown(report);
    assert.match(md, /## Variants compared \(per seed\)/);
    assert.match(md, /## P_λ of gap-driven YOTO runs/);
  });
});

