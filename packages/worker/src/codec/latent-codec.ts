/**
 * Rounded latents ↔ bytes, and the compressed-image file format.
 *
 * Latents are coded image by image, position by position, channel by channel
 * (row-major [h, w, M]), each value under its channel's table.
 *
 * File (`.yoto`, big-endian): magic "YOTC", version u8 = 1, image count, image
 * height, width, channels, latent height, width, channels (u16 each), λ (float64,
 * the distortion weight the images were coded at), then one rANS stream of all the
 * images' latents to the end of the file (27 bytes of header).
 * The decoder needs the same model (weights) to rebuild tables and synthesis.
 */
import { RansDecoder, RansEncoder, type FreqTable } from './rans.ts';

export const FILE_MAGIC = 'YOTC';
export const FILE_VERSION = 1;
export const HEADER_BYTES = 4 + 1 + 7 * 2 + 8;

/** Codes `count` images' rounded latents (Int32 values, [count, h, w, M]) as one stream. */
export function encodeLatents(symbols: ArrayLike<number>, tables: readonly FreqTable[]): Uint8Array {
  const M = tables.length;
  const enc = new RansEncoder();
  for (let i = 0; i < symbols.length; i++) enc.put(tables[i % M]!, symbols[i]!);
  return enc.finish();
}

/** Decodes `length` latent values (a multiple of the channel count) from `bytes`. */
export function decodeLatents(bytes: Uint8Array, tables: readonly FreqTable[], length: number): Int32Array {
  const M = tables.length;
  if (length % M !== 0) throw new Error(`latent length ${length} is not a multiple of ${M} channels`);
  const dec = new RansDecoder(bytes);
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) out[i] = dec.get(tables[i % M]!);
  return out;
}

export interface CompressedImage {
  count: number;
  image: { height: number; width: number; channels: number };
  latent: [number, number, number];
  /** The distortion weight λ the image was coded at. */
  lambda: number;
  stream: Uint8Array;
}

export function writeCompressedFile(c: CompressedImage): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + c.stream.length);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(FILE_MAGIC), 0);
  view.setUint8(4, FILE_VERSION);
  [c.count, c.image.height, c.image.width, c.image.channels, ...c.latent].forEach((v, i) => view.setUint16(5 + 2 * i, v));
  view.setFloat64(19, c.lambda);
  out.set(c.stream, HEADER_BYTES);
  return out;
}

export function readCompressedFile(bytes: Uint8Array): CompressedImage {
  if (bytes.length < HEADER_BYTES || new TextDecoder().decode(bytes.subarray(0, 4)) !== FILE_MAGIC) throw new Error('not a yoto compressed image (bad magic or too short)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== FILE_VERSION) throw new Error(`compressed image format version ${version} is not supported (this build reads ${FILE_VERSION})`);
  const u = (i: number) => view.getUint16(5 + 2 * i);
  return {
    count: u(0),
    image: { height: u(1), width: u(2), channels: u(3) },
    latent: [u(4), u(5), u(6)],
    lambda: view.getFloat64(19),
    stream: bytes.slice(HEADER_BYTES),
  };
}
