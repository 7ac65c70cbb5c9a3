// The fused FiLM block (engine/film-block.ts: one OpenBLAS/C kernel each way on native-cpu)
// against the same block as composed tfjs ops: values and the gradients of every input and
// weight, for dense, conv and conv-transpose layers, per-example and shared conditioning,
// batch 1, strides 1 and 2, and the dense-reshaped-to-channels block of the conv VAE.
// Also the plain output layers and whole FiLM VAEs against the cpu backend. Skipped where the
// OpenBLAS addon is not built.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeBlas } from '@yoto/native-blas';
import type { Tensor, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import { selectBackend, getTf, nativeKernelCalls, FILM_BLOCK, FILM_BLOCK_GRAD, AFFINE_LAYER_GRAD, BCE_LOGITS_GRAD } from '../src/backend/index.ts';
import type { Tf } from '../src/backend/index.ts';
import { applyFilmBlock, applyLayer, fusedFilmBlocks, type BlockLayer } from '../src/engine/film-block.ts';
import { bernoulliNll } from '../src/engine/bernoulli-nll.ts';
import { MacCounter, makeConv, makeConvTranspose, makeDense, makeFilm, type Film } from '../src/engine/layers.ts';
import { ParamSet } from '../src/engine/params.ts';
import { Rng } from '../src/engine/prng.ts';
import { FilmVae } from '../src/engine/film-vae.ts';
import type { ModelConfig } from '@yoto/shared';
import { randArray, relErr, rng, withCpuReference } from './kernel-fixtures.ts';

let tf: Tf;
const TOL = 1e-4;
const loaded = loadNativeBlas();
const skip = loaded.ok ? false : `OpenBLAS addon unavailable: ${loaded.reason}`;

before(async () => {
  if (skip) return;
  await selectBackend({ preferred: 'native-cpu', threads: 2 });
  tf = getTf();
  await withCpuReference(tf);
});

interface Case {
  label: string;
  batch: number;
  condRows: 'batch' | 1;
  condDim: number;
  /** Input shape per example. */
  input: number[];
  make: (p: ParamSet, m: MacCounter) => { layer: BlockLayer; film: Film; reshape?: number[] };
}

const film = (p: ParamSet, m: MacCounter, cd: number, ch: number) => makeFilm(p, m, 'blk', cd, 8, ch, 0.5, 0.7);

const CASES: Case[] = [
  { label: 'dense, per-example c', batch: 5, condRows: 'batch', condDim: 2, input: [12], make: (p, m) => ({ layer: { kind: 'dense', layer: makeDense(p, m, 'l', 12, 7) }, film: film(p, m, 2, 7) }) },
  { label: 'dense, shared c, batch 1', batch: 1, condRows: 1, condDim: 1, input: [9], make: (p, m) => ({ layer: { kind: 'dense', layer: makeDense(p, m, 'l', 9, 6) }, film: film(p, m, 1, 6) }) },
  { label: 'dense, shared c', batch: 4, condRows: 1, condDim: 3, input: [10], make: (p, m) => ({ layer: { kind: 'dense', layer: makeDense(p, m, 'l', 10, 16) }, film: film(p, m, 3, 16) }) },
  { label: 'dense from a 4-d input, reshaped to channels', batch: 3, condRows: 'batch', condDim: 1, input: [2, 2, 3], make: (p, m) => ({ layer: { kind: 'dense', layer: makeDense(p, m, 'l', 12, 3 * 3 * 4) }, film: film(p, m, 1, 4), reshape: [3, 3, 4] }) },
  { label: 'conv 4×4 s2', batch: 3, condRows: 'batch', condDim: 2, input: [8, 8, 3], make: (p, m) => ({ layer: { kind: 'conv', layer: makeConv(p, m, 'l', 8, 8, 3, 5, 4, 2) }, film: film(p, m, 2, 5) }) },
  { label: 'conv 3×3 s1, shared c', batch: 2, condRows: 1, condDim: 1, input: [5, 6, 2], make: (p, m) => ({ layer: { kind: 'conv', layer: makeConv(p, m, 'l', 5, 6, 2, 4, 3, 1) }, film: film(p, m, 1, 4) }) },
  { label: 'conv 4×4 s2, batch 1, odd size', batch: 1, condRows: 'batch', condDim: 1, input: [7, 7, 2], make: (p, m) => ({ layer: { kind: 'conv', layer: makeConv(p, m, 'l', 7, 7, 2, 3, 4, 2) }, film: film(p, m, 1, 3) }) },
  { label: 'conv-transpose 4×4 s2', batch: 3, condRows: 'batch', condDim: 2, input: [4, 4, 6], make: (p, m) => ({ layer: { kind: 'conv', layer: makeConvTranspose(p, m, 'l', 4, 4, 6, 3, 4, 2) }, film: film(p, m, 2, 3) }) },
  { label: 'conv-transpose 3×3 s1, shared c, batch 1', batch: 1, condRows: 1, condDim: 1, input: [5, 5, 2], make: (p, m) => ({ layer: { kind: 'conv', layer: makeConvTranspose(p, m, 'l', 5, 5, 2, 4, 3, 1) }, film: film(p, m, 1, 4) }) },
  // Large enough (≥ 4 MFLOP) for the addon to split the batch over two threads; odd batches.
  { label: 'dense split over threads', batch: 7, condRows: 'batch', condDim: 2, input: [300], make: (p, m) => ({ layer: { kind: 'dense', layer: makeDense(p, m, 'l', 300, 2000) }, film: film(p, m, 2, 2000) }) },
  { label: 'dense split over threads, shared c, reshaped', batch: 5, condRows: 1, condDim: 1, input: [400], make: (p, m) => ({ layer: { kind: 'dense', layer: makeDense(p, m, 'l', 400, 7 * 7 * 40) }, film: film(p, m, 1, 40), reshape: [7, 7, 40] }) },
  { label: 'conv split over threads', batch: 7, condRows: 'batch', condDim: 1, input: [16, 16, 16], make: (p, m) => ({ layer: { kind: 'conv', layer: makeConv(p, m, 'l', 16, 16, 16, 32, 4, 2) }, film: film(p, m, 1, 32) }) },
  { label: 'conv-transpose split over threads, shared c', batch: 5, condRows: 1, condDim: 2, input: [8, 8, 32], make: (p, m) => ({ layer: { kind: 'conv', layer: makeConvTranspose(p, m, 'l', 8, 8, 32, 16, 4, 2) }, film: film(p, m, 2, 16) }) },
  { label: 'dense with large FiLM generators (split over threads)', batch: 8, condRows: 'batch', condDim: 2, input: [64], make: (p, m) => ({ layer: { kind: 'dense', layer: makeDense(p, m, 'l', 64, 512) }, film: makeFilm(p, m, 'blk', 2, 256, 512, 0.5, 0.7) }) },
];

/** Values and gradients (x, c, then every variable) of sum(block(x, c) · r) on one path. */
function valueAndGrads(c: Case, fused: boolean, seed: number, inputGradient = true): { label: string; data: Float32Array }[] {
  const r = rng(seed);
  const p = new ParamSet(tf, Rng.seeded(seed));
  const { layer, film: f, reshape } = c.make(p, new MacCounter());
  // Biases start at zero; random ones exercise their gradients and the bias broadcast.
  for (const v of p.variables.values()) tf.tidy(() => v.assign(tf.tensor(randArray(r, v.shape), v.shape)));
  const x = tf.tensor(randArray(r, [c.batch, ...c.input]), [c.batch, ...c.input]);
  const condRows = c.condRows === 1 ? 1 : c.batch;
  const cond = tf.tensor(randArray(r, [condRows, c.condDim]), [condRows, c.condDim]) as Tensor2D;
  const out = applyFilmBlock(tf, layer, f, x, cond, reshape, { fused, inputGradient });
  const weights = tf.tensor(randArray(r, out.shape), out.shape);
  const vars = [...p.variables.values()] as Variable[];
  const loss = (xi: Tensor, ci: Tensor) => tf.sum(tf.mul(applyFilmBlock(tf, layer, f, xi, ci as Tensor2D, reshape, { fused, inputGradient }), weights));
  const { value, grads } = tf.variableGrads(() => loss(x, cond) as never, vars);
  const [dx, dc] = tf.grads((xi: Tensor, ci: Tensor) => loss(xi, ci))([x, cond]);
  const res = [
    { label: 'value', data: out.dataSync() as Float32Array },
    { label: 'dx', data: dx!.dataSync() as Float32Array },
    { label: 'dc', data: dc!.dataSync() as Float32Array },
    ...[...p.variables.entries()].map(([k, v]) => ({ label: `d ${k}`, data: grads[v.name]!.dataSync() as Float32Array })),
  ];
  tf.dispose([x, cond, out, weights, value, dx!, dc!, ...Object.values(grads)]);
  p.dispose();
  return res;
}

test('native-cpu routes FiLM blocks to the fused kernels', { skip }, () => {
  assert.equal(fusedFilmBlocks(tf), true);
});

for (const [i, c] of CASES.entries()) {
  test(`fused FiLM block equals the composed ops: ${c.label}`, { skip }, () => {
    const ref = valueAndGrads(c, false, 100 + i);
    const before = nativeKernelCalls();
    const got = valueAndGrads(c, true, 100 + i);
    const after = nativeKernelCalls();
    assert.ok((after[FILM_BLOCK] ?? 0) > (before[FILM_BLOCK] ?? 0), 'the forward kernel ran');
    assert.ok((after[FILM_BLOCK_GRAD] ?? 0) > (before[FILM_BLOCK_GRAD] ?? 0), 'the backward kernel ran');
    assert.equal(got.length, ref.length);
    ref.forEach((e, j) => {
      const g = got[j]!;
      assert.equal(g.label, e.label);
      assert.equal(g.data.length, e.data.length, `${e.label} size`);
      const err = relErr(e.data, g.data);
      assert.ok(err <= TOL, `${c.label}: ${e.label} relative error ${err}`);
    });
  });
}

for (const i of [0, 4, 7, 10]) {
  const c = CASES[i]!;
  test(`fused FiLM block without the input gradient: ${c.label}`, { skip }, () => {
    const ref = valueAndGrads(c, false, 200 + i);
    const got = valueAndGrads(c, true, 200 + i, false);
    ref.forEach((e, j) => {
      const g = got[j]!;
      if (e.label === 'dx') assert.ok(g.data.every((v) => v === 0), 'dx is left at zero');
      else assert.ok(relErr(e.data, g.data) <= TOL, `${c.label}: ${e.label} relative error ${relErr(e.data, g.data)}`);
    });
  });
}

/** The same for the plain layer op(x, W) + b (the output layers), without FiLM. */
function plainValueAndGrads(c: Case, fused: boolean, seed: number, inputGradient = true): { label: string; data: Float32Array }[] {
  const r = rng(seed);
  const p = new ParamSet(tf, Rng.seeded(seed));
  const { layer } = c.make(p, new MacCounter());
  for (const v of p.variables.values()) tf.tidy(() => v.assign(tf.tensor(randArray(r, v.shape), v.shape)));
  const x = tf.tensor(randArray(r, [c.batch, ...c.input]), [c.batch, ...c.input]);
  const out = applyLayer(tf, layer, x, undefined, { fused, inputGradient });
  const weights = tf.tensor(randArray(r, out.shape), out.shape);
  const vars = [layer.layer.kernel, layer.layer.bias];
  const loss = (xi: Tensor) => tf.sum(tf.mul(applyLayer(tf, layer, xi, undefined, { fused, inputGradient }), weights));
  const { value, grads } = tf.variableGrads(() => loss(x) as never, vars);
  const [dx] = tf.grads((xi: Tensor) => loss(xi))([x]);
  const res = [
    { label: 'value', data: out.dataSync() as Float32Array },
    { label: 'dx', data: dx!.dataSync() as Float32Array },
    ...vars.map((v) => ({ label: `d ${v.name}`, data: grads[v.name]!.dataSync() as Float32Array })),
  ];
  tf.dispose([x, out, weights, value, dx!, ...Object.values(grads)]);
  p.dispose();
  return res;
}

for (const [i, c] of CASES.entries()) {
  test(`fused plain layer equals the composed ops: ${c.label.replace(/, (per-example|shared) c/, '')}`, { skip }, () => {
    const ref = plainValueAndGrads(c, false, 300 + i);
    const before = nativeKernelCalls()[AFFINE_LAYER_GRAD] ?? 0;
    const got = plainValueAndGrads(c, true, 300 + i);
    assert.ok((nativeKernelCalls()[AFFINE_LAYER_GRAD] ?? 0) > before, 'the backward kernel ran');
    ref.forEach((e, j) => {
      const err = relErr(e.data, got[j]!.data);
      assert.ok(err <= TOL, `${c.label}: ${e.label} relative error ${err}`);
    });
    const noDx = plainValueAndGrads(c, true, 300 + i, false);
    assert.ok(noDx[1]!.data.every((v) => v === 0), 'dx is left at zero without the input gradient');
    assert.ok(relErr(ref[2]!.data, noDx[2]!.data) <= TOL, 'dW without the input gradient');
  });
}

test('fused FiLM block leaks no tensors over a gradient step', { skip }, () => {
  const c = CASES[4]!;
  valueAndGrads(c, true, 7);
  const n = tf.memory().numTensors;
  valueAndGrads(c, true, 7);
  assert.equal(tf.memory().numTensors, n);
});

test('fused FiLM block rejects conditioning with the wrong number of rows', { skip }, () => {
  const p = new ParamSet(tf, Rng.seeded(1));
  const m = new MacCounter();
  const layer: BlockLayer = { kind: 'dense', layer: makeDense(p, m, 'l', 4, 3) };
  const f = film(p, m, 1, 3);
  const x = tf.zeros([4, 4]);
  const c = tf.zeros([2, 1]) as Tensor2D;
  assert.throws(() => applyFilmBlock(tf, layer, f, x, c, undefined, { fused: true }), /conditioning has 2 rows for a batch of 4/);
  tf.dispose([x, c]);
  p.dispose();
});


/** Loss value and every parameter's gradient of a whole FiLM VAE on `backend` (same seed, same inputs). */
async function vaeGrads(backend: string, arch: 'conv' | 'mlp', sharedC: boolean): Promise<{ label: string; data: Float32Array }[]> {
  await tf.setBackend(backend);
  const r = rng(arch === 'conv' ? 11 : 12);
  const config: ModelConfig = { arch, latentDim: 3, width: 0.25, filmHidden: 6, filmScale: 0.5, filmShift: 0.5 };
  const vae = new FilmVae(tf, config, { height: 8, width: 8, channels: 1 }, 2, 5);
  const b = 4;
  const x = tf.tensor(randArray(r, [b, 8, 8, 1]), [b, 8, 8, 1]);
  const c = tf.tensor(randArray(r, [sharedC ? 1 : b, 2]), [sharedC ? 1 : b, 2]) as Tensor2D;
  const wImg = tf.tensor(randArray(r, [b, 8, 8, 1]), [b, 8, 8, 1]);
  const wLat = tf.tensor(randArray(r, [b, 3]), [b, 3]);
  const vars = [...vae.params.variables.values()] as Variable[];
  const { value, grads } = tf.variableGrads(() => {
    const { mean, logVar } = vae.encode(x as never, c);
    return tf.add(tf.sum(tf.mul(vae.decode(mean, c), wImg)), tf.sum(tf.mul(logVar, wLat))) as never;
  }, vars);
  const out = [{ label: 'loss', data: value.dataSync() as Float32Array }, ...vars.map((v) => ({ label: v.name, data: grads[v.name]!.dataSync() as Float32Array }))];
  tf.dispose([x, c, wImg, wLat, value, ...Object.values(grads)]);
  vae.dispose();
  await tf.setBackend('wasm');
  return out;
}

for (const arch of ['conv', 'mlp'] as const) {
  for (const sharedC of [false, true]) {
    test(`a whole ${arch} FiLM VAE on native-cpu (fused blocks) matches cpu (composed ops)${sharedC ? ', shared c' : ''}`, { skip }, async () => {
      const ref = await vaeGrads('cpu', arch, sharedC);
      const before = nativeKernelCalls()[FILM_BLOCK_GRAD] ?? 0;
      const got = await vaeGrads('wasm', arch, sharedC);
      assert.ok((nativeKernelCalls()[FILM_BLOCK_GRAD] ?? 0) > before, 'the fused blocks ran');
      ref.forEach((e, j) => {
        const err = relErr(e.data, got[j]!.data);
        assert.ok(err <= TOL, `${arch}: ${e.label} relative error ${err}`);
      });
    });
  }
}

/** The Bernoulli NLL per example and its gradient with respect to the logits, fused or composed. */
function nllAndGrad(shape: number[], seed: number, fused: boolean, extreme: boolean): { value: Float32Array; grad: Float32Array } {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const l0 = randArray(r, shape).map((v, i) => (extreme && i % 7 === 0 ? (i % 2 ? 95 : -95) : extreme && i % 11 === 0 ? 0 : v * 12));
  const xs = randArray(r, shape).map((v, i) => (i % 3 === 0 ? (v > 0 ? 1 : 0) : Math.abs(v) % 1));
  const init = tf.tensor(l0, shape);
  const logits = tf.variable(init);
  init.dispose();
  const x = tf.tensor(xs, shape);
  const w = tf.tensor(randArray(r, [shape[0]!]), [shape[0]!]);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(bernoulliNll(tf, logits, x, { fused }), w)) as never, [logits]);
  const perRow = tf.tidy(() => bernoulliNll(tf, logits, x, { fused }));
  const out = { value: perRow.dataSync() as Float32Array, grad: grads[logits.name]!.dataSync() as Float32Array };
  assert.equal(out.grad.length, n);
  tf.dispose([logits, x, w, value, perRow, ...Object.values(grads)]);
  return out;
}

for (const [label, shape, extreme] of [
  ['batch 1', [1, 5], false],
  ['images, odd batch', [3, 28, 28, 1], false],
  ['images split over threads', [64, 28, 28, 1], false],
  ['logits at ±95 and 0', [9, 70], true],
] as const) {
  test(`fused Bernoulli NLL equals the composed ops: ${label}`, { skip }, () => {
    const ref = nllAndGrad([...shape], 40, false, extreme);
    const before = nativeKernelCalls()[BCE_LOGITS_GRAD] ?? 0;
    const got = nllAndGrad([...shape], 40, true, extreme);
    assert.ok((nativeKernelCalls()[BCE_LOGITS_GRAD] ?? 0) > before, 'the fused gradient ran');
    assert.ok(relErr(ref.value, got.value) <= 1e-5, `value relative error ${relErr(ref.value, got.value)}`);
    assert.ok(relErr(ref.grad, got.grad) <= 1e-5, `gradient relative error ${relErr(ref.grad, got.grad)}`);
  });
}

test('fused Bernoulli NLL leaks no tensors and rejects mismatched shapes', { skip }, () => {
  nllAndGrad([4, 10], 41, true, false);
  const n = tf.memory().numTensors;
  nllAndGrad([4, 10], 41, true, false);
  assert.equal(tf.memory().numTensors, n);
  const l = tf.zeros([4, 10]);
  const x = tf.zeros([4, 9]);
  assert.throws(() => bernoulliNll(tf, l, x, { fused: true }), /must be one \[rows, cols\] shape/);
  tf.dispose([l, x]);
});
