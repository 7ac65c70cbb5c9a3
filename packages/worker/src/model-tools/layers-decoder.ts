/**
 * The FilmVae decoder (and encoder, buildLayersEncoder) rebuilt as standard
 * tfjs-layers graphs, so an exported run loads with plain `tf.loadLayersModel` —
 * no yoto code, no custom layers.
 *
 * The graph mirrors FilmVae's decoder block for block (film-vae.ts is the
 * definition; this file only re-expresses it) with the engine's weights copied in:
 *
 *   inputs  z [latentDim], log_lambda [condDim]   (one log λ per weighted term, problem order)
 *   block   Dense | Conv2DTranspose(4, s2, 'same')  → (Reshape)
 *           FiLM: scale = Dense(Dense(log_lambda) → LeakyReLU(0.3))   (1 + filmScale·s folded into its weights)
 *                 shift = Dense(…) likewise (filmShift folded in)
 *                 h ← Add(Multiply(h, scale), shift), scale/shift reshaped to [1, 1, C] on image tensors
 *           → LeakyReLU(0.3)
 *   output  x_mean [H, W, C] = sigmoid(logits): the Bernoulli means of the image
 *
 * Folding the FiLM post-processing (`scale = 1 + m·s(c)`, `shift = m'·t(c)`) into the
 * last Dense layer of each generator (kernel·m, bias·m + 1) keeps the graph to
 * stock layers, which is what makes it loadable anywhere tfjs runs.
 *
 * Layer names are the engine's parameter paths with `/` turned into `_`
 * (`dec/dense1/film/scale/out` → `dec_dense1_film_scale_out`).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-core';
import type { ModelConfig } from '@yoto/shared';
import type { InputShape } from '../engine/film-vae.ts';
import { LEAKY_ALPHA } from '../engine/layers.ts';
import type { WeightMap } from '../engine/params.ts';

const scaled = (base: number, width: number) => Math.max(1, Math.round(base * width));
const layerName = (path: string) => path.replace(/\//g, '_');

interface PendingWeights {
  layer: tfl.layers.Layer;
  values: { shape: number[]; data: Float32Array }[];
}

/** Stock-layer building blocks over the engine's weight map; weights are assigned by `finish`. */
function graphBuilder(weights: WeightMap, cfg: ModelConfig, condDim: number) {
  const pending: PendingWeights[] = [];
  const get = (name: string) => {
    const w = weights[name];
    if (!w) throw new Error(`the run's weights have no ${name}; was it trained by a different model version?`);
    return w;
  };
  const cond = tfl.input({ shape: [condDim], name: 'log_lambda' });

  /** `cols` keeps only kernel/bias columns [from, from + units) (splitting enc/out into mean and logVar). */
  const dense = (x: tfl.SymbolicTensor, path: string, units: number, opts: { fold?: { mul: number; add: number }; cols?: number; name?: string } = {}): tfl.SymbolicTensor => {
    const layer = tfl.layers.dense({ units, name: opts.name ?? layerName(path) });
    let k = get(`${path}/kernel`);
    let b = get(`${path}/bias`);
    if (opts.cols !== undefined) {
      const [inU, outU] = k.shape as [number, number];
      const from = opts.cols;
      const kd = new Float32Array(inU * units);
      for (let i = 0; i < inU; i++) kd.set(k.data.subarray(i * outU + from, i * outU + from + units), i * units);
      k = { shape: [inU, units], data: kd };
      b = { shape: [units], data: b.data.slice(from, from + units) };
    }
    const fold = opts.fold;
    const values = fold
      ? [{ shape: k.shape, data: k.data.map((v) => v * fold.mul) }, { shape: b.shape, data: b.data.map((v) => v * fold.mul + fold.add) }]
      : [k, b];
    pending.push({ layer, values });
    return layer.apply(x) as tfl.SymbolicTensor;
  };
  const conv = (x: tfl.SymbolicTensor, path: string, filters: number, transpose: boolean): tfl.SymbolicTensor => {
    // Kernel layouts — conv2d [k, k, in, out], conv2dTranspose [k, k, out, in] — are the engine's (tfjs) and Keras's.
    const args = { filters, kernelSize: 4, strides: 2, padding: 'same' as const, name: layerName(path) };
    const layer = transpose ? tfl.layers.conv2dTranspose(args) : tfl.layers.conv2d(args);
    pending.push({ layer, values: [get(`${path}/kernel`), get(`${path}/bias`)] });
    return layer.apply(x) as tfl.SymbolicTensor;
  };
  const leaky = (x: tfl.SymbolicTensor, name: string) => tfl.layers.leakyReLU({ alpha: LEAKY_ALPHA, name }).apply(x) as tfl.SymbolicTensor;
  const film = (h: tfl.SymbolicTensor, block: string, channels: number): tfl.SymbolicTensor => {
    const gen = (which: 'scale' | 'shift', fold: { mul: number; add: number }) => {
      const base = `${block}/film/${which}`;
      const hidden = leaky(dense(cond, `${base}/hidden`, cfg.filmHidden), layerName(`${base}/hidden_act`));
      let out = dense(hidden, `${base}/out`, channels, { fold });
      if (h.shape.length === 4) out = tfl.layers.reshape({ targetShape: [1, 1, channels], name: layerName(`${base}/reshape`) }).apply(out) as tfl.SymbolicTensor;
      return out;
    };
    const scale = gen('scale', { mul: cfg.filmScale, add: 1 });
    const shift = gen('shift', { mul: cfg.filmShift, add: 0 });
    const mul = tfl.layers.multiply({ name: layerName(`${block}/film/mul`) }).apply([h, scale]) as tfl.SymbolicTensor;
    const add = tfl.layers.add({ name: layerName(`${block}/film/add`) }).apply([mul, shift]) as tfl.SymbolicTensor;
    return leaky(add, layerName(`${block}/act`));
  };
  const finish = (model: tfl.LayersModel): tfl.LayersModel => {
    for (const p of pending) {
      const ts = p.values.map((v) => tfc.tensor(v.data, v.shape, 'float32'));
      p.layer.setWeights(ts);
      tfc.dispose(ts);
    }
    return model;
  };
  return { cond, dense, conv, leaky, film, finish };
}

/** Builds the decoder graph and assigns `weights` (the engine's parameter map) to it. */
export function buildLayersDecoder(weights: WeightMap, cfg: ModelConfig, input: InputShape, condDim: number): tfl.LayersModel {
  const g = graphBuilder(weights, cfg, condDim);
  const z = tfl.input({ shape: [cfg.latentDim], name: 'z' });
  const { height: H, width: W, channels: C } = input;
  const w = cfg.width;
  let h: tfl.SymbolicTensor;
  if (cfg.arch === 'conv') {
    const [c1, c2, d] = [scaled(32, w), scaled(64, w), scaled(256, w)];
    const [h4, w4] = [H / 4, W / 4];
    h = g.film(g.dense(z, 'dec/dense1', d), 'dec/dense1', d);
    h = g.dense(h, 'dec/dense2', h4 * w4 * c2);
    h = tfl.layers.reshape({ targetShape: [h4, w4, c2], name: 'dec_dense2_reshape' }).apply(h) as tfl.SymbolicTensor;
    h = g.film(h, 'dec/dense2', c2);
    h = g.film(g.conv(h, 'dec/deconv1', c1, true), 'dec/deconv1', c1);
    h = g.conv(h, 'dec/deconv2', C, true);
  } else {
    const [u1, u2] = [scaled(512, w), scaled(256, w)];
    h = g.film(g.dense(z, 'dec/dense1', u2), 'dec/dense1', u2);
    h = g.film(g.dense(h, 'dec/dense2', u1), 'dec/dense2', u1);
    h = g.dense(h, 'dec/out', H * W * C);
    h = tfl.layers.reshape({ targetShape: [H, W, C], name: 'dec_out_reshape' }).apply(h) as tfl.SymbolicTensor;
  }
  const out = tfl.layers.activation({ activation: 'sigmoid', name: 'x_mean' }).apply(h) as tfl.SymbolicTensor;
  return g.finish(tfl.model({ inputs: [z, g.cond], outputs: out, name: 'yoto_decoder' }));
}

/**
 * Builds the encoder graph: inputs `image` [H, W, C] (pixel intensities in [0, 1]) and
 * `log_lambda` → outputs `mean`, `log_var` [latentDim], the Gaussian posterior
 * parameters. The engine's single `enc/out` layer (2·latentDim units) is split column-wise
 * into two Dense layers named `mean` and `log_var`, so no slicing layer is needed.
 */
export function buildLayersEncoder(weights: WeightMap, cfg: ModelConfig, input: InputShape, condDim: number): tfl.LayersModel {
  const g = graphBuilder(weights, cfg, condDim);
  const { height: H, width: W, channels: C } = input;
  const L = cfg.latentDim;
  const w = cfg.width;
  const image = tfl.input({ shape: [H, W, C], name: 'image' });
  let h: tfl.SymbolicTensor;
  if (cfg.arch === 'conv') {
    const [c1, c2, d] = [scaled(32, w), scaled(64, w), scaled(256, w)];
    h = g.film(g.conv(image, 'enc/conv1', c1, false), 'enc/conv1', c1);
    h = g.film(g.conv(h, 'enc/conv2', c2, false), 'enc/conv2', c2);
    h = tfl.layers.flatten({ name: 'enc_conv2_flatten' }).apply(h) as tfl.SymbolicTensor;
    h = g.film(g.dense(h, 'enc/dense', d), 'enc/dense', d);
  } else {
    const [u1, u2] = [scaled(512, w), scaled(256, w)];
    h = tfl.layers.flatten({ name: 'enc_flatten' }).apply(image) as tfl.SymbolicTensor;
    h = g.film(g.dense(h, 'enc/dense1', u1), 'enc/dense1', u1);
    h = g.film(g.dense(h, 'enc/dense2', u2), 'enc/dense2', u2);
  }
  const mean = g.dense(h, 'enc/out', L, { cols: 0, name: 'mean' });
  const logVar = g.dense(h, 'enc/out', L, { cols: L, name: 'log_var' });
  return g.finish(tfl.model({ inputs: [image, g.cond], outputs: [mean, logVar], name: 'yoto_encoder' }));
}

/**
 * The model as the two files of the tfjs Layers format: model.json (topology +
 * weights manifest + `userDefinedMetadata`) and one weights file it names.
 */
export async function saveLayersModel(model: tfl.LayersModel, meta: Record<string, unknown>, weightsFile = 'weights.bin'): Promise<Record<string, Uint8Array>> {
  let files: Record<string, Uint8Array> | null = null;
  await model.save(
    tfc.io.withSaveHandler(async (a) => {
      if (!a.weightData || !a.weightSpecs) throw new Error('tfjs-layers produced no weights');
      const weightData = tfc.io.concatenateArrayBuffers(Array.isArray(a.weightData) ? a.weightData : [a.weightData]);
      const json = {
        format: 'layers-model',
        generatedBy: `yoto (tfjs-layers ${tfl.version_layers})`,
        convertedBy: null,
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: [weightsFile], weights: a.weightSpecs }],
        userDefinedMetadata: meta,
      };
      files = { 'model.json': new TextEncoder().encode(JSON.stringify(json)), [weightsFile]: new Uint8Array(weightData) };
      return { modelArtifactsInfo: tfc.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  if (!files) throw new Error('model.save did not call the save handler');
  return files;
}
