/**
 * IDX files (the MNIST container): big-endian header, then raw bytes.
 *
 *   bytes 0-1  0x0000
 *   byte  2    element type (0x08 = unsigned byte)
 *   byte  3    number of dimensions d
 *   4·d bytes  each dimension's size, uint32 big-endian
 *   then       the elements, row-major
 */
export interface IdxImages {
  count: number;
  height: number;
  width: number;
  /** count·height·width values in [0, 1] (byte / 255). */
  pixels: Float32Array;
}

export function parseIdxImages(buf: Uint8Array, what = 'IDX file'): IdxImages {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.byteLength < 16) throw new Error(`${what}: too short for an IDX image header (${buf.byteLength} bytes)`);
  const magic = view.getUint32(0, false);
  const type = (magic >>> 8) & 0xff;
  const dims = magic & 0xff;
  if (magic >>> 16 !== 0 || type !== 0x08 || dims !== 3) {
    throw new Error(`${what}: expected an IDX3 unsigned-byte file, got magic 0x${magic.toString(16).padStart(8, '0')}`);
  }
  const count = view.getUint32(4, false);
  const height = view.getUint32(8, false);
  const width = view.getUint32(12, false);
  const n = count * height * width;
  if (buf.byteLength !== 16 + n) throw new Error(`${what}: header says ${count}×${height}×${width} but the body has ${buf.byteLength - 16} bytes`);
  const pixels = new Float32Array(n);
  const scale = 1 / 255;
  for (let i = 0; i < n; i++) pixels[i] = buf[16 + i]! * scale;
  return { count, height, width, pixels };
}
