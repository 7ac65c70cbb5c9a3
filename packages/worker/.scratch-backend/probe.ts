import * as tf from '@tensorflow/tfjs-core';
import { createRequire as cr0 } from 'node:module';
const rq0 = cr0(import.meta.url);
const t0 = performance.now();
rq0('@tensorflow/tfjs-core/dist/register_all_gradients.js');
rq0('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js');
console.log('load ms', performance.now() - t0);
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
const require = createRequire(import.meta.url);
const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/';
setWasmPaths(dir);
await tf.setBackend('wasm');
console.log(tf.getBackend());
const x = tf.randomNormal([2, 8, 8, 3]);
const w = tf.randomNormal([3, 3, 3, 4]);
const cases: Record<string, () => tf.Tensor> = {
  conv2d: () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same').sum())([x, w])[1]!,
  conv2dT: () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [2, 16, 16, 3], 2, 'same').sum())([tf.randomNormal([2,8,8,4]), w])[1]!,
  leaky: () => tf.grad((a: tf.Tensor) => tf.leakyRelu(a, 0.3).sum())(x),
  softplus: () => tf.grad((a: tf.Tensor) => tf.softplus(a).sum())(x),
  sigmoid: () => tf.grad((a: tf.Tensor) => tf.sigmoid(a).sum())(x),
  exp: () => tf.grad((a: tf.Tensor) => tf.exp(a).sum())(x),
  log1p: () => tf.grad((a: tf.Tensor) => tf.log1p(tf.abs(a)).sum())(x),
  relu: () => tf.grad((a: tf.Tensor) => tf.relu(a).sum())(x),
  maximum: () => tf.grad((a: tf.Tensor) => tf.maximum(a, 0).sum())(x),
  sce: () => tf.grad((a: tf.Tensor) => tf.losses.sigmoidCrossEntropy(tf.onesLike(a), a))(x),
  mean: () => tf.grad((a: tf.Tensor) => tf.mean(tf.square(a)))(x),
  matmul: () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D).sum())([tf.randomNormal([4, 5]), tf.randomNormal([5, 6])])[1]!,
  fused: () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: tf.ones([6]), activation: 'relu' }).sum())([tf.randomNormal([4, 5]), tf.randomNormal([5, 6])])[1]!,
  filmMulAdd: () => tf.grads((a: tf.Tensor, g: tf.Tensor) => tf.add(tf.mul(a, g), g).sum())([x, tf.randomNormal([2, 1, 1, 3])])[1]!,
  slice: () => tf.grad((a: tf.Tensor) => tf.slice(a, [0, 0, 0, 0], [1, 8, 8, 3]).sum())(x),
  split: () => tf.grad((a: tf.Tensor) => tf.split(a, [1, 2], 3)[0]!.sum())(x),
  concat: () => tf.grad((a: tf.Tensor) => tf.concat([a, a], 3).sum())(x),
  reshape: () => tf.grad((a: tf.Tensor) => tf.reshape(a, [2, -1]).sum())(x),
  tanh: () => tf.grad((a: tf.Tensor) => tf.tanh(a).sum())(x),
  elu: () => tf.grad((a: tf.Tensor) => tf.elu(a).sum())(x),
  sqrt: () => tf.grad((a: tf.Tensor) => tf.sqrt(tf.abs(a).add(1)).sum())(x),
  logSigmoid: () => tf.grad((a: tf.Tensor) => tf.logSigmoid(a).sum())(x),
  logSoftmax: () => tf.grad((a: tf.Tensor) => tf.logSoftmax(a).sum())(x),
  softmax: () => tf.grad((a: tf.Tensor) => tf.softmax(a).mul(a).sum())(x),
  clip: () => tf.grad((a: tf.Tensor) => tf.clipByValue(a, -1, 1).sum())(x),
  pow: () => tf.grad((a: tf.Tensor) => tf.pow(a, 2).sum())(x),
  div: () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.div(a, b).sum())([x, tf.ones([3])])[1]!,
  sub: () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sub(a, b).sum())([x, tf.ones([3])])[1]!,
  sqdiff: () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.squaredDifference(a, b).sum())([x, tf.ones([3])])[1]!,
  batchnorm: () => tf.grad((a: tf.Tensor) => tf.batchNorm(a, tf.ones([3]), tf.ones([3])).sum())(x),
  moments: () => tf.grad((a: tf.Tensor) => { const m = tf.moments(a, [0, 1, 2]); return m.variance.sum().add(m.mean.sum()); })(x),
  avgpool: () => tf.grad((a: tf.Tensor) => tf.avgPool(a as tf.Tensor4D, 2, 2, 'same').sum())(x),
  maxpool: () => tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'same').sum())(x),
  resize: () => tf.grad((a: tf.Tensor) => tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [16, 16]).sum())(x),
  gather: () => tf.grad((a: tf.Tensor) => tf.gather(a, [0, 0, 1]).sum())(x),
  tile: () => tf.grad((a: tf.Tensor) => tf.tile(a, [2, 1, 1, 1]).sum())(x),
  broadcastTo: () => tf.grad((a: tf.Tensor) => tf.broadcastTo(a.slice([0,0,0,0],[1,8,8,3]), [3, 8, 8, 3]).sum())(x),
  where: () => tf.grad((a: tf.Tensor) => tf.where(tf.greater(a, 0), a, tf.zerosLike(a)).sum())(x),
  abs: () => tf.grad((a: tf.Tensor) => tf.abs(a).sum())(x),
  logsumexp: () => tf.grad((a: tf.Tensor) => tf.logSumExp(a, -1).sum())(x),
  prod: () => tf.grad((a: tf.Tensor) => tf.prod(a, -1).sum())(x),
  max: () => tf.grad((a: tf.Tensor) => tf.max(a, -1).sum())(x),
  transpose: () => tf.grad((a: tf.Tensor) => tf.transpose(a, [0, 3, 1, 2]).mul(2).sum())(x),
  pad: () => tf.grad((a: tf.Tensor) => tf.pad(a, [[0, 0], [1, 1], [1, 1], [0, 0]]).sum())(x),
  depthwise: () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same').sum())([x, tf.randomNormal([3, 3, 3, 1])])[1]!,
  selu: () => tf.grad((a: tf.Tensor) => tf.selu(a).sum())(x),
  relu6: () => tf.grad((a: tf.Tensor) => tf.relu6(a).sum())(x),
  prelu: () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.prelu(a, b).sum())([x, tf.ones([3]).mul(0.2)])[1]!,
  erf: () => tf.grad((a: tf.Tensor) => tf.erf(a).sum())(x),
  atan2: () => tf.grad((a: tf.Tensor) => tf.atan2(a, tf.onesLike(a)).sum())(x),
  cumsum: () => tf.grad((a: tf.Tensor) => tf.cumsum(a, 1).sum())(x),
  mirror: () => tf.grad((a: tf.Tensor) => tf.mirrorPad(a, [[0, 0], [1, 1], [1, 1], [0, 0]], 'reflect').sum())(x),
};
for (const [name, f] of Object.entries(cases)) {
  try { const r = f(); r.dataSync(); console.log('ok  ', name); }
  catch (e) { console.log('FAIL', name, (e as Error).message.slice(0, 150)); }
}
// adam
const v = tf.variable(tf.randomNormal([5, 3]));
const opt = tf.train.adam(1e-3);
try { opt.minimize(() => tf.square(v).sum() as tf.Scalar); console.log('ok   adam'); } catch (e) { console.log('FAIL adam', (e as Error).message); }
