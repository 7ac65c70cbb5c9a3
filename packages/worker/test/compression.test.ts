import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as tfc from '@tensorflow/tfjs-core';
import { RunPayloadSchema, conditioningInput, type RunPayload } from '@yoto/shared';
import { analyseBatch, decodeImages, modelTables } from '../src/codec/image-codec.ts';
import { encodeLatents } from '../src/codec/latent-codec.ts';
import { readCompressedFile, writeCompressedFile } from '../src/codec/latent-codec.ts';
import { FilmCompressor } from '../src/engine/film-compressor.ts';
import { loadDataset, LossConditionalTrainer } from '../src/engine/index.ts';
import { compressImages } from '../src/model-tools/compress-images.ts';
import { getProblem } from '../src/problems/index.ts';
import { testBackend, type TestBackend } from './engine-fixtures.ts';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let be: TestBackend;
before(async () => {
  be = await testBackend();
});

const LAMBDA = 0.01;

function payload(o: { kind?: 'yoto' | 'baseline'; steps?: number } = {}): RunPayload {
  const kind = o.kind ?? 'baseline';
  return RunPayloadSchema.parse({
    version: 1,
    sweepId: 'compression-test',
    runId: `${kind}-c`,
    kind,
    variantId: 'base',
    variant: {},
    seed: 3,
    problem: 'compression',
    dataset: { name: 'shapes', trainExamples: 1024, testExamples: 96 },
    model: { arch: 'conv', latentDim: 6, width: 0.25, filmHidden: 16, filmScale: 0.1, filmShift: 0.1 },
    conditioning: { perExample: true, normalize: 'none' },
    prior: kind === 'yoto' ? { distortion: { dist: 'log-uniform', low: 0.002, high: 0.05 } } : { distortion: { dist: 'fixed', value: LAMBDA } },
    fixedLambda: kind === 'yoto' ? null : { distortion: LAMBDA },
    evalGrid: [{ distortion: 0.003 }, { distortion: LAMBDA }, { distortion: 0.03 }],
    train: { steps: o.steps ?? 300, batchSize: 16, lr: 2e-3, lrDecayAt: [0.7], checkpointSeconds: 0, evalBatchSize: 48 },
  });
}

async function trained(p: RunPayload): Promise<LossConditionalTrainer> {
  const dataset = await loadDataset(p.dataset);
  const t = new LossConditionalTrainer({ payload: p, tf: be.tf, dataset, readEvery: 50 });
  await t.train();
  return t;
}

describe('compression problem', () => {
  let trainer: LossConditionalTrainer;
  before(async () => {
    trainer = await trained(payload());
  });

  test('training lowers the rate–distortion loss', async () => {
    const fresh = new LossConditionalTrainer({ payload: payload(), tf: be.tf, dataset: await loadDataset(payload().dataset) });
    const [before_] = await fresh.evaluate([{ distortion: LAMBDA }]);
    fresh.dispose();
    const [after] = await trainer.evaluate([{ distortion: LAMBDA }]);
    assert.ok(after!.loss < 0.8 * before_!.loss, `loss ${before_!.loss} → ${after!.loss}`);
  });

  test('encoder → bitstream file → decoder reproduces the reconstruction bit-exactly', async () => {
    const model = trainer.model as FilmCompressor;
    const ds = await loadDataset(payload().dataset);
    const n = 12;
    const px = ds.height * ds.width;
    const cond = conditioningInput({ distortion: LAMBDA }, ['distortion']);
    const x = be.tf.tensor4d(ds.test.subarray(0, n * px), [n, ds.height, ds.width, 1]) as tfc.Tensor4D;
    const enc = await analyseBatch(model, x, cond);
    x.dispose();
    const tables = await modelTables(model, cond);
    const file = writeCompressedFile({ count: n, image: { height: 28, width: 28, channels: 1 }, latent: model.latentShape, lambda: LAMBDA, stream: encodeLatents(enc.symbols, tables) });
    const read = readCompressedFile(file);
    assert.equal(read.lambda, LAMBDA);
    assert.deepEqual(read.latent, model.latentShape);
    // The decoder derives its own tables from the weights alone.
    assert.equal(read.count, n);
    const dec = await decodeImages(model, read.stream, read.count, conditioningInput({ distortion: read.lambda }, ['distortion']));
    assert.deepEqual(dec.symbols, enc.symbols);
    assert.deepEqual(dec.reconstruction, enc.reconstruction);
    assert.ok(enc.symbols.some((v) => v !== 0), 'latents are not all zero');
  });

  test('the actual bitstream is within 5% of the estimated rate', async () => {
    const evals = await trainer.evaluate();
    for (const e of evals) {
      const est = e.terms.rate!;
      const actual = e.metrics!.actualBpp!;
      assert.ok(est > 0.05, `rate ${est} bpp is too small to compare`);
      assert.ok(Math.abs(actual / est - 1) < 0.05, `at λ=${e.lambda.distortion}: actual ${actual} bpp vs estimated ${est}`);
      assert.ok(e.metrics!.fileBpp! >= actual, 'per-image files cost at least the single stream');
      assert.ok(Math.abs(e.metrics!.psnr! - 10 * Math.log10((255 * 255) / e.terms.distortion!)) < 1e-9);
    }
  });

  test('entropy tables are a deterministic function of the weights and λ', async () => {
    const model = trainer.model as FilmCompressor;
    const weights = await model.params.read();
    const a = await modelTables(model, [Math.log(0.004)], weights);
    const b = await modelTables(model, [Math.log(0.004)], structuredClone(weights));
    assert.deepEqual(a, b);
  });

  test('the dial writes one bitstream file per λ and the decoded PNG', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yoto-compress-'));
    try {
      const p = payload();
      const final = { run: p, problem: getProblem('compression'), input: { height: 28, width: 28, channels: 1 }, weights: await trainer.exportWeights(), step: p.train.steps };
      const out = join(dir, 'dial.png');
      const points = [{ distortion: 0.003 }, { distortion: 0.03 }];
      const res = await compressImages(be.tf, { op: 'sample', model: { run: p, dir }, points, n: 4, seed: 0, reconstruct: true, out }, final);
      assert.equal(res.files[0], out);
      assert.equal(res.codec?.length, 2);
      for (const c of res.codec!) {
        const bytes = await readFile(c.file);
        assert.equal(bytes.length, c.bytes);
        assert.equal(readCompressedFile(new Uint8Array(bytes)).count, 4);
        assert.ok(c.psnr > 5 && c.bpp > 0, JSON.stringify(c));
      }
      assert.deepEqual([...(await readFile(out)).subarray(1, 4)].map((b) => String.fromCharCode(b)).join(''), 'PNG');
      assert.equal(res.width, 28 * (4 + 1 + 4)); // a strip: originals, a gap, reconstructions (n = 4 columns each)
      assert.equal(res.height, 28 * 2); // one row per λ
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a YOTO model spends more bits at larger λ', async () => {
    const yoto = await trained(payload({ kind: 'yoto', steps: 300 }));
    try {
      const evals = await yoto.evaluate();
      const rates = evals.map((e) => e.metrics!.actualBpp!);
      const psnrs = evals.map((e) => e.metrics!.psnr!);
      assert.ok(rates[2]! > rates[0]!, `rates ${rates}`);
      assert.ok(psnrs[2]! > psnrs[0]!, `psnr ${psnrs}`);
    } finally {
      yoto.dispose();
    }
  });
});
