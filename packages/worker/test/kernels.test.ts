// Equivalence of the patched wasm training kernels with the reference cpu backend.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { selectBackend, getTf, registerWasmKernels, setBackpropInputStrategy } from '../src/backend/index.ts';
import type { Tf } from '../src/backend/index.ts';
import { randArray, relErr, rng, runOn, withCpuReference, type Arrays } from './kernel-fixtures.ts';

let tf: Tf;
const TOL = 1e-4;

before(async () => {
  await selectBackend({ preferred: 'wasm' });
  tf = getTf();
  await withCpuReference(tf);
});

/** Runs `f` on fresh tensors built from the same arrays on cpu and on wasm; returns each output's values. */
async function onBoth(inputs: Arrays, f: (...ts: import('@tensorflow/tfjs-core').Tensor[]) => import('@tensorflow/tfjs-core').Tensor | import('@tensorflow/tfjs-core').Tensor[]) {
  const run = (backend: string) => runOn(tf, backend, inputs, f);
  const cpu = await run('cpu');
  const wasm = await run('wasm');
  return { cpu, wasm };
}

function assertClose(res: Awaited<ReturnType<typeof onBoth>>, label: string): void {
  assert.equal(res.wasm.length, res.cpu.length, label);
  res.cpu.forEach((c, i) => {
    const w = res.wasm[i]!;
    assert.deepEqual(w.shape, c.shape, `${label}: output ${i} shape`);
    const e = relErr(c.data, w.data);
    assert.ok(e <= TOL, `${label}: output ${i} relative error ${e}`);
  });
}

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  fh: number;
  fw: number;
  s: [number, number];
  pad: Pad;
}

const CHANNELS = [1, 2, 3, 5, 8, 16, 32, 64];

function randomConvCases(seed: number, count: number): ConvCase[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const cases: ConvCase[] = [];
  while (cases.length < count) {
    const fh = 1 + Math.floor(r() * 5);
    const fw = 1 + Math.floor(r() * 5);
    const sy = pick([1, 2, 2, 3]);
    const sx = pick([1, 2, 2, 3]);
    const h = fh + Math.floor(r() * 12);
    const w = fw + Math.floor(r() * 12);
    const padKind = pick(['same', 'valid', 'num', 'explicit'] as const);
    let pad: Pad;
    if (padKind === 'num') pad = Math.floor(r() * 3);
    else if (padKind === 'explicit') pad = [[0, 0], [Math.floor(r() * 3), Math.floor(r() * 3)], [Math.floor(r() * 3), Math.floor(r() * 3)], [0, 0]];
    else pad = padKind;
    // tfjs requires unit strides whenever a numeric/explicit pad is combined with 'same'-like rounding; keep all kinds otherwise.
    const ci = pick(CHANNELS);
    const co = pick(CHANNELS);
    const n = pick([1, 1, 2, 3]);
    // Keep the cpu reference fast.
    if (n * h * w * ci * co * fh * fw > 2_000_000) continue;
    cases.push({ n, h, w, ci, co, fh, fw, s: [sy, sx], pad });
  }
  return cases;
}

function outShape(c: ConvCase): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.ci], [c.fh, c.fw, c.ci, c.co], c.s, 1, c.pad);
  return info.outShape;
}

const FIXED_CASES: ConvCase[] = [
  // The conv VAE's layers on 28x28 images.
  { n: 2, h: 28, w: 28, ci: 1, co: 32, fh: 4, fw: 4, s: [2, 2], pad: 'same' },
  { n: 2, h: 14, w: 14, ci: 32, co: 64, fh: 4, fw: 4, s: [2, 2], pad: 'same' },
  { n: 1, h: 28, w: 28, ci: 1, co: 32, fh: 4, fw: 4, s: [2, 2], pad: 'valid' },
  { n: 1, h: 13, w: 13, ci: 3, co: 5, fh: 3, fw: 3, s: [2, 2], pad: 'valid' },
  { n: 1, h: 7, w: 9, ci: 3, co: 4, fh: 3, fw: 3, s: [1, 1], pad: 'same' },
  { n: 3, h: 11, w: 10, ci: 2, co: 3, fh: 5, fw: 5, s: [3, 3], pad: 'same' },
  { n: 1, h: 5, w: 5, ci: 64, co: 64, fh: 1, fw: 1, s: [1, 1], pad: 'valid' },
  { n: 1, h: 9, w: 12, ci: 4, co: 2, fh: 2, fw: 3, s: [2, 3], pad: 'same' },
];

function label(c: ConvCase): string {
  return `x=[${c.n},${c.h},${c.w},${c.ci}] f=[${c.fh},${c.fw},${c.ci},${c.co}] s=${c.s} pad=${JSON.stringify(c.pad)}`;
}

test('selectBackend picks wasm here, is idempotent and reports the patched kernels', async () => {
  const a = await selectBackend({ preferred: 'wasm' });
  const b = await selectBackend({ preferred: 'wasm' });
  assert.equal(a.name, 'wasm');
  assert.deepEqual(a, b);
  assert.ok(a.kernelsPatched.includes('Conv2DBackpropFilter'));
  assert.ok(a.kernelsPatched.includes('Conv2DBackpropInput'));
  assert.ok(a.kernelsPatched.includes('BatchMatMul'));
  assert.deepEqual(registerWasmKernels(), a.kernelsPatched);
  assert.equal(getTf().getBackend(), 'wasm');
  // Gradients and chained ops must be usable from the namespace we hand out.
  const g = tf.grad((x: import('@tensorflow/tfjs-core').Tensor) => x.square().mean())(tf.ones([3]));
  assert.equal((await g.data()).length, 3);
});

test('auto selection falls through unloadable native backends without throwing', () => {
  // A fresh process, because this one has already settled on wasm.
  const mod = new URL('../src/backend/index.ts', import.meta.url).href;
  const code = `import { selectBackend } from ${JSON.stringify(mod)};
const logs = [];
const info = await selectBackend({ preferred: 'auto', log: (m) => logs.push(m) });
const again = await selectBackend({});
console.log(JSON.stringify({ info, same: info === again, logs }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { info: { name: string; native?: string }; same: boolean; logs: string[] };
  assert.ok(['tensorflow', 'native-cpu', 'wasm'].includes(out.info.name));
  if (out.info.name !== 'tensorflow') assert.ok(out.logs.some((l) => l.includes('tfjs-node-gpu')), 'the failed native attempt is logged');
  assert.ok(out.same);
});

test('Conv2DBackpropFilter matches cpu', async () => {
  const r = rng(1);
  for (const c of [...FIXED_CASES, ...randomConvCases(11, 60)]) {
    const dyShape = outShape(c);
    if (dyShape[1] < 1 || dyShape[2] < 1) continue;
    const res = await onBoth(
      [
        { data: randArray(r, [c.n, c.h, c.w, c.ci]), shape: [c.n, c.h, c.w, c.ci] },
        { data: randArray(r, dyShape), shape: dyShape },
      ],
      (x, dy) => tf.engine().runKernel('Conv2DBackpropFilter', { x: x!, dy: dy! }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: [c.fh, c.fw, c.ci, c.co] } as never) as import('@tensorflow/tfjs-core').Tensor,
    );
    assertClose(res, `dW ${label(c)}`);
  }
});

for (const strategy of ['phase', 'dilate'] as const) {
  test(`Conv2DBackpropInput (${strategy}) matches cpu`, async () => {
    setBackpropInputStrategy(strategy);
    try {
      const r = rng(strategy === 'phase' ? 2 : 3);
      for (const c of [...FIXED_CASES, ...randomConvCases(22, 60)]) {
        const dyShape = outShape(c);
        if (dyShape[1] < 1 || dyShape[2] < 1) continue;
        const res = await onBoth(
          [
            { data: randArray(r, dyShape), shape: dyShape },
            { data: randArray(r, [c.fh, c.fw, c.ci, c.co]), shape: [c.fh, c.fw, c.ci, c.co] },
          ],
          (dy, w) => tf.engine().runKernel('Conv2DBackpropInput', { dy: dy!, filter: w! }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: [c.n, c.h, c.w, c.ci] } as never) as import('@tensorflow/tfjs-core').Tensor,
        );
        assertClose(res, `dX ${label(c)}`);
      }
    } finally {
      setBackpropInputStrategy('phase');
    }
  });
}

test('conv2dTranspose forward (decoder shapes) matches cpu', async () => {
  const r = rng(4);
  const cases: [number[], number[], number[], number, 'same' | 'valid'][] = [
    [[3, 7, 7, 64], [4, 4, 32, 64], [3, 14, 14, 32], 2, 'same'],
    [[3, 14, 14, 32], [4, 4, 1, 32], [3, 28, 28, 1], 2, 'same'],
    [[1, 3, 3, 8], [3, 3, 4, 8], [1, 7, 7, 4], 2, 'valid'],
    [[2, 5, 5, 6], [3, 3, 2, 6], [2, 5, 5, 2], 1, 'same'],
  ];
  for (const [xs, ws, os, s, pad] of cases) {
    const res = await onBoth(
      [
        { data: randArray(r, xs), shape: xs },
        { data: randArray(r, ws), shape: ws },
      ],
      (x, w) => tf.conv2dTranspose(x as import('@tensorflow/tfjs-core').Tensor4D, w as import('@tensorflow/tfjs-core').Tensor4D, os as [number, number, number, number], s, pad),
    );
    assertClose(res, `conv2dTranspose ${xs} ${ws} ${s} ${pad}`);
  }
});

test('BatchMatMul and _FusedMatMul with transposes match cpu', async () => {
  const r = rng(5);
  const shapes: [number[], number[], boolean, boolean][] = [
    [[7, 5], [5, 3], false, false],
    [[5, 7], [5, 3], true, false],
    [[7, 5], [3, 5], false, true],
    [[5, 7], [3, 5], true, true],
    [[64, 256], [64, 10], true, false],
    [[64, 10], [256, 10], false, true],
    [[1, 9], [1, 4], true, false],
    [[4, 6, 5], [4, 6, 3], true, false],
    [[2, 4, 6, 5], [1, 3, 5], false, true],
    [[3, 1], [4, 1], false, true],
  ];
  for (const [as, bs, ta, tb] of shapes) {
    const a = { data: randArray(r, as), shape: as };
    const b = { data: randArray(r, bs), shape: bs };
    assertClose(await onBoth([a, b], (x, y) => tf.matMul(x!, y!, ta, tb)), `matMul ${as} ${bs} ${ta} ${tb}`);
    if (as.length === 2 && bs.length === 2) {
      const n = tb ? bs[0]! : bs[1]!;
      const bias = { data: randArray(r, [n]), shape: [n] };
      assertClose(
        await onBoth([a, b, bias], (x, y, z) => tf.fused.matMul({ a: x as import('@tensorflow/tfjs-core').Tensor2D, b: y as import('@tensorflow/tfjs-core').Tensor2D, transposeA: ta, transposeB: tb, bias: z, activation: 'relu' })),
        `fused ${as} ${bs} ${ta} ${tb}`,
      );
    }
  }
});

test('cpu-fallback kernels (gather gradient, depthwise conv gradients) match cpu', async () => {
  const r = rng(6);
  const x = { data: randArray(r, [5, 4]), shape: [5, 4] };
  assertClose(await onBoth([x], (t) => tf.grad((v: import('@tensorflow/tfjs-core').Tensor) => tf.gather(v, [0, 2, 2, 4]).square().sum())(t!)), 'gather grad');
  const xi = { data: randArray(r, [2, 6, 6, 3]), shape: [2, 6, 6, 3] };
  const wi = { data: randArray(r, [3, 3, 3, 2]), shape: [3, 3, 3, 2] };
  assertClose(
    await onBoth([xi, wi], (a, b) =>
      tf.grads((p: import('@tensorflow/tfjs-core').Tensor, q: import('@tensorflow/tfjs-core').Tensor) => tf.depthwiseConv2d(p as import('@tensorflow/tfjs-core').Tensor4D, q as import('@tensorflow/tfjs-core').Tensor4D, 1, 'same').square().sum())([a!, b!]),
    ),
    'depthwise grads',
  );
});

/** A miniature FiLM conv VAE-like loss exercising every gradient the engine's models use. */
function smallConvNetLoss(x: import('@tensorflow/tfjs-core').Tensor, params: import('@tensorflow/tfjs-core').Tensor[]): import('@tensorflow/tfjs-core').Scalar {
  const [w1, w2, wd, wu, wt1, wt2, gamma, beta] = params as import('@tensorflow/tfjs-core').Tensor4D[];
  const n = x.shape[0]!;
  let h = tf.conv2d(x as import('@tensorflow/tfjs-core').Tensor4D, w1!, 2, 'same');
  h = tf.leakyRelu(tf.add(tf.mul(h, gamma!), beta!), 0.3) as import('@tensorflow/tfjs-core').Tensor4D;
  h = tf.leakyRelu(tf.conv2d(h, w2!, 2, 'same'), 0.3);
  const flat = tf.reshape(h, [n, -1]);
  const z = tf.matMul(flat, wd!.reshape([flat.shape[1]!, -1]));
  const mu = tf.slice(z, [0, 0], [n, 3]);
  const logvar = tf.slice(z, [0, 3], [n, 3]);
  const kl = tf.mul(-0.5, tf.sum(tf.sub(tf.add(1, logvar), tf.add(tf.square(mu), tf.exp(logvar)))));
  let u = tf.leakyRelu(tf.matMul(mu, wu!.reshape([3, -1])), 0.3);
  u = tf.reshape(u, [n, 4, 4, 4]) as import('@tensorflow/tfjs-core').Tensor4D;
  u = tf.leakyRelu(tf.conv2dTranspose(u as import('@tensorflow/tfjs-core').Tensor4D, wt1!, [n, 8, 8, 4], 2, 'same'), 0.3);
  const logits = tf.conv2dTranspose(u as import('@tensorflow/tfjs-core').Tensor4D, wt2!, [n, 16, 16, 1], 2, 'same');
  const nll = tf.sum(tf.sub(tf.softplus(logits), tf.mul(x, logits)));
  return tf.add(nll, kl).div(n) as import('@tensorflow/tfjs-core').Scalar;
}

test('gradients of a small FiLM conv net agree between wasm and cpu', async () => {
  const r = rng(7);
  const n = 3;
  const x = { data: randArray(r, [n, 16, 16, 1]).map((v) => (v > 0 ? 1 : 0)), shape: [n, 16, 16, 1] };
  const shapes = [[3, 3, 1, 4], [4, 4, 4, 8], [4 * 4 * 8 * 6], [3 * 64], [4, 4, 4, 4], [4, 4, 1, 4], [1, 1, 1, 4], [1, 1, 1, 4]];
  const params = shapes.map((s) => ({ data: randArray(r, s).map((v) => v * 0.3), shape: s }));
  const res = await onBoth([x, ...params], (xt, ...ps) => {
    const { value, grads } = tf.valueAndGrads((...p: import('@tensorflow/tfjs-core').Tensor[]) => smallConvNetLoss(xt!, p))(ps);
    return [value, ...grads];
  });
  assertClose(res, 'conv net loss and grads');
});

test('patched kernels do not leak backend memory across an Adam step', async () => {
  await tf.setBackend('wasm');
  const r = rng(8);
  const shapes = [[3, 3, 1, 4], [4, 4, 4, 8], [4 * 4 * 8 * 6], [3 * 64], [4, 4, 4, 4], [4, 4, 1, 4], [1, 1, 1, 4], [1, 1, 1, 4]];
  const vars = shapes.map((s) => tf.variable(tf.tensor(randArray(r, s).map((v) => v * 0.3), s)));
  const x = tf.tensor(randArray(r, [2, 16, 16, 1]).map((v) => (v > 0 ? 1 : 0)), [2, 16, 16, 1]);
  const opt = tf.train.adam(1e-3);
  const step = () => {
    const loss = opt.minimize(() => smallConvNetLoss(x, vars), true);
    if (loss) loss.dispose();
  };
  step();
  step();
  const before = tf.memory();
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const idsBefore = backend.numDataIds();
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, before.numTensors);
  assert.equal(backend.numDataIds(), idsBefore);
  tf.dispose([x, ...vars]);
  opt.dispose();
});

// ---------------------------------------------------------------------------
// Gradients through matMul. The wasm backend's XNNPACK matmul caches the packed
// weights (b) by tensor id, not by shape, and a reshape keeps the tensor id: the
// same data reaching b as [1, n] in one product and [n, 1] in another used to
// reuse the wrong packing (grads of sum(matMul([1,k], [k,n])) came out as
// [[3, 1e-43, 0], ...]). These compare against cpu in one tape, where dy and the
// operands are shared between the two gradient products.

type T = import('@tensorflow/tfjs-core').Tensor;

/** Shapes of a and b for a product [m, k] x [k, n] with the given transposes, optionally batched. */
function mmShapes(m: number, k: number, n: number, ta: boolean, tb: boolean, batchA: number[] = [], batchB: number[] = []): [number[], number[]] {
  return [[...batchA, ...(ta ? [k, m] : [m, k])], [...batchB, ...(tb ? [n, k] : [k, n])]];
}

/** Loss = sum(matMul(a, b) * w) for a fixed random w (w = 1 too: dy all ones is the case that broke). */
function mmGradCase(r: () => number, as: number[], bs: number[], ta: boolean, tb: boolean, onesDy: boolean): { inputs: Arrays; f: (...ts: T[]) => T[] } {
  const outShape = tf.matMul(tf.zeros(as), tf.zeros(bs), ta, tb).shape;
  const w = onesDy ? new Float32Array(outShape.reduce((x, y) => x * y, 1)).fill(1) : randArray(r, outShape);
  const inputs = [
    { data: randArray(r, as), shape: as },
    { data: randArray(r, bs), shape: bs },
    { data: w, shape: outShape },
  ];
  const f = (a: T, b: T, wt: T) => {
    const { value, grads } = tf.valueAndGrads((x: T, y: T) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), wt)))([a, b]);
    return [value, ...grads];
  };
  return { inputs, f: f as (...ts: T[]) => T[] };
}

const TT: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

test('matMul gradient regression: the reported one-row case', async () => {
  const res = await onBoth(
    [
      { data: new Float32Array([2, 1]), shape: [1, 2] },
      { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] },
    ],
    (x, y) => tf.grads((a: T, b: T) => tf.sum(tf.matMul(a, b)))([x!, y!]),
  );
  assert.deepEqual(Array.from(res.wasm[1]!.data), [2, 2, 2, 1, 1, 1]);
  assert.deepEqual(Array.from(res.wasm[0]!.data), [6, 15]);
  assertClose(res, 'grads sum(matMul([1,2],[2,3]))');
});

test('matMul gradients with one-row and one-column operands match cpu (every transpose combination)', async () => {
  const r = rng(9);
  // [m, k, n]: one-row a, one-column b, both, outer product, scalar-like, and a larger vector case.
  const dims: [number, number, number][] = [[1, 2, 3], [1, 5, 1], [4, 3, 1], [1, 1, 4], [4, 1, 1], [3, 1, 5], [1, 1, 1], [1, 64, 10], [32, 16, 1], [1, 7, 7]];
  for (const [m, k, n] of dims) {
    for (const [ta, tb] of TT) {
      for (const onesDy of [true, false]) {
        const [as, bs] = mmShapes(m, k, n, ta, tb);
        const c = mmGradCase(r, as, bs, ta, tb, onesDy);
        assertClose(await onBoth(c.inputs, c.f), `grads matMul ${as} ${bs} ta=${ta} tb=${tb} onesDy=${onesDy}`);
      }
    }
  }
});

test('batch-1 BatchMatMul (rank 3 and 4) forward and gradients match cpu for every transpose combination', async () => {
  const r = rng(10);
  const dims: [number, number, number][] = [[1, 2, 3], [4, 3, 1], [1, 6, 1], [3, 1, 2], [5, 4, 6]];
  for (const batch of [[1], [1, 1]]) {
    for (const [m, k, n] of dims) {
      for (const [ta, tb] of TT) {
        const [as, bs] = mmShapes(m, k, n, ta, tb, batch, batch);
        const a = { data: randArray(r, as), shape: as };
        const b = { data: randArray(r, bs), shape: bs };
        assertClose(await onBoth([a, b], (x, y) => tf.matMul(x!, y!, ta, tb)), `batchMatMul ${as} ${bs} ${ta} ${tb}`);
        const c = mmGradCase(r, as, bs, ta, tb, true);
        assertClose(await onBoth(c.inputs, c.f), `grads batchMatMul ${as} ${bs} ${ta} ${tb}`);
      }
    }
  }
});

test('matMul gradients on random shapes (rank 2 and batched) match cpu', async () => {
  const r = rng(12);
  const dim = () => (r() < 0.35 ? 1 : 1 + Math.floor(r() * 12));
  for (let i = 0; i < 40; i++) {
    const ta = r() < 0.5;
    const tb = r() < 0.5;
    // tfjs-core's BatchMatMul gradient does not reduce broadcast batch dims, so both operands share theirs.
    const batch = [[], [], [1], [3]][Math.floor(r() * 4)]!;
    const [as, bs] = mmShapes(dim(), dim(), dim(), ta, tb, batch, batch);
    const c = mmGradCase(r, as, bs, ta, tb, r() < 0.5);
    assertClose(await onBoth(c.inputs, c.f), `grads matMul ${as} ${bs} ta=${ta} tb=${tb}`);
  }
});

test('variableGrads through dense layers with a shared one-row input and fused matMul match cpu', async () => {
  const r = rng(13);
  for (const [batch, din, dh] of [[1, 3, 4], [5, 1, 3], [4, 6, 1], [1, 1, 1], [8, 16, 2]] as const) {
    const inputs: Arrays = [
      { data: randArray(r, [1, din]), shape: [1, din] }, // one conditioning row shared by the batch
      { data: randArray(r, [batch, din]), shape: [batch, din] },
      { data: randArray(r, [din, dh]), shape: [din, dh] },
      { data: randArray(r, [dh]), shape: [dh] },
      { data: randArray(r, [dh, 1]), shape: [dh, 1] },
    ];
    const res = await onBoth(inputs, (cond, x, w1, b1, w2) => {
      const vars = [w1!, b1!, w2!].map((t, i) => tf.variable(t, true, `mm_vg_${batch}_${din}_${dh}_${i}_${tf.getBackend()}`));
      const [v1, vb, v2] = vars as unknown as [T, T, T];
      const { value, grads } = tf.variableGrads(() => {
        const shared = tf.matMul(cond!, v1); // [1, dh], broadcast over the batch
        const h = tf.fused.matMul({ a: x as import('@tensorflow/tfjs-core').Tensor2D, b: v1 as import('@tensorflow/tfjs-core').Tensor2D, bias: vb, activation: 'relu' });
        const y = tf.matMul(tf.add(h, shared), v2); // [batch, 1]
        const t = tf.matMul(cond!, v1, false, false).reshape([dh, 1]); // the [1, dh] product reused as a column
        return tf.add(tf.sum(tf.square(y)), tf.sum(tf.matMul(h, t))) as import('@tensorflow/tfjs-core').Scalar;
      }, vars as import('@tensorflow/tfjs-core').Variable[]);
      const out = [value, ...vars.map((v) => grads[v.name]!)];
      tf.dispose(vars);
      return out;
    });
    assertClose(res, `variableGrads dense batch=${batch} din=${din} dh=${dh}`);
  }
});

test('a tensor reused as matMul b under another shape (reshape alias) still multiplies correctly', async () => {
  const r = rng(14);
  for (const [k, n] of [[2, 3], [1, 4], [4, 1], [6, 2]] as const) {
    const bData = { data: randArray(r, [k, n]), shape: [k, n] };
    const a1 = { data: randArray(r, [1, k]), shape: [1, k] };
    const a2 = { data: randArray(r, [2, n]), shape: [2, n] };
    const a3 = { data: randArray(r, [1, k * n]), shape: [1, k * n] };
    const res = await onBoth([bData, a1, a2, a3], (b, x1, x2, x3) => [
      tf.matMul(x1!, b!),
      tf.matMul(x2!, b!.reshape([n, k])),
      tf.matMul(x3!, b!.reshape([k * n, 1])),
      tf.matMul(x1!, b!), // and back to the first shape
    ]);
    assertClose(res, `reshape-aliased b [${k},${n}]`);
  }
});

test('repeated matMul gradients stay correct while memory is reused, and leak nothing', async () => {
  const r = rng(15);
  const cases = TT.flatMap(([ta, tb]) =>
    ([[1, 2, 3], [4, 3, 1], [1, 9, 1], [6, 5, 4]] as const).map(([m, k, n]) => {
      const [as, bs] = mmShapes(m, k, n, ta, tb);
      return { label: `${as} ${bs} ${ta} ${tb}`, ...mmGradCase(r, as, bs, ta, tb, true) };
    }),
  );
  // cpu references, once.
  await tf.setBackend('cpu');
  const refs = [];
  for (const c of cases) {
    const ts = c.inputs.map((i) => tf.tensor(i.data, i.shape));
    const outs = c.f(...ts);
    refs.push(await Promise.all(outs.map(async (o) => ({ shape: o.shape, data: (await o.data()) as Float32Array }))));
    tf.dispose([...ts, ...outs]);
  }
  await tf.setBackend('wasm');
  const backend = tf.backend() as unknown as { numDataIds(): number };
  let ids = -1;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      const ts = c.inputs.map((inp) => tf.tensor(inp.data, inp.shape));
      // Churn the heap between calls so freed blocks (and tensor ids) get recycled into new shapes.
      const junk = tf.tidy(() => tf.matMul(tf.ones([1, 3 + round]), tf.ones([3 + round, 2 + i])).reshape([2 + i, 1]));
      const outs = c.f(...ts);
      const got = await Promise.all(outs.map(async (o) => ({ shape: o.shape, data: (await o.data()) as Float32Array })));
      tf.dispose([...ts, ...outs, junk]);
      assertClose({ cpu: refs[i]!, wasm: got }, `round ${round}: grads ${c.label}`);
    }
    if (round === 1) ids = backend.numDataIds();
    if (round > 1) assert.equal(backend.numDataIds(), ids, `round ${round}: backend data ids leak`);
  }
});

// ---------------------------------------------------------------------------
// Fused Adam update (engine/adam.ts uses it on wasm): bit-identical to the unfused tf ops.

test('YotoAdamUpdate is bit-identical to the unfused Adam tf ops (SIMD body, JS tail, JS only; with and without decay)', async () => {
  await tf.setBackend('wasm');
  const { ADAM_UPDATE, setSimdKernels } = await import('../src/backend/wasm-kernels.ts');
  const r = rng(21);
  for (const simd of [true, false]) {
    setSimdKernels(simd);
    try {
      for (const shape of [[37], [5, 8], [3, 3, 2, 4], [1]]) {
        for (const wd of [0, 5e-4]) {
          const vals = () => randArray(r, shape);
          const p = tf.tensor(vals(), shape);
          const g = tf.tensor(vals().map((x) => x * 3), shape);
          const m = tf.tensor(vals().map((x) => x * 0.1), shape);
          const v = tf.tensor(vals().map((x) => Math.abs(x) * 0.01), shape);
          const [b1, b2, eps, lrT] = [0.9, 0.999, 1e-8, 0.0123];
          const ref = tf.tidy(() => {
            const gg = wd > 0 ? tf.add(g, tf.mul(p, wd)) : g;
            const mNew = tf.add(tf.mul(m, b1), tf.mul(gg, 1 - b1));
            const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(gg), 1 - b2));
            return [tf.sub(p, tf.mul(tf.div(mNew, tf.add(tf.sqrt(vNew), eps)), lrT)), mNew, vNew];
          });
          const got = tf.engine().runKernel(ADAM_UPDATE, { p, g, m, v }, { beta1: b1, beta2: b2, epsilon: eps, lrT, weightDecay: wd }) as import('@tensorflow/tfjs-core').Tensor[];
          for (let k = 0; k < 3; k++) {
            assert.deepEqual(got[k]!.shape, shape);
            assert.deepEqual(Array.from(await got[k]!.data()), Array.from(await ref[k]!.data()), `simd=${simd} shape=${shape} wd=${wd} output ${k}`);
          }
          tf.dispose([p, g, m, v, ...ref, ...got]);
        }
      }
    } finally {
      setSimdKernels(true);
    }
  }
});

test('Identity on wasm shares data (no copy) and frees it only with the last reference', async () => {
  await tf.setBackend('wasm');
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const ids = backend.numDataIds();
  const x = tf.tensor([1, 2, 3, 4], [2, 2]);
  const y = tf.clone(x);
  assert.equal(backend.numDataIds(), ids + 1);
  x.dispose();
  assert.deepEqual(Array.from(await y.data()), [1, 2, 3, 4]);
  y.dispose();
  assert.equal(backend.numDataIds(), ids);
});

test('YotoLeakyReluGrad (and the engine leaky layer using it) is bit-identical to tf.leakyRelu gradients (SIMD body, JS tail)', async () => {
  await tf.setBackend('wasm');
  const { setSimdKernels } = await import('../src/backend/wasm-kernels.ts');
  const { leaky, LEAKY_ALPHA } = await import('../src/engine/layers.ts');
  const r = rng(22);
  for (const simd of [true, false]) {
    setSimdKernels(simd);
    try {
      for (const shape of [[7, 13], [2, 3, 3, 4], [5]]) {
        const xs = randArray(r, shape);
        xs[0] = 0; // the boundary: x = 0 takes the α branch
        const x = tf.tensor(xs, shape);
        const w = tf.tensor(randArray(r, shape), shape);
        const loss = (f: (t: T) => T) => (t: T) => tf.sum(tf.mul(f(t), w));
        const [gRef] = tf.grads(loss((t) => tf.leakyRelu(t, LEAKY_ALPHA)))([x]);
        const [gGot] = tf.grads(loss((t) => leaky(tf, t)))([x]);
        assert.deepEqual(Array.from(await gGot!.data()), Array.from(await gRef!.data()), `simd=${simd} shape=${shape}`);
        assert.deepEqual(Array.from(await leaky(tf, x).data()), Array.from(await tf.leakyRelu(x, LEAKY_ALPHA).data()));
        tf.dispose([x, w, gRef!, gGot!]);
      }
    } finally {
      setSimdKernels(true);
    }
  }
});
