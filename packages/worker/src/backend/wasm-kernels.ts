/**
 * Training kernels for the tfjs 'wasm' backend, built from its own fast
 * (XNNPACK) Conv2D / BatchMatMul / Transpose kernels.
 *
 * Stock tfjs-backend-wasm 4.22 is inference-oriented:
 *  - Conv2DBackpropFilter is not registered at all, so no conv net can train;
 *  - Conv2DBackpropInput (gradient of conv2d, forward of conv2dTranspose) is a
 *    naive loop at ~3 GFLOP/s;
 *  - BatchMatMul / _FusedMatMul with transposeA/transposeB fall off XNNPACK's
 *    fast path (~2 GFLOP/s against ~29 for a plain product), and every dense
 *    layer's gradient uses them;
 *  - UnsortedSegmentSum (gather's gradient) and the depthwise-conv gradients
 *    are missing.
 * The replacements call the original wasm kernel functions directly with the
 * backend (the same way the wasm kernels compose each other), never tf ops, so
 * the engine sees one kernel and gradients/tape/profiling stay unchanged.
 * Intermediates are freed with backend.disposeData.
 *
 * Threads: single-threaded on purpose. tfjs-backend-wasm hard-wires
 * WASM_HAS_MULTITHREAD_SUPPORT to false under Node (tensorflow/tfjs#3830) and
 * its init() hands emscripten a Blob-URL pthread worker, which Node's
 * worker_threads cannot load. Bypassing init() works only partway: the
 * threaded glue loads if its embedded worker source is written to a file and
 * the backend is re-registered by hand, but XNNPACK's pthreadpool still comes
 * up with 1 thread (no pthread ever starts; tested with tfjs 4.22, Node 20),
 * so it would add private-API hacks and ~1 s start-up for no speed-up.
 * Parallelism comes from one worker process per core instead.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendValues, DataType, KernelBackend, KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

/** The parts of BackendWasm the kernels touch. */
interface WasmBackend extends KernelBackend {
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number, values?: BackendValues): TensorInfo;
}

type Inputs = Record<string, TensorInfo>;
type KernelArgs = { inputs: Inputs; attrs?: NamedAttrMap; backend: WasmBackend };

const BACKEND = 'wasm';

/** Original wasm kernels captured before we replace any of them. */
const originals = new Map<string, KernelConfig>();
let registered: string[] | null = null;

function original(name: string): KernelConfig {
  const k = originals.get(name) ?? tf.getKernel(name, BACKEND);
  if (!k) throw new Error(`wasm kernel ${name} is not registered`);
  return k;
}

/** Runs original wasm kernels and frees every intermediate it produced unless kept. */
class Scope {
  private readonly owned: TensorInfo[] = [];
  constructor(readonly backend: WasmBackend) {}

  run(name: string, inputs: Inputs, attrs: NamedAttrMap = {}): TensorInfo {
    const out = original(name).kernelFunc({ inputs, attrs, backend: this.backend }) as TensorInfo;
    this.owned.push(out);
    return out;
  }

  write(values: Float32Array, shape: number[]): TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32', undefined, values);
    this.owned.push(out);
    return out;
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run(tf.Transpose, { x }, { perm });
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run(tf.Reshape, { x }, { shape });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run(tf.Slice, { x }, { begin, size });
  }

  conv2d(x: TensorInfo, filter: TensorInfo, strides: [number, number], dilations: [number, number], pad: tf.backend_util.ExplicitPadding): TensorInfo {
    return this.run(tf.Conv2D, { x, filter }, { strides, dilations, pad, dataFormat: 'NHWC', dimRoundingMode: undefined } as unknown as NamedAttrMap);
  }

  /** Releases everything except `result`, which the caller returns to the engine. */
  finish(result: TensorInfo): TensorInfo {
    for (const t of this.owned) if (t !== result) this.backend.disposeData(t.dataId);
    return result;
  }

  dispose(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
  }
}

function withScope(backend: WasmBackend, f: (s: Scope) => TensorInfo): TensorInfo {
  const s = new Scope(backend);
  let result: TensorInfo;
  try {
    result = f(s);
  } catch (err) {
    s.dispose();
    throw err;
  }
  return s.finish(result);
}

function pair(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

function shape4(t: TensorInfo): [number, number, number, number] {
  const [a = 1, b = 1, c = 1, d = 1] = t.shape;
  return [a, b, c, d];
}

function assertNHWC(dataFormat: unknown, kernel: string): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`wasm ${kernel} supports only dataFormat NHWC, got ${String(dataFormat)}`);
  }
}

// ---------------------------------------------------------------------------
// Conv2DBackpropFilter
//
// dW[i,j,c,o] = sum_{n,y,x} X[n, y*s + i - padTop, x*s + j - padLeft, c] * dY[n,y,x,o]
// is itself a convolution in which the input channel c plays the batch, the
// example index n plays the input channel, dY is the filter, and the stride of
// the forward conv becomes a dilation: conv2d(X^T[c,h,w,n], dY^T[y,x,n,o],
// stride 1, dilation s) -> [c, i, j, o]. XNNPACK runs that as one GEMM with
// K = N*outH*outW, which is where the FLOPs are.

interface BackpropFilterAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as BackpropFilterAttrs;
  assertNHWC(attrs.dataFormat, 'Conv2DBackpropFilter');
  const info = tf.backend_util.computeConv2DInfo(shape4(x), attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const [, inH, inW, inC] = shape4(x);
  const [, outH, outW, outC] = shape4(dy);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  return withScope(args.backend, (s) => {
    let xs = x;
    let h = inH;
    let w = inW;
    // Rows/cols past the last window never contribute; the conv needs them gone rather than negatively padded.
    let bottom = fh + (outH - 1) * sh - inH - top;
    let right = fw + (outW - 1) * sw - inW - left;
    if (bottom < 0 || right < 0) {
      h = bottom < 0 ? inH + bottom : inH;
      w = right < 0 ? inW + right : inW;
      xs = s.slice(x, [0, 0, 0, 0], [x.shape[0] ?? 1, h, w, inC]);
      bottom = Math.max(0, bottom);
      right = Math.max(0, right);
    }
    const xt = s.transpose(xs, [3, 1, 2, 0]); // [C, H, W, N]
    const dyt = s.transpose(dy, [1, 2, 0, 3]); // [outH, outW, N, O]
    const r = s.conv2d(xt, dyt, [1, 1], [sh, sw], [[0, 0], [top, bottom], [left, right], [0, 0]]); // [C, fh, fw, O]
    if (r.shape[1] !== fh || r.shape[2] !== fw) {
      throw new Error(`Conv2DBackpropFilter: internal shape mismatch ${r.shape} vs filter ${attrs.filterShape}`);
    }
    const out = s.transpose(r, [1, 2, 0, 3]);
    void outC;
    return out;
  });
}

// ---------------------------------------------------------------------------
// Conv2DBackpropInput (also the forward pass of conv2dTranspose)
//
// Sub-pixel ("phase split") formulation: output row Y = q*s + r receives
// sum_k dY[q-k] * W[r + k*s]. For every phase (r, rx) that is an ordinary
// stride-1 conv of dY with a flipped sub-filter of size ceil(f/s); all s*s
// phases share the same window, so they are stacked on the output-channel axis
// of one filter [Kh, Kw, O, s*s*C], run as a single XNNPACK conv, and
// interleaved back with a reshape/transpose (depth-to-space) and a crop. This
// does exactly the FLOPs of the transposed conv, where the textbook
// "zero-dilate dY then conv" wastes (1 - 1/s^2) of them on zeros.

interface BackpropInputAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

export type BackpropInputStrategy = 'phase' | 'dilate';
let backpropInputStrategy: BackpropInputStrategy = 'phase';

/** For benchmarks: choose how Conv2DBackpropInput is lowered. */
export function setBackpropInputStrategy(s: BackpropInputStrategy): void {
  backpropInputStrategy = s;
}

let stockKernels = false;

/** For benchmarks: route the replaced kernels back to tfjs-backend-wasm's own implementations. */
export function setStockKernels(on: boolean): void {
  stockKernels = on;
}

function readFloats(backend: WasmBackend, t: TensorInfo): Float32Array {
  return backend.readSync(t.dataId) as Float32Array;
}

function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as BackpropInputAttrs;
  if (stockKernels) return original(tf.Conv2DBackpropInput).kernelFunc(args as never) as TensorInfo;
  assertNHWC(attrs.dataFormat, 'Conv2DBackpropInput');
  const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, shape4(filter), attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const [n, inH, inW, inC] = attrs.inputShape;
  const [, outH, outW, outC] = shape4(dy);
  const [fh, fw] = shape4(filter);
  const [sh, sw] = pair(attrs.strides);
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const wData = readFloats(args.backend, filter);
  if (backpropInputStrategy === 'dilate') return backpropInputDilate(args.backend, dy, wData, { n, inH, inW, inC, outH, outW, outC, fh, fw, sh, sw, top, left });

  const kh = Math.ceil(fh / sh);
  const kw = Math.ceil(fw / sw);
  const phases = sh * sw;
  const cOut = phases * inC;
  // F[t, tx, o, (r*sw + rx)*C + c] = W[r + (kh-1-t)*sh, rx + (kw-1-tx)*sw, c, o]
  const f = new Float32Array(kh * kw * outC * cOut);
  for (let t = 0; t < kh; t++) {
    for (let tx = 0; tx < kw; tx++) {
      for (let r = 0; r < sh; r++) {
        const i = r + (kh - 1 - t) * sh;
        if (i >= fh) continue;
        for (let rx = 0; rx < sw; rx++) {
          const j = rx + (kw - 1 - tx) * sw;
          if (j >= fw) continue;
          const dstPhase = (r * sw + rx) * inC;
          for (let c = 0; c < inC; c++) {
            const src = ((i * fw + j) * inC + c) * outC;
            for (let o = 0; o < outC; o++) {
              f[((t * kw + tx) * outC + o) * cOut + dstPhase + c] = wData[src + o]!;
            }
          }
        }
      }
    }
  }
  // Phase rows q cover Y = y + top in [0, qh*sh); dY rows past qh feed nothing.
  const qh = Math.ceil((inH + top) / sh);
  const qw = Math.ceil((inW + left) / sw);
  return withScope(args.backend, (s) => {
    let d = dy;
    let rows = outH;
    let cols = outW;
    if (outH > qh || outW > qw) {
      rows = Math.min(outH, qh);
      cols = Math.min(outW, qw);
      d = s.slice(dy, [0, 0, 0, 0], [n, rows, cols, outC]);
    }
    const filt = s.write(f, [kh, kw, outC, cOut]);
    const y = s.conv2d(d, filt, [1, 1], [1, 1], [[0, 0], [kh - 1, qh - rows], [kw - 1, qw - cols], [0, 0]]); // [n, qh, qw, s*s*C]
    let full: TensorInfo;
    if (phases === 1) {
      full = y;
    } else {
      const y6 = s.reshape(y, [n, qh, qw, sh, sw, inC]);
      const t6 = s.transpose(y6, [0, 1, 3, 2, 4, 5]);
      full = s.reshape(t6, [n, qh * sh, qw * sw, inC]);
    }
    if (top === 0 && left === 0 && qh * sh === inH && qw * sw === inW) return full;
    return s.slice(full, [0, top, left, 0], [n, inH, inW, inC]);
  });
}

interface BpiDims { n: number; inH: number; inW: number; inC: number; outH: number; outW: number; outC: number; fh: number; fw: number; sh: number; sw: number; top: number; left: number }

/** Textbook lowering kept for benchmarking against the phase split: zero-insert dY, then conv with the flipped filter. */
function backpropInputDilate(backend: WasmBackend, dy: TensorInfo, wData: Float32Array, d: BpiDims): TensorInfo {
  const { n, inH, inW, inC, outH, outW, outC, fh, fw, sh, sw, top, left } = d;
  const f = new Float32Array(fh * fw * outC * inC);
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++)
      for (let c = 0; c < inC; c++)
        for (let o = 0; o < outC; o++) f[(((fh - 1 - i) * fw + (fw - 1 - j)) * outC + o) * inC + c] = wData[((i * fw + j) * inC + c) * outC + o]!;
  const dh = (outH - 1) * sh + 1;
  const dw = (outW - 1) * sw + 1;
  const padTop = fh - 1 - top;
  const padLeft = fw - 1 - left;
  const padBottom = inH + fh - 1 - dh - padTop;
  const padRight = inW + fw - 1 - dw - padLeft;
  return withScope(backend, (s) => {
    let dd = dy;
    if (sh > 1 || sw > 1) {
      // Zero insertion = pad a trailing unit axis, reshape, and trim the last stride.
      const z = s.reshape(dy, [n, outH, 1, outW, 1, outC]);
      const p = s.run(tf.PadV2, { x: z }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
      const r = s.reshape(p, [n, outH * sh, outW * sw, outC]);
      dd = s.slice(r, [0, 0, 0, 0], [n, dh, dw, outC]);
    }
    const filt = s.write(f, [fh, fw, outC, inC]);
    // A forward pad wider than the filter makes these negative: pad by zero and crop instead.
    const y = s.conv2d(dd, filt, [1, 1], [1, 1], [[0, 0], [Math.max(0, padTop), Math.max(0, padBottom)], [Math.max(0, padLeft), Math.max(0, padRight)], [0, 0]]);
    if (padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0) return y;
    return s.slice(y, [0, Math.max(0, -padTop), Math.max(0, -padLeft), 0], [n, inH, inW, inC]);
  });
}

// ---------------------------------------------------------------------------
// BatchMatMul / _FusedMatMul with transposes: transpose explicitly (a memory
// pass) and run the plain product, which is XNNPACK's fast path.
//
// XNNPACK weight cache. On the fast path (no transposes, batch 1) the wasm
// kernels hand b to xnn_create_fully_connected_nc_f32, which packs b's values
// for a [K, N] weight matrix, and cache that operator keyed by b's tensor id
// (plus bias id and activation) only - not by its shape (batch_mat_mul_impl.cc,
// tfjs 4.22). The entry is dropped only when the tensor's data is freed. But a
// Reshape shares the dataId (and so the tensor id) of its input, so the same
// data can come back as b with a different [K, N] - e.g. dy [1, n] relabelled
// to [n, 1] for one product of a gradient and used as [1, n] in the next, or
// any user-level reshape of a tensor that was already a matmul's b. XNNPACK
// then reuses the operator packed for the first shape: wrong values, and reads
// past the end of the packed weights (the 1e-43 garbage). So every b that
// reaches the fast path goes through `xnnWeights`, which remembers the [K, N]
// each dataId was first packed as and hands a private copy (fresh id) to any
// call that needs another one.

/** The [K, N] each b dataId was (or is about to be) packed as by XNNPACK. */
const packedAs = new WeakMap<object, string>();

function batchOf(t: TensorInfo): number {
  return t.shape.slice(0, -2).reduce((x, y) => x * y, 1);
}

/** b as it may safely enter an original BatchMatMul/_FusedMatMul with these attributes. */
function xnnWeights(s: Scope, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  // The slow (naive-loop) path caches nothing.
  if (transposeA || transposeB || batchOf(a) !== 1 || batchOf(b) !== 1) return b;
  const rank = b.shape.length;
  const kn = `${b.shape[rank - 2]}x${b.shape[rank - 1]}`;
  const seen = packedAs.get(b.dataId);
  if (seen === undefined) {
    packedAs.set(b.dataId, kn);
    return b;
  }
  if (seen === kn) return b;
  return s.run(tf.Identity, { x: b }); // a copy: new tensor id, packed afresh and freed with the scope
}

/** Runs the original matmul kernel `name` with b made safe for the XNNPACK weight cache. */
function runMatMul(s: Scope, name: string, inputs: Inputs & { a: TensorInfo; b: TensorInfo }, attrs: NamedAttrMap & { transposeA?: boolean; transposeB?: boolean }): TensorInfo {
  const b = xnnWeights(s, inputs.a, inputs.b, !!attrs.transposeA, !!attrs.transposeB);
  return s.run(name, { ...inputs, b }, attrs);
}

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

function untransposed(s: Scope, t: TensorInfo, transposed: boolean): TensorInfo {
  if (!transposed) return t;
  const rank = t.shape.length;
  // A [.., 1, k] <-> [.., k, 1] swap is a pure relabelling. The result shares t's dataId under
  // another shape, so it must reach a matmul's b only through runMatMul (XNNPACK weight cache).
  if (t.shape[rank - 1] === 1 || t.shape[rank - 2] === 1) {
    const shape = t.shape.slice();
    [shape[rank - 2], shape[rank - 1]] = [shape[rank - 1]!, shape[rank - 2]!];
    return s.reshape(t, shape);
  }
  return s.transpose(t, swapLastTwo(rank));
}

function size(t: TensorInfo): number {
  return t.shape.reduce((x, y) => x * y, 1);
}

function batchMatMul(args: KernelArgs): TensorInfo {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const ta = !!attrs.transposeA;
  const tb = !!attrs.transposeB;
  if (stockKernels || (!ta && !tb)) return withScope(args.backend, (s) => runMatMul(s, tf.BatchMatMul, { a, b }, { transposeA: ta, transposeB: tb }));
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = ta ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const n = tb ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  const batch = Math.max(size(a) / (a.shape[ra - 1]! * a.shape[ra - 2]!), size(b) / (b.shape[rb - 1]! * b.shape[rb - 2]!));
  // Either transpose the operands that need it, or compute C^T = op(B)^T op(A)^T and transpose
  // the product: pick whichever moves fewer elements (dense dX = dY W^T favours the second,
  // since W is large and dY small).
  const direct = (ta ? size(a) : 0) + (tb ? size(b) : 0);
  const viaOutput = (ta ? 0 : size(a)) + (tb ? 0 : size(b)) + batch * m * n;
  const plain = { transposeA: false, transposeB: false };
  return withScope(args.backend, (s) => {
    if (direct <= viaOutput) {
      return runMatMul(s, tf.BatchMatMul, { a: untransposed(s, a, ta), b: untransposed(s, b, tb) }, plain);
    }
    const ct = runMatMul(s, tf.BatchMatMul, { a: untransposed(s, b, !tb), b: untransposed(s, a, !ta) }, plain);
    return untransposed(s, ct, true);
  });
}

function fusedMatMul(args: KernelArgs): TensorInfo {
  const attrs = (args.attrs ?? {}) as NamedAttrMap & { transposeA?: boolean; transposeB?: boolean };
  const { a, b, ...rest } = args.inputs as { a: TensorInfo; b: TensorInfo } & Inputs;
  if (stockKernels || (!attrs.transposeA && !attrs.transposeB)) return withScope(args.backend, (s) => runMatMul(s, tf._FusedMatMul, { a, b, ...rest }, attrs));
  return withScope(args.backend, (s) =>
    runMatMul(s, tf._FusedMatMul, { a: untransposed(s, a, !!attrs.transposeA), b: untransposed(s, b, !!attrs.transposeB), ...rest }, { ...attrs, transposeA: false, transposeB: false }),
  );
}

// ---------------------------------------------------------------------------
// Identity without a copy. The stock wasm Identity copies its input into fresh
// memory, and the engine runs it on every tensor a gradient saves
// (saveTensorsForBackwardMode → clone) and in broadcastTo/where: ~180 full
// copies per training step of the FiLM MLP. Tensors are immutable and the wasm
// backend refcounts data (Reshape already shares it), so a clone can share the
// data as the cpu and webgl backends' Identity does. Same dataId means same
// XNNPACK tensor id, which is safe: the shape is the same too. `xnnWeights`
// still needs a real copy and calls the original kernel.

function identity(args: KernelArgs): TensorInfo {
  const { x } = args.inputs as { x: TensorInfo };
  if (stockKernels || x.dtype === 'string') return original(tf.Identity).kernelFunc(args as never) as TensorInfo;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

// ---------------------------------------------------------------------------
// Fused Adam update (custom kernel `YotoAdamUpdate`, wasm only; see engine/adam.ts).
// One pass over p, g, m, v instead of ~12 elementwise kernels per parameter, each
// of which reads and writes the whole tensor (~22 ms of a 180 ms FiLM-MLP step).
// The loop is a tiny hand-assembled WebAssembly SIMD function run on the wasm
// backend's own memory (~1.2 ns per element); elements past the last multiple of
// 4, or every element when that module cannot be made, go through the same
// arithmetic in JS. Both do exactly the float32 operations of the unfused tf ops,
// in the same order (f32x4 add/sub/mul/div/sqrt are IEEE; in JS every step is
// rounded with Math.fround, and float64 results of float32 operands rounded once
// are the correctly rounded float32 results), so results are bit-identical to
// them (tested in kernels.test.ts).
// Outputs are new tensors (p', m', v'), never written in place: XNNPACK caches
// packed weights by tensor id, and data may be shared (Identity above).

export const ADAM_UPDATE = 'YotoAdamUpdate';

export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Bias-corrected step size. */
  lrT: number;
  /** L2 coefficient folded into the gradient (`g + wd·p`); 0 for none. */
  weightDecay: number;
}

type LeakyFn = (dy: number, x: number, out: number, n: number, alpha: number) => void;
type AdamFn = (p: number, g: number, m: number, v: number, p2: number, m2: number, v2: number, n: number, b1: number, c1: number, b2: number, c2: number, eps: number, lrT: number, wd: number, decay: number) => void;

/**
 * The module, in the binary format. Params 0-6: byte offsets of p, g, m, v, p', m', v';
 * 7: element count (a multiple of 4); 8-14: b1, 1−b1, b2, 1−b2, ε, lrT, wd (f32);
 * 15: apply decay. Per 4 lanes:
 *   g ← g + p·wd (if decay); m' = m·b1 + g·(1−b1); v' = v·b2 + (g·g)·(1−b2);
 *   p' = p − (m' / (√v' + ε))·lrT.
 */
function adamModuleBytes(): Uint8Array {
  const uleb = (n: number): number[] => {
    const o: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      o.push(b);
    } while (n);
    return o;
  };
  const sec = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
  const str = (x: string) => [...uleb(x.length), ...Array.from(x, (ch) => ch.charCodeAt(0))];
  const [I32, F32, V128] = [0x7f, 0x7d, 0x7b];
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const I = 16; // byte index local (adam)
  const load = (base: number, i = I) => [...get(base), ...get(i), 0x6a, ...simd(0x00), 2, 0];
  const store = (base: number, val: number[], i = I) => [...get(base), ...get(i), 0x6a, ...val, ...simd(0x0b), 2, 0];
  const [ADD, SUB, MUL, DIV, SQRT, SPLAT] = [simd(0xe4), simd(0xe5), simd(0xe6), simd(0xe7), simd(0xe3), simd(0x13)];
  // Locals: 16 i; 17-23 splats of params 8-14; 24 p, 25 g, 26 m', 27 v'.
  const body = [
    2, 1, I32, 11, V128,
    ...[0, 1, 2, 3, 4, 5, 6].flatMap((k) => [...get(8 + k), ...SPLAT, ...set(17 + k)]),
    ...get(7), 0x41, 2, 0x74, ...set(7), // n ← n·4 (bytes)
    0x02, 0x40, 0x03, 0x40, // block loop
    ...get(I), ...get(7), 0x4f, 0x0d, 1, // if i >= n break
    ...load(0), ...set(24), ...load(1), ...set(25),
    ...get(15), 0x04, 0x40, ...get(25), ...get(24), ...get(23), ...MUL, ...ADD, ...set(25), 0x0b,
    ...load(2), ...get(17), ...MUL, ...get(25), ...get(18), ...MUL, ...ADD, ...set(26),
    ...load(3), ...get(19), ...MUL, ...get(25), ...get(25), ...MUL, ...get(20), ...MUL, ...ADD, ...set(27),
    ...store(5, get(26)),
    ...store(6, get(27)),
    ...store(4, [...get(24), ...get(26), ...get(27), ...SQRT, ...get(21), ...ADD, ...DIV, ...get(22), ...MUL, ...SUB]),
    ...get(I), 0x41, 16, 0x6a, ...set(I), 0x0c, 0, // i += 16; continue
    0x0b, 0x0b, 0x0b,
  ];
  // leaky(dy, x, out, n, α): out = x > 0 ? dy : dy·α. Locals: 5 i; 6 splat α; 7 dy.
  const leaky = [
    2, 1, I32, 2, V128,
    ...get(4), ...SPLAT, ...set(6),
    ...get(3), 0x41, 2, 0x74, ...set(3),
    0x02, 0x40, 0x03, 0x40,
    ...get(5), ...get(3), 0x4f, 0x0d, 1,
    ...load(0, 5), ...set(7),
    ...store(2, [...get(7), ...get(7), ...get(6), ...MUL, ...load(1, 5), 0x43, 0, 0, 0, 0, ...SPLAT, ...simd(0x44), ...simd(0x52)], 5), // bitselect(dy, dy·α, x > 0)
    ...get(5), 0x41, 16, 0x6a, ...set(5), 0x0c, 0,
    0x0b, 0x0b, 0x0b,
  ];
  return new Uint8Array([
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...sec(1, [2, 0x60, 16, I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, I32, 0, 0x60, 5, I32, I32, I32, I32, F32, 0]),
    ...sec(2, [1, ...str('e'), ...str('m'), 0x02, 0x00, 1]), // import memory e.m, min 1 page
    ...sec(3, [2, 0, 1]),
    ...sec(7, [2, ...str('adam'), 0x00, 0, ...str('leaky'), 0x00, 1]),
    ...sec(10, [2, ...uleb(body.length), ...body, ...uleb(leaky.length), ...leaky]),
  ]);
}

/** The SIMD loop bound to this backend's memory; null where it cannot be made (then JS does it all). */
const simdFns = new WeakMap<object, { adam: AdamFn; leaky: LeakyFn } | null>();

function simdKernels(backend: WasmBackend): { adam: AdamFn; leaky: LeakyFn } | null {
  if (simdFns.has(backend)) return simdFns.get(backend)!;
  let fn: { adam: AdamFn; leaky: LeakyFn } | null = null;
  try {
    const mod = (backend as unknown as { wasm?: { asm?: Record<string, unknown>; wasmMemory?: unknown; HEAPU8?: Uint8Array } }).wasm;
    const mem = [mod?.asm?.['memory'], mod?.wasmMemory].find((m): m is WebAssembly.Memory => m instanceof WebAssembly.Memory && m.buffer === mod?.HEAPU8?.buffer);
    if (mem && !(mem.buffer instanceof SharedArrayBuffer)) {
      const inst = new WebAssembly.Instance(new WebAssembly.Module(adamModuleBytes() as Uint8Array<ArrayBuffer>), { e: { m: mem } });
      fn = { adam: inst.exports['adam'] as AdamFn, leaky: inst.exports['leaky'] as LeakyFn };
    }
  } catch {
    fn = null; // no wasm SIMD here: the JS loop below
  }
  simdFns.set(backend, fn);
  return fn;
}

/** For tests: run the Adam and leaky-ReLU-gradient kernels without the SIMD loops. */
let simdKernelsOn = true;
export function setSimdKernels(on: boolean): void {
  simdKernelsOn = on;
}

function adamUpdate(args: KernelArgs): TensorInfo[] {
  const { p, g, m, v } = args.inputs as { p: TensorInfo; g: TensorInfo; m: TensorInfo; v: TensorInfo };
  const a = args.attrs as unknown as AdamUpdateAttrs;
  const backend = args.backend as WasmBackend & { typedArrayFromHeap(t: TensorInfo): Float32Array };
  const n = size(p);
  for (const t of [p, g, m, v]) if (size(t) !== n || t.dtype !== 'float32') throw new Error(`${ADAM_UPDATE}: operands must be float32 of one size`);
  // Allocate first: a malloc may grow the heap and detach earlier views.
  const outP = backend.makeOutput(p.shape, 'float32');
  const outM = backend.makeOutput(p.shape, 'float32');
  const outV = backend.makeOutput(p.shape, 'float32');
  const [P, G, M, V, P2, M2, V2] = [p, g, m, v, outP, outM, outV].map((t) => backend.typedArrayFromHeap(t)) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const f = Math.fround;
  // The scalars as the unfused path sees them: float32 tensors of the same JS numbers.
  const [b1, c1, b2, c2, eps, lrT, wd] = [a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.epsilon, a.lrT, a.weightDecay].map(f) as [number, number, number, number, number, number, number];
  const decay = a.weightDecay > 0;
  const simdFn = simdKernelsOn ? simdKernels(backend)?.adam : null;
  let start = 0;
  if (simdFn) {
    start = n - (n % 4);
    simdFn(P.byteOffset, G.byteOffset, M.byteOffset, V.byteOffset, P2.byteOffset, M2.byteOffset, V2.byteOffset, start, b1, c1, b2, c2, eps, lrT, wd, decay ? 1 : 0);
  }
  for (let i = start; i < n; i++) {
    const pi = P[i]!;
    let gi = G[i]!;
    if (decay) gi = f(gi + f(pi * wd));
    const mi = f(f(M[i]! * b1) + f(gi * c1));
    const vi = f(f(V[i]! * b2) + f(f(gi * gi) * c2));
    M2[i] = mi;
    V2[i] = vi;
    P2[i] = f(pi - f(f(mi / f(f(Math.sqrt(vi)) + eps)) * lrT));
  }
  return [outP, outM, outV];
}

// ---------------------------------------------------------------------------
// Leaky-ReLU gradient in one pass (custom kernel `YotoLeakyReluGrad`; engine/layers.ts
// wires it in with customGrad on wasm). tfjs's gradient is where(x > 0, dy, dy·α):
// Greater + Multiply + Select, three passes and a bool tensor, ~0.6 ms per
// [256, 512] activation. Same values bit for bit: dy where x > 0, else fround(dy·α).

export const LEAKY_RELU_GRAD = 'YotoLeakyReluGrad';

function leakyReluGrad(args: KernelArgs): TensorInfo {
  const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
  const alpha = Math.fround((args.attrs as { alpha: number }).alpha);
  const backend = args.backend as WasmBackend & { typedArrayFromHeap(t: TensorInfo): Float32Array };
  const n = size(x);
  if (size(dy) !== n || dy.dtype !== 'float32' || x.dtype !== 'float32') throw new Error(`${LEAKY_RELU_GRAD}: dy and x must be float32 of one size`);
  const out = backend.makeOutput(x.shape, 'float32');
  const D = backend.typedArrayFromHeap(dy);
  const X = backend.typedArrayFromHeap(x);
  const O = backend.typedArrayFromHeap(out);
  const simdFn = simdKernelsOn ? simdKernels(backend)?.leaky : null;
  let start = 0;
  if (simdFn) {
    start = n - (n % 4);
    simdFn(D.byteOffset, X.byteOffset, O.byteOffset, start, alpha);
  }
  for (let i = start; i < n; i++) {
    // Branch-free (signs are random): d·1 is exact, so this equals the where() form.
    O[i] = D[i]! * (X[i]! > 0 ? 1 : alpha);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Missing kernels that are rare in our models: run the cpu kernel on copies.
// Correct but slow; only gradients of gather and depthwise conv reach them.

const CPU_FALLBACK = [
  tf.UnsortedSegmentSum,
  tf.DepthwiseConv2dNativeBackpropInput,
  tf.DepthwiseConv2dNativeBackpropFilter,
  tf.Einsum,
];

function cpuFallback(name: string): KernelConfig['kernelFunc'] {
  return (args) => {
    const backend = args.backend as WasmBackend;
    const cpu = tf.engine().findBackend('cpu');
    const kernel = tf.getKernel(name, 'cpu');
    if (!cpu || !kernel) throw new Error(`no cpu kernel ${name} to fall back to`);
    // The cpu backend prints a "install tfjs-node" banner on its first write; it is only a scratch space here.
    (cpu as unknown as { firstUse?: boolean }).firstUse = false;
    const cpuInputs: Inputs = {};
    const cpuOwned: TensorInfo[] = [];
    for (const [key, t] of Object.entries(args.inputs)) {
      if (!t) continue;
      const info = { dataId: cpu.write(backend.readSync(t.dataId), t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
      cpuInputs[key] = info;
      cpuOwned.push(info);
    }
    try {
      const res = kernel.kernelFunc({ inputs: cpuInputs, attrs: args.attrs, backend: cpu });
      const outs = Array.isArray(res) ? res : [res];
      cpuOwned.push(...outs);
      const moved = outs.map((o) => backend.makeOutput(o.shape, o.dtype, undefined, cpu.readSync(o.dataId)));
      return Array.isArray(res) ? moved : moved[0]!;
    } finally {
      for (const t of cpuOwned) cpu.disposeData(t.dataId);
    }
  };
}

// ---------------------------------------------------------------------------

function liveWasmBackend(): KernelBackend | null {
  const registry = tf.engine().registry as Record<string, KernelBackend | undefined>;
  return registry[BACKEND] ?? null;
}

/**
 * Registers (or re-registers) the training kernels on 'wasm'. Idempotent.
 * Works before or after the wasm backend is initialised. Returns the kernel names patched.
 */
export function registerWasmKernels(): string[] {
  if (!registered) {
    for (const name of [tf.BatchMatMul, tf._FusedMatMul, tf.Conv2DBackpropInput, tf.Conv2D, tf.Transpose, tf.Reshape, tf.Slice, tf.PadV2, tf.Identity]) {
      const k = tf.getKernel(name, BACKEND);
      if (!k) throw new Error(`tfjs-backend-wasm is not loaded (kernel ${name} missing)`);
      originals.set(name, k);
    }
    const replaced = (name: string, kernelFunc: (a: KernelArgs) => TensorInfo): KernelConfig => {
      const orig = original(name);
      // The engine only runs setupFunc of registered configs, so the replaced kernel's setup is ours to forward.
      return { kernelName: name, backendName: BACKEND, kernelFunc: kernelFunc as unknown as KernelConfig['kernelFunc'], setupFunc: orig.setupFunc, disposeFunc: orig.disposeFunc };
    };
    const configs: KernelConfig[] = [
      { kernelName: tf.Conv2DBackpropFilter, backendName: BACKEND, kernelFunc: conv2DBackpropFilter as unknown as KernelConfig['kernelFunc'] },
      replaced(tf.Conv2DBackpropInput, conv2DBackpropInput),
      replaced(tf.BatchMatMul, batchMatMul),
      replaced(tf._FusedMatMul, fusedMatMul),
      replaced(tf.Identity, identity),
      { kernelName: ADAM_UPDATE, backendName: BACKEND, kernelFunc: adamUpdate as unknown as KernelConfig['kernelFunc'] },
      { kernelName: LEAKY_RELU_GRAD, backendName: BACKEND, kernelFunc: leakyReluGrad as unknown as KernelConfig['kernelFunc'] },
      ...CPU_FALLBACK.filter((name) => !tf.getKernel(name, BACKEND)).map((name) => ({ kernelName: name, backendName: BACKEND, kernelFunc: cpuFallback(name) })),
    ];
    for (const c of configs) {
      if (tf.getKernel(c.kernelName, BACKEND)) tf.unregisterKernel(c.kernelName, BACKEND);
      tf.registerKernel(c);
    }
    registered = configs.map((c) => c.kernelName);
  }
  const live = liveWasmBackend();
  if (live) {
    for (const name of registered) tf.getKernel(name, BACKEND)?.setupFunc?.(live);
  }
  return [...registered];
}
