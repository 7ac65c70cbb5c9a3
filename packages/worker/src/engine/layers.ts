/**
 * Functional layers over a ParamSet: each `make*` creates the layer's variables
 * (and counts its multiply-adds per example), each `apply*` is a pure tensor
 * function to call inside the caller's tidy. Only ops with fast wasm kernels:
 * plain matMul, conv2d, conv2dTranspose, elementwise.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { LEAKY_RELU_GRAD } from '../backend/wasm-kernels.ts';
import type { ParamSet } from './params.ts';
import type { Tf } from './tf.ts';

export const LEAKY_ALPHA = 0.3;

export interface Dense {
  kernel: tfc.Variable; // [in, out]
  bias: tfc.Variable; // [out]
  units: number;
}

export interface Conv {
  kernel: tfc.Variable; // conv: [k, k, in, out]; transpose: [k, k, out, in] (tfjs layout)
  bias: tfc.Variable; // [out]
  size: number;
  stride: number;
  outChannels: number;
  transpose: boolean;
}

/**
 * FiLM generator for one block ("mult_and_add" in the paper's code): two MLPs of
 * the conditioning input, each with one leaky-ReLU hidden layer, giving per-example,
 * per-channel `scale = 1 + scaleMul·s(c)` and `shift = shiftMul·t(c)`.
 */
export interface Film {
  channels: number;
  s: [Dense, Dense];
  t: [Dense, Dense];
  scaleMul: number;
  shiftMul: number;
}

/** Accumulates multiply-adds per example while layers are made, FiLM generators apart. */
export class MacCounter {
  total = 0;
  film = 0;
  add(n: number): void {
    this.total += n;
  }
}

export function makeDense(p: ParamSet, macs: MacCounter, name: string, inUnits: number, units: number): Dense {
  macs.add(inUnits * units);
  return {
    kernel: p.glorot(`${name}/kernel`, [inUnits, units], inUnits, units),
    bias: p.zeros(`${name}/bias`, [units]),
    units,
  };
}

/** A stride-`stride` 'same' convolution on an `inH`×`inW` input. */
export function makeConv(p: ParamSet, macs: MacCounter, name: string, inH: number, inW: number, inCh: number, outCh: number, size: number, stride: number): Conv {
  const outH = Math.ceil(inH / stride);
  const outW = Math.ceil(inW / stride);
  macs.add(outH * outW * size * size * inCh * outCh);
  return {
    kernel: p.glorot(`${name}/kernel`, [size, size, inCh, outCh], size * size * inCh, size * size * outCh),
    bias: p.zeros(`${name}/bias`, [outCh]),
    size,
    stride,
    outChannels: outCh,
    transpose: false,
  };
}

/** A stride-`stride` 'same' transposed convolution from an `inH`×`inW` input. */
export function makeConvTranspose(p: ParamSet, macs: MacCounter, name: string, inH: number, inW: number, inCh: number, outCh: number, size: number, stride: number): Conv {
  macs.add(inH * inW * size * size * inCh * outCh);
  return {
    kernel: p.glorot(`${name}/kernel`, [size, size, outCh, inCh], size * size * inCh, size * size * outCh),
    bias: p.zeros(`${name}/bias`, [outCh]),
    size,
    stride,
    outChannels: outCh,
    transpose: true,
  };
}

export function makeFilm(p: ParamSet, macs: MacCounter, name: string, condDim: number, hidden: number, channels: number, scaleMul: number, shiftMul: number): Film {
  macs.film += 2 * (condDim * hidden + hidden * channels);
  return {
    channels,
    s: [makeDense(p, macs, `${name}/film/scale/hidden`, condDim, hidden), makeDense(p, macs, `${name}/film/scale/out`, hidden, channels)],
    t: [makeDense(p, macs, `${name}/film/shift/hidden`, condDim, hidden), makeDense(p, macs, `${name}/film/shift/out`, hidden, channels)],
    scaleMul,
    shiftMul,
  };
}

export function applyDense(tf: Tf, l: Dense, x: tfc.Tensor2D): tfc.Tensor2D {
  return tf.add(tf.matMul(x, l.kernel as tfc.Tensor2D), l.bias);
}

export function applyConv(tf: Tf, l: Conv, x: tfc.Tensor4D): tfc.Tensor4D {
  const [b, h, w] = x.shape;
  const y = l.transpose
    ? tf.conv2dTranspose(x, l.kernel as tfc.Tensor4D, [b, h * l.stride, w * l.stride, l.outChannels], l.stride, 'same')
    : tf.conv2d(x, l.kernel as tfc.Tensor4D, l.stride, 'same');
  return tf.add(y, l.bias);
}

function mlp(tf: Tf, [hidden, out]: [Dense, Dense], c: tfc.Tensor2D): tfc.Tensor2D {
  return applyDense(tf, out, leaky(tf, applyDense(tf, hidden, c)));
}

/** Per-example, per-channel FiLM parameters, each [batch, channels]. */
export function filmParams(tf: Tf, f: Film, c: tfc.Tensor2D): { scale: tfc.Tensor2D; shift: tfc.Tensor2D } {
  return {
    scale: tf.add(tf.mul(mlp(tf, f.s, c), f.scaleMul), 1),
    shift: tf.mul(mlp(tf, f.t, c), f.shiftMul),
  };
}

/**
 * `h ← scale·h + shift` per channel (last axis), broadcast over any spatial axes.
 * `c` has one row per example, or a single row shared by the whole batch (constant
 * conditioning: the generators then run once, not once per example).
 */
export function applyFilm<T extends tfc.Tensor>(tf: Tf, f: Film, h: T, c: tfc.Tensor2D): T {
  const { scale, shift } = filmParams(tf, f, c);
  if (h.rank === 2) return tf.add(tf.mul(h, scale), shift);
  const shape = [c.shape[0], ...h.shape.slice(1, -1).map(() => 1), f.channels];
  return tf.add(tf.mul(h, tf.reshape(scale, shape)), tf.reshape(shift, shape));
}

/**
 * Leaky ReLU (α = LEAKY_ALPHA). Where the backend has the one-pass gradient kernel
 * (wasm, see wasm-kernels.ts) the gradient goes through it; values and gradients
 * are bit-identical to tf.leakyRelu's either way.
 */
export function leaky<T extends tfc.Tensor>(tf: Tf, x: T): T {
  if (tf.getKernel(LEAKY_RELU_GRAD, tf.getBackend()) === undefined) return tf.leakyRelu(x, LEAKY_ALPHA);
  let f = leakyFns.get(tf);
  if (!f) {
    f = tf.customGrad(((x: tfc.Tensor, save: tfc.GradSaveFunc) => {
      save([x]);
      return {
        value: tf.leakyRelu(x, LEAKY_ALPHA),
        gradFunc: (dy: tfc.Tensor, [xs]: tfc.Tensor[]) => tf.engine().runKernel(LEAKY_RELU_GRAD, { dy, x: xs! }, { alpha: LEAKY_ALPHA }) as tfc.Tensor,
      };
    }) as unknown as Parameters<Tf['customGrad']>[0]) as (x: tfc.Tensor) => tfc.Tensor;
    leakyFns.set(tf, f);
  }
  return f(x) as T;
}

const leakyFns = new WeakMap<Tf, (x: tfc.Tensor) => tfc.Tensor>();
