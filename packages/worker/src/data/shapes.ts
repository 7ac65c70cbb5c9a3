/**
 * `shapes`: procedural 28×28 grayscale images of one filled square, circle or
 * triangle each, with random position, size and intensity on a black background.
 * Image i depends only on (seed, i), so a smaller set is a prefix of a larger one
 * and any subset regenerates identically. Tiny and fast: meant for tests and demos.
 */
import { Rng, RNG_STREAMS } from '../engine/prng.ts';

export const SHAPES_SIZE = 28;

/** Writes image `index` of the set keyed by `seed` into `out` (SHAPES_SIZE² floats). */
export function drawShape(seed: number, index: number, out: Float32Array): void {
  const rng = Rng.seeded(seed, RNG_STREAMS.data, index);
  const S = SHAPES_SIZE;
  const kind = rng.int(3);
  const r = 4 + rng.uniform() * 6; // half-size 4..10 px
  const cx = r + rng.uniform() * (S - 2 * r);
  const cy = r + rng.uniform() * (S - 2 * r);
  const v = 0.5 + 0.5 * rng.uniform();
  const angle = rng.uniform() * 2 * Math.PI;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  out.fill(0);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      let inside: boolean;
      if (kind === 0) {
        inside = Math.abs(dx) <= r && Math.abs(dy) <= r;
      } else if (kind === 1) {
        inside = dx * dx + dy * dy <= r * r;
      } else {
        // Equilateral triangle of circumradius r, rotated by `angle`: inside all three edge half-planes.
        const u = dx * cos + dy * sin;
        const w = -dx * sin + dy * cos;
        inside = true;
        for (let k = 0; k < 3 && inside; k++) {
          const a = (2 * Math.PI * k) / 3;
          if (u * Math.cos(a) + w * Math.sin(a) > r / 2) inside = false;
        }
      }
      if (inside) out[y * S + x] = v;
    }
  }
}

export function generateShapes(seed: number, count: number): Float32Array {
  const px = SHAPES_SIZE * SHAPES_SIZE;
  const all = new Float32Array(count * px);
  for (let i = 0; i < count; i++) drawShape(seed, i, all.subarray(i * px, (i + 1) * px));
  return all;
}
