/**
 * Learned image compression: `rate + λ·distortion`, with
 *   rate       = −Σ log2 P(ỹ) / (H·W): bits per pixel under the factorized entropy
 *                model, ỹ = y + u with u ~ U(−½, ½) in training (the noise stands in
 *                for rounding, so the term is differentiable);
 *   distortion = mean squared error per pixel on the 8-bit scale [0, 255].
 * λ is the distortion weight: larger λ, higher quality, more bits.
 *
 * Evaluation rounds the latents instead (ŷ = round(y)), and reports per example:
 * rate (estimated bpp of ŷ), distortion (MSE of the 8-bit reconstruction the decoder
 * produces), and as metrics `actualBpp` (bits of a real rANS bitstream of each
 * evaluation batch, decoded again and checked), `fileBpp` (each image coded as its
 * own stream, the 4-byte coder flush included, the file header not) and `psnr`
 * (10·log10(255² / mean MSE), dB).
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { PROBLEMS } from '@yoto/shared';
import { analyseBatch, modelTables } from '../codec/image-codec.ts';
import { decodeLatents, encodeLatents } from '../codec/latent-codec.ts';
import { conditioningFrame, FilmCompressor } from '../engine/film-compressor.ts';
import { weightedObjective, type Problem } from './problem.ts';

const info = PROBLEMS.compression;

/** PSNR in dB of a mean squared error on the 8-bit scale. */
export function psnr(mse: number): number {
  return 10 * Math.log10((255 * 255) / mse);
}

export const compression: Problem<FilmCompressor> = {
  name: info.name,
  terms: info.terms,
  weightedTerms: info.weightedTerms,
  unitTerms: info.terms.filter((t) => !(info.weightedTerms as readonly string[]).includes(t)),

  buildModel(tf, cfg, input, seed, run) {
    return new FilmCompressor(tf, cfg, input, info.weightedTerms.length, seed, conditioningFrame(info.weightedTerms, run?.prior));
  },

  noiseDim(model) {
    return model.latentSize;
  },

  perExampleTerms(model, x, cond, noise) {
    const tf = model.tf;
    const [b, H, W] = x.shape;
    const y = model.analysis(x, cond);
    // Standard normal → U(−½, ½) through its CDF: Φ(n) − ½ = ½·erf(n/√2).
    const u = tf.reshape(tf.mul(tf.erf(tf.mul(noise, Math.SQRT1_2)), 0.5), y.shape);
    const yTilde = tf.add(y, u) as tfc.Tensor4D;
    const logLik = tf.log(model.likelihood(yTilde, cond));
    const rate = tf.div(tf.sum(tf.reshape(logLik, [b, -1]), 1), -Math.LN2 * H * W) as tfc.Tensor1D;
    const err = tf.mul(tf.sub(model.synthesis(yTilde, cond), x), 255);
    const distortion = tf.mean(tf.reshape(tf.square(err), [b, -1]), 1) as tfc.Tensor1D;
    return { rate, distortion };
  },

  loss(model, x, cond, weights, noise) {
    return weightedObjective(model.tf, this, this.perExampleTerms(model, x, cond, noise), weights);
  },

  async evaluateBatch(model, x, cond) {
    const [n, H, W] = x.shape;
    const pixels = H * W;
    const enc = await analyseBatch(model, x, cond);
    const tables = await modelTables(model, cond);
    const stream = encodeLatents(enc.symbols, tables);
    const back = decodeLatents(stream, tables, enc.symbols.length);
    if (!back.every((v, i) => v === enc.symbols[i])) throw new Error('compression: the decoded latents differ from the encoded ones');
    const per = model.latentSize;
    let fileBits = 0;
    for (let i = 0; i < n; i++) fileBits += 8 * encodeLatents(enc.symbols.subarray(i * per, (i + 1) * per), tables).length;
    return {
      terms: { rate: enc.estimatedBits.reduce((a, b) => a + b, 0) / pixels, distortion: enc.mse.reduce((a, b) => a + b, 0) },
      metrics: { actualBpp: (8 * stream.length) / pixels, fileBpp: fileBits / pixels },
    };
  },

  finishMetrics(terms) {
    return { psnr: psnr(terms.distortion ?? NaN) };
  },
};
