/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against
 * a real tiny sweep: redis-server, the embedded S3, an in-process TrainWorker (wasm)
 * and the AggregateWorker, the dashboard server on a free port. The sweep goes in
 * through the REST API; the sweep page must list every run and show a run's step
 * advance without a reload (server-sent events); after completion the report page
 * must show its plots with one point per grid λ per series. Screenshots go to
 * `test-output/` (git-ignored).
 *
 * Skipped, with the reason, where no Chromium binary exists (CHROMIUM_PATH, default
 * /usr/bin/chromium; scripts/setup.sh installs it where it can).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { createLogger, createRedis, ObjectStore } from '@yoto/runtime';
import { AggregateWorker, startEmbeddedS3, startRedisServer, type EmbeddedS3, type RedisServer } from '@yoto/coordinator';
import { startDashboardServer, type DashboardServer } from '../../packages/coordinator/src/server/dashboard-server.ts';
import { loadServerConfig } from '../../packages/coordinator/src/server/server-config.ts';
import { TrainWorker } from '@yoto/worker';
import type { Redis } from 'ioredis';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const OUT = fileURLToPath(new URL('../../test-output/', import.meta.url));
const TOKEN = 'browser-test-token-0123456789';
const GRID = [0.5, 2, 8];

const SPEC = {
  name: 'browser-tiny',
  problem: 'beta-vae',
  dataset: { name: 'shapes', trainExamples: 512, testExamples: 128 },
  model: { arch: 'mlp', latentDim: 4, width: 0.5, filmHidden: 32 },
  lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 8 } },
  grid: { kl: GRID },
  train: { steps: 150, batchSize: 32, lr: 0.001, checkpointEvery: 50, evalBatchSize: 64 },
  seeds: [0],
};

const log = createLogger({ name: 'browser-test', level: process.env.LOG_LEVEL ?? 'warn' });

describe('dashboard in Chromium', { skip: HAVE_CHROMIUM ? false : `no Chromium binary at ${CHROMIUM} (install it: apt-get install -y chromium, or set CHROMIUM_PATH); skipping the browser test` }, () => {
  let dir: string;
  let redis: RedisServer;
  let s3: EmbeddedS3;
  let store: ObjectStore;
  let aggregate: AggregateWorker;
  let worker: TrainWorker;
  let connection: Redis;
  let server: DashboardServer;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    mkdirSync(OUT, { recursive: true });
    dir = await mkdtemp(join(tmpdir(), 'yoto-browser-'));
    redis = await startRedisServer({ dir: join(dir, 'redis') });
    s3 = await startEmbeddedS3({ dir: join(dir, 's3'), bucket: 'browser' });
    store = new ObjectStore(s3.s3Config(), log);
    await store.ensureBucket();
    aggregate = new AggregateWorker({ redis: redis.url, store, log });
    connection = createRedis(redis.url, 'worker', log);
    worker = new TrainWorker({ connection, store, log, workerName: 'browser-0', backend: 'wasm' });
    server = await startDashboardServer({ redisUrl: redis.url, store, log, config: loadServerConfig({ YOTO_API_TOKEN: TOKEN }, { port: 0 }, { eventIntervalMs: 300 }) });
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'yoto-chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: false,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await server?.close();
    await worker?.close();
    await aggregate?.close();
    connection?.disconnect();
    store?.close();
    await s3?.stop();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('runs update live, and the finished report plots every grid λ for every series', { timeout: 600_000 }, async () => {
    const res = await fetch(`${server.url}/api/sweeps`, { method: 'POST', body: JSON.stringify(SPEC), headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 201, await res.clone().text());
    const { sweepId, runs } = (await res.json()) as { sweepId: string; runs: number };
    assert.equal(runs, 1 + GRID.length);

    await page.goto(`${server.url}/`);
    assert.equal(await page.locator(`tr[data-sweep="${sweepId}"]`).count(), 1);

    await page.goto(`${server.url}/sweeps/${sweepId}`);
    assert.equal(await page.locator('#runs-body tr[data-run]').count(), runs, 'the sweep page lists every run');
    assert.equal(await page.locator('#runs-body tr[data-kind="yoto"]').count(), 1);
    // Marks this document: a reload would lose it.
    await page.evaluate(() => ((window as unknown as { __same: number }).__same = 1));

    // A run that is training, and its step now…
    const first = await page.waitForFunction(
      () => {
        for (const tr of document.querySelectorAll('#runs-body tr[data-state="active"]')) {
          const step = Number(tr.querySelector('[data-field="step"]')?.textContent ?? '0');
          if (step > 0) return { runId: tr.getAttribute('data-run'), step };
        }
        return null;
      },
      undefined,
      { timeout: 300_000, polling: 200 },
    );
    const seen = (await first.jsonValue()) as { runId: string; step: number };
    // …then later, larger, in the same document.
    await page.waitForFunction(
      ({ runId, step }) => Number(document.querySelector(`#runs-body tr[data-run="${runId}"] [data-field="step"]`)?.textContent ?? '0') > step,
      seen,
      { timeout: 120_000, polling: 200 },
    );
    assert.equal(await page.evaluate(() => (window as unknown as { __same?: number }).__same), 1, 'the step advanced without a reload');
    await page.screenshot({ path: join(OUT, 'sweep-live.png'), fullPage: true });

    // The report link appears through the live stream when the aggregate is done.
    await page.locator('#report-link').waitFor({ timeout: 540_000 });
    await page.screenshot({ path: join(OUT, 'sweep-completed.png'), fullPage: true });
    assert.equal(await page.evaluate(() => (window as unknown as { __same?: number }).__same), 1);
    await page.locator('#report-link').click();
    await page.waitForURL(`**/sweeps/${sweepId}/report`);

    const plots = await page.evaluate(() =>
      [...document.querySelectorAll('svg.plot')].map((svg) => ({
        plot: svg.getAttribute('data-plot'),
        series: [...svg.querySelectorAll('g[data-series]')].map((g) => ({
          name: g.getAttribute('data-series'),
          lambdas: [...g.querySelectorAll('circle[data-lambda]')].map((c) => c.getAttribute('data-lambda')),
        })),
      })),
    );
    assert.deepEqual(plots.map((p) => p.plot?.replace(/-.*/, '')).sort(), ['loss', 'ratio', 'tradeoff']);
    for (const p of plots) {
      assert.ok(p.series.length >= 1, `${p.plot} has series`);
      for (const s of p.series) assert.deepEqual([...s.lambdas].sort(), GRID.map((x) => `kl=${x}`).sort(), `${p.plot} / ${s.name}: one point per grid λ`);
    }
    // Rendered, not just present: the plots have a size on screen.
    const box = await page.locator('svg.plot').first().boundingBox();
    assert.ok(box && box.width > 200 && box.height > 100);
    await page.screenshot({ path: join(OUT, 'report.png'), fullPage: true });

    // Each run's artifacts are linked and downloadable.
    await page.locator('a[href*="/runs/"][href$="/artifacts"]').first().click();
    const fileLinks = await page.locator('a[href*="/files/runs/"]').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
    assert.ok(fileLinks.some((h) => h.endsWith('/final/result.json')), `artifact links: ${fileLinks.join(', ')}`);
    const download = await fetch(fileLinks.find((h) => h.endsWith('/final/result.json')) as string);
    assert.equal(download.status, 200);
    assert.equal(((await download.json()) as { sweepId: string }).sweepId, sweepId);
  });
});
