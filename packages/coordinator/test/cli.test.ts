/**
 * The `yoto` CLI as a user runs it (a child process), against a real redis-server
 * and s3rver given through the environment: validate, submit (idempotent), status,
 * report in its three forms, error output and exit codes. The sweep is driven to
 * completion by the real AggregateWorker and a stand-in train worker in this process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { QUEUES, type Report, type RunPayload } from '@yoto/shared';
import { AggregateWorker, SweepService, type SweepDetail } from '../src/index.ts';
import { renderReportTable, renderSweepDetail } from '../src/cli/render.ts';
import { cliEnv, yoto } from './helpers/cli.ts';
import { startTestRedis, type RedisServer } from './helpers/redis-server.ts';
import { startTestS3, type TestS3 } from './helpers/s3.ts';
import { smallSpec, syntheticResult, uniq } from './helpers/fixtures.ts';

describe('yoto CLI (real redis-server + s3rver)', () => {
  let redis: RedisServer;
  let s3: TestS3;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    [redis, s3] = await Promise.all([startTestRedis(), startTestS3()]);
    dir = mkdtempSync(join(tmpdir(), 'yoto-cli-'));
    env = cliEnv({ home: join(dir, '.yoto'), redisUrl: redis.url, s3: s3.s3.s3Config() });
  });
  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await Promise.allSettled([redis?.stop(), s3?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('validate: summary for a good spec, every field error and exit 1 for a bad one, no connection needed', async () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, stringify(smallSpec('cli-validate', { variants: { 'model.width': [1, 2] } })));
    const ok = await yoto(['validate', good], { ...process.env, YOTO_HOME: join(dir, 'none'), REDIS_URL: '', S3_ENDPOINT: '' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /runs\s+8 \(2 YOTO \+ 6 baselines\)/);
    assert.match(ok.stdout, /grid\s+3 points: kl=0\.5 {2}kl=2 {2}kl=8/);
    assert.match(ok.stdout, /variants\s+2: width-1, width-2/);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stringify(smallSpec('Bad/Name', { train: { steps: 0, batchSize: 32 }, grid: { kl: [0.5, 0.5] } })));
    const no = await yoto(['validate', bad], env);
    assert.equal(no.code, 1);
    assert.match(no.stderr, /^error: sweep spec is invalid:/);
    assert.match(no.stderr, /- name: /);
    assert.match(no.stderr, /- train\.steps: /);
    assert.doesNotMatch(no.stderr, /\n\s+at /, 'no stack trace');
  });

  test('submit, status, report (table, --md, --json) through a completed sweep', async () => {
    const prefix = 'bull'; // the CLI uses BullMQ's default prefix; this redis-server is ours alone
    const aggregate = new AggregateWorker({ redis: redis.url, store: s3.store, prefix });
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const train = new Worker<RunPayload>(QUEUES.train, async (job) => {
      await gate;
      return syntheticResult(job.data);
    }, { connection: conn, prefix, concurrency: 8 });
    closers.push(async () => {
      await train.close();
      await conn.quit();
      await aggregate.close();
    });

    const specFile = join(dir, 'sweep.yaml');
    writeFileSync(specFile, stringify(smallSpec(`cli-${uniq()}`)));
    const sub = await yoto(['submit', specFile, '--json'], env);
    assert.equal(sub.code, 0, sub.stderr);
    const { sweepId, runs, created } = JSON.parse(sub.stdout) as { sweepId: string; runs: number; created: boolean };
    assert.equal(runs, 4);
    assert.equal(created, true);
    const again = await yoto(['submit', specFile], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`sweep ${sweepId} was already submitted; nothing enqueued`));

    const list = await yoto(['status'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${sweepId}\\s+cli-\\w+\\s+queued\\s+4`));
    const early = await yoto(['report', sweepId], env);
    assert.equal(early.code, 1);
    assert.match(early.stderr, new RegExp(`error: no report for sweep ${sweepId} yet`));

    release();
    const svc = new SweepService({ redis: redis.url, store: s3.store, pollMs: 100 });
    closers.push(() => svc.close());
    assert.equal((await svc.waitForCompletion(sweepId, { timeoutMs: 30_000 })).status, 'completed');

    const detail = await yoto(['status', sweepId, '--json'], env);
    assert.equal(detail.code, 0, detail.stderr);
    const d = JSON.parse(detail.stdout) as SweepDetail;
    assert.equal(d.status, 'completed');
    assert.equal(d.counts.completed, 4);
    const table = await yoto(['status', sweepId], env);
    assert.match(table.stdout, /base-kl-0p5-s0\s+baseline kl=0\.5\s+completed/);
    const page = await yoto(['status', sweepId, '--limit', '1', '--offset', '1'], env);
    assert.equal(page.code, 0, page.stderr);
    assert.match(page.stdout, /4 completed/);
    assert.match(page.stdout, /runs 2–2 of 4 shown/);
    assert.equal((await yoto(['status', sweepId, '--limit', 'x'], env)).code === 0, false);

    const rep = await yoto(['report', sweepId], env);
    assert.equal(rep.code, 0, rep.stderr);
    assert.match(rep.stdout, /kl=0\.5\s+82\.925\s+87\.071\s+1\.050/);
    assert.match(rep.stdout, /kl=8 \*/);
    assert.match(rep.stdout, /saving\s+2\.25×/);
    const md = await yoto(['report', sweepId, '--md'], env);
    assert.match(md.stdout, /^# yoto report: cli-/);
    const js = await yoto(['report', sweepId, '--json'], env);
    const report = JSON.parse(js.stdout) as Report;
    assert.equal(report.rows.length, 3);

    const unknown = await yoto(['status', 'no-such-sweep'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^error: no sweep no-such-sweep/);
  });

  test('errors say what to do and never echo secrets', async () => {
    const none = await yoto(['status'], { ...process.env, YOTO_HOME: join(dir, 'nothing-here'), REDIS_URL: '', S3_ENDPOINT: '', S3_BUCKET: '' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no REDIS_URL \/ S3_ENDPOINT set and no `yoto up` running \(\.yoto\/endpoints\.json\); run `yoto up` or `yoto demo`/);
    const down = await yoto(['status'], { ...env, REDIS_URL: 'redis://:hunter2@127.0.0.1:1' });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
    assert.doesNotMatch(down.stderr + down.stdout, /hunter2/);
    assert.doesNotMatch(down.stderr + down.stdout, new RegExp(s3.s3.secretAccessKey.replace(/[-_]/g, '.')));
  });
});

describe('terminal rendering', () => {
  test('renderReportTable and renderSweepDetail produce readable rows', async () => {
    const { aggregateSweep } = await import('../src/index.ts');
    const { parseSweepSpec, planSweep, jobIds } = await import('@yoto/shared');
    const plan = planSweep(parseSweepSpec(smallSpec('render-check')));
    const values = Object.fromEntries(plan.runs.map((r) => [`bull:${QUEUES.train}:${jobIds.train(plan.sweepId, r.runId)}`, syntheticResult(r)]));
    const text = renderReportTable(aggregateSweep(plan, values)).replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(text, /variant base/);
    assert.match(text, /λ\s+baseline loss\s+YOTO loss\s+ratio/);
    assert.equal(text.match(/1\.050/g)?.length, 3 + 2 + 2); // 3 rows, mean/max of the variant, mean/max of the summary
    const detail: SweepDetail = {
      record: { sweepId: plan.sweepId, name: 'render-check', problem: 'beta-vae', status: 'queued', created: 0, totalRuns: 4, aggregateJobId: 'x', specKey: '', planKey: '', reportKey: null, error: null },
      status: 'running',
      counts: { waiting: 2, prioritized: 0, delayed: 0, active: 1, completed: 1, failed: 0, 'waiting-children': 0, missing: 0 },
      aggregate: { jobId: 'x', state: 'waiting-children', failedReason: null, attemptsMade: 0 },
      runs: plan.runs.map((r, i) => ({ runId: r.runId, jobId: r.runId, kind: r.kind, label: r.kind, variantId: r.variantId, seed: 0, state: i === 0 ? 'active' : 'waiting', progress: i === 0 ? { step: 50, totalSteps: 200, examplesPerSecond: 1234, terms: {}, loss: 101.5, phase: 'training', worker: 'gpu-0', backend: 'tensorflow', etaSeconds: 90 } : null, attemptsMade: 0, maxAttempts: 3, failedReason: null })),
    };
    const out = renderSweepDetail(detail).replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(out, /base-yoto-s0\s+yoto\s+active\s+50\/200 25%\s+101\.50\s+1234\s+1m30s\s+gpu-0\s+tensorflow/);
  });
});
