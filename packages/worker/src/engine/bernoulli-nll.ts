/**
 * The β-VAE's reconstruction term as one native kernel each way on native-cpu (BCE_LOGITS),
 * the composed tf ops elsewhere.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { BCE_LOGITS, BCE_LOGITS_GRAD } from '../backend/native-kernels.ts';
import { fusedFilmBlocks } from './film-block.ts';
import type { Tf } from './tf.ts';

/**
 * Bernoulli negative log-likelihood of `x` under `logits` (same shape, first axis the
 * batch), summed over everything but the batch: Σ max(l, 0) − l·x + log(1 + e^−|l|), the
 * stable sigmoid cross-entropy. On native-cpu (where the fused FiLM blocks run) one kernel each
 * way, else the composed ops. x is data: no gradient flows to it.
 */
export function bernoulliNll(tf: Tf, logits: tfc.Tensor, x: tfc.Tensor, options: { fused?: boolean } = {}): tfc.Tensor1D {
  const b = logits.shape[0]!;
  const { fused = fusedFilmBlocks(tf) } = options;
  if (!fused) {
    const ce = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, x)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    return tf.sum(tf.reshape(ce, [b, -1]), 1) as tfc.Tensor1D;
  }
  const l2 = tf.reshape(logits, [b, -1]);
  const x2 = tf.reshape(x, [b, -1]);
  const engine = tf.engine();
  const f = tf.customGrad(((li: tfc.Tensor, save: tfc.GradSaveFunc) => {
    const loss = engine.runKernel(BCE_LOGITS, { logits: li, x: x2 }) as tfc.Tensor1D;
    save([li, x2]);
    return {
      value: loss,
      gradFunc: (dy: tfc.Tensor, [ls, xs]: tfc.Tensor[]) => engine.runKernel(BCE_LOGITS_GRAD, { dy, logits: ls!, x: xs! }) as tfc.Tensor,
    };
  }) as unknown as Parameters<Tf['customGrad']>[0]) as unknown as (l: tfc.Tensor) => tfc.Tensor1D;
  return f(l2);
}
