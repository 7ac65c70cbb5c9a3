// Equivalence of the `native-cpu` (OpenBLAS) kernels with the reference cpu backend, the
// addon's own checks, and the fallback when the addon is absent. Skipped (with the reason)
// where the addon is not built; scripts/setup.sh builds it wherever libopenblas-dev exists.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { loadNativeBlas } from '@yoto/native-blas';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { selectBackend, getTf, nativeKernelsActive, nativeKernelCalls } from '../src/backend/index.ts';
import type { BackendInfo, Tf } from '../src/backend/index.ts';
import { randArray, relErr, rng, runOn, withCpuReference, type Arrays } from './kernel-fixtures.ts';

let tf: Tf;
let info: BackendInfo;
const TOL = 1e-4;
const loaded = loadNativeBlas();
const skip = loaded.ok ? false : `OpenBLAS addon unavailable: ${loaded.reason}`;
// CI sets YOTO_REQUIRE_NATIVE=1: there the addon must have been built, so these tests run.
test('the OpenBLAS addon is built where it is required', { skip: process.env.YOTO_REQUIRE_NATIVE !== '1' }, () => {
  assert.ok(loaded.ok, `YOTO_REQUIRE_NATIVE=1 but ${loaded.ok ? '' : loaded.reason}`);
});

before(async () => {
  if (skip) return;
  info = await selectBackend({ preferred: 'native-cpu', threads: 2 });
  tf = getTf();
  await withCpuReference(tf);
});

/** Runs `f` on the same inputs on cpu and on native-cpu ('wasm' with OpenBLAS routing) and compares every output. */
async function assertMatchesCpu(label: string, inputs: Arrays, f: (...ts: Tensor[]) => Tensor | Tensor[], expectNative = true): Promise<void> {
  const run = (backend: string) => runOn(tf, backend, inputs, f);
  const cpu = await run('cpu');
  const before = Object.values(nativeKernelCalls()).reduce((a, b) => a + b, 0);
  const native = await run('wasm');
  if (expectNative) assert.ok(Object.values(nativeKernelCalls()).reduce((a, b) => a + b, 0) > before, `${label}: no kernel ran in OpenBLAS`);
  assert.equal(native.length, cpu.length, label);
  cpu.forEach((c, i) => {
    const got = native[i]!;
    assert.deepEqual(got.shape, c.shape, `${label}: output ${i} shape`);
    const e = relErr(c.data, got.data);
    assert.ok(e <= TOL, `${label}: output ${i} relative error ${e}`);
  });
}

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase { n: number; h: number; w: number; ci: number; co: number; fh: number; fw: number; s: [number, number]; d: [number, number]; pad: Pad }

function randomConvCases(seed: number, count: number, dilated: boolean): ConvCase[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const cases: ConvCase[] = [
    // The conv VAE's layers (28x28 MNIST), batch 1 and 2.
    { n: 1, h: 28, w: 28, ci: 1, co: 32, fh: 4, fw: 4, s: [2, 2], d: [1, 1], pad: 'same' },
    { n: 2, h: 14, w: 14, ci: 32, co: 64, fh: 4, fw: 4, s: [2, 2], d: [1, 1], pad: 'same' },
    { n: 1, h: 5, w: 5, ci: 16, co: 8, fh: 1, fw: 1, s: [1, 1], d: [1, 1], pad: 'valid' },
  ];
  while (cases.length < count) {
    const fh = 1 + Math.floor(r() * 5);
    const fw = 1 + Math.floor(r() * 5);
    const dil = dilated && r() < 0.4;
    const s: [number, number] = dil ? [1, 1] : [pick([1, 2, 2, 3]), pick([1, 2, 2, 3])];
    const d: [number, number] = dil ? [pick([1, 2, 3]), pick([1, 2])] : [1, 1];
    const h = (fh - 1) * d[0] + 1 + Math.floor(r() * 12);
    const w = (fw - 1) * d[1] + 1 + Math.floor(r() * 12);
    const kind = pick(['same', 'valid', 'num', 'explicit'] as const);
    const pad: Pad =
      kind === 'num' ? Math.floor(r() * 3) : kind === 'explicit' ? [[0, 0], [Math.floor(r() * 3), Math.floor(r() * 3)], [Math.floor(r() * 3), Math.floor(r() * 3)], [0, 0]] : kind;
    const ci = pick([1, 2, 3, 5, 8, 16, 32]);
    const co = pick([1, 2, 3, 5, 8, 16, 32]);
    const n = pick([1, 1, 2, 3]);
    if (n * h * w * ci * co * fh * fw > 2_000_000) continue;
    cases.push({ n, h, w, ci, co, fh, fw, s, d, pad });
  }
  return cases;
}

function outShape(c: ConvCase): [number, number, number, number] {
  return tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.ci], [c.fh, c.fw, c.ci, c.co], c.s, c.d, c.pad).outShape;
}

const label = (c: ConvCase) => `x=[${c.n},${c.h},${c.w},${c.ci}] f=[${c.fh},${c.fw},${c.ci},${c.co}] s=${c.s} d=${c.d} pad=${JSON.stringify(c.pad)}`;

test('native-cpu is selected and routes the heavy kernels', { skip }, () => {
  assert.equal(info.name, 'native-cpu');
  assert.equal(info.native, 'openblas');
  assert.equal(info.threads, 2);
  assert.equal(getTf().getBackend(), 'wasm');
  assert.ok(nativeKernelsActive());
  for (const k of ['BatchMatMul', '_FusedMatMul', 'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'Sum', 'LeakyRelu', 'Add', 'Multiply', 'YotoAdamUpdate']) assert.ok(info.kernelsPatched.includes(k), k);
});

test('addon sgemm matches a reference product, with offsets, transposes, batch strides', { skip }, () => {
  const blas = (loaded as Extract<typeof loaded, { ok: true }>).blas;
  const r = rng(7);
  for (let iter = 0; iter < 40; iter++) {
    const [m, n, k, batch] = [1 + Math.floor(r() * 20), 1 + Math.floor(r() * 20), 1 + Math.floor(r() * 20), 1 + Math.floor(r() * 3)];
    const ta = r() < 0.5;
    const tb = r() < 0.5;
    const off = 3;
    const A = randArray(r, [off + batch * m * k]);
    const B = randArray(r, [off + k * n]); // broadcast: stride 0
    const C = randArray(r, [off + batch * m * n]);
    const C0 = C.slice();
    blas.sgemm(ta, tb, m, n, k, 1, A, off, ta ? m : k, B, off, tb ? k : n, 0.5, C, off, n, batch, m * k, 0, m * n);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let q = 0; q < k; q++) {
            const a = A[off + b * m * k + (ta ? q * m + i : i * k + q)]!;
            const bb = B[off + (tb ? j * k + q : q * n + j)]!;
            s += a * bb;
          }
          const at = off + b * m * n + i * n + j;
          const want = s + 0.5 * C0[at]!;
          assert.ok(Math.abs(C[at]! - want) <= 1e-4 * (1 + Math.abs(want)), `sgemm ${m}x${n}x${k} ta=${ta} tb=${tb}: ${C[at]} vs ${want}`);
        }
      }
    }
    assert.equal(C[0], C0[0], 'nothing written before the offset');
  }
});

test('addon refuses operands too short for the dimensions', { skip }, () => {
  const blas = (loaded as Extract<typeof loaded, { ok: true }>).blas;
  const a = new Float32Array(6);
  assert.throws(() => blas.sgemm(false, false, 2, 3, 3, 1, a, 0, 3, a, 0, 3, 0, new Float32Array(5), 0, 3, 1, 0, 0, 0), RangeError);
  assert.throws(() => blas.conv2d(new Float32Array(10), new Float32Array(9), new Float32Array(100), [1, 4, 4, 1, 3, 3, 1, 2, 2, 1, 1, 1, 1, 0, 0]), RangeError);
  assert.throws(() => blas.conv2d(new Float32Array(16), new Float32Array(9), new Float32Array(4), [1, 4, 4, 1, 3, 3, 1, 2, 2, 0, 1, 1, 1, 0, 0]), RangeError);
  assert.throws(() => blas.sgemm(false, false, 1, 1, 1, 1, [1] as unknown as Float32Array, 0, 1, a, 0, 1, 0, a, 0, 1, 1, 0, 0, 0), TypeError);
});

test('MatMul / BatchMatMul / _FusedMatMul match cpu on random shapes, transposes and batch broadcasts', { skip }, async () => {
  const r = rng(11);
  const dim = () => 1 + Math.floor(r() * 48);
  for (let iter = 0; iter < 48; iter++) {
    const [m, k, n] = [dim(), dim(), dim()];
    const ta = iter % 2 === 1;
    const tb = iter % 4 >= 2;
    const kind = iter % 12 < 4 ? '2d' : iter % 12 < 6 ? 'same-batch' : iter % 12 < 8 ? 'a-batch' : iter % 12 < 10 ? 'b-batch' : 'batch-1';
    const nb = 1 + Math.floor(r() * 4);
    const aCore = ta ? [k, m] : [m, k];
    const bCore = tb ? [n, k] : [k, n];
    const aShape = kind === '2d' || kind === 'b-batch' ? aCore : kind === 'batch-1' ? [1, ...aCore] : [nb, ...aCore];
    const bShape = kind === '2d' || kind === 'a-batch' ? bCore : kind === 'batch-1' ? [1, ...bCore] : [nb, ...bCore];
    await assertMatchesCpu(`matMul ${kind} a=${aShape} b=${bShape} ta=${ta} tb=${tb}`, [{ data: randArray(r, aShape), shape: aShape }, { data: randArray(r, bShape), shape: bShape }], (a, b) =>
      tf.matMul(a!, b!, ta, tb),
    );
    if (kind === '2d') {
      await assertMatchesCpu(
        `fused matMul+bias a=${aShape} b=${bShape} ta=${ta} tb=${tb}`,
        [{ data: randArray(r, aShape), shape: aShape }, { data: randArray(r, bShape), shape: bShape }, { data: randArray(r, [n]), shape: [n] }],
        (a, b, bias) => [tf.fused.matMul({ a: a!, b: b!, transposeA: ta, transposeB: tb, bias: bias! }), tf.fused.matMul({ a: a!, b: b!, transposeA: ta, transposeB: tb, bias: bias!, activation: 'relu' })],
      );
    }
  }
  // Irregular broadcast ([2,1] x [3] batch dims) goes to the wrapped wasm kernel.
  await assertMatchesCpu('matMul [2,1,4,5] x [3,5,6]', [{ data: randArray(r, [2, 1, 4, 5]), shape: [2, 1, 4, 5] }, { data: randArray(r, [3, 5, 6]), shape: [3, 5, 6] }], (a, b) => tf.matMul(a!, b!), false);
});

test('Conv2D matches cpu (strides, dilations, padding modes, batch 1)', { skip }, async () => {
  const r = rng(21);
  for (const c of randomConvCases(21, 50, true)) {
    const os = outShape(c);
    if (os[1] < 1 || os[2] < 1) continue;
    await assertMatchesCpu(
      `conv2d ${label(c)}`,
      [{ data: randArray(r, [c.n, c.h, c.w, c.ci]), shape: [c.n, c.h, c.w, c.ci] }, { data: randArray(r, [c.fh, c.fw, c.ci, c.co]), shape: [c.fh, c.fw, c.ci, c.co] }],
      (x, w) => tf.conv2d(x as Tensor4D, w as Tensor4D, c.s, c.pad as 'same', 'NHWC', c.d),
    );
  }
});

test('Conv2DBackpropInput and Conv2DBackpropFilter match cpu (gradients of conv2d)', { skip }, async () => {
  const r = rng(22);
  for (const c of randomConvCases(22, 50, false)) {
    const os = outShape(c);
    if (os[1] < 1 || os[2] < 1) continue;
    await assertMatchesCpu(
      `conv2d grads ${label(c)}`,
      [{ data: randArray(r, [c.n, c.h, c.w, c.ci]), shape: [c.n, c.h, c.w, c.ci] }, { data: randArray(r, [c.fh, c.fw, c.ci, c.co]), shape: [c.fh, c.fw, c.ci, c.co] }, { data: randArray(r, os), shape: os }],
      (x, w, dy) => tf.grads((a: Tensor, b: Tensor) => tf.conv2d(a as Tensor4D, b as Tensor4D, c.s, c.pad as 'same'))([x!, w!], dy),
    );
  }
});

test('conv2dTranspose matches cpu (decoder shapes and random ones)', { skip }, async () => {
  const r = rng(23);
  const cases: [number[], number[], number[], number, 'same' | 'valid'][] = [
    [[1, 7, 7, 64], [4, 4, 32, 64], [1, 14, 14, 32], 2, 'same'],
    [[3, 14, 14, 32], [4, 4, 1, 32], [3, 28, 28, 1], 2, 'same'],
    [[1, 3, 3, 8], [3, 3, 4, 8], [1, 7, 7, 4], 2, 'valid'],
    [[2, 5, 5, 6], [3, 3, 2, 6], [2, 5, 5, 2], 1, 'same'],
    [[2, 4, 5, 3], [5, 5, 2, 3], [2, 12, 15, 2], 3, 'same'],
  ];
  for (const [xs, ws, os, s, pad] of cases) {
    await assertMatchesCpu(`conv2dTranspose ${xs} ${ws} ${s} ${pad}`, [{ data: randArray(r, xs), shape: xs }, { data: randArray(r, ws), shape: ws }], (x, w) =>
      tf.conv2dTranspose(x as Tensor4D, w as Tensor4D, os as [number, number, number, number], s, pad),
    );
  }
});

test('Sum, LeakyRelu and broadcast Add/Multiply match cpu (the memory-bound kernels moved to native)', { skip }, async () => {
  const r = rng(41);
  const sums: [number[], number | number[], boolean, boolean][] = [
    [[64, 14, 14, 32], [1, 2], false, true],
    [[64, 14, 14, 32], [0, 1, 2], true, true],
    [[64, 256], 0, false, true],
    [[5, 37], 1, true, true],
    [[3, 4, 5], -1, false, true],
    [[1, 1, 7], [0, 1, 2], false, true],
    [[4, 5, 6], [0, 2], false, false], // not one block: the wasm kernel
  ];
  for (const [shape, axis, keepDims, native] of sums) {
    await assertMatchesCpu(`sum ${shape} axis ${axis} keepDims ${keepDims}`, [{ data: randArray(r, shape), shape }], (x) => tf.sum(x!, axis, keepDims), native);
  }
  for (const shape of [[64, 14, 14, 32], [3, 5], [7]]) {
    await assertMatchesCpu(`leakyRelu ${shape}`, [{ data: randArray(r, shape), shape }], (x) => tf.leakyRelu(x!, 0.2));
  }
  const adds: [number[], number[], boolean][] = [
    [[64, 14, 14, 32], [32], true],
    [[32], [64, 14, 14, 32], true],
    [[64, 256], [64, 256], true],
    [[6, 5], [1, 5], true],
    [[4, 3, 2], [3, 2], true],
    [[64, 14, 14, 32], [64, 1, 1, 32], true], // FiLM
    [[2, 3, 4, 5], [2, 1, 1, 5], true],
    [[5, 6], [], true], // scalar
    [[2, 3, 4], [2, 1, 4], true],
    [[2, 3, 4], [1, 3, 1], false], // two separate blocks: the wasm kernel
    [[3, 1], [1, 4], false], // both broadcast
  ];
  for (const [as, bs, native] of adds) {
    const inputs = [{ data: randArray(r, as), shape: as }, { data: randArray(r, bs), shape: bs }];
    await assertMatchesCpu(`add ${as} + ${bs}`, inputs, (a, b) => tf.add(a!, b!), native);
    await assertMatchesCpu(`mul ${as} * ${bs}`, inputs, (a, b) => tf.mul(a!, b!), native);
  }
});

test('the native Adam update is bit-identical to the wasm one and to the unfused tf ops', { skip }, async () => {
  const { ADAM_UPDATE } = await import('../src/backend/wasm-kernels.ts');
  const { setNativeKernelsActive } = await import('../src/backend/index.ts');
  await tf.setBackend('wasm');
  const r = rng(51);
  for (const shape of [[37], [5, 8], [3, 3, 2, 4], [1], [1000]]) {
    for (const wd of [0, 5e-4]) {
      const p = tf.tensor(randArray(r, shape), shape);
      const g = tf.tensor(randArray(r, shape).map((x) => x * 3), shape);
      const m = tf.tensor(randArray(r, shape).map((x) => x * 0.1), shape);
      const v = tf.tensor(randArray(r, shape).map((x) => Math.abs(x) * 0.01), shape);
      const attrs = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, lrT: 0.0123, weightDecay: wd };
      const before = nativeKernelCalls()[ADAM_UPDATE] ?? 0;
      const native = tf.engine().runKernel(ADAM_UPDATE, { p, g, m, v }, attrs) as Tensor[];
      assert.equal(nativeKernelCalls()[ADAM_UPDATE], before + 1);
      setNativeKernelsActive(false);
      let wasm: Tensor[];
      try {
        wasm = tf.engine().runKernel(ADAM_UPDATE, { p, g, m, v }, attrs) as Tensor[];
      } finally {
        setNativeKernelsActive(true);
      }
      const ref = tf.tidy(() => {
        const gg = wd > 0 ? tf.add(g, tf.mul(p, wd)) : g;
        const mNew = tf.add(tf.mul(m, 0.9), tf.mul(gg, 1 - 0.9));
        const vNew = tf.add(tf.mul(v, 0.999), tf.mul(tf.square(gg), 1 - 0.999));
        return [tf.sub(p, tf.mul(tf.div(mNew, tf.add(tf.sqrt(vNew), 1e-8)), 0.0123)), mNew, vNew];
      });
      for (let k = 0; k < 3; k++) {
        const got = Array.from(await native[k]!.data());
        assert.deepEqual(got, Array.from(await wasm[k]!.data()), `vs wasm: shape=${shape} wd=${wd} output ${k}`);
        assert.deepEqual(got, Array.from(await ref[k]!.data()), `vs tf ops: shape=${shape} wd=${wd} output ${k}`);
      }
      tf.dispose([p, g, m, v, ...native, ...wasm, ...ref]);
    }
  }
});

test('kernels stay correct across wasm heap growth', { skip }, async () => {
  // A 256 MiB tensor forces the heap to grow while earlier tensors live; outputs are allocated before views are taken.
  const r = rng(31);
  await assertMatchesCpu('matMul after growth', [{ data: randArray(r, [33, 65]), shape: [33, 65] }, { data: randArray(r, [65, 17]), shape: [65, 17] }], (a, b) => {
    const big = tf.getBackend() === 'wasm' ? tf.zeros([64 << 20]) : null;
    const out = tf.matMul(a!, b!);
    big?.dispose();
    return out;
  });
});

test('native-cpu falls back to wasm with one log line when the addon is missing', () => {
  const mod = new URL('../src/backend/index.ts', import.meta.url).href;
  const code = `import { selectBackend } from ${JSON.stringify(mod)};
const logs = [];
const info = await selectBackend({ preferred: 'native-cpu', log: (m, f) => logs.push(m + ' ' + JSON.stringify(f ?? {})) });
console.log(JSON.stringify({ name: info.name, logs }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, YOTO_NATIVE_BLAS_PATH: '/nonexistent/yoto_blas.node' },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { name: string; logs: string[] };
  assert.equal(out.name, 'wasm');
  const failures = out.logs.filter((l) => l.includes('native-cpu'));
  assert.equal(failures.length, 1, out.logs.join('\n'));
  assert.match(failures[0]!, /addon not built/);
});
