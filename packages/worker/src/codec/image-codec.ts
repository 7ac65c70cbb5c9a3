/**
 * Compress and decompress images with a trained compression model at any λ.
 *
 * Encoder: y = analysis(x, log λ), ŷ = round(y), the ŷ values coded with the
 * entropy model's integer tables (entropy-tables.ts) by rANS. Decoder: the same
 * tables decode ŷ, synthesis(ŷ, log λ) rounded to 8 bits is the reconstruction. Both
 * sides run the same synthesis on the same integers, so the decoder reproduces the
 * encoder's reconstruction bit for bit (on the same backend).
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type { FilmCompressor } from '../engine/film-compressor.ts';
import type { WeightMap } from '../engine/params.ts';
import { entropyTables } from './entropy-tables.ts';
import { decodeLatents, encodeLatents } from './latent-codec.ts';
import type { FreqTable } from './rans.ts';

export interface EncodedBatch {
  /** Rounded latents, [count, h, w, M] row-major. */
  symbols: Int32Array;
  /** Every image's reconstruction as 8-bit values, [count, H, W, C]. */
  reconstruction: Uint8Array;
  /** Per image: −Σ log2 P(ŷ) under the model (the estimated size in bits). */
  estimatedBits: Float64Array;
  /** Per image: mean squared error of the 8-bit reconstruction against the 8-bit input. */
  mse: Float64Array;
}

/** The entropy tables of `model` at conditioning `cond` (log λ per weighted term). */
export async function modelTables(model: FilmCompressor, cond: readonly number[], weights?: WeightMap): Promise<FreqTable[]> {
  return entropyTables(weights ?? (await model.params.read()), model.standardiseRow(cond), model.latentShape[2]);
}

/** Analysis, rounding, likelihood and the reconstruction the decoder will produce. */
export async function analyseBatch(model: FilmCompressor, x: tfc.Tensor4D, cond: readonly number[]): Promise<EncodedBatch> {
  const tf = model.tf;
  const count = x.shape[0];
  const [yHat, bits, recon, mse] = tf.tidy(() => {
    const c = tf.tensor2d([...cond], [1, cond.length]);
    const y = tf.round(model.analysis(x, c));
    const bitsPer = tf.div(tf.sum(tf.reshape(tf.log(model.likelihood(y, c)), [count, -1]), 1), -Math.LN2);
    const xHat = to8bit(tf, model.synthesis(y, c));
    const x8 = tf.round(tf.mul(x, 255));
    const err = tf.mean(tf.reshape(tf.square(tf.sub(xHat, x8)), [count, -1]), 1);
    return [y, bitsPer, xHat, err];
  });
  try {
    return {
      symbols: Int32Array.from((await yHat.data()) as Float32Array),
      reconstruction: Uint8Array.from((await recon.data()) as Float32Array),
      estimatedBits: Float64Array.from((await bits.data()) as Float32Array),
      mse: Float64Array.from((await mse.data()) as Float32Array),
    };
  } finally {
    tf.dispose([yHat, bits, recon, mse]);
  }
}

/** Reconstruction (8-bit, [count, H, W, C]) from decoded latents. */
export async function synthesize(model: FilmCompressor, symbols: Int32Array, count: number, cond: readonly number[]): Promise<Uint8Array> {
  const tf = model.tf;
  const [h, w, m] = model.latentShape;
  const out = tf.tidy(() => to8bit(tf, model.synthesis(tf.tensor4d(Float32Array.from(symbols), [count, h, w, m]), tf.tensor2d([...cond], [1, cond.length]))));
  try {
    return Uint8Array.from((await out.data()) as Float32Array);
  } finally {
    out.dispose();
  }
}

/** Decodes `count` images' latents from `stream` and synthesises them. */
export async function decodeImages(model: FilmCompressor, stream: Uint8Array, count: number, cond: readonly number[], tables?: FreqTable[]): Promise<{ symbols: Int32Array; reconstruction: Uint8Array }> {
  const t = tables ?? (await modelTables(model, cond));
  const symbols = decodeLatents(stream, t, count * model.latentSize);
  return { symbols, reconstruction: await synthesize(model, symbols, count, cond) };
}

export { encodeLatents };

function to8bit(tf: FilmCompressor['tf'], xHat: tfc.Tensor4D): tfc.Tensor4D {
  return tf.clipByValue(tf.round(tf.mul(xHat, 255)), 0, 255) as tfc.Tensor4D;
}
