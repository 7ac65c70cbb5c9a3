/**
 * The model tools on a briefly trained run: the exported directory loads with plain
 * `tf.loadLayersModel` (through a file-reading IOHandler, as tfjs-node's file:// would)
 * and decodes exactly what the engine decodes; its encoder + decoder give the run's
 * test loss; `sample` renders the grid it promises.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import type { EvalPoint, RunPayload } from '@yoto/shared';
import { loadDataset, LossConditionalTrainer, Rng, RNG_STREAMS, serializeState } from '../src/engine/index.ts';
import { exportModel } from '../src/model-tools/export-model.ts';
import { instantiate, readFinalModel } from '../src/model-tools/final-model.ts';
import { renderSamples } from '../src/model-tools/sample-grid.ts';
import { smallPayload, testBackend, type TestBackend } from './engine-fixtures.ts';

let be: TestBackend;
let dir: string;
before(async () => {
  be = await testBackend();
  dir = await mkdtemp(join(tmpdir(), 'yoto-model-tools-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file:// loader for a model directory (tfjs-node's is not installed here). */
function fileHandler(modelJsonPath: string): tfc.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as tfc.io.ModelJSON;
      const base = modelJsonPath.slice(0, modelJsonPath.lastIndexOf('/') + 1);
      return tfc.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((g) => g.weights);
        const buffers = await Promise.all(manifest.flatMap((g) => g.paths).map(async (p) => new Uint8Array(await readFile(base + p)).buffer));
        return [specs, tfc.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

/** Trains `steps` steps and writes final/state.json + tensors.bin (+ eval.json) into a directory. */
async function trainedRun(payload: RunPayload, name: string): Promise<string> {
  const trainer = new LossConditionalTrainer({ payload, tf: be.tf, dataset: await loadDataset(payload.dataset) });
  try {
    await trainer.train();
    const evals = await trainer.evaluate();
    const runDir = join(dir, name);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(runDir, { recursive: true });
    for (const [f, data] of Object.entries(serializeState(await trainer.exportState()).files)) await writeFile(join(runDir, f), data);
    await writeFile(join(runDir, 'eval.json'), JSON.stringify({ runId: payload.runId, evals }));
    return runDir;
  } finally {
    trainer.dispose();
  }
}

for (const arch of ['mlp', 'conv'] as const) {
  test(`export (${arch}): plain tf.loadLayersModel decodes what the engine decodes, and encoder + decoder give the run's eval loss`, { timeout: 120_000 }, async (t) => {
    if (arch === 'conv' && !be.convTrains) return t.skip('conv gradients need the patched wasm kernels');
    const payload = smallPayload({ runId: `export-${arch}`, model: { arch, width: 0.25, filmScale: 0.5, filmShift: 0.5 }, train: { steps: 20 } });
    const runDir = await trainedRun(payload, `run-${arch}`);
    const outDir = join(dir, `export-${arch}`);
    const res = await exportModel({ op: 'export', model: { run: payload, dir: runDir }, outDir });
    assert.deepEqual(res.files.map((f) => f.slice(outDir.length + 1)).sort(), ['README.md', 'encoder/model.json', 'encoder/weights.bin', 'eval.json', 'model.json', 'weights.bin']);
    const readme = await readFile(join(outDir, 'README.md'), 'utf8');
    assert.match(readme, /log_lambda/);
    assert.match(readme, /encoder\/model\.json/);
    assert.match(readme, /\| kl=4 \|/);

    const loaded = await tfl.loadLayersModel(fileHandler(join(outDir, 'model.json')));
    assert.deepEqual(loaded.inputLayers.map((l) => l.name), ['z', 'log_lambda']);
    assert.deepEqual(loaded.outputLayers.map((l) => l.name), ['x_mean']);

    const engine = instantiate(be.tf, await readFinalModel(payload, runDir));
    try {
      const L = payload.model.latentDim;
      const n = 5;
      const z = be.tf.randomNormal([n, L], 0, 1, 'float32', 3) as tfc.Tensor2D;
      for (const beta of [0.5, 4, 64]) {
        const logLambda = be.tf.fill([n, 1], Math.log(beta)) as tfc.Tensor2D;
        const mine = loaded.predict([z, logLambda]) as tfc.Tensor;
        const ref = be.tf.sigmoid(engine.decode(z, logLambda));
        const diff = (await be.tf.max(be.tf.abs(be.tf.sub(mine, ref))).data())[0]!;
        assert.deepEqual(mine.shape, [n, 28, 28, 1]);
        assert.ok(diff < 1e-4, `kl=${beta}: Layers model differs from the engine by ${diff}`);
        be.tf.dispose([logLambda, mine, ref]);
      }
      z.dispose();

      // The encoder: plain loadLayersModel, same posterior as the engine's encode().
      const encoder = await tfl.loadLayersModel(fileHandler(join(outDir, 'encoder', 'model.json')));
      try {
        assert.deepEqual(encoder.inputLayers.map((l) => l.name), ['image', 'log_lambda']);
        assert.deepEqual(encoder.outputLayers.map((l) => l.name), ['mean', 'log_var']);
        const data = await loadDataset(payload.dataset);
        const N = data.testCount;
        const x = be.tf.tensor4d(data.test.subarray(0, N * 784), [N, 28, 28, 1]);
        for (const beta of [0.5, 64]) {
          const logLambda = be.tf.fill([N, 1], Math.log(beta)) as tfc.Tensor2D;
          const [mean, logVar] = encoder.predict([x, logLambda]) as tfc.Tensor[];
          const ref = engine.encode(x, logLambda);
          for (const [mine, theirs, what] of [[mean!, ref.mean, 'mean'], [logVar!, ref.logVar, 'log_var']] as const) {
            assert.deepEqual(mine.shape, [N, L]);
            const diff = (await be.tf.max(be.tf.abs(be.tf.sub(mine, theirs))).data())[0]!;
            assert.ok(diff < 1e-4, `kl=${beta}: encoder ${what} differs from the engine by ${diff}`);
          }
          be.tf.dispose([logLambda, mean!, logVar!, ref.mean, ref.logVar]);
        }

        // The done-criterion: the two exported models alone give the run's eval loss at every
        // grid λ — the test split, the evaluation's fixed noise (Rng(seed, evalNoise), one
        // draw per test example), z = mean + exp(½·log_var)·ε, Bernoulli NLL summed over
        // pixels + β·KL, averaged over the test set.
        const evals = (JSON.parse(await readFile(join(outDir, 'eval.json'), 'utf8')) as { evals: EvalPoint[] }).evals;
        assert.equal(evals.length, payload.evalGrid.length);
        const noise = Rng.seeded(payload.seed, RNG_STREAMS.evalNoise).fillNormal(new Float32Array(N * L));
        const eps = be.tf.tensor2d(noise, [N, L]);
        const xs = data.test.subarray(0, N * 784);
        for (const e of evals) {
          const beta = e.lambda.kl!;
          const logLambda = be.tf.fill([N, 1], Math.log(beta)) as tfc.Tensor2D;
          const [mean, logVar] = encoder.predict([x, logLambda]) as tfc.Tensor[];
          const zs = be.tf.add(mean!, be.tf.mul(be.tf.exp(be.tf.mul(logVar!, 0.5)), eps));
          const p = loaded.predict([zs, logLambda]) as tfc.Tensor;
          const [pv, mv, lv] = await Promise.all([p.data(), mean!.data(), logVar!.data()]);
          let recon = 0;
          for (let i = 0; i < pv.length; i++) {
            const q = Math.min(Math.max(pv[i]!, 1e-7), 1 - 1e-7);
            recon -= xs[i]! * Math.log(q) + (1 - xs[i]!) * Math.log(1 - q);
          }
          let kl = 0;
          for (let i = 0; i < mv.length; i++) kl += 0.5 * (mv[i]! ** 2 + Math.exp(lv[i]!) - lv[i]! - 1);
          const loss = (recon + beta * kl) / N;
          const rel = Math.abs(loss - e.loss) / Math.abs(e.loss);
          // Agreement is ~1e-7 (float32 vs the engine's reduction order); 1e-3 would not notice the wrong noise stream.
          assert.ok(rel < 1e-5, `kl=${beta}: exported models give test loss ${loss}, the run's evaluate() ${e.loss} (rel ${rel})`);
          be.tf.dispose([logLambda, mean!, logVar!, zs, p]);
        }
        be.tf.dispose([x, eps]);
      } finally {
        encoder.dispose();
      }
    } finally {
      engine.dispose();
      loaded.dispose();
    }
  });
}

test('sample: a strip across λ is a PNG of n × points tiles whose images change with β', { timeout: 120_000 }, async () => {
  const payload = smallPayload({ runId: 'sample-mlp', model: { arch: 'mlp', width: 0.25, filmScale: 1, filmShift: 1 }, train: { steps: 20 } });
  const runDir = await trainedRun(payload, 'run-sample');
  const out = join(dir, 'strip.png');
  const points = [{ kl: 0.5 }, { kl: 4 }, { kl: 64 }];
  const res = await renderSamples(be.tf, { op: 'sample', model: { run: payload, dir: runDir }, points, n: 6, seed: 1, reconstruct: false, out });
  const png = PNG.sync.read(await readFile(out));
  assert.equal(png.width, 6 * 28);
  assert.equal(png.height, 3 * 28);
  assert.deepEqual([res.width, res.height], [png.width, png.height]);
  const means = res.rowMeans ?? [];
  assert.equal(means.length, 3);
  assert.ok(Math.abs(means[0]! - means[2]!) > 1e-3, `decoded means barely move with β: ${means.join(', ')}`);
  // Same z on every row: the rows' pixels differ only because λ does.
  const row = (r: number) => png.data.subarray(r * 28 * png.width * 4, (r + 1) * 28 * png.width * 4);
  assert.notDeepEqual(row(0), row(2));

  // The same request draws the same picture (seeded z).
  const again = join(dir, 'strip-again.png');
  await renderSamples(be.tf, { op: 'sample', model: { run: payload, dir: runDir }, points, n: 6, seed: 1, reconstruct: false, out: again });
  assert.deepEqual(await readFile(again), await readFile(out));
});
