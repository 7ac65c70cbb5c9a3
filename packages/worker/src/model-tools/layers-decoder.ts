/**
 * The FilmVae decoder rebuilt as a standard tfjs-layers graph, so an exported run
 * loads with plain `tf.loadLayersModel` — no yoto code, no custom layers.
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

/** Builds the decoder graph and assigns `weights` (the engine's parameter map) to it. */
export function buildLayersDecoder(weights: WeightMap, cfg: ModelConfig, input: InputShape, condDim: number): tfl.LayersModel {
  const pending: PendingWeights[] = [];
  const get = (name: string) => {
    const w = weights[name];
    if (!w) throw new Error(`the run's weights have no ${name}; was it trained by a different model version?`);
    return w;
  };
  const z = tfl.input({ shape: [cfg.latentDim], name: 'z' });
  const cond = tfl.input({ shape: [condDim], name: 'log_lambda' });

  const dense = (x: tfl.SymbolicTensor, path: string, units: number, fold?: { mul: number; add: number }): tfl.SymbolicTensor => {
    const layer = tfl.layers.dense({ units, name: layerName(path) });
    const k = get(`${path}/kernel`);
    const b = get(`${path}/bias`);
    const values = fold
      ? [{ shape: k.shape, data: k.data.map((v) => v * fold.mul) }, { shape: b.shape, data: b.data.map((v) => v * fold.mul + fold.add) }]
      : [k, b];
    pending.push({ layer, values });
    return layer.apply(x) as tfl.SymbolicTensor;
  };
  const deconv = (x: tfl.SymbolicTensor, path: string, filters: number): tfl.SymbolicTensor => {
    // Kernel layout [k, k, out, in] is the engine's (tfjs conv2dTranspose) and Keras's.
    const layer = tfl.layers.conv2dTranspose({ filters, kernelSize: 4, strides: 2, padding: 'same', name: layerName(path) });
    pending.push({ layer, values: [get(`${path}/kernel`), get(`${path}/bias`)] });
    return layer.apply(x) as tfl.SymbolicTensor;
  };
  const leaky = (x: tfl.SymbolicTensor, name: string) => tfl.layers.leakyReLU({ alpha: LEAKY_ALPHA, name }).apply(x) as tfl.SymbolicTensor;
  const film = (h: tfl.SymbolicTensor, block: string, channels: number): tfl.SymbolicTensor => {
    const gen = (which: 'scale' | 'shift', fold: { mul: number; add: number }) => {
      const base = `${block}/film/${which}`;
      const hidden = leaky(dense(cond, `${base}/hidden`, cfg.filmHidden), layerName(`${base}/hidden_act`));
      let out = dense(hidden, `${base}/out`, channels, fold);
      if (h.shape.length === 4) out = tfl.layers.reshape({ targetShape: [1, 1, channels], name: layerName(`${base}/reshape`) }).apply(out) as tfl.SymbolicTensor;
      return out;
    };
    const scale = gen('scale', { mul: cfg.filmScale, add: 1 });
    const shift = gen('shift', { mul: cfg.filmShift, add: 0 });
    const mul = tfl.layers.multiply({ name: layerName(`${block}/film/mul`) }).apply([h, scale]) as tfl.SymbolicTensor;
    const add = tfl.layers.add({ name: layerName(`${block}/film/add`) }).apply([mul, shift]) as tfl.SymbolicTensor;
    return leaky(add, layerName(`${block}/act`));
  };

  const { height: H, width: W, channels: C } = input;
  const w = cfg.width;
  let h: tfl.SymbolicTensor;
  if (cfg.arch === 'conv') {
    const [c1, c2, d] = [scaled(32, w), scaled(64, w), scaled(256, w)];
    const [h4, w4] = [H / 4, W / 4];
    h = film(dense(z, 'dec/dense1', d), 'dec/dense1', d);
    h = dense(h, 'dec/dense2', h4 * w4 * c2);
    h = tfl.layers.reshape({ targetShape: [h4, w4, c2], name: 'dec_dense2_reshape' }).apply(h) as tfl.SymbolicTensor;
    h = film(h, 'dec/dense2', c2);
    h = film(deconv(h, 'dec/deconv1', c1), 'dec/deconv1', c1);
    h = deconv(h, 'dec/deconv2', C);
  } else {
    const [u1, u2] = [scaled(512, w), scaled(256, w)];
    h = film(dense(z, 'dec/dense1', u2), 'dec/dense1', u2);
    h = film(dense(h, 'dec/dense2', u1), 'dec/dense2', u1);
    h = dense(h, 'dec/out', H * W * C);
    h = tfl.layers.reshape({ targetShape: [H, W, C], name: 'dec_out_reshape' }).apply(h) as tfl.SymbolicTensor;
  }
  const out = tfl.layers.activation({ activation: 'sigmoid', name: 'x_mean' }).apply(h) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: [z, cond], outputs: out, name: 'yoto_decoder' });
  for (const p of pending) {
    const ts = p.values.map((v) => tfc.tensor(v.data, v.shape, 'float32'));
    p.layer.setWeights(ts);
    tfc.dispose(ts);
  }
  return model;
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
