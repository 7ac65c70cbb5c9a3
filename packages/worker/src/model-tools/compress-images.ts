/**
 * The λ dial of the compression problem: codes the first n test images with a run's
 * final model at each requested λ, writes each point's bitstream file (`.yoto`, see
 * codec/latent-codec.ts) beside the PNG, then decodes that file again, from its
 * bytes and the weights alone, and draws the decoded reconstructions: panel one the
 * originals, then one row of n per λ (a single λ: near-square grids side by side).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { conditioningInput, type LambdaPoint, type ModelToolRequest, type ModelToolResult } from '@yoto/shared';
import { analyseBatch, decodeImages, modelTables } from '../codec/image-codec.ts';
import { encodeLatents, readCompressedFile, writeCompressedFile } from '../codec/latent-codec.ts';
import { loadDataset } from '../data/index.ts';
import { FilmCompressor } from '../engine/film-compressor.ts';
import type { Tf } from '../engine/tf.ts';
import { psnr } from '../problems/compression.ts';
import type { FinalModel } from './final-model.ts';
import { renderPng, squareCols, type Panel } from './image-grid.ts';

type SampleRequest = Extract<ModelToolRequest, { op: 'sample' }>;

/** `out.png` → `out-distortion=0.01.yoto`. */
export function bitstreamPath(out: string, point: LambdaPoint): string {
  const stem = out.replace(/\.png$/i, '');
  const label = Object.entries(point).map(([k, v]) => `${k}=${v}`).join(',');
  return `${stem}-${label}.yoto`;
}

export async function compressImages(tf: Tf, req: SampleRequest, final: FinalModel): Promise<ModelToolResult> {
  const model = final.problem.buildModel(tf, final.run.model, final.input, final.run.seed, final.run);
  try {
    if (!(model instanceof FilmCompressor)) throw new Error(`problem ${final.run.problem} is not a compression model`);
    model.params.assign(final.weights, `run ${final.run.runId}'s final weights`);
    const terms = final.problem.weightedTerms;
    const data = await loadDataset(final.run.dataset);
    const { n } = req;
    if (data.testCount < n) throw new Error(`run ${final.run.runId} has ${data.testCount} test images, asked for ${n}`);
    const { height, width, channels } = final.input;
    const px = height * width * channels;
    const images = data.test.slice(0, n * px);
    const strip = req.points.length > 1;
    const geometry = (count: number) => (strip ? { rows: count / n, cols: n } : { rows: Math.ceil(n / squareCols(n)), cols: squareCols(n) });
    const tiles = (values: Uint8Array | Float32Array, scale: number) => Array.from({ length: values.length / px }, (_, i) => Float32Array.from(values.subarray(i * px, (i + 1) * px), (v) => v * scale));
    const panels: Panel[] = [{ ...(strip ? { rows: 1, cols: n } : geometry(n)), tiles: tiles(images, 1) }];
    const decoded: Float32Array[] = [];
    const codec: NonNullable<ModelToolResult['codec']> = [];
    const files: string[] = [req.out];
    const x = tf.tensor4d(images, [n, height, width, channels]);
    try {
      for (const point of req.points) {
        const cond = conditioningInput(point, terms);
        const enc = await analyseBatch(model, x, cond);
        const stream = encodeLatents(enc.symbols, await modelTables(model, cond));
        const lambda = point[terms[0]!]!;
        const path = bitstreamPath(req.out, point);
        await writeFile(path, writeCompressedFile({ count: n, image: final.input, latent: model.latentShape, lambda, stream }));
        files.push(path);
        // Decode from the file as a receiver would: its bytes and the weights, nothing else.
        const bytes = new Uint8Array(await readFile(path));
        const file = readCompressedFile(bytes);
        const dec = await decodeImages(model, file.stream, file.count, conditioningInput({ [terms[0]!]: file.lambda }, terms));
        if (!dec.reconstruction.every((v, i) => v === enc.reconstruction[i])) throw new Error(`decoding ${path} did not reproduce the encoder's reconstruction`);
        decoded.push(...tiles(dec.reconstruction, 1 / 255));
        const mse = enc.mse.reduce((a, b) => a + b, 0) / n;
        codec.push({ lambda: point, file: path, bytes: bytes.length, bpp: (8 * bytes.length) / (n * height * width), estimatedBpp: enc.estimatedBits.reduce((a, b) => a + b, 0) / (n * height * width), psnr: psnr(mse) });
      }
    } finally {
      x.dispose();
    }
    panels.push({ ...geometry(decoded.length), tiles: decoded });
    const { png, width: w, height: h } = renderPng(panels, final.input);
    await writeFile(req.out, png);
    return { op: 'sample', files, width: w, height: h, rowMeans: codec.map((c) => c.bpp), codec };
  } finally {
    model.dispose();
  }
}
