/**
 * A run's final model in the TensorFlow.js weights format, so `tf.io` tooling can
 * read it (`tf.io.decodeWeights(bin, manifest[0].weights)`), plus what is needed
 * to rebuild the network around it.
 *
 * model.json (UTF-8 JSON):
 *   {
 *     "format": "yoto-film-model", "version": 1, "generatedBy": "yoto",
 *     "modelTopology": null,                       the network is code (FilmVae), not a layers graph
 *     "weightsManifest": [{ "paths": ["weights.bin"],
 *                           "weights": [{ "name": "enc/conv1/kernel", "shape": [4,4,1,32], "dtype": "float32" }, ...] }],
 *     "userDefinedMetadata": { "problem", "model" (ModelConfig), "input" ({height,width,channels}),
 *                              "conditioning": "log-lambda", "weightedTerms", "terms",
 *                              "runId", "kind", "fixedLambda", "step" }
 *   }
 * weights.bin: the weights as little-endian float32, concatenated in manifest order.
 */
import { YotoError } from '@yoto/shared';
import type { WeightMap } from './params.ts';

export const MODEL_JSON_FILE = 'model.json';
export const MODEL_WEIGHTS_FILE = 'weights.bin';

export interface FinalModelMetadata {
  problem: string;
  model: Record<string, unknown>;
  input: { height: number; width: number; channels: number };
  conditioning: 'log-lambda';
  terms: readonly string[];
  weightedTerms: readonly string[];
  runId: string;
  kind: 'yoto' | 'baseline';
  fixedLambda: Record<string, number> | null;
  step: number;
}

interface ModelJson {
  format: 'yoto-film-model';
  version: 1;
  generatedBy: string;
  modelTopology: null;
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: 'float32' }[] }[];
  userDefinedMetadata: FinalModelMetadata;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function serializeFinalModel(weights: WeightMap, meta: FinalModelMetadata): { files: Record<string, Uint8Array> } {
  if (!LITTLE_ENDIAN) throw new Error('model export assumes a little-endian host');
  const entries = Object.entries(weights);
  const bytes = entries.reduce((s, [, r]) => s + 4 * r.data.length, 0);
  const bin = new Uint8Array(bytes);
  let off = 0;
  for (const [, r] of entries) {
    bin.set(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength), off);
    off += r.data.byteLength;
  }
  const json: ModelJson = {
    format: 'yoto-film-model',
    version: 1,
    generatedBy: 'yoto',
    modelTopology: null,
    weightsManifest: [{ paths: [MODEL_WEIGHTS_FILE], weights: entries.map(([name, r]) => ({ name, shape: [...r.shape], dtype: 'float32' })) }],
    userDefinedMetadata: meta,
  };
  return { files: { [MODEL_JSON_FILE]: new TextEncoder().encode(JSON.stringify(json, null, 1)), [MODEL_WEIGHTS_FILE]: bin } };
}

export function deserializeFinalModel(files: Record<string, Uint8Array>): { meta: FinalModelMetadata; weights: WeightMap } {
  const bad = (msg: string) => new YotoError('CHECKPOINT_CORRUPT', `final model: ${msg}`);
  const jsonBytes = files[MODEL_JSON_FILE];
  const bin = files[MODEL_WEIGHTS_FILE];
  if (!jsonBytes || !bin) throw bad(`${MODEL_JSON_FILE} and ${MODEL_WEIGHTS_FILE} are both required`);
  let json: ModelJson;
  try {
    json = JSON.parse(new TextDecoder().decode(jsonBytes)) as ModelJson;
  } catch {
    throw bad(`${MODEL_JSON_FILE} is not JSON`);
  }
  if (json.format !== 'yoto-film-model' || json.version !== 1) throw bad('not a yoto-film-model v1');
  const weights: WeightMap = {};
  let off = 0;
  for (const w of json.weightsManifest.flatMap((g) => g.weights)) {
    const n = w.shape.reduce((p, d) => p * d, 1);
    if (off + 4 * n > bin.byteLength) throw bad(`${MODEL_WEIGHTS_FILE} is too short for ${w.name}`);
    const data = new Float32Array(n);
    new Uint8Array(data.buffer).set(bin.subarray(off, off + 4 * n));
    weights[w.name] = { shape: w.shape, data };
    off += 4 * n;
  }
  if (off !== bin.byteLength) throw bad(`${MODEL_WEIGHTS_FILE} has ${bin.byteLength - off} unexplained bytes`);
  return { meta: json.userDefinedMetadata, weights };
}
