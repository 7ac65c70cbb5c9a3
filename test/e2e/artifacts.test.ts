/**
 * Artifacts end to end on a real tiny sweep (real redis-server, embedded S3, one
 * in-process train worker, the aggregate): the manifest (stored and live), pull
 * (verified, resumable, refusing tampered objects), export, the λ dial (`sample` and
 * the API's /sample), and gc.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { s3Keys, YotoError, type SweepPlan } from '@yoto/shared';
import { createLogger, ObjectStore, sha256Hex } from '@yoto/runtime';
import {
  ArtifactMismatchError,
  exportRun,
  loadManifest,
  loadServerConfig,
  pruneCheckpoints,
  pullArtifacts,
  sampleSweep,
  selectArtifacts,
  startDashboardServer,
  type SweepService,
} from '@yoto/coordinator';
import { readPng } from '../support/png.ts';
import { startSweepStack, type SweepStack } from '../support/sweep-stack.ts';
import { tinySweepSpec } from '../support/tiny-sweep.ts';

const log = createLogger({ name: 'e2e-artifacts', level: process.env.LOG_LEVEL ?? 'warn' });
let stack: SweepStack;
let dir: string;
let store: ObjectStore;
let sweeps: SweepService;
let sweepId: string;
let plan: SweepPlan;

const SPEC = tinySweepSpec('e2e-artifacts');

before(async () => {
  stack = await startSweepStack({ name: 'e2e-artifacts', workers: 1, log });
  ({ dir, store, sweeps } = stack);
  const sub = await sweeps.submit(SPEC);
  sweepId = sub.sweepId;
  plan = sub.plan;
  const detail = await sweeps.waitForCompletion(sweepId, { timeoutMs: 240_000 });
  assert.equal(detail.status, 'completed');
});

after(() => stack?.stop());

test('manifest: stored after the aggregate; built live (with every final) when it is not', { timeout: 60_000 }, async () => {
  const stored = await loadManifest(store, sweepId);
  assert.equal(stored.live, false);
  const finals = stored.manifest.artifacts.filter((a) => a.kind === 'final').map((a) => a.key);
  for (const run of plan.runs) assert.ok(finals.includes(s3Keys.finalResult(sweepId, run.runId)), `${run.runId} result in the manifest`);
  const saved = await store.get(s3Keys.manifest(sweepId));
  await store.deleteMany([s3Keys.manifest(sweepId)]);
  try {
    const live = await loadManifest(store, sweepId);
    assert.equal(live.live, true);
    assert.deepEqual(live.manifest.artifacts.map((a) => a.key).sort(), stored.manifest.artifacts.map((a) => a.key).sort());
  } finally {
    await store.put(s3Keys.manifest(sweepId), saved, { contentType: 'application/json' });
  }
});

test('pull: verifies every file, a second pull downloads nothing, a tampered object is refused and not kept', { timeout: 60_000 }, async () => {
  const out = join(dir, 'pull');
  const { manifest } = await loadManifest(store, sweepId);
  const entries = selectArtifacts(manifest.artifacts, { kind: 'all' });
  const ticks: number[] = [];
  const first = await pullArtifacts(store, sweepId, entries, out, (p) => ticks.push(p.files));
  assert.equal(first.downloaded.length, entries.length);
  assert.equal(ticks.at(-1), entries.length);
  const second = await pullArtifacts(store, sweepId, entries, out);
  assert.equal(second.downloaded.length, 0, 'nothing downloaded twice');
  assert.equal(second.skipped.length, entries.length);

  // A local file damaged after the pull is fetched again.
  const yoto = plan.runs.find((r) => r.kind === 'yoto')!;
  const localEval = join(out, 'runs', yoto.runId, 'final', 'eval.json');
  await writeFile(localEval, '{"tampered":true}');
  const third = await pullArtifacts(store, sweepId, entries, out);
  assert.deepEqual(third.downloaded, [s3Keys.finalEval(sweepId, yoto.runId)]);

  // An object replaced in the store no longer matches the manifest: refused, nothing left under its name.
  const metricsKey = s3Keys.metrics(sweepId, yoto.runId);
  const original = await store.get(metricsKey);
  await store.put(metricsKey, Buffer.concat([original, Buffer.from('{"step":999}\n')]));
  try {
    const fresh = join(dir, 'pull-tampered');
    await assert.rejects(
      pullArtifacts(store, sweepId, entries, fresh),
      (err: unknown) => err instanceof ArtifactMismatchError && err.keys.includes(metricsKey) && /did not match the manifest's sha256/.test(err.message),
    );
    const runDir = join(fresh, 'runs', yoto.runId);
    assert.equal(existsSync(join(runDir, 'metrics.jsonl')), false, 'the bad file is not kept');
    assert.equal((await readdir(runDir)).some((f) => f.endsWith('.partial')), false, 'no partial left');
    assert.ok(existsSync(join(runDir, 'final', 'state.json')), 'the good files were pulled');
  } finally {
    await store.put(metricsKey, original);
  }
});

test('export: a Layers model directory with README and the run\'s eval numbers', { timeout: 120_000 }, async () => {
  const yoto = plan.runs.find((r) => r.kind === 'yoto')!;
  const out = join(dir, 'export');
  const res = await exportRun(store, sweepId, yoto.runId, out);
  assert.deepEqual(res.files.map((f) => f.slice(out.length + 1)).sort(), ['README.md', 'encoder/model.json', 'encoder/weights.bin', 'eval.json', 'model.json', 'weights.bin']);
  const modelJson = JSON.parse(await readFile(join(out, 'model.json'), 'utf8'));
  assert.equal(modelJson.format, 'layers-model');
  assert.ok(modelJson.modelTopology, 'a real Layers topology');
  assert.equal(modelJson.userDefinedMetadata.yoto.runId, yoto.runId);
  const stored = await store.getJson(s3Keys.finalEval(sweepId, yoto.runId));
  assert.deepEqual(JSON.parse(await readFile(join(out, 'eval.json'), 'utf8')), stored);
  assert.match(await readFile(join(out, 'README.md'), 'utf8'), /log_lambda.*\[batch, 1\]/);
});

test('sample: PNG grids of the requested size; the images move with β; λ outside the prior is refused', { timeout: 180_000 }, async () => {
  const one = join(dir, 'one.png');
  const r1 = await sampleSweep(store, sweepId, { lambda: 'kl=4', n: 16, out: one });
  const png1 = readPng(await readFile(one));
  assert.deepEqual([png1.width, png1.height], [4 * 28, 4 * 28]);
  assert.deepEqual([r1.width, r1.height], [png1.width, png1.height]);

  const strip = join(dir, 'strip.png');
  const r2 = await sampleSweep(store, sweepId, { lambda: 'kl=0.5:8:3', n: 5, seed: 3, compare: true, out: strip });
  const png2 = readPng(await readFile(strip));
  // 3 rows of 5 YOTO tiles, a blank tile column, then 5 baseline tiles.
  assert.deepEqual([png2.width, png2.height], [(5 + 1 + 5) * 28, 3 * 28]);
  const means = r2.rowMeans ?? [];
  assert.equal(means.length, 3);
  assert.ok(Math.abs(means[0]! - means[2]!) > 1e-3, `decoded means should change with β: ${means.join(', ')}`);
  const yotoRow = (r: number) => Buffer.concat(png2.rows.slice(r * 28, (r + 1) * 28).map((l) => l.subarray(0, 5 * 28 * 4)));
  assert.notDeepEqual(yotoRow(0), yotoRow(2), 'same z, different β: different pixels');

  const rec = join(dir, 'rec.png');
  const r3 = await sampleSweep(store, sweepId, { lambda: 'kl=2', n: 4, reconstruct: true, out: rec });
  assert.deepEqual([r3.width, r3.height], [(2 + 1 + 2) * 28, 2 * 28]);

  await assert.rejects(
    sampleSweep(store, sweepId, { lambda: 'kl=100', out: join(dir, 'no.png') }),
    (err: unknown) => err instanceof YotoError && err.code === 'INPUT_INVALID' && /outside .*\[0\.5, 8\]/.test(err.message),
  );
  assert.equal(existsSync(join(dir, 'no.png')), false);

  // The same dial over HTTP (loopback: reads are open).
  const srv = await startDashboardServer({ redisUrl: stack.redis.url, store, config: loadServerConfig({}, { port: 0 }) });
  try {
    const res = await fetch(`${srv.url}/api/sweeps/${sweepId}/sample?lambda=kl=4&n=6`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const png = readPng(Buffer.from(await res.arrayBuffer()));
    assert.deepEqual([png.width, png.height], [3 * 28, 2 * 28]);
    const bad = await fetch(`${srv.url}/api/sweeps/${sweepId}/sample?lambda=kl=0.01`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /outside/);
  } finally {
    await srv.close();
  }
});

test('gc: prunes intermediate checkpoints, keeps the latest and every final', { timeout: 60_000 }, async () => {
  const before = (await loadManifest(store, sweepId)).manifest.artifacts;
  const s = await pruneCheckpoints(store, sweepId, 0);
  assert.ok(s.deletedDirs > 0, 'something to prune');
  assert.equal(s.manifestRewritten, true);
  const afterGc = (await loadManifest(store, sweepId)).manifest.artifacts;
  for (const kind of ['final', 'eval', 'metrics', 'report'] as const) {
    assert.deepEqual(afterGc.filter((a) => a.kind === kind).map((a) => a.key), before.filter((a) => a.kind === kind).map((a) => a.key), `${kind} untouched`);
  }
  for (const run of plan.runs) {
    const latest = await store.getJson<{ step: number; files: { key: string }[] }>(s3Keys.checkpointLatest(sweepId, run.runId));
    for (const f of latest.files) assert.ok(await store.head(f.key), `${f.key} (latest checkpoint) kept`);
  }
  const again = await pruneCheckpoints(store, sweepId, 0);
  assert.equal(again.deletedDirs, 0);
});

test('multipart: a body above the threshold goes up in parts, with progress and the whole-body sha256', { timeout: 60_000 }, async () => {
  const small = new ObjectStore(stack.s3.s3Config(), log, { multipartThreshold: 1 << 20 });
  try {
    const blob = new Uint8Array(11 << 20).map((_, i) => (i * 31) & 255);
    const seen: number[] = [];
    const put = await small.put('bench/multipart.bin', blob, { onProgress: (sent) => seen.push(sent) });
    assert.equal(put.sha256, sha256Hex(blob));
    assert.ok(seen.length >= 2 && seen.at(-1) === blob.byteLength, `progress reported: ${seen.join(', ')}`);
    assert.deepEqual(await small.head('bench/multipart.bin'), { size: blob.byteLength, sha256: put.sha256 });
    assert.ok((await small.get('bench/multipart.bin')).equals(Buffer.from(blob)));
  } finally {
    await small.deleteMany(['bench/multipart.bin']);
    small.close();
  }
});
