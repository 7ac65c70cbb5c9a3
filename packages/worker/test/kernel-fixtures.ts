/**
 * What the kernel-equivalence tests (wasm patches, native-cpu) share: a small
 * deterministic PRNG so failures are reproducible, random inputs, the relative error
 * they compare with, and switching on the `cpu` backend as the reference.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '../src/backend/index.ts';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-1, 1) of the shape's size. */
export function randArray(r: () => number, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2 - 1;
  return a;
}

/** ‖ref − got‖ / ‖ref‖ (the absolute norm when ref is all zeros). */
export function relErr(ref: Float32Array, got: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (ref[i]! - got[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/**
 * Creates the `cpu` backend (the reference) and returns to wasm. The cpu backend prints
 * a "use tfjs-node" banner when first created in Node; the tests need it only as the
 * reference, so the banner is muted.
 */
export async function withCpuReference(tf: Tf): Promise<void> {
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    await tf.setBackend('cpu');
  } finally {
    console.warn = warn;
  }
  await tf.setBackend('wasm');
}

export type Arrays = { data: Float32Array; shape: number[] }[];

/** Runs `f` on `backend` over fresh tensors built from `inputs`; returns each output's shape and values. */
export async function runOn(tf: Tf, backend: string, inputs: Arrays, f: (...ts: Tensor[]) => Tensor | Tensor[]): Promise<{ shape: number[]; data: Float32Array }[]> {
  await tf.setBackend(backend);
  const ts = inputs.map((i) => tf.tensor(i.data, i.shape));
  const out = f(...ts);
  const outs = Array.isArray(out) ? out : [out];
  const vals = await Promise.all(outs.map(async (o) => ({ shape: o.shape, data: (await o.data()) as Float32Array })));
  tf.dispose([...ts, ...outs]);
  return vals;
}
