/**
 * Seeded pseudo-random numbers with a state small enough to checkpoint.
 *
 * xoshiro128** (Blackman & Vigna): four uint32 words of state, period 2^128 − 1.
 * Pure TypeScript, so a run draws the same numbers on every backend and host, and
 * a checkpoint restores the stream exactly (`state` / `Rng.fromState`).
 * Seeds expand through splitmix32, keyed by (seed, stream), so independent streams
 * (training, evaluation noise, weight init, epoch shuffles) never overlap by accident.
 */
export type RngState = [number, number, number, number];

/** Named streams derived from a run seed. Changing a value changes every run's numbers. */
export const RNG_STREAMS = {
  init: 1,
  train: 2,
  evalNoise: 3,
  shuffle: 4,
  data: 5,
  /** Noise of the probe subset (gap-driven P_λ); seed 0 for every run, so peers compare like with like. */
  probe: 6,
} as const;

function splitmix32(x: number): () => number {
  let s = x >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
const TWO_POW_32 = 4294967296;

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(state: RngState) {
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w >>> 0) as RngState;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** A stream keyed by a seed and any number of integers (stream id, epoch, example index...). */
  static seeded(seed: number, ...keys: number[]): Rng {
    let h = splitmix32(seed >>> 0)();
    for (const k of keys) h = splitmix32((h ^ Math.imul(k >>> 0, 0x27d4eb2d)) >>> 0)();
    const next = splitmix32(h);
    return new Rng([next(), next(), next(), next()]);
  }

  static fromState(state: readonly number[]): Rng {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new Error(`invalid RNG state ${JSON.stringify(state)}: expected four uint32 words`);
    }
    return new Rng([state[0]!, state[1]!, state[2]!, state[3]!]);
  }

  get state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /**
   * Fills `out` with N(0, 1) draws (Box–Muller, both outputs used; an odd length
   * discards the last spare so the state never holds a cached value).
   */
  fillNormal(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      const u1 = (this.nextUint32() + 1) / TWO_POW_32; // (0, 1]: log is finite
      const u2 = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u1));
      const th = 2 * Math.PI * u2;
      out[i] = r * Math.cos(th);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(th);
    }
    return out;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i]!;
      a[i] = a[j]!;
      a[j] = tmp;
    }
    return a;
  }
}
