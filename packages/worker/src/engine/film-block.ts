/**
 * One FiLM-conditioned block of the FiLM VAE, `h = leaky(FiLM(layer(x), c))`, with the
 * layer a dense product, a conv2d or a conv2dTranspose ('same' padding) plus bias.
 *
 * On the native-cpu backend the whole block - layer, bias, both FiLM generator MLPs,
 * FiLM and leaky ReLU - is one kernel forward and one backward (FILM_BLOCK and
 * FILM_BLOCK_GRAD, OpenBLAS + C) instead of a few dozen tfjs kernels (a conv VAE step
 * runs ~240 kernels instead of ~800): at these layer
 * sizes the engine's per-kernel bookkeeping and the memory-bound elementwise kernels
 * cost more than the products. Elsewhere (wasm, cpu, tensorflow) the block is the
 * composed ops. Both paths compute the same function; the fused one only changes the
 * order of some float32 operations (equivalence: packages/worker/test/native-film-block.test.ts).
 * The output layers (`applyLayer`) get the same treatment without FiLM.
 *
 * The fused path reads the layer's and generators' weights in its gradient directly
 * (they are variables, alive for the whole step); only x, the pre-FiLM output u, c and
 * the generators' activations g are saved for the backward pass.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { AFFINE_LAYER, AFFINE_LAYER_GRAD, convDims, FILM_BLOCK, FILM_BLOCK_GRAD, FILM_GEN_INPUTS, nativeKernelsActive, type FilmBlockAttrs } from '../backend/native-kernels.ts';
import { applyConv, applyDense, applyFilm, leaky, LEAKY_ALPHA, type Conv, type Dense, type Film } from './layers.ts';
import type { Tf } from './tf.ts';

export interface FilmBlockOptions {
  /**
   * Run the fused kernels (only possible on native-cpu).
   * @defaultValue fusedFilmBlocks(tf)
   */
  fused?: boolean;
  /**
   * False when x is data whose gradient nobody reads (the images into the first layer):
   * the fused path then skips that product and reports a zero gradient for x.
   * @defaultValue true
   */
  inputGradient?: boolean;
}

export type BlockLayer = { kind: 'dense'; layer: Dense } | { kind: 'conv'; layer: Conv };

/** Whether blocks run as the fused kernels (native-cpu active) or as composed ops. */
export function fusedFilmBlocks(tf: Tf): boolean {
  return nativeKernelsActive() && tf.getBackend() === 'wasm' && tf.getKernel(FILM_BLOCK, 'wasm') !== undefined;
}

/**
 * `leaky(FiLM(layer(x), c))`; a dense layer flattens x first, and `reshape` (per-example
 * shape) is applied to the layer output before FiLM, whose channels are its last axis.
 * `c` has one row per example or one row shared by the batch.
 */
export function applyFilmBlock(tf: Tf, layer: BlockLayer, film: Film, x: tfc.Tensor, c: tfc.Tensor2D, reshape?: number[], options: FilmBlockOptions = {}): tfc.Tensor {
  const { fused = fusedFilmBlocks(tf), inputGradient = true } = options;
  if (!fused) return leaky(tf, applyFilm(tf, film, applyLayer(tf, layer, x, reshape, { fused: false }), c));
  const b = x.shape[0]!;
  if (c.shape[0] !== 1 && c.shape[0] !== b) throw new Error(`FiLM block: conditioning has ${c.shape[0]} rows for a batch of ${b} (need 1 or ${b})`);
  const plan = layerPlan(tf, layer, x, film.channels, reshape);
  const ints = [plan.kind, b, c.shape[0], c.shape[1], film.s[0].units, film.channels, plan.pixels, ...plan.tail];
  const attrs: FilmBlockAttrs = { ints, alpha: LEAKY_ALPHA, scaleMul: film.scaleMul, shiftMul: film.shiftMul, outShape: plan.outShape, inputGradient };
  const { kernel: W, bias } = layer.layer;
  const gens = [film.s[0].kernel, film.s[0].bias, film.s[1].kernel, film.s[1].bias, film.t[0].kernel, film.t[0].bias, film.t[1].kernel, film.t[1].bias];
  const genInputs = Object.fromEntries(FILM_GEN_INPUTS.map((n, i) => [n, gens[i]!]));
  const engine = tf.engine();
  const f = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as tfc.GradSaveFunc;
    const [xi, , , ci] = args as tfc.Tensor[];
    const [y, u, g] = engine.runKernel(FILM_BLOCK, { x: xi!, W, b: bias, c: ci!, ...genInputs }, attrs as unknown as tfc.NamedAttrMap) as tfc.Tensor[];
    save([xi!, u!, ci!, g!]);
    return {
      value: y!,
      gradFunc: (dy: tfc.Tensor, [xs, us, cs, gs]: tfc.Tensor[]) =>
        engine.runKernel(FILM_BLOCK_GRAD, { dy, x: xs!, W, u: us!, c: cs!, g: gs!, b: bias, ...genInputs }, attrs as unknown as tfc.NamedAttrMap) as tfc.Tensor[],
    };
  }) as unknown as Parameters<Tf['customGrad']>[0]) as unknown as (...ts: tfc.Tensor[]) => tfc.Tensor;
  return f(plan.input, W, bias, c, ...gens);
}

/**
 * The layer alone, `op(x, W) + b` (the output layers): dense flattens its input;
 * `reshape` applies to the output. On native-cpu one kernel each way (AFFINE_LAYER).
 */
export function applyLayer(tf: Tf, layer: BlockLayer, x: tfc.Tensor, reshape?: number[], options: FilmBlockOptions = {}): tfc.Tensor {
  const { fused = fusedFilmBlocks(tf), inputGradient = true } = options;
  if (!fused) {
    let h: tfc.Tensor;
    if (layer.kind === 'conv') h = applyConv(tf, layer.layer, x as tfc.Tensor4D);
    else h = applyDense(tf, layer.layer, (x.rank === 2 ? x : tf.reshape(x, [x.shape[0]!, -1])) as tfc.Tensor2D);
    return reshape ? tf.reshape(h, [h.shape[0]!, ...reshape]) : h;
  }
  const channels = layer.kind === 'dense' ? layer.layer.units : layer.layer.outChannels;
  const plan = layerPlan(tf, layer, x, channels, undefined);
  const ints = [plan.kind, x.shape[0]!, 1, 1, 1, channels, plan.pixels, ...plan.tail];
  const attrs: FilmBlockAttrs = { ints, alpha: LEAKY_ALPHA, scaleMul: 1, shiftMul: 1, outShape: plan.outShape, inputGradient };
  const { kernel: W, bias } = layer.layer;
  const engine = tf.engine();
  const f = tf.customGrad(((xi: tfc.Tensor, _w: tfc.Tensor, _b: tfc.Tensor, save: tfc.GradSaveFunc) => {
    const y = engine.runKernel(AFFINE_LAYER, { x: xi, W, b: bias }, attrs as unknown as tfc.NamedAttrMap) as tfc.Tensor;
    save([xi]);
    return {
      value: y,
      gradFunc: (dy: tfc.Tensor, [xs]: tfc.Tensor[]) => engine.runKernel(AFFINE_LAYER_GRAD, { dy, x: xs!, W, b: bias }, attrs as unknown as tfc.NamedAttrMap) as tfc.Tensor[],
    };
  }) as unknown as Parameters<Tf['customGrad']>[0]) as unknown as (...ts: tfc.Tensor[]) => tfc.Tensor;
  const y = f(plan.input, W, bias);
  return reshape ? tf.reshape(y, [y.shape[0]!, ...reshape]) : y;
}

/** The addon's view of a layer: kind, pixels per example, the rest of its ints, the (flattened) input and the output shape. */
function layerPlan(tf: Tf, layer: BlockLayer, x: tfc.Tensor, channels: number, reshape: number[] | undefined): { kind: number; pixels: number; tail: number[]; input: tfc.Tensor; outShape: number[] } {
  const b = x.shape[0]!;
  if (layer.kind === 'dense') {
    const input = x.rank === 2 ? x : tf.reshape(x, [b, -1]);
    const k = input.shape[1]!;
    const n = layer.layer.units;
    if (n % channels !== 0) throw new Error(`FiLM block: ${n} units are not a whole number of ${channels} channels`);
    return { kind: 0, pixels: n / channels, tail: [n, k, n], input, outShape: reshape ? [b, ...reshape] : [b, n] };
  }
  const l = layer.layer;
  if (reshape) throw new Error('FiLM block: reshape applies to dense layers only');
  const [, h, w] = x.shape as [number, number, number, number];
  const kernel = l.kernel.shape;
  const d = l.transpose
    ? convDims([b, h * l.stride, w * l.stride, l.outChannels], kernel, l.stride, 1, 'same', undefined)
    : convDims(x.shape, kernel, l.stride, 1, 'same', undefined);
  if (l.transpose && (d[7] !== h || d[8] !== w)) throw new Error(`FiLM block: conv-transpose input ${h}×${w} does not fit stride ${l.stride}`);
  const outShape = l.transpose ? [b, h * l.stride, w * l.stride, l.outChannels] : [b, d[7], d[8], l.outChannels];
  return { kind: l.transpose ? 2 : 1, pixels: outShape[1]! * outShape[2]!, tail: [l.outChannels, 1, 1, ...d], input: x, outShape };
}
