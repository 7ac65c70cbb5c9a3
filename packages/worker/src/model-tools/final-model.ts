/**
 * A finished run's model, rebuilt from its final artifacts (final/state.json +
 * tensors.bin, the trainer-state format of checkpoint-format.ts) by the engine's own
 * code: the problem plug-in builds the network, the stored weights are assigned.
 * Sampling and export start here, so there is one definition of the model.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { YotoError, type RunPayload } from '@yoto/shared';
import { deserializeState, STATE_BLOB_FILE, STATE_INDEX_FILE } from '../engine/checkpoint-format.ts';
import { FilmVae, type InputShape } from '../engine/film-vae.ts';
import type { WeightMap } from '../engine/params.ts';
import type { Tf } from '../engine/tf.ts';
import { getProblem, type Problem } from '../problems/index.ts';

export interface FinalModel {
  run: RunPayload;
  problem: Problem;
  input: InputShape;
  weights: WeightMap;
  step: number;
}

/** Reads and checks (sha256 of the blob) a run's final state from `dir`. */
export async function readFinalModel(run: RunPayload, dir: string): Promise<FinalModel> {
  const files = {
    [STATE_INDEX_FILE]: new Uint8Array(await readFile(join(dir, STATE_INDEX_FILE))),
    [STATE_BLOB_FILE]: new Uint8Array(await readFile(join(dir, STATE_BLOB_FILE))),
  };
  const state = deserializeState(files);
  if (state.runId !== run.runId) throw new YotoError('CHECKPOINT_CORRUPT', `final state in ${dir} belongs to run ${state.runId}, not ${run.runId}`);
  return { run, problem: getProblem(run.problem), input: state.model.input, weights: state.weights, step: state.step };
}

/** The engine's network with the run's weights; the caller disposes it. Only FiLM VAEs decode images. */
export function instantiate(tf: Tf, m: FinalModel): FilmVae {
  const model = m.problem.buildModel(tf, m.run.model, m.input, m.run.seed, m.run);
  if (!(model instanceof FilmVae)) {
    model.dispose();
    throw new YotoError('INPUT_INVALID', `problem ${m.run.problem} has no image decoder to sample or export`);
  }
  try {
    model.params.assign(m.weights, `run ${m.run.runId}'s final weights`);
  } catch (err) {
    model.dispose();
    throw new YotoError('CHECKPOINT_CORRUPT', (err as Error).message, { cause: err });
  }
  return model;
}
