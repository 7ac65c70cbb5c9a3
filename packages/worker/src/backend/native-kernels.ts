/**
 * The `native-cpu` backend: the wasm backend (with its training kernels, see
 * wasm-kernels.ts) whose heavy kernels - MatMul/BatchMatMul, _FusedMatMul, Conv2D,
 * Conv2DBackpropInput (= conv2dTranspose's forward) and Conv2DBackpropFilter - run
 * in OpenBLAS through the optional addon in @yoto/native-blas.
 *
 * Tensors stay in the wasm heap: each kernel allocates its output there first (an
 * allocation may grow the heap, which detaches every earlier view), then takes
 * Float32Array views of inputs and output and hands them to the addon, which
 * reads and writes them in place. No copies, and every other kernel (elementwise,
 * reductions, the fused Adam) keeps working on the same tensors.
 *
 * The kernels are registered over the 'wasm' kernel registry and wrap what was
 * there before; while native routing is off (the `wasm` backend was selected) or
 * for a case they do not handle (NCHW, int dtypes, fused activations other than
 * linear/bias, irregular batch broadcasting) they call that previous kernel.
 *
 * It also registers kernels of its own that exist only here: whole FiLM blocks and plain
 * output layers (FILM_BLOCK, AFFINE_LAYER and their gradients; engine/film-block.ts) and
 * the β-VAE's reconstruction term (BCE_LOGITS; engine/bernoulli-nll.ts), one addon call each
 * way instead of dozens of tfjs kernels.
 *
 * Threads: OpenBLAS's pool size is process-wide; the backend selector sets it to
 * the worker's thread count (YOTO_THREADS, default all available cores). With two or
 * more, the fused layers split their batch over two threads themselves (see blas.c).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataType, KernelBackend, KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvDims, NativeBlas } from '@yoto/native-blas';
import { ADAM_UPDATE, type AdamUpdateAttrs } from './wasm-kernels.ts';

interface WasmBackend extends KernelBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}
type Inputs = Record<string, TensorInfo | undefined>;
type KernelArgs = { inputs: Inputs; attrs?: NamedAttrMap; backend: WasmBackend };
type KernelFn = (args: KernelArgs) => TensorInfo | TensorInfo[];

const BACKEND = 'wasm';

let blas: NativeBlas | null = null;
let active = false;
let registered: string[] | null = null;

/** Routes the kernels to OpenBLAS (true) or back to the wasm kernels they wrap (false). */
export function setNativeKernelsActive(on: boolean): void {
  if (on && !blas) throw new Error('native kernels are not registered');
  active = on;
}

export function nativeKernelsActive(): boolean {
  return active;
}

const calls: Record<string, number> = {};

/** How many times each kernel ran in OpenBLAS so far (for tests and benchmarks: proves the routing). */
export function nativeKernelCalls(): Readonly<Record<string, number>> {
  return { ...calls };
}

function count(name: string): void {
  calls[name] = (calls[name] ?? 0) + 1;
}

function size(shape: number[]): number {
  return shape.reduce((x, y) => x * y, 1);
}

function f32(...ts: (TensorInfo | undefined)[]): boolean {
  return ts.every((t) => t === undefined || t.dtype === 'float32');
}

/** Views of the given tensors in the wasm heap; take them only after the last allocation of the kernel. */
function views(backend: WasmBackend, ...ts: TensorInfo[]): Float32Array[] {
  return ts.map((t) => backend.typedArrayFromHeap(t));
}

// ---------------------------------------------------------------------------
// MatMul

interface MatMulPlan {
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
  outShape: number[];
}

/** The plan for op(a)·op(b) with batch broadcasting, or null for a broadcast the addon's strides cannot express. */
function planMatMul(a: TensorInfo, b: TensorInfo, ta: boolean, tb: boolean): MatMulPlan | null {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const m = ta ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = ta ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = tb ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = tb ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) return null; // the op validates shapes; let the wrapped kernel report it
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(aBatch, bBatch);
  const batch = size(outBatch);
  const batchA = size(aBatch);
  const batchB = size(bBatch);
  // Equal element counts imply equal (right-aligned) shapes, since the broadcast shape dominates both.
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return null;
  return { m, n, k, batch, strideA: batchA === 1 ? 0 : m * k, strideB: batchB === 1 ? 0 : k * n, outShape: [...outBatch, m, n] };
}

/** C = op(A)·op(B) (+ bias row) into a fresh output. */
function matMul(backend: WasmBackend, a: TensorInfo, b: TensorInfo, ta: boolean, tb: boolean, p: MatMulPlan, bias?: TensorInfo): TensorInfo {
  const out = backend.makeOutput(p.outShape, 'float32');
  const { m, n, k } = p;
  if (p.batch * m * n === 0) return out;
  const [A, B, C] = views(backend, a, b, out) as [Float32Array, Float32Array, Float32Array];
  let beta = 0;
  if (bias) {
    const [bv] = views(backend, bias) as [Float32Array];
    for (let r = 0; r < p.batch * m; r++) C.set(bv, r * n);
    beta = 1;
  }
  const lda = ta ? m : k;
  const ldb = tb ? k : n;
  if (p.strideB === 0 && p.strideA !== 0 && !ta) {
    // One tall product: [batch·m, k] x [k, n].
    blas!.sgemm(false, tb, p.batch * m, n, k, 1, A, 0, lda, B, 0, ldb, beta, C, 0, n, 1, 0, 0, 0);
  } else {
    blas!.sgemm(ta, tb, m, n, k, 1, A, 0, lda, B, 0, ldb, beta, C, 0, n, p.batch, p.strideA, p.strideB, m * n);
  }
  return out;
}

function batchMatMul(prev: KernelFn): KernelFn {
  return (args) => {
    const { a, b } = args.inputs;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    if (!active || !a || !b || !f32(a, b)) return prev(args);
    const plan = planMatMul(a, b, !!attrs.transposeA, !!attrs.transposeB);
    if (!plan) return prev(args);
    count(tf.BatchMatMul);
    return matMul(args.backend, a, b, !!attrs.transposeA, !!attrs.transposeB, plan);
  };
}

function fusedMatMul(prev: KernelFn): KernelFn {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean; activation?: string };
    const linear = attrs.activation === undefined || attrs.activation === 'linear';
    if (!active || !a || !b || !linear || preluActivationWeights || !f32(a, b, bias)) return prev(args);
    const plan = planMatMul(a, b, !!attrs.transposeA, !!attrs.transposeB);
    // A bias along the last axis only; other broadcasts go to the wasm kernel.
    if (!plan || (bias && (size(bias.shape) !== plan.n || bias.shape[bias.shape.length - 1] !== plan.n))) return prev(args);
    count(tf._FusedMatMul);
    return matMul(args.backend, a, b, !!attrs.transposeA, !!attrs.transposeB, plan, bias);
  };
}

// ---------------------------------------------------------------------------
// Convolutions (NHWC, HWIO filters)

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

function shape4(s: number[]): [number, number, number, number] {
  const [a = 1, b = 1, c = 1, d = 1] = s;
  return [a, b, c, d];
}

export function convDims(xShape: number[], filterShape: number[], strides: number | [number, number], dilations: number | [number, number], pad: Pad, rounding: Rounding): ConvDims {
  const x = shape4(xShape);
  const f = shape4(filterShape);
  const info = tf.backend_util.computeConv2DInfo(x, f, strides, dilations, pad, rounding, false, 'channelsLast');
  return [x[0], x[1], x[2], x[3], f[0], f[1], f[3], info.outHeight, info.outWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth, info.padInfo.top, info.padInfo.left];
}

function nhwc(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC';
}

function conv2D(prev: KernelFn): KernelFn {
  return (args) => {
    const { x, filter } = args.inputs;
    const a = (args.attrs ?? {}) as { strides: number | [number, number]; pad: Pad; dataFormat?: string; dilations?: number | [number, number]; dimRoundingMode?: Rounding };
    if (!active || !x || !filter || !f32(x, filter) || !nhwc(a.dataFormat) || x.shape.length !== 4) return prev(args);
    const d = convDims(x.shape, filter.shape, a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode);
    const out = args.backend.makeOutput([d[0], d[7], d[8], d[6]], 'float32');
    if (size(out.shape) === 0 || size(x.shape) === 0) return out;
    const [X, W, Y] = views(args.backend, x, filter, out) as [Float32Array, Float32Array, Float32Array];
    count(tf.Conv2D);
    blas!.conv2d(X, W, Y, d);
    return out;
  };
}

function conv2DBackpropInput(prev: KernelFn): KernelFn {
  return (args) => {
    const { dy, filter } = args.inputs;
    const a = (args.attrs ?? {}) as { strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: Rounding; inputShape: number[] };
    if (!active || !dy || !filter || !f32(dy, filter) || !nhwc(a.dataFormat)) return prev(args);
    const d = convDims(a.inputShape, filter.shape, a.strides, 1, a.pad, a.dimRoundingMode);
    if (d[7] !== dy.shape[1] || d[8] !== dy.shape[2]) return prev(args);
    const out = args.backend.makeOutput([...a.inputShape], 'float32');
    const [DY, W, DX] = views(args.backend, dy, filter, out) as [Float32Array, Float32Array, Float32Array];
    if (size(out.shape) === 0) return out;
    if (size(dy.shape) === 0) {
      DX.fill(0);
      return out;
    }
    count(tf.Conv2DBackpropInput);
    blas!.conv2dBackpropInput(DY, W, DX, d);
    return out;
  };
}

function conv2DBackpropFilter(prev: KernelFn): KernelFn {
  return (args) => {
    const { x, dy } = args.inputs;
    const a = (args.attrs ?? {}) as { strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: Rounding; filterShape: number[] };
    if (!active || !x || !dy || !f32(x, dy) || !nhwc(a.dataFormat)) return prev(args);
    const d = convDims(x.shape, a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode);
    if (d[7] !== dy.shape[1] || d[8] !== dy.shape[2]) return prev(args);
    const out = args.backend.makeOutput([...a.filterShape], 'float32');
    const [X, DY, DW] = views(args.backend, x, dy, out) as [Float32Array, Float32Array, Float32Array];
    if (size(out.shape) === 0) return out;
    if (size(dy.shape) === 0) {
      DW.fill(0);
      return out;
    }
    count(tf.Conv2DBackpropFilter);
    blas!.conv2dBackpropFilter(X, DY, DW, d);
    return out;
  };
}

// ---------------------------------------------------------------------------
// The memory-bound kernels that dominate once the products are fast (tf.profile of a
// conv VAE step): Sum over non-trailing axes (bias and FiLM gradients; the wasm
// kernel transposes first), LeakyRelu, and Add / Multiply with a bias, FiLM or
// scalar broadcast. Add, Multiply and LeakyRelu are the same float32 operations as
// the wasm kernels; Sum only changes the order of the additions.

/** [outer, r, inner] when `axes` (sorted, normalised) form one contiguous block. */
function reduceBlock(shape: number[], axes: number[]): [number, number, number] | null {
  for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1]! + 1) return null;
  const first = axes[0]!;
  const last = axes[axes.length - 1]!;
  return [size(shape.slice(0, first)), size(shape.slice(first, last + 1)), size(shape.slice(last + 1))];
}

function sum(prev: KernelFn): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    const a = (args.attrs ?? {}) as { axis: number | number[]; keepDims?: boolean };
    if (!active || !x || !f32(x) || x.shape.length === 0) return prev(args);
    const axes = [...new Set(tf.util.parseAxisParam(a.axis, x.shape))].sort((p, q) => p - q);
    if (axes.length === 0) return prev(args);
    const block = reduceBlock(x.shape, axes);
    if (!block) return prev(args);
    const outShape = a.keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const out = args.backend.makeOutput(outShape, 'float32');
    const [X, Y] = views(args.backend, x, out) as [Float32Array, Float32Array];
    count(tf.Sum);
    blas!.sumAxes(X, Y, block[0], block[1], block[2]);
    return out;
  };
}

function leakyRelu(prev: KernelFn): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    if (!active || !x || !f32(x)) return prev(args);
    const out = args.backend.makeOutput(x.shape, 'float32');
    const [X, Y] = views(args.backend, x, out) as [Float32Array, Float32Array];
    count(tf.LeakyRelu);
    blas!.leakyRelu(X, Y, (args.attrs as { alpha: number }).alpha);
    return out;
  };
}

/**
 * [outer, r, inner] when `small` broadcasts onto `big` (same rank after padding) along
 * one contiguous block of axes only, so the op is y[o, q, i] = big[o, q, i] ∘ small[o, i].
 */
function broadcastBlock(big: number[], small: number[]): [number, number, number] | null {
  if (small.length > big.length) return null;
  const t = [...Array<number>(big.length - small.length).fill(1), ...small];
  const spread = big.map((d, i) => t[i] === 1 && d > 1);
  const first = spread.indexOf(true);
  if (first < 0) return t.every((d, i) => d === big[i]) ? [1, 1, size(big)] : null;
  const last = spread.lastIndexOf(true);
  for (let i = 0; i < big.length; i++) {
    if (i >= first && i <= last) {
      if (t[i] !== 1) return null;
    } else if (t[i] !== big[i]) return null;
  }
  return [size(big.slice(0, first)), size(big.slice(first, last + 1)), size(big.slice(last + 1))];
}

/** Add / Multiply with such a broadcast; both are commutative in float32, so the big operand goes first. */
function binary(op: 0 | 1, name: string): (prev: KernelFn) => KernelFn {
  return (prev) => (args) => {
    const { a, b } = args.inputs;
    if (!active || !a || !b || !f32(a, b)) return prev(args);
    const [big, small] = size(a.shape) >= size(b.shape) ? [a, b] : [b, a];
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    if (size(outShape) !== size(big.shape) || size(outShape) === 0) return prev(args);
    const block = broadcastBlock(outShape, small.shape);
    if (!block) return prev(args);
    const out = args.backend.makeOutput(outShape, 'float32');
    const [X, B, Y] = views(args.backend, big, small, out) as [Float32Array, Float32Array, Float32Array];
    count(name);
    blas!.broadcastOp(op, X, B, Y, block[0], block[1], block[2]);
    return out;
  };
}

/** The fused Adam update (wasm-kernels.ts) in C: the same float32 operations, so the same bits. */
function adamUpdate(prev: KernelFn): KernelFn {
  return (args) => {
    const { p, g, m, v } = args.inputs;
    if (!active || !p || !g || !m || !v || !f32(p, g, m, v)) return prev(args);
    const n = size(p.shape);
    if ([g, m, v].some((t) => size(t.shape) !== n)) return prev(args);
    const a = args.attrs as unknown as AdamUpdateAttrs;
    // Allocate first: a malloc may grow the heap and detach earlier views.
    const outs = [0, 1, 2].map(() => args.backend.makeOutput(p.shape, 'float32'));
    const [P, G, M, V, P2, M2, V2] = views(args.backend, p, g, m, v, ...outs) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    const f = Math.fround;
    count(ADAM_UPDATE);
    blas!.adam(P, G, M, V, P2, M2, V2, f(a.beta1), f(1 - a.beta1), f(a.beta2), f(1 - a.beta2), f(a.epsilon), f(a.lrT), f(a.weightDecay), a.weightDecay > 0);
    return outs;
  };
}

// ---------------------------------------------------------------------------
// Whole FiLM blocks (engine/film-block.ts): layer, bias, FiLM generators, FiLM and
// leaky ReLU in one kernel each way. They exist only on native-cpu; nothing wraps them.

/**
 * Kernel name of a fused FiLM block's forward pass: outputs [y, u, g] (u = layer output before
 * FiLM, g = the FiLM generators' activations, flat, for the backward pass).
 */
export const FILM_BLOCK = 'YotoFilmBlock';
/** Kernel name of its backward pass (inputs include u and g of the forward pass): the gradients of all 12 inputs. */
export const FILM_BLOCK_GRAD = 'YotoFilmBlockGrad';

/** Kernel name of a plain layer's forward pass, `op(x, W) + b` (the output layers): the same addon call without FiLM. */
export const AFFINE_LAYER = 'YotoAffineLayer';
/** Its backward pass: the gradients of x, W and b. */
export const AFFINE_LAYER_GRAD = 'YotoAffineLayerGrad';

/** The generator inputs of a FiLM block, in the addon's order. */
export const FILM_GEN_INPUTS = ['ws1', 'bs1', 'ws2', 'bs2', 'wt1', 'bt1', 'wt2', 'bt2'] as const;

/** Attributes of both FiLM block kernels (see js_film_block in packages/native-blas/src/blas.c). */
export interface FilmBlockAttrs {
  ints: number[];
  alpha: number;
  scaleMul: number;
  shiftMul: number;
  /** Shape of y and u. */
  outShape: number[];
  /** False: x is data (the images), its gradient is left at zero and not computed. */
  inputGradient: boolean;
}

/** Floats of a block's saved generator activations g: 4*Bc*H + 2*Bc*ch (ints: [kind, B, Bc, cd, H, ch, ...]). */
function filmGenSize(ints: number[]): number {
  const [, , bc, , h, ch] = ints as [number, number, number, number, number, number];
  return 4 * bc * h + 2 * bc * ch;
}

/** The named inputs of one of the kernels below, each required to be float32. */
function floatInputs(kernel: string, inputs: Inputs, names: readonly string[]): TensorInfo[] {
  return names.map((n) => {
    const t = inputs[n];
    if (!t || t.dtype !== 'float32') throw new Error(`${kernel}: input ${n} must be a float32 tensor`);
    return t;
  });
}

function requireActive(kernel: string): void {
  if (!active || !blas) throw new Error(`${kernel} runs only on the native-cpu backend`);
}

function filmBlockForward(args: KernelArgs): TensorInfo[] {
  requireActive(FILM_BLOCK);
  const a = args.attrs as unknown as FilmBlockAttrs;
  const ins = floatInputs(FILM_BLOCK, args.inputs, ['x', 'W', 'b', 'c', ...FILM_GEN_INPUTS]);
  const outs = [args.backend.makeOutput(a.outShape, 'float32'), args.backend.makeOutput(a.outShape, 'float32'), args.backend.makeOutput([filmGenSize(a.ints)], 'float32')];
  count(FILM_BLOCK);
  blas!.filmBlock(0, views(args.backend, ...ins, ...outs), a.ints, [a.alpha, a.scaleMul, a.shiftMul]);
  return outs;
}

function filmBlockBackward(args: KernelArgs): TensorInfo[] {
  requireActive(FILM_BLOCK_GRAD);
  const a = args.attrs as unknown as FilmBlockAttrs;
  const ins = floatInputs(FILM_BLOCK_GRAD, args.inputs, ['dy', 'x', 'W', 'u', 'c', ...FILM_GEN_INPUTS]);
  const [g] = floatInputs(FILM_BLOCK_GRAD, args.inputs, ['g']);
  const gradOf = [ins[1]!, ins[2]!, args.inputs.b, ins[4]!, ...ins.slice(5)];
  const outs = gradOf.map((t) => {
    if (!t) throw new Error(`${FILM_BLOCK_GRAD}: input b (only its shape) is required`);
    return args.backend.makeOutput(t.shape, 'float32');
  });
  count(FILM_BLOCK_GRAD);
  const v = views(args.backend, ...ins, ...outs, g!);
  blas!.filmBlock(a.inputGradient ? 1 : 2, v, a.ints, [a.alpha, a.scaleMul, a.shiftMul]);
  return outs;
}

function affineForward(args: KernelArgs): TensorInfo {
  requireActive(AFFINE_LAYER);
  const a = args.attrs as unknown as FilmBlockAttrs;
  const ins = floatInputs(AFFINE_LAYER, args.inputs, ['x', 'W', 'b']);
  const out = args.backend.makeOutput(a.outShape, 'float32');
  count(AFFINE_LAYER);
  blas!.filmBlock(3, views(args.backend, ...ins, out), a.ints, [a.alpha, a.scaleMul, a.shiftMul]);
  return out;
}

function affineBackward(args: KernelArgs): TensorInfo[] {
  requireActive(AFFINE_LAYER_GRAD);
  const a = args.attrs as unknown as FilmBlockAttrs;
  const [dy, x, W, b] = floatInputs(AFFINE_LAYER_GRAD, args.inputs, ['dy', 'x', 'W', 'b']) as [TensorInfo, TensorInfo, TensorInfo, TensorInfo];
  const outs = [x, W, b].map((t) => args.backend.makeOutput(t.shape, 'float32'));
  count(AFFINE_LAYER_GRAD);
  blas!.filmBlock(a.inputGradient ? 4 : 5, views(args.backend, dy, x, W, ...outs), a.ints, [a.alpha, a.scaleMul, a.shiftMul]);
  return outs;
}

/** Kernel name of the β-VAE's reconstruction term on native-cpu: inputs logits, x ([rows, cols]); output the per-row Bernoulli NLL [rows]. */
export const BCE_LOGITS = 'YotoBceLogits';
/** Its gradient with respect to the logits: inputs dy [rows], logits, x; output dlogits. */
export const BCE_LOGITS_GRAD = 'YotoBceLogitsGrad';

function bceForward(args: KernelArgs): TensorInfo {
  requireActive(BCE_LOGITS);
  const [l, x] = floatInputs(BCE_LOGITS, args.inputs, ['logits', 'x']) as [TensorInfo, TensorInfo];
  if (l.shape.length !== 2 || x.shape.length !== 2 || l.shape[0] !== x.shape[0] || l.shape[1] !== x.shape[1]) {
    throw new Error(`${BCE_LOGITS}: logits ${JSON.stringify(l.shape)} and x ${JSON.stringify(x.shape)} must be one [rows, cols] shape`);
  }
  const out = args.backend.makeOutput([l.shape[0]!], 'float32');
  count(BCE_LOGITS);
  blas!.bceLogits(0, views(args.backend, l, x, out), l.shape[0]!, l.shape[1]!);
  return out;
}

function bceBackward(args: KernelArgs): TensorInfo {
  requireActive(BCE_LOGITS_GRAD);
  const [dy, l, x] = floatInputs(BCE_LOGITS_GRAD, args.inputs, ['dy', 'logits', 'x']) as [TensorInfo, TensorInfo, TensorInfo];
  const out = args.backend.makeOutput(l.shape, 'float32');
  count(BCE_LOGITS_GRAD);
  blas!.bceLogits(1, views(args.backend, dy, l, x, out), l.shape[0]!, l.shape[1]!);
  return out;
}

// ---------------------------------------------------------------------------

const WRAPPERS: Record<string, (prev: KernelFn) => KernelFn> = {
  [tf.BatchMatMul]: batchMatMul,
  [tf._FusedMatMul]: fusedMatMul,
  [tf.Conv2D]: conv2D,
  [tf.Conv2DBackpropInput]: conv2DBackpropInput,
  [tf.Conv2DBackpropFilter]: conv2DBackpropFilter,
  [tf.Sum]: sum,
  [tf.LeakyRelu]: leakyRelu,
  [tf.Add]: binary(0, tf.Add),
  [tf.Multiply]: binary(1, tf.Multiply),
  [ADAM_UPDATE]: adamUpdate,
};

/**
 * Wraps the wasm kernels above with the OpenBLAS ones. Call after registerWasmKernels()
 * (the wrapped kernels are whatever 'wasm' has at that moment). Idempotent; returns the
 * kernel names. Routing starts off: see setNativeKernelsActive.
 */
export function registerNativeKernels(addon: NativeBlas): string[] {
  blas = addon;
  if (!registered) {
    const configs: KernelConfig[] = [];
    for (const [name, wrap] of Object.entries(WRAPPERS)) {
      const prev = tf.getKernel(name, BACKEND);
      if (!prev) throw new Error(`wasm kernel ${name} is not registered`);
      const kernelFunc = wrap(prev.kernelFunc as unknown as KernelFn) as unknown as KernelConfig['kernelFunc'];
      configs.push({ kernelName: name, backendName: BACKEND, kernelFunc, setupFunc: prev.setupFunc, disposeFunc: prev.disposeFunc });
    }
    for (const c of configs) {
      tf.unregisterKernel(c.kernelName, BACKEND);
      tf.registerKernel(c);
    }
    const own: [string, KernelFn][] = [
      [FILM_BLOCK, filmBlockForward],
      [FILM_BLOCK_GRAD, filmBlockBackward],
      [AFFINE_LAYER, affineForward],
      [AFFINE_LAYER_GRAD, affineBackward],
      [BCE_LOGITS, bceForward],
      [BCE_LOGITS_GRAD, bceBackward],
    ];
    for (const [kernelName, fn] of own) {
      if (!tf.getKernel(kernelName, BACKEND)) tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc: fn as unknown as KernelConfig['kernelFunc'] });
      configs.push({ kernelName, backendName: BACKEND, kernelFunc: fn as unknown as KernelConfig['kernelFunc'] });
    }
    registered = configs.map((c) => c.kernelName);
  }
  return [...registered];
}
