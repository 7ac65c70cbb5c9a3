/**
 * The artifact commands as a user runs them — `yoto artifacts ls`, `yoto artifacts pull`,
 * `yoto export`, `yoto sample`, `yoto gc` through the CLI binary (child processes) — on a
 * real completed sweep (real redis-server, the embedded S3 server, one in-process train
 * worker on the real engine, the aggregate). What each command prints and writes is
 * checked against the store itself (listing, direct GETs, sha256 of the bytes), not
 * against the library functions behind it. Bad input ends with exit 1 and a message
 * naming the field; the CLI connects as a password-protected Redis user with S3 keys,
 * and neither credential ever reaches its stdout or stderr.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import { classifyArtifact, s3Keys, type Manifest, type SweepPlan } from '@yoto/shared';
import { createLogger, type ObjectStore } from '@yoto/runtime';
import { formatBytes } from '../../packages/coordinator/src/cli/commands/artifacts.ts';
import { cliEnv, yoto as runCli, type CliRun } from '../../packages/coordinator/test/helpers/cli.ts';
import { readPng } from '../support/png.ts';
import { startSweepStack, type SweepStack } from '../support/sweep-stack.ts';
import { SHAPES_TILE, tinySweepSpec } from '../support/tiny-sweep.ts';

const log = createLogger({ name: 'e2e-cli-artifacts', level: process.env.LOG_LEVEL ?? 'warn' });

let stack: SweepStack;
let store: ObjectStore;
let sweepId: string;
let plan: SweepPlan;
let env: NodeJS.ProcessEnv;
let secrets: string[];
/** Every CLI run of this file, for the closing check that no credential was printed. */
const runs: { args: string[]; run: CliRun }[] = [];

async function yoto(...args: string[]): Promise<CliRun> {
  const run = await runCli(args, env);
  runs.push({ args, run });
  return run;
}

/** Asserts a clean failure: exit 1, one `error:` line naming what is wrong, no stack, nothing on stdout. */
function assertUserError(r: CliRun, ...patterns: RegExp[]): void {
  assert.equal(r.code, 1, `exit status (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^error: /);
  for (const p of patterns) assert.match(r.stderr, p);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every key the store holds under the sweep that is an artifact (manifest.json itself is not). */
async function storedArtifactKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(s3Keys.sweep(sweepId))) if (classifyArtifact(sweepId, o.key)) keys.push(o.key);
  return keys.sort();
}

/** Paths of every file under `dir`, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

before(async () => {
  stack = await startSweepStack({ name: 'e2e-cli-artifacts', workers: 1, log });
  store = stack.store;
  const sub = await stack.sweeps.submit(tinySweepSpec('e2e-cli-artifacts'));
  sweepId = sub.sweepId;
  plan = sub.plan;
  assert.equal((await stack.sweeps.waitForCompletion(sweepId, { timeoutMs: 240_000 })).status, 'completed');

  // The CLI logs in as its own Redis user, so a leaked password would be a real one.
  const password = randomBytes(12).toString('hex');
  const admin = new Redis(stack.redis.url);
  try {
    await admin.call('ACL', 'SETUSER', 'yoto-cli', 'on', `>${password}`, '~*', '&*', '+@all');
  } finally {
    await admin.quit();
  }
  const s3 = stack.s3.s3Config();
  env = cliEnv({ home: join(stack.dir, '.yoto'), redisUrl: `redis://yoto-cli:${password}@127.0.0.1:${stack.redis.port}`, s3 });
  secrets = [password, s3.secretAccessKey!, s3.accessKeyId!];
});

after(() => stack?.stop());

test('artifacts ls: the table and --json list exactly what the store holds, sizes and digests included', { timeout: 60_000 }, async () => {
  const stored = await storedArtifactKeys();
  for (const run of plan.runs) {
    for (const key of [s3Keys.finalResult(sweepId, run.runId), s3Keys.finalEval(sweepId, run.runId), s3Keys.metrics(sweepId, run.runId)]) {
      assert.ok(stored.includes(key), `${key} in the store`);
    }
  }

  const table = await yoto('artifacts', 'ls', sweepId);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^key\s+kind\s+size\s+sha256$/);
  const rows = lines.slice(2, -1).map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows.map((r) => `sweeps/${sweepId}/${r[0]}`).sort(), stored, 'one row per stored artifact');
  let total = 0;
  for (const [rel, kind, size, shaPrefix] of rows) {
    const key = `sweeps/${sweepId}/${rel}`;
    const bytes = await store.get(key);
    total += bytes.length;
    const c = classifyArtifact(sweepId, key);
    assert.equal(kind, c?.kind, `${rel}: kind`);
    assert.ok(c?.runId === null || plan.runs.some((r) => r.runId === c?.runId), `${rel}: a run of the plan`);
    assert.equal(size, formatBytes(bytes.length), `${rel}: size`);
    assert.equal(shaPrefix, sha256(bytes).slice(0, 12), `${rel}: sha256 of the stored bytes`);
  }
  // No "(live listing …)": the aggregate has written the manifest.
  assert.equal(lines.at(-1), `${stored.length} artifacts, ${formatBytes(total)}`);

  const json = await yoto('artifacts', 'ls', sweepId, '--json');
  assert.equal(json.code, 0, json.stderr);
  const manifest = JSON.parse(json.stdout) as Manifest & { live: boolean };
  assert.equal(manifest.sweepId, sweepId);
  assert.equal(manifest.live, false);
  assert.deepEqual(manifest.artifacts.map((a) => a.key).sort(), stored);
  for (const a of manifest.artifacts) {
    const bytes = await store.get(a.key);
    assert.equal(a.size, bytes.length, `${a.key}: size`);
    assert.equal(a.sha256, sha256(bytes), `${a.key}: sha256`);
  }

  // --run: that run's artifacts only, and all of them.
  const baseline = plan.runs.find((r) => r.kind === 'baseline')!;
  const one = await yoto('artifacts', 'ls', sweepId, '--run', baseline.runId, '--json');
  assert.equal(one.code, 0, one.stderr);
  const mine = stored.filter((k) => k.startsWith(`sweeps/${sweepId}/runs/${baseline.runId}/`));
  assert.ok(mine.length >= 3);
  assert.deepEqual((JSON.parse(one.stdout) as Manifest).artifacts.map((a) => a.key).sort(), mine);
});

test('artifacts pull: every file lands with the stored bytes; a second pull downloads nothing; --run and --kind select', { timeout: 60_000 }, async () => {
  const stored = await storedArtifactKeys();
  const out = join(stack.dir, 'pull-all');
  const first = await yoto('artifacts', 'pull', sweepId, '--kind', 'all', '--out', out);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`^${stored.length} downloaded \\([^)]+\\), 0 already present and verified, into ${out}\\n$`));
  const base = s3Keys.sweep(sweepId);
  assert.deepEqual(await filesUnder(out), stored.map((k) => k.slice(base.length)), 'the store\'s layout, nothing else (no .partial left)');
  for (const key of stored) {
    const local = await readFile(join(out, key.slice(base.length)));
    const remote = await store.get(key);
    assert.equal(sha256(local), sha256(remote), `${key}: pulled bytes are the stored bytes`);
    assert.equal((await store.head(key))?.sha256, sha256(local), `${key}: and match the digest the store keeps`);
  }

  const second = await yoto('artifacts', 'pull', sweepId, '--kind', 'all', '--out', out);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, `0 downloaded (0 B), ${stored.length} already present and verified, into ${out}\n`);

  // Default kind (final: model, eval, metrics) of one run.
  const yotoRun = plan.runs.find((r) => r.kind === 'yoto')!;
  const runOut = join(stack.dir, 'pull-run');
  const one = await yoto('artifacts', 'pull', sweepId, '--run', yotoRun.runId, '--out', runOut);
  assert.equal(one.code, 0, one.stderr);
  const expected = stored
    .filter((k) => k.startsWith(`${base}runs/${yotoRun.runId}/`) && ['final', 'eval', 'metrics'].includes(classifyArtifact(sweepId, k)!.kind))
    .map((k) => k.slice(base.length));
  assert.ok(expected.includes(`runs/${yotoRun.runId}/final/state.json`));
  assert.deepEqual(await filesUnder(runOut), expected);
  assert.match(one.stdout, new RegExp(`^${expected.length} downloaded`));
});

test('export: a Layers model directory whose model.json, weights and eval.json are the run\'s', { timeout: 120_000 }, async () => {
  const yotoRun = plan.runs.find((r) => r.kind === 'yoto')!;
  const out = join(stack.dir, 'export');
  const r = await yoto('export', sweepId, yotoRun.runId, '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const printed = r.stdout.trimEnd().split('\n');
  assert.deepEqual(printed.map((f) => relative(out, f)).sort(), ['README.md', 'encoder/model.json', 'encoder/weights.bin', 'eval.json', 'model.json', 'weights.bin']);
  assert.deepEqual(await filesUnder(out), printed.map((f) => relative(out, f)).sort(), 'prints what it wrote');

  // What tf.loadLayersModel reads: the topology with its inputs, and weight files holding exactly the declared tensors.
  const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };
  const models = [
    { dir: out, inputs: ['z', 'log_lambda'], outputs: ['x_mean'] },
    { dir: join(out, 'encoder'), inputs: ['image', 'log_lambda'], outputs: ['mean', 'log_var'] },
  ];
  for (const { dir: modelDir, inputs, outputs } of models) {
    const model = JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')) as {
      format: string;
      modelTopology: { config: { input_layers: [string, number, number][]; output_layers: [string, number, number][] } };
      weightsManifest: { paths: string[]; weights: { shape: number[]; dtype: string }[] }[];
      userDefinedMetadata: { yoto: { runId: string } };
    };
    assert.equal(model.format, 'layers-model');
    assert.deepEqual(model.modelTopology.config.input_layers.map((l) => l[0]), inputs);
    assert.deepEqual(model.modelTopology.config.output_layers.map((l) => l[0]), outputs);
    assert.equal(model.userDefinedMetadata.yoto.runId, yotoRun.runId);
    const declared = model.weightsManifest.flatMap((g) => g.weights).reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * BYTES[w.dtype]!, 0);
    let onDisk = 0;
    for (const p of model.weightsManifest.flatMap((g) => g.paths)) onDisk += (await stat(join(modelDir, p))).size;
    assert.ok(declared > 0);
    assert.equal(onDisk, declared, `${modelDir}: weight bytes match the manifest`);
  }
  assert.deepEqual(JSON.parse(await readFile(join(out, 'eval.json'), 'utf8')), await store.getJson(s3Keys.finalEval(sweepId, yotoRun.runId)));
  assert.match(await readFile(join(out, 'README.md'), 'utf8'), /log_lambda/);
});

test('sample: a PNG strip across λ of the size it reports, rows differing with λ', { timeout: 120_000 }, async () => {
  const out = join(stack.dir, 'strip.png');
  const n = 3;
  const steps = 3;
  const r = await yoto('sample', sweepId, '--lambda', `kl=0.5:8:${steps}`, '--n', String(n), '--seed', '7', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const png = readPng(await readFile(out));
  assert.deepEqual([png.width, png.height], [n * SHAPES_TILE, steps * SHAPES_TILE]);
  assert.equal(r.stdout, `${out} (${png.width}×${png.height})\n`);
  const row = (i: number) => Buffer.concat(png.rows.slice(i * SHAPES_TILE, (i + 1) * SHAPES_TILE));
  assert.notDeepEqual(row(0), row(steps - 1), 'same latents, different β: different pixels');
});

test('gc: deletes exactly the checkpoint directories it reports, keeps latest.json\'s and every final', { timeout: 60_000 }, async () => {
  const before = await storedArtifactKeys();
  const base = s3Keys.sweep(sweepId);
  // Expected from the store: per run, every checkpoint directory but the newest and the one latest.json names.
  const dirs = new Map<string, Map<number, string[]>>();
  for (const key of before) {
    const m = /^runs\/([^/]+)\/checkpoints\/(\d+)\//.exec(key.slice(base.length));
    if (!m) continue;
    const steps = dirs.get(m[1]!) ?? new Map<number, string[]>();
    dirs.set(m[1]!, steps);
    steps.set(Number(m[2]), [...(steps.get(Number(m[2])) ?? []), key]);
  }
  assert.equal(dirs.size, plan.runs.length, 'every run left checkpoints');
  const doomed: string[] = [];
  let kept = 0;
  let doomedDirs = 0;
  for (const [runId, steps] of dirs) {
    const latest = await store.getJson<{ step: number }>(s3Keys.checkpointLatest(sweepId, runId));
    const keep = new Set([Math.max(...steps.keys()), latest.step]);
    for (const [step, keys] of steps) {
      if (keep.has(step)) kept++;
      else {
        doomedDirs++;
        doomed.push(...keys);
      }
    }
  }
  assert.ok(doomedDirs > 0, 'something to prune');

  const r = await yoto('gc', sweepId);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${dirs.size} runs: deleted ${doomedDirs} checkpoint directories \\(${doomed.length} files, [^)]+\\), kept ${kept}; manifest\\.json rewritten\\n$`));
  assert.deepEqual(await storedArtifactKeys(), before.filter((k) => !doomed.includes(k)), 'exactly the reported directories are gone');
  for (const run of plan.runs) {
    const latest = await store.getJson<{ files: { key: string }[] }>(s3Keys.checkpointLatest(sweepId, run.runId));
    for (const f of latest.files) assert.ok(await store.head(f.key), `${f.key} (latest checkpoint) kept`);
  }

  // The rewritten manifest lists only what is left.
  const ls = await yoto('artifacts', 'ls', sweepId, '--json');
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual((JSON.parse(ls.stdout) as Manifest).artifacts.map((a) => a.key).sort(), await storedArtifactKeys());

  const again = await yoto('gc', sweepId);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^${dirs.size} runs: deleted 0 checkpoint directories \\(0 files, 0 B\\), kept ${kept}\\n$`));
});

test('bad input: exit 1, an error naming the field and why, nothing written', { timeout: 60_000 }, async () => {
  const [unknown, badId, badKind, badKeep, badRun, noRun, badLambda, badN] = await Promise.all([
    yoto('artifacts', 'ls', 'no-such-sweep'),
    yoto('artifacts', 'pull', 'Not/A_Sweep'),
    yoto('artifacts', 'pull', sweepId, '--kind', 'everything', '--out', join(stack.dir, 'bad-kind')),
    yoto('gc', sweepId, '--keep-last', 'two'),
    yoto('export', sweepId, 'Bad_Run', '--out', join(stack.dir, 'bad-run')),
    yoto('export', sweepId, 'no-such-run', '--out', join(stack.dir, 'no-run')),
    yoto('sample', sweepId, '--lambda', 'kl=100', '--out', join(stack.dir, 'bad-lambda.png')),
    yoto('sample', sweepId, '--lambda', 'kl=4', '--n', '0', '--out', join(stack.dir, 'bad-n.png')),
  ]);
  assertUserError(unknown, /no sweep no-such-sweep in the store/);
  assertUserError(badId, /'Not\/A_Sweep' is invalid for argument 'sweep'/, /not a sweep id/);
  assertUserError(badKind, /'everything' is invalid/, /--kind/, /Allowed choices are final, checkpoint, report, all/);
  assertUserError(badKeep, /--keep-last/, /must be a non-negative integer/);
  assertUserError(badRun, /'Bad_Run' is invalid for argument 'run'/, /not a run id/);
  assertUserError(noRun, new RegExp(`sweep ${sweepId} has no run no-such-run; runs: .*${plan.runs[0]!.runId}`));
  assertUserError(badLambda, /kl=100/, /outside .*\[0\.5, 8\]/);
  assertUserError(badN, /--n/, /must be an integer in 1\.\./);
  for (const p of ['bad-kind', 'bad-run', 'no-run', 'bad-lambda.png', 'bad-n.png']) assert.equal(existsSync(join(stack.dir, p)), false, `${p} not written`);

  // A run id that is not in the sweep is an error, not an empty (successful) selection.
  const [badRunOpt, lsRun, pullRun, gcUnknown] = await Promise.all([
    yoto('artifacts', 'ls', sweepId, '--run', 'Bad_Run'),
    yoto('artifacts', 'ls', sweepId, '--run', 'no-such-run'),
    yoto('artifacts', 'pull', sweepId, '--run', 'no-such-run', '--out', join(stack.dir, 'pull-no-run')),
    yoto('gc', 'no-such-sweep'),
  ]);
  assertUserError(badRunOpt, /option '--run <run>' argument 'Bad_Run' is invalid/, /not a run id/);
  assertUserError(lsRun, new RegExp(`sweep ${sweepId} has no run no-such-run`));
  assertUserError(pullRun, new RegExp(`sweep ${sweepId} has no run no-such-run`));
  assertUserError(gcUnknown, /no sweep no-such-sweep in the store/);
  assert.equal(existsSync(join(stack.dir, 'pull-no-run')), false);
});

test('no credential reaches the terminal, in any command above', () => {
  assert.ok(runs.length >= 15, `${runs.length} CLI runs checked`);
  for (const { args, run } of runs) {
    for (const s of secrets) assert.ok(!run.stdout.includes(s) && !run.stderr.includes(s), `yoto ${args.join(' ')} printed a credential`);
  }
});
