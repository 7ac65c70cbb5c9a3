/**
 * The training engine's public surface: datasets, problems, the FiLM model, the
 * trainer and its storage formats. The BullMQ processor and the S3 checkpoint
 * store build on these.
 */
export { LossConditionalTrainer, flopsPerExample } from './trainer.ts';
export type { TrainerOptions, TrainOptions, TrainProgress, TrainSummary, TrainerState } from './trainer.ts';
export { serializeState, deserializeState, sha256Hex, STATE_INDEX_FILE, STATE_BLOB_FILE } from './checkpoint-format.ts';
export { serializeFinalModel, deserializeFinalModel, MODEL_JSON_FILE, MODEL_WEIGHTS_FILE } from './model-export.ts';
export type { FinalModelMetadata } from './model-export.ts';
export { FilmVae, type InputShape } from './film-vae.ts';
export { FilmCompressor, conditioningFrame, type ConditioningFrame } from './film-compressor.ts';
export { Adam, type AdamOptions, type AdamState } from './adam.ts';
export { ParamSet, type TensorRecord, type WeightMap } from './params.ts';
export { Rng, RNG_STREAMS, type RngState } from './prng.ts';
export { getTf, selectBackend, type Tf, type BackendInfo, type BackendPreference } from './tf.ts';
export { loadDataset, clearDatasetCache, parseIdxImages, generateShapes, type Dataset } from '../data/index.ts';
export { getProblem, betaVae, compression, PROBLEM_PLUGINS, weightedObjective, type Problem, type ConditionalModel, type LossOutput } from '../problems/index.ts';
