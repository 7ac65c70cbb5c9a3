/**
 * A 32-bit range asymmetric numeral system (rANS) coder over integer frequency
 * tables, in pure TypeScript (the same bytes on every machine and backend).
 *
 * The classic byte-wise rANS of ryg_rans: state x ∈ [2^23, 2^31), every symbol
 * coded with `(start, freq)` out of a total of 2^PRECISION, bytes emitted and
 * read 8 bits at a time. rANS is last-in-first-out, so the encoder queues the
 * symbols and codes them in reverse on `finish()`; the decoder then reads them in
 * the order they were put. The stream ends with the 4-byte final state.
 *
 * Values outside a table's support use its escape symbol followed by the value in
 * two raw 16-bit chunks (see `putRaw16`).
 */

/** Bits of the frequency total: every table sums to 2^PRECISION. */
export const PRECISION = 16;
const TOTAL = 1 << PRECISION;
const LOW = 1 << 23;

/**
 * A discrete distribution over `support` consecutive integers starting at
 * `offset`, plus one escape symbol (index `support`) for anything outside.
 * `cdf[i]` is the start of symbol i; `cdf[support + 1] === 2^PRECISION`; every
 * symbol, escape included, has frequency ≥ 1.
 */
export interface FreqTable {
  offset: number;
  support: number;
  cdf: Uint32Array;
}

/**
 * Integer frequencies from probabilities: each symbol (and the escape, whose
 * probability is `1 − Σ pmf`) gets at least 1, the rest proportionally, and the
 * largest absorbs the rounding so the total is exactly 2^PRECISION.
 * Deterministic: plain float64 arithmetic, no data-dependent iteration order.
 */
export function quantizePmf(pmf: ArrayLike<number>, offset: number): FreqTable {
  const n = pmf.length;
  if (n + 1 > TOTAL / 2) throw new Error(`table of ${n} symbols does not fit ${PRECISION}-bit frequencies`);
  const probs = new Float64Array(n + 1);
  let mass = 0;
  for (let i = 0; i < n; i++) {
    const p = Number(pmf[i]);
    probs[i] = Number.isFinite(p) && p > 0 ? p : 0;
    mass += probs[i]!;
  }
  probs[n] = Math.max(0, 1 - mass);
  const sum = mass + probs[n]!;
  const spare = TOTAL - (n + 1);
  const freq = new Uint32Array(n + 1);
  let used = 0;
  let largest = 0;
  for (let i = 0; i <= n; i++) {
    freq[i] = 1 + Math.floor((probs[i]! / sum) * spare);
    used += freq[i]!;
    if (freq[i]! > freq[largest]!) largest = i;
  }
  freq[largest]! += TOTAL - used;
  const cdf = new Uint32Array(n + 2);
  for (let i = 0; i <= n; i++) cdf[i + 1] = cdf[i]! + freq[i]!;
  return { offset, support: n, cdf };
}

/** Code length in bits of `value` under `table` (escape cost included). */
export function symbolBits(table: FreqTable, value: number): number {
  const i = value - table.offset;
  const sym = i >= 0 && i < table.support ? i : table.support;
  const bits = PRECISION - Math.log2(table.cdf[sym + 1]! - table.cdf[sym]!);
  return sym === table.support ? bits + 32 : bits;
}

const zigzag = (v: number) => (v >= 0 ? 2 * v : -2 * v - 1);
const unzigzag = (u: number) => (u % 2 === 0 ? u / 2 : -(u + 1) / 2);
const MAX_ESCAPED = 2 ** 31 - 1;

export class RansEncoder {
  /** Queued (start, freq) pairs in coding order. */
  private starts: number[] = [];
  private freqs: number[] = [];

  /** Queues one integer under `table`. */
  put(table: FreqTable, value: number): void {
    if (!Number.isInteger(value)) throw new Error(`rANS can only code integers, got ${value}`);
    const i = value - table.offset;
    if (i >= 0 && i < table.support) {
      this.push(table.cdf[i]!, table.cdf[i + 1]! - table.cdf[i]!);
      return;
    }
    const n = table.support;
    this.push(table.cdf[n]!, table.cdf[n + 1]! - table.cdf[n]!);
    if (Math.abs(value) > MAX_ESCAPED) throw new Error(`value ${value} is too large to escape-code`);
    const u = zigzag(value);
    this.putRaw16(Math.floor(u / TOTAL));
    this.putRaw16(u % TOTAL);
  }

  /** Queues 16 raw bits (a uniform symbol). */
  putRaw16(v: number): void {
    this.push(v, 1);
  }

  private push(start: number, freq: number): void {
    this.starts.push(start);
    this.freqs.push(freq);
  }

  /** Codes everything queued and returns the stream; the encoder is empty afterwards. */
  finish(): Uint8Array {
    // Bytes come out back to front; collect them reversed, then flip.
    const out: number[] = [];
    let x = LOW;
    for (let k = this.starts.length - 1; k >= 0; k--) {
      const start = this.starts[k]!;
      const freq = this.freqs[k]!;
      const xMax = (LOW / TOTAL) * 256 * freq;
      while (x >= xMax) {
        out.push(x & 0xff);
        x = Math.floor(x / 256);
      }
      x = Math.floor(x / freq) * TOTAL + (x % freq) + start;
    }
    // The final state, most significant byte first once reversed.
    for (let b = 0; b < 4; b++) out.push(Math.floor(x / 2 ** (8 * b)) & 0xff);
    this.starts = [];
    this.freqs = [];
    return Uint8Array.from(out.reverse());
  }
}

export class RansDecoder {
  private x = 0;
  private pos = 0;

  constructor(private readonly bytes: Uint8Array) {
    if (bytes.length < 4) throw new Error(`rANS stream of ${bytes.length} bytes is truncated (needs at least 4)`);
    for (let b = 0; b < 4; b++) this.x = this.x * 256 + bytes[this.pos++]!;
  }

  /** The next integer, coded under `table`. */
  get(table: FreqTable): number {
    const slot = this.x % TOTAL;
    const cdf = table.cdf;
    // Binary search for the symbol whose [cdf[s], cdf[s+1]) holds the slot.
    let lo = 0;
    let hi = table.support; // escape index
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cdf[mid]! <= slot) lo = mid;
      else hi = mid - 1;
    }
    this.advance(cdf[lo]!, cdf[lo + 1]! - cdf[lo]!);
    if (lo < table.support) return lo + table.offset;
    const high = this.getRaw16();
    return unzigzag(high * TOTAL + this.getRaw16());
  }

  getRaw16(): number {
    const v = this.x % TOTAL;
    this.advance(v, 1);
    return v;
  }

  private advance(start: number, freq: number): void {
    this.x = freq * Math.floor(this.x / TOTAL) + (this.x % TOTAL) - start;
    while (this.x < LOW) {
      if (this.pos >= this.bytes.length) throw new Error('rANS stream ended early (truncated or not coded with these tables)');
      this.x = this.x * 256 + this.bytes[this.pos++]!;
    }
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.pos;
  }
}
