// Kernel and training-step throughput on the selected tf backend (wasm here).
// Run: node --import tsx bench/src/kernels.ts [--profile] [--quick]
// Writes bench/results/kernels.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { selectBackend, getTf, setStockKernels, setBackpropInputStrategy } from '../../packages/worker/src/backend/index.ts';
import type { Tensor, Tensor2D, Tensor4D, Scalar, Variable } from '../../packages/worker/src/backend/index.ts';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const PROFILE = args.has('--profile');
const MIN_SECONDS = QUICK ? 0.3 : 1.5;

const info = await selectBackend({ preferred: (process.env.YOTO_TF_BACKEND as 'wasm' | undefined) ?? 'wasm' });
const tf = getTf();

/** Seconds per call of `f`, after warm-up, averaged over at least MIN_SECONDS. */
function timeIt(f: () => void, minSeconds = MIN_SECONDS): number {
  for (let i = 0; i < 2; i++) f();
  let iters = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < minSeconds * 1000 || iters < 3) {
    f();
    iters++;
    elapsed = performance.now() - t0;
  }
  return elapsed / 1000 / iters;
}

interface Row {
  name: string;
  shape: string;
  gflop: number;
  ms: number;
  gflops: number;
}
const rows: Row[] = [];

function kernelRow(name: string, shape: string, flops: number, f: () => Tensor | Tensor[]): Row {
  const s = timeIt(() => tf.dispose(f()));
  const row = { name, shape, gflop: flops / 1e9, ms: s * 1e3, gflops: flops / s / 1e9 };
  rows.push(row);
  console.log(`${name.padEnd(34)} ${shape.padEnd(44)} ${row.ms.toFixed(2).padStart(8)} ms ${row.gflops.toFixed(1).padStart(7)} GFLOP/s`);
  return row;
}

const rand = (shape: number[]) => tf.randomUniform(shape, -1, 1);
const B = 64;

// Other processes on a 2-core host halve these numbers; the load average is recorded so results can be judged.
const loadBefore = loadavg();
console.log(`backend ${info.name} threads=${info.threads} simd=${info.simd} cores=${cpus().length} load=${loadBefore.map((l) => l.toFixed(2)).join(',')}`);
console.log('--- kernels (batch 64, conv VAE on 28x28)');

// Dense layers: encoder 3136->256 and its gradient products.
{
  const x = rand([B, 3136]);
  const w = rand([3136, 256]);
  const dy = rand([B, 256]);
  const fl = 2 * B * 3136 * 256;
  kernelRow('matmul plain', '[64,3136]x[3136,256]', fl, () => tf.matMul(x, w));
  for (const stock of [true, false]) {
    setStockKernels(stock);
    const tag = stock ? 'stock' : 'patched';
    kernelRow(`matmul transposeA (dW) ${tag}`, '[64,3136]^T x [64,256]', fl, () => tf.matMul(x, dy, true, false));
    kernelRow(`matmul transposeB (dX) ${tag}`, '[64,256] x [3136,256]^T', fl, () => tf.matMul(dy, w, false, true));
  }
  setStockKernels(false);
  tf.dispose([x, w, dy]);
}

interface ConvShape {
  label: string;
  x: [number, number, number, number];
  f: [number, number, number, number];
  s: number;
}
const convs: ConvShape[] = [
  { label: '28x28x1 -> 14x14x32 (4x4 s2)', x: [B, 28, 28, 1], f: [4, 4, 1, 32], s: 2 },
  { label: '14x14x32 -> 7x7x64 (4x4 s2)', x: [B, 14, 14, 32], f: [4, 4, 32, 64], s: 2 },
];
for (const c of convs) {
  const x = rand(c.x) as Tensor4D;
  const w = rand(c.f) as Tensor4D;
  const y = tf.conv2d(x, w, c.s, 'same');
  const dy = rand(y.shape) as Tensor4D;
  const fl = 2 * y.shape[0] * y.shape[1] * y.shape[2] * c.f[0] * c.f[1] * c.f[2] * c.f[3];
  kernelRow('conv2d forward', c.label, fl, () => tf.conv2d(x, w, c.s, 'same'));
  const bpi = () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: c.s, pad: 'same', dataFormat: 'NHWC', inputShape: c.x } as never) as Tensor;
  setStockKernels(true);
  kernelRow('Conv2DBackpropInput stock', `${c.label} (= conv2dTranspose back)`, fl, bpi);
  setStockKernels(false);
  setBackpropInputStrategy('dilate');
  kernelRow('Conv2DBackpropInput zero-dilate', c.label, fl, bpi);
  setBackpropInputStrategy('phase');
  kernelRow('Conv2DBackpropInput patched', c.label, fl, bpi);
  kernelRow('Conv2DBackpropFilter patched', c.label, fl, () =>
    tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.s, pad: 'same', dataFormat: 'NHWC', filterShape: c.f } as never) as Tensor,
  );
  tf.dispose([x, w, y, dy]);
}

// ---------------------------------------------------------------------------
// Training-step probes with raw tf ops.

type Params = Record<string, Variable>;

function glorot(shape: number[]): Variable {
  const fanIn = shape.length === 4 ? shape[0]! * shape[1]! * shape[2]! : shape[0]!;
  const fanOut = shape.length === 4 ? shape[0]! * shape[1]! * shape[3]! : shape[shape.length - 1]!;
  const lim = Math.sqrt(6 / (fanIn + fanOut));
  return tf.variable(tf.randomUniform(shape, -lim, lim));
}
const zeros = (shape: number[]) => tf.variable(tf.zeros(shape));

const ALPHA = 0.3;
const LATENT = 10;

function dense(p: Params, name: string, x: Tensor): Tensor2D {
  return tf.add(tf.matMul(x as Tensor2D, p[`${name}.w`]!), p[`${name}.b`]!) as Tensor2D;
}

/** Per-example FiLM: x * (1 + gamma) + beta, gamma/beta from the condition network. */
function film(x: Tensor, gb: Tensor2D, offset: number, channels: number): Tensor {
  const n = x.shape[0]!;
  const g = tf.slice(gb, [0, offset], [n, channels]);
  const b = tf.slice(gb, [0, offset + channels], [n, channels]);
  const bshape = x.rank === 4 ? [n, 1, 1, channels] : [n, channels];
  return tf.add(tf.mul(x, tf.add(1, tf.reshape(g, bshape))), tf.reshape(b, bshape));
}

const FILM_CH = [32, 64, 256, 256, 64, 32];
const FILM_TOTAL = FILM_CH.reduce((a, c) => a + 2 * c, 0);

function convVaeParams(): Params {
  return {
    'c1.w': glorot([4, 4, 1, 32]), 'c1.b': zeros([32]),
    'c2.w': glorot([4, 4, 32, 64]), 'c2.b': zeros([64]),
    'e1.w': glorot([3136, 256]), 'e1.b': zeros([256]),
    'e2.w': glorot([256, 2 * LATENT]), 'e2.b': zeros([2 * LATENT]),
    'd1.w': glorot([LATENT, 256]), 'd1.b': zeros([256]),
    'd2.w': glorot([256, 3136]), 'd2.b': zeros([3136]),
    't1.w': glorot([4, 4, 32, 64]), 't1.b': zeros([32]),
    't2.w': glorot([4, 4, 1, 32]), 't2.b': zeros([1]),
    'f1.w': glorot([2, 64]), 'f1.b': zeros([64]),
    'f2.w': glorot([64, FILM_TOTAL]), 'f2.b': zeros([FILM_TOTAL]),
  };
}

/** beta-VAE loss with beta from the per-example condition (YOTO style). */
function vaeLoss(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, beta: Tensor): Scalar {
  const n = x.shape[0]!;
  const nll = tf.sum(tf.reshape(tf.sub(tf.softplus(logits), tf.mul(x, logits)), [n, -1]), 1);
  const kl = tf.mul(-0.5, tf.sum(tf.sub(tf.add(1, logvar), tf.add(tf.square(mu), tf.exp(logvar))), 1));
  return tf.mean(tf.add(nll, tf.mul(beta, kl))) as Scalar;
}

function splitLatent(h: Tensor2D, eps: Tensor): [Tensor, Tensor, Tensor] {
  const n = h.shape[0];
  const mu = tf.slice(h, [0, 0], [n, LATENT]);
  const logvar = tf.slice(h, [0, LATENT], [n, LATENT]);
  const z = tf.add(mu, tf.mul(tf.exp(tf.mul(0.5, logvar)), eps));
  return [mu, logvar, z];
}

function convVaeLoss(p: Params, x: Tensor4D, cond: Tensor2D, eps: Tensor): Scalar {
  const n = x.shape[0];
  const gb = dense(p, 'f2', tf.leakyRelu(dense(p, 'f1', cond), ALPHA));
  let off = 0;
  const F = (t: Tensor, i: number) => {
    const c = FILM_CH[i]!;
    const r = film(t, gb, off, c);
    off += 2 * c;
    return tf.leakyRelu(r, ALPHA);
  };
  let h: Tensor = tf.add(tf.conv2d(x, p['c1.w'] as Tensor4D, 2, 'same'), p['c1.b']!);
  h = F(h, 0);
  h = F(tf.add(tf.conv2d(h as Tensor4D, p['c2.w'] as Tensor4D, 2, 'same'), p['c2.b']!), 1);
  h = F(dense(p, 'e1', tf.reshape(h, [n, 3136])), 2);
  const [mu, logvar, z] = splitLatent(dense(p, 'e2', h), eps);
  let d: Tensor = F(dense(p, 'd1', z), 3);
  d = F(tf.reshape(dense(p, 'd2', d), [n, 7, 7, 64]), 4);
  d = F(tf.add(tf.conv2dTranspose(d as Tensor4D, p['t1.w'] as Tensor4D, [n, 14, 14, 32], 2, 'same'), p['t1.b']!), 5);
  const logits = tf.add(tf.conv2dTranspose(d as Tensor4D, p['t2.w'] as Tensor4D, [n, 28, 28, 1], 2, 'same'), p['t2.b']!);
  return vaeLoss(logits, x, mu, logvar, tf.slice(cond, [0, 0], [n, 1]).reshape([n]));
}

function mlpVaeParams(): Params {
  const p: Params = {};
  const layers: [string, number, number][] = [['e1', 784, 512], ['e2', 512, 256], ['e3', 256, 2 * LATENT], ['d1', LATENT, 256], ['d2', 256, 512], ['d3', 512, 784]];
  for (const [name, i, o] of layers) {
    p[`${name}.w`] = glorot([i, o]);
    p[`${name}.b`] = zeros([o]);
  }
  return p;
}

function mlpVaeLoss(p: Params, x: Tensor2D, cond: Tensor2D, eps: Tensor): Scalar {
  const n = x.shape[0];
  let h: Tensor = tf.leakyRelu(dense(p, 'e1', x), ALPHA);
  h = tf.leakyRelu(dense(p, 'e2', h), ALPHA);
  const [mu, logvar, z] = splitLatent(dense(p, 'e3', h), eps);
  let d: Tensor = tf.leakyRelu(dense(p, 'd1', z), ALPHA);
  d = tf.leakyRelu(dense(p, 'd2', d), ALPHA);
  const logits = dense(p, 'd3', d);
  return vaeLoss(logits, x, mu, logvar, tf.slice(cond, [0, 0], [n, 1]).reshape([n]));
}

interface StepResult {
  name: string;
  batch: number;
  msPerStep: number;
  examplesPerSec: number;
  target: number;
}
const steps: StepResult[] = [];

async function trainProbe(name: string, batch: number, target: number, inputShape: number[], params: Params, lossFn: (p: Params, x: Tensor, c: Tensor2D, e: Tensor) => Scalar) {
  const x = tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([batch, ...inputShape]), 0.5), 'float32'));
  const cond = tf.tidy(() => tf.concat([tf.randomUniform([batch, 1], 0.1, 4), tf.randomUniform([batch, 1])], 1) as Tensor2D);
  const opt = tf.train.adam(1e-3);
  const vars = Object.values(params);
  const step = () => {
    tf.tidy(() => {
      const eps = tf.randomNormal([batch, LATENT]);
      opt.minimize(() => lossFn(params, x, cond, eps), false, vars);
    });
  };
  if (PROFILE) await profileStep(name, step);
  const s = timeIt(step, QUICK ? 1 : 4);
  const r = { name, batch, msPerStep: s * 1e3, examplesPerSec: batch / s, target };
  steps.push(r);
  console.log(`${name.padEnd(34)} batch ${String(batch).padEnd(5)} ${r.msPerStep.toFixed(1).padStart(8)} ms/step ${r.examplesPerSec.toFixed(0).padStart(7)} examples/s (target ${target})`);
  tf.dispose([x, cond, ...vars]);
  opt.dispose();
}

async function profileStep(name: string, step: () => void) {
  step();
  const prof = await tf.profile(() => step());
  const agg = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const e = agg.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.n++;
    agg.set(k.name, e);
  }
  const total = [...agg.values()].reduce((a, e) => a + e.ms, 0);
  console.log(`  profile ${name}: ${total.toFixed(1)} ms in kernels`);
  for (const [k, e] of [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
    console.log(`    ${k.padEnd(28)} ${e.ms.toFixed(2).padStart(8)} ms  x${e.n}`);
  }
}

console.log('--- training steps (Adam)');
await trainProbe('FiLM conv VAE', 64, 200, [28, 28, 1], convVaeParams(), (p, x, c, e) => convVaeLoss(p, x as Tensor4D, c, e));
await trainProbe('MLP VAE 784-512-256-10', 256, 1500, [784], mlpVaeParams(), (p, x, c, e) => mlpVaeLoss(p, x as Tensor2D, c, e));

const out = {
  date: new Date().toISOString(),
  backend: info,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  node: process.version,
  loadavgBefore: loadBefore,
  loadavgAfter: loadavg(),
  kernels: rows,
  trainSteps: steps,
};
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, 'kernels.json'), JSON.stringify(out, null, 2) + '\n');
console.log(`wrote ${join(resultsDir, 'kernels.json')}`);
