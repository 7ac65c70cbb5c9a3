/**
 * β-VAE: `recon + β·kl`, with
 *   recon = Bernoulli NLL of the image under the decoder's logits, summed over pixels
 *           (sigmoid cross-entropy in the stable form max(l, 0) − l·x + log(1 + e^−|l|)),
 *   kl    = KL(N(μ, σ²) ‖ N(0, I)) summed over latents,
 * the latent drawn by reparameterisation z = μ + σ·ε with ε supplied by the trainer.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { PROBLEMS } from '@yoto/shared';
import { bernoulliNll } from '../engine/bernoulli-nll.ts';
import { FilmVae } from '../engine/film-vae.ts';
import { weightedObjective, type Problem } from './problem.ts';

const info = PROBLEMS['beta-vae'];

export const betaVae: Problem<FilmVae> = {
  name: info.name,
  terms: info.terms,
  weightedTerms: info.weightedTerms,
  unitTerms: info.terms.filter((t) => !(info.weightedTerms as readonly string[]).includes(t)),

  buildModel(tf, cfg, input, seed) {
    return new FilmVae(tf, cfg, input, info.weightedTerms.length, seed);
  },

  noiseDim(model) {
    return model.latentDim;
  },

  perExampleTerms(model, x, cond, noise) {
    const tf = model.tf;
    const { mean, logVar } = model.encode(x, cond);
    const z = tf.add(mean, tf.mul(tf.exp(tf.mul(logVar, 0.5)), noise)) as tfc.Tensor2D;
    const logits = model.decode(z, cond);
    const recon = bernoulliNll(tf, logits, x);
    const kl = tf.mul(tf.sum(tf.sub(tf.add(tf.square(mean), tf.exp(logVar)), tf.add(logVar, 1)), 1), 0.5) as tfc.Tensor1D;
    return { recon, kl };
  },

  loss(model, x, cond, weights, noise) {
    return weightedObjective(model.tf, this, this.perExampleTerms(model, x, cond, noise), weights);
  },
};
