/**
 * The dashboard's REST API against a real redis-server and s3rver: auth (missing,
 * wrong, right token; constant-time compare is exercised through these), spec
 * validation with nothing enqueued, the body limit, list/get/report, read-only
 * mode, the loopback rule, artifact downloads confined to the sweep, /metrics.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { QUEUES, s3Keys, type RunPayload } from '@yoto/shared';
import { AggregateWorker, SweepService } from '../src/index.ts';
import { startDashboardServer, type DashboardServer } from '../src/server/dashboard-server.ts';
import { loadServerConfig } from '../src/server/server-config.ts';
import { queueTotals } from './helpers/redis-server.ts';
import { useTestServices } from './helpers/services.ts';
import { smallSpec, syntheticResult, uniq } from './helpers/fixtures.ts';

const TOKEN = `test-token-${uniq()}-${uniq()}`;

describe('dashboard REST API (real redis-server + s3rver)', () => {
  const t = useTestServices();

  async function server(prefix: string, env: NodeJS.ProcessEnv = { YOTO_API_TOKEN: TOKEN }, flags: { readOnly?: boolean; host?: string } = {}): Promise<DashboardServer> {
    const config = loadServerConfig(env, { port: 0, ...flags });
    const srv = await startDashboardServer({ redisUrl: t.redis.url, store: t.s3.store, config, prefix });
    t.closers.push(() => srv.close());
    return srv;
  }

  const auth = { authorization: `Bearer ${TOKEN}` };

  test('writes need the token: none → 401, wrong → 401, right → 201; the token is never echoed', async () => {
    const prefix = `api-${uniq()}`;
    const srv = await server(prefix);
    const name = `api-auth-${uniq()}`;
    const spec = stringify(smallSpec(name));
    const none = await fetch(`${srv.url}/api/sweeps`, { method: 'POST', body: spec, headers: { 'content-type': 'application/yaml' } });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
    const wrong = await fetch(`${srv.url}/api/sweeps`, { method: 'POST', body: spec, headers: { 'content-type': 'application/yaml', authorization: `Bearer ${TOKEN}x` } });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(await wrong.text(), new RegExp(TOKEN));
    assert.equal((await queueTotals(t.redis.url, prefix)).train, 0, 'nothing enqueued without auth');

    const ok = await fetch(`${srv.url}/api/sweeps`, { method: 'POST', body: spec, headers: { 'content-type': 'application/yaml', ...auth } });
    assert.equal(ok.status, 201);
    const body = (await ok.json()) as { sweepId: string; runs: number; created: boolean };
    assert.equal(body.runs, 4);
    assert.equal(body.created, true);
    // The same spec as JSON: already there, 200, nothing more enqueued.
    const again = await fetch(`${srv.url}/api/sweeps`, { method: 'POST', body: JSON.stringify(smallSpec(name)), headers: { 'content-type': 'application/json', ...auth } });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { created: boolean }).created, false);
    assert.equal((await queueTotals(t.redis.url, prefix)).train, 4);

    // Cancel needs the token too.
    assert.equal((await fetch(`${srv.url}/api/sweeps/${body.sweepId}/cancel`, { method: 'POST' })).status, 401);
    const cancelled = await fetch(`${srv.url}/api/sweeps/${body.sweepId}/cancel`, { method: 'POST', headers: auth });
    assert.equal(cancelled.status, 200);
    assert.equal(((await cancelled.json()) as { removed: number }).removed, 5);
  });

  test('a bad spec → 400 naming the field, nothing written or enqueued; an oversized body → 413', async () => {
    const prefix = `api-${uniq()}`;
    const srv = await server(prefix);
    const bad = smallSpec(`api-bad-${uniq()}`, { train: { steps: 10, batchSize: 0 } });
    const res = await fetch(`${srv.url}/api/sweeps`, { method: 'POST', body: JSON.stringify(bad), headers: { 'content-type': 'application/json', ...auth } });
    assert.equal(res.status, 400);
    const err = (await res.json()) as { error: { code: string; message: string; field: string; fields: { path: string }[] } };
    assert.equal(err.error.code, 'SPEC_INVALID');
    assert.equal(err.error.field, 'train.batchSize');
    assert.ok(err.error.fields.some((f) => f.path === 'train.batchSize'));
    const totals = await queueTotals(t.redis.url, prefix);
    assert.equal(totals.train + totals.aggregate, 0);
    assert.deepEqual(await t.s3.keys(`sweeps/${String(bad.name)}`), []);

    const big = `# ${'x'.repeat(300 * 1024)}\n${stringify(smallSpec(`api-big-${uniq()}`))}`;
    const tooBig = await fetch(`${srv.url}/api/sweeps`, { method: 'POST', body: big, headers: { 'content-type': 'application/yaml', ...auth } });
    assert.equal(tooBig.status, 413);
    assert.equal(((await tooBig.json()) as { error: { code: string } }).error.code, 'PAYLOAD_TOO_LARGE');
  });

  test('list, get, report and pages: happy paths on a completed sweep; downloads stay inside the sweep', async () => {
    const prefix = `api-${uniq()}`;
    const srv = await server(prefix);
    const client = new Redis(t.redis.url, { maxRetriesPerRequest: null });
    const trainer = new Worker<RunPayload>(QUEUES.train, async (job) => syntheticResult(job.data), { connection: client, prefix, autorun: true });
    const aggregate = new AggregateWorker({ redis: t.redis.url, store: t.s3.store, prefix });
    t.closers.push(async () => {
      await trainer.close();
      await aggregate.close();
      client.disconnect();
    });
    const sweeps = new SweepService({ redis: t.redis.url, store: t.s3.store, prefix, pollMs: 100 });
    t.closers.push(() => sweeps.close());
    const sub = await sweeps.submit(smallSpec(`api-happy-${uniq()}`));
    await sweeps.waitForCompletion(sub.sweepId, { timeoutMs: 30_000 });
    // A file of a finished run, as a worker would leave it.
    const run = sub.plan.runs[0] as RunPayload;
    await t.s3.store.put(s3Keys.finalDir(sub.sweepId, run.runId) + 'eval.json', '{"ok":true}', { contentType: 'application/json' });

    // Reads are open on loopback.
    const list = (await (await fetch(`${srv.url}/api/sweeps`)).json()) as { sweeps: { sweepId: string; status: string; done: number; totalRuns: number }[] };
    const entry = list.sweeps.find((s) => s.sweepId === sub.sweepId);
    assert.ok(entry);
    assert.equal(entry.status, 'completed');
    assert.equal(entry.done, 4);
    const detail = (await (await fetch(`${srv.url}/api/sweeps/${sub.sweepId}`)).json()) as { status: string; runs: { state: string }[] };
    assert.equal(detail.status, 'completed');
    assert.equal(detail.runs.length, 4);
    assert.ok(detail.runs.every((r) => r.state === 'completed'));
    // A page of runs; the counts stay those of every run.
    const page = (await (await fetch(`${srv.url}/api/sweeps/${sub.sweepId}?offset=1&limit=2`)).json()) as { runs: { runId: string }[]; counts: { completed: number }; page: unknown };
    assert.deepEqual(page.runs.map((r) => r.runId), sub.plan.runs.slice(1, 3).map((r) => r.runId));
    assert.equal(page.counts.completed, 4);
    assert.deepEqual(page.page, { offset: 1, limit: 2, total: 4 });
    const badLimit = await fetch(`${srv.url}/api/sweeps/${sub.sweepId}?limit=-1`);
    assert.equal(badLimit.status, 400);
    assert.match(await badLimit.text(), /limit must be an integer/);
    const report = (await (await fetch(`${srv.url}/api/sweeps/${sub.sweepId}/report`)).json()) as { rows: unknown[]; sweepId: string };
    assert.equal(report.sweepId, sub.sweepId);
    assert.equal(report.rows.length, 3);
    assert.equal((await fetch(`${srv.url}/api/sweeps/no-such-sweep`)).status, 404);
    assert.equal((await fetch(`${srv.url}/api/sweeps/Not_An_Id`)).status, 400);

    const listPage = await (await fetch(`${srv.url}/`)).text();
    assert.match(listPage, new RegExp(`data-sweep="${sub.sweepId}"`));
    assert.match(listPage, /4\/4 runs/);
    const reportPage = await (await fetch(`${srv.url}/sweeps/${sub.sweepId}/report`)).text();
    // Loss (YOTO, baseline), ratio, trade-off (YOTO, baseline): one point per grid λ each.
    for (const lambda of ['kl=0.5', 'kl=2', 'kl=8']) assert.equal((reportPage.match(new RegExp(`<circle [^>]*data-lambda="${lambda}"`, 'g')) ?? []).length, 5, lambda);
    assert.match(reportPage, new RegExp(`/sweeps/${sub.sweepId}/runs/${run.runId}/artifacts`));

    const file = await fetch(`${srv.url}/sweeps/${sub.sweepId}/files/runs/${run.runId}/final/eval.json`);
    assert.equal(file.status, 200);
    assert.equal(await file.text(), '{"ok":true}');
    assert.match(file.headers.get('content-disposition') ?? '', /attachment/);
    assert.equal((await fetch(`${srv.url}/sweeps/${sub.sweepId}/files/runs/..%2F..%2Fother/x`)).status, 400);
    assert.equal((await fetch(`${srv.url}/sweeps/${sub.sweepId}/files/runs/nope/final/eval.json`)).status, 404);

    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(metrics, /^# TYPE yoto_queue_jobs gauge$/m);
    assert.match(metrics, new RegExp(`^yoto_queue_jobs\\{queue="${QUEUES.train}",state="completed"\\} 4$`, 'm'));
    assert.match(metrics, new RegExp(`^yoto_runs_completed_total\\{kind="baseline"\\} 3$`, 'm'));
    assert.match(metrics, /^yoto_run_duration_seconds_count\{kind="yoto"\} 1$/m);
  });

  test('/metrics counts prioritized jobs (BullMQ keeps them apart from waiting)', async () => {
    const prefix = `api-${uniq()}`;
    const srv = await server(prefix);
    const sweeps = new SweepService({ redis: t.redis.url, store: t.s3.store, prefix });
    t.closers.push(() => sweeps.close());
    await sweeps.submit(smallSpec(`api-metrics-${uniq()}`, { priority: 2 }));
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`^yoto_queue_jobs\\{queue="${QUEUES.train}",state="prioritized"\\} 4$`, 'm'));
    assert.match(metrics, new RegExp(`^yoto_queue_ready_jobs\\{queue="${QUEUES.train}"\\} 4$`, 'm'));
    assert.match(metrics, new RegExp(`^yoto_queue_jobs\\{queue="${QUEUES.aggregate}",state="waiting-children"\\} 1$`, 'm'));
  });

  test('read-only mode refuses writes even with the token; reads still work', async () => {
    const prefix = `api-${uniq()}`;
    const srv = await server(prefix, { YOTO_API_TOKEN: TOKEN, YOTO_READ_ONLY: '1' });
    const res = await fetch(`${srv.url}/api/sweeps`, { method: 'POST', body: stringify(smallSpec(`api-ro-${uniq()}`)), headers: { 'content-type': 'application/yaml', ...auth } });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'READ_ONLY');
    assert.equal((await queueTotals(t.redis.url, prefix)).train, 0);
    assert.equal((await fetch(`${srv.url}/api/sweeps`)).status, 200);
    const flag = await server(prefix, { YOTO_API_TOKEN: TOKEN }, { readOnly: true });
    assert.equal((await fetch(`${flag.url}/api/sweeps`, { method: 'POST', body: 'name: x', headers: auth })).status, 403);
  });

  test('beyond loopback: refused without a token; with one, reads need it too', async () => {
    await assert.rejects(server(`api-${uniq()}`, {}, { host: '0.0.0.0' }), /refusing to listen on 0\.0\.0\.0 without YOTO_API_TOKEN/);
    const srv = await server(`api-${uniq()}`, { YOTO_API_TOKEN: TOKEN }, { host: '0.0.0.0' });
    assert.equal((await fetch(`${srv.url}/api/sweeps`)).status, 401);
    assert.equal((await fetch(`${srv.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${srv.url}/api/sweeps`, { headers: auth })).status, 200);
    // A browser is sent to the login form; the form sets the cookie that then works.
    const page = await fetch(`${srv.url}/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/login');
    const login = await fetch(`${srv.url}/login`, { method: 'POST', body: `token=${encodeURIComponent(TOKEN)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
    assert.equal(login.status, 303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    assert.match(login.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
    assert.equal((await fetch(`${srv.url}/`, { headers: { cookie } })).status, 200);
  });

  test('without a token configured, loopback writes are disabled', async () => {
    const srv = await server(`api-${uniq()}`, {});
    const res = await fetch(`${srv.url}/api/sweeps`, { method: 'POST', body: 'name: x', headers: { authorization: 'Bearer anything-at-all-here' } });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'WRITES_DISABLED');
  });
});
