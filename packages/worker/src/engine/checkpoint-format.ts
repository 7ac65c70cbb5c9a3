/**
 * Trainer checkpoints as files: one JSON index plus one binary blob.
 *
 * state.json (UTF-8 JSON):
 *   {
 *     "format": "yoto-trainer-state", "version": 1,
 *     "runId": "...", "step": 1200,                 steps completed
 *     "rng": [u32, u32, u32, u32],                  xoshiro128** state of the training stream
 *     "model": { "problem", "config", "input" },    what the weights belong to
 *     "optimizer": { "t": 1200 },                   Adam's update count (moments are in the blob)
 *     "adaptive": { ... },                          gap-driven runs only: AdaptiveTrace (@yoto/shared
 *                                                   adaptive.ts), the P_λ density so far and its probes
 *     "blob": { "file": "tensors.bin", "bytes": N, "sha256": "<hex>" },
 *     "tensors": [
 *       { "group": "weights" | "adam.m" | "adam.v", "name": "enc/conv1/kernel",
 *         "shape": [4, 4, 1, 32], "offset": <byte offset in the blob>, "length": <elements> },
 *       ...
 *     ]
 *   }
 * tensors.bin: every tensor as little-endian IEEE-754 float32, concatenated in index
 *   order (so offsets are increasing and 4-byte aligned), no padding or header.
 *
 * Names are the model's parameter names; the same name appears once per group.
 * `deserializeState` checks the format, version, blob size and sha256, and that
 * every tensor lies inside the blob, and throws YotoError CHECKPOINT_CORRUPT
 * otherwise. Whether the tensors fit the model is checked by `importState`.
 */
import { createHash } from 'node:crypto';
import { YotoError } from '@yoto/shared';
import type { TensorRecord } from './params.ts';
import type { TrainerState } from './trainer.ts';

export const STATE_INDEX_FILE = 'state.json';
export const STATE_BLOB_FILE = 'tensors.bin';
const FORMAT = 'yoto-trainer-state';

type Group = 'weights' | 'adam.m' | 'adam.v';

interface IndexEntry {
  group: Group;
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

interface StateIndex {
  format: typeof FORMAT;
  version: 1;
  runId: string;
  step: number;
  rng: number[];
  model: TrainerState['model'];
  optimizer: { t: number };
  blob: { file: string; bytes: number; sha256: string };
  tensors: IndexEntry[];
  adaptive?: TrainerState['adaptive'];
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function writeFloats(dst: Uint8Array, offset: number, src: Float32Array): void {
  if (LITTLE_ENDIAN) {
    dst.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset);
    return;
  }
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  for (let i = 0; i < src.length; i++) view.setFloat32(offset + 4 * i, src[i]!, true);
}

function readFloats(src: Uint8Array, offset: number, length: number): Float32Array {
  const out = new Float32Array(length);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(src.subarray(offset, offset + 4 * length));
    return out;
  }
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < length; i++) out[i] = view.getFloat32(offset + 4 * i, true);
  return out;
}

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export function serializeState(state: TrainerState): { files: Record<string, Uint8Array> } {
  const groups: [Group, Record<string, TensorRecord>][] = [
    ['weights', state.weights],
    ['adam.m', state.optimizer.m],
    ['adam.v', state.optimizer.v],
  ];
  const tensors: IndexEntry[] = [];
  let bytes = 0;
  for (const [group, recs] of groups) {
    for (const [name, rec] of Object.entries(recs)) {
      tensors.push({ group, name, shape: [...rec.shape], offset: bytes, length: rec.data.length });
      bytes += 4 * rec.data.length;
    }
  }
  const blob = new Uint8Array(bytes);
  let i = 0;
  for (const [, recs] of groups) for (const rec of Object.values(recs)) writeFloats(blob, tensors[i++]!.offset, rec.data);
  const index: StateIndex = {
    format: FORMAT,
    version: 1,
    runId: state.runId,
    step: state.step,
    rng: [...state.rng],
    model: state.model,
    optimizer: { t: state.optimizer.t },
    blob: { file: STATE_BLOB_FILE, bytes, sha256: sha256Hex(blob) },
    tensors,
    ...(state.adaptive ? { adaptive: state.adaptive } : {}),
  };
  return { files: { [STATE_INDEX_FILE]: new TextEncoder().encode(JSON.stringify(index)), [STATE_BLOB_FILE]: blob } };
}

export function deserializeState(files: Record<string, Uint8Array>): TrainerState {
  const corrupt = (msg: string, cause?: unknown) => new YotoError('CHECKPOINT_CORRUPT', `checkpoint: ${msg}`, { cause });
  const indexBytes = files[STATE_INDEX_FILE];
  if (!indexBytes) throw corrupt(`${STATE_INDEX_FILE} is missing`);
  let index: StateIndex;
  try {
    index = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(indexBytes)) as StateIndex;
  } catch (err) {
    throw corrupt(`${STATE_INDEX_FILE} is not valid JSON`, err);
  }
  if (index?.format !== FORMAT) throw corrupt(`${STATE_INDEX_FILE} is not a ${FORMAT} index`);
  if (index.version !== 1) throw corrupt(`unsupported version ${String(index.version)}`);
  if (!Array.isArray(index.tensors) || !index.blob || !Array.isArray(index.rng) || !index.optimizer) throw corrupt(`${STATE_INDEX_FILE} lacks required fields`);
  const blob = files[index.blob.file];
  if (!blob) throw corrupt(`${index.blob.file} is missing`);
  if (blob.byteLength !== index.blob.bytes) throw corrupt(`${index.blob.file} has ${blob.byteLength} bytes, index says ${index.blob.bytes}`);
  if (sha256Hex(blob) !== index.blob.sha256) throw corrupt(`${index.blob.file} does not match its sha256`);
  const groups: Record<Group, Record<string, TensorRecord>> = { weights: {}, 'adam.m': {}, 'adam.v': {} };
  for (const e of index.tensors) {
    const size = e.shape.reduce((p, d) => p * d, 1);
    if (!(e.group in groups)) throw corrupt(`tensor ${e.name} has unknown group ${e.group}`);
    if (size !== e.length || e.offset % 4 !== 0 || e.offset < 0 || e.offset + 4 * e.length > blob.byteLength) {
      throw corrupt(`tensor ${e.group}/${e.name} does not fit the blob`);
    }
    if (groups[e.group][e.name]) throw corrupt(`tensor ${e.group}/${e.name} appears twice`);
    groups[e.group][e.name] = { shape: e.shape, data: readFloats(blob, e.offset, e.length) };
  }
  return {
    version: 1,
    runId: index.runId,
    step: index.step,
    rng: index.rng as TrainerState['rng'],
    model: index.model,
    weights: groups.weights,
    optimizer: { t: index.optimizer.t, m: groups['adam.m'], v: groups['adam.v'] },
    ...(index.adaptive !== undefined ? { adaptive: index.adaptive } : {}),
  };
}
