/**
 * Loader for the optional OpenBLAS addon (build/Release/yoto_blas.node, built by
 * scripts/build-native.sh). `loadNativeBlas()` never throws: it returns the addon, or
 * null with the reason (not built, libopenblas missing at run time, ABI mismatch), so
 * callers can fall back with one log line.
 *
 * Every function works in place on Float32Array views (they may be views into a wasm
 * heap) and range-checks what it will touch. Layouts: row-major matrices, NHWC
 * activations, HWIO filters. Conv dims are
 * [n, h, w, c, fh, fw, o, outH, outW, strideH, strideW, dilationH, dilationW, padTop, padLeft]
 * (padBottom/padRight follow from the output size).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ConvDims = [n: number, h: number, w: number, c: number, fh: number, fw: number, o: number, outH: number, outW: number, sh: number, sw: number, dh: number, dw: number, top: number, left: number];

export interface NativeBlas {
  /** C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i] for i < batch (row-major; a stride of 0 broadcasts). */
  sgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, aOff: number, lda: number, b: Float32Array, bOff: number, ldb: number,
    beta: number, c: Float32Array, cOff: number, ldc: number, batch: number, strideA: number, strideB: number, strideC: number,
  ): void;
  /** y = conv2d(x, w): im2col + one sgemm per chunk of examples. */
  conv2d(x: Float32Array, w: Float32Array, y: Float32Array, dims: ConvDims): void;
  /** dx = ∂conv2d/∂x · dy (sgemm + col2im); also conv2dTranspose's forward pass. */
  conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, dims: ConvDims): void;
  /** dw = ∂conv2d/∂w · dy (im2col + sgemm). */
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dims: ConvDims): void;
  /** y[o, i] = Σ_q x[o, q, i]: a sum over one contiguous block of axes. */
  sumAxes(x: Float32Array, y: Float32Array, outer: number, r: number, inner: number): void;
  /** y = x > 0 ? x : x·alpha. */
  leakyRelu(x: Float32Array, y: Float32Array, alpha: number): void;
  /** y[o, q, i] = x[o, q, i] (op) b[o, i], op 0 = add, 1 = multiply: b broadcast over one middle block of axes. */
  broadcastOp(op: 0 | 1, x: Float32Array, b: Float32Array, y: Float32Array, outer: number, r: number, inner: number): void;
  /**
   * One FiLM-conditioned layer, `y = leaky((op(x, W) + b)·scale(c) + shift(c))`, as one call
   * each way (mode 0 forward, 1 backward, 2 backward leaving dx zero; 3-5 the same for the
   * plain layer `op(x, W) + b`, bufs [x, W, b, y] and [dy, x, W, dx, dW, db]); op is a dense product, a conv2d or a
   * conv2dTranspose, scale and shift come from the block's two generator MLPs of c. See
   * js_film_block in blas.c for the layout of `bufs`, `ints` and `floats`.
   */
  filmBlock(mode: 0 | 1 | 2 | 3 | 4 | 5, bufs: Float32Array[], ints: number[], floats: [alpha: number, scaleMul: number, shiftMul: number]): void;
  /**
   * Bernoulli NLL of x under logits l ([rows, cols] each), summed per row:
   * mode 0, bufs [l, x, loss[rows]]: loss = Σ max(l, 0) − l·x + log(1 + e^−|l|);
   * mode 1, bufs [dy[rows], l, x, dl]: dl = dy·(sigmoid(l) − x).
   */
  bceLogits(mode: 0 | 1, bufs: Float32Array[], rows: number, cols: number): void;
  /**
   * One Adam step: p2, m2, v2 from p, g, m, v (all one length, outputs distinct), in the
   * float32 operations and order of the unfused tf ops (bit-identical to them).
   */
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, p2: Float32Array, m2: Float32Array, v2: Float32Array, b1: number, c1: number, b2: number, c2: number, eps: number, lrT: number, wd: number, decay: boolean): void;
  /**
   * OpenBLAS's thread pool size (process-wide). Products under ~30 MFLOP run on the
   * calling thread regardless: waking the pool costs more than it saves there.
   */
  setThreads(n: number): void;
  getThreads(): number;
  /** OpenBLAS's build description, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64". */
  config(): string;
}

export type LoadResult = { ok: true; blas: NativeBlas; path: string } | { ok: false; reason: string };

const require = createRequire(import.meta.url);
/** The addon's path; YOTO_NATIVE_BLAS_PATH overrides it (tests use a bogus one to exercise the fallback). */
export function addonPath(): string {
  return process.env.YOTO_NATIVE_BLAS_PATH ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'yoto_blas.node');
}

let cached: LoadResult | null = null;

export function loadNativeBlas(): LoadResult {
  if (cached && cached.ok) return cached;
  const path = addonPath();
  if (!existsSync(path)) {
    return { ok: false, reason: `addon not built (${path} missing; run scripts/build-native.sh, which needs libopenblas-dev)` };
  }
  try {
    const blas = require(path) as NativeBlas;
    if (typeof blas.sgemm !== 'function') return { ok: false, reason: `${path} is not the yoto OpenBLAS addon` };
    cached = { ok: true, blas, path };
    return cached;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: `addon failed to load: ${(msg.split('\n')[0] ?? msg).trim()}` };
  }
}
