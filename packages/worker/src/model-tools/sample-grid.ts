/**
 * The λ dial as a picture: decodes images from a run's final model at given λ and
 * tiles them (image-grid.ts). Every row of a strip, and the comparison baseline,
 * decode the same latents, so the only thing that changes across a row is λ (or the
 * model). Latents are z ~ N(0, I) from Rng(seed, SAMPLE_STREAM), or with
 * `reconstruct` the posterior means of the first n test images, encoded at each λ.
 *
 * Layout: one point → a near-square grid of n tiles per panel; several points (a
 * strip) → one row of n tiles per point. Panels left to right: the test images
 * (reconstruct only), the YOTO model, the nearest baselines (compare only).
 * Compression models go to compress-images.ts (real bitstreams at each λ).
 */
import { writeFile } from 'node:fs/promises';
import type * as tfc from '@tensorflow/tfjs-core';
import { conditioningInput, type LambdaPoint, type ModelToolRequest, type ModelToolResult } from '@yoto/shared';
import { loadDataset } from '../data/index.ts';
import { Rng } from '../engine/prng.ts';
import type { Tf } from '../engine/tf.ts';
import type { FilmVae } from '../engine/film-vae.ts';
import { compressImages } from './compress-images.ts';
import { instantiate, readFinalModel } from './final-model.ts';
import { renderPng, squareCols, type Panel } from './image-grid.ts';

/** The Rng stream of sampled latents (apart from the engine's training streams 1–4). */
export const SAMPLE_STREAM = 101;

type SampleRequest = Extract<ModelToolRequest, { op: 'sample' }>;

async function decodeAt(tf: Tf, model: FilmVae, terms: readonly string[], point: LambdaPoint, z: Float32Array | null, x: tfc.Tensor4D | null, n: number): Promise<Float32Array> {
  const out = tf.tidy(() => {
    const c = tf.tensor2d(conditioningInput(point, terms), [1, terms.length]);
    const latents = x ? model.encode(x, c).mean : tf.tensor2d(z as Float32Array, [n, model.latentDim]);
    return tf.sigmoid(model.decode(latents, c));
  });
  try {
    return (await out.data()) as Float32Array;
  } finally {
    out.dispose();
  }
}

function split(values: Float32Array, n: number): Float32Array[] {
  const per = values.length / n;
  return Array.from({ length: n }, (_, i) => values.slice(i * per, (i + 1) * per));
}

export async function renderSamples(tf: Tf, req: SampleRequest): Promise<ModelToolResult> {
  const yoto = await readFinalModel(req.model.run, req.model.dir);
  if (yoto.run.problem === 'compression') return compressImages(tf, req, yoto);
  const terms = yoto.problem.weightedTerms;
  const { n, points } = req;
  const strip = points.length > 1;
  const geometry = (count: number): Pick<Panel, 'rows' | 'cols'> => (strip ? { rows: count / n, cols: n } : { rows: Math.ceil(n / squareCols(n)), cols: squareCols(n) });

  let x: tfc.Tensor4D | null = null;
  let z: Float32Array | null = null;
  const panels: Panel[] = [];
  if (req.reconstruct) {
    const data = await loadDataset(yoto.run.dataset);
    if (data.testCount < n) throw new Error(`--reconstruct: run ${yoto.run.runId} has ${data.testCount} test images, asked for ${n}`);
    const px = data.height * data.width * data.channels;
    const images = data.test.slice(0, n * px);
    x = tf.tensor4d(images, [n, data.height, data.width, data.channels]);
    panels.push({ ...(strip ? { rows: 1, cols: n } : geometry(n)), tiles: split(images, n) });
  } else {
    z = Rng.seeded(req.seed, SAMPLE_STREAM).fillNormal(new Float32Array(n * yoto.run.model.latentDim));
  }
  try {
    const model = instantiate(tf, yoto);
    const tiles: Float32Array[] = [];
    const rowMeans: number[] = [];
    try {
      for (const p of points) {
        const imgs = await decodeAt(tf, model, terms, p, z, x, n);
        rowMeans.push(imgs.reduce((s, v) => s + v, 0) / imgs.length);
        tiles.push(...split(imgs, n));
      }
    } finally {
      model.dispose();
    }
    panels.push({ ...geometry(tiles.length), tiles });
    if (req.compare?.length) {
      const ctiles: Float32Array[] = [];
      for (const [i, files] of req.compare.entries()) {
        const base = await readFinalModel(files.run, files.dir);
        const bm = instantiate(tf, base);
        try {
          // A baseline is conditioned on its own fixed λ, always.
          const own = files.run.fixedLambda ?? points[i] ?? {};
          ctiles.push(...split(await decodeAt(tf, bm, terms, own, z, x, n), n));
        } finally {
          bm.dispose();
        }
      }
      panels.push({ ...geometry(ctiles.length), tiles: ctiles });
    }
    const { png, width, height } = renderPng(panels, yoto.input);
    await writeFile(req.out, png);
    return { op: 'sample', files: [req.out], width, height, rowMeans };
  } finally {
    x?.dispose();
  }
}
