import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizePmf, RansDecoder, RansEncoder, symbolBits, PRECISION } from '../src/codec/rans.ts';
import { Rng } from '../src/engine/prng.ts';

/** A discretised Laplace pmf over [offset, offset + n). */
function laplace(n: number, offset: number, scale: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.exp(-Math.abs(i + offset) / scale));
  const z = out.reduce((a, b) => a + b, 0) * 1.0001; // leave a little tail mass for the escape
  return out.map((p) => p / z);
}

function sample(rng: Rng, pmf: number[], offset: number): number {
  let u = rng.uniform();
  for (let i = 0; i < pmf.length; i++) {
    u -= pmf[i]!;
    if (u < 0) return i + offset;
  }
  return pmf.length - 1 + offset;
}

describe('rANS coder', () => {
  test('frequency tables sum to 2^PRECISION and give every symbol at least 1', () => {
    const t = quantizePmf([0.5, 0.5, 0, 0, 1e-12], -2);
    assert.equal(t.cdf[t.support + 1], 2 ** PRECISION);
    for (let i = 0; i <= t.support; i++) assert.ok(t.cdf[i + 1]! > t.cdf[i]!, `symbol ${i} has zero frequency`);
  });

  test('random symbol streams round-trip exactly, escapes included, over several tables', () => {
    const rng = Rng.seeded(7, 1);
    const tables = [quantizePmf(laplace(21, -10, 1.5), -10), quantizePmf(laplace(5, -2, 0.3), -2), quantizePmf(laplace(101, -50, 12), -50)];
    for (let trial = 0; trial < 20; trial++) {
      const n = 1 + Math.floor(rng.uniform() * 3000);
      const values: number[] = [];
      const which: number[] = [];
      for (let i = 0; i < n; i++) {
        const k = Math.floor(rng.uniform() * tables.length);
        which.push(k);
        // 1% out-of-range values (both signs, some large) exercise the escape.
        const r = rng.uniform();
        values.push(r < 0.005 ? -Math.floor(rng.uniform() * 1e6) - 60 : r < 0.01 ? Math.floor(rng.uniform() * 70000) + 60 : sample(rng, laplace(tables[k]!.support, tables[k]!.offset, [1.5, 0.3, 12][k]!), tables[k]!.offset));
      }
      const enc = new RansEncoder();
      values.forEach((v, i) => enc.put(tables[which[i]!]!, v));
      const bytes = enc.finish();
      const dec = new RansDecoder(bytes);
      const got = which.map((k) => dec.get(tables[k]!));
      assert.deepEqual(got, values, `trial ${trial}`);
      assert.equal(dec.position, bytes.length, 'decoder consumed the whole stream');
    }
  });

  test('the coded size is within 1% (plus the 4-byte flush) of the ideal code length', () => {
    const rng = Rng.seeded(3, 2);
    const pmf = laplace(41, -20, 2.5);
    const table = quantizePmf(pmf, -20);
    const enc = new RansEncoder();
    let ideal = 0;
    let entropyBits = 0;
    const n = 50000;
    for (let i = 0; i < n; i++) {
      const v = sample(rng, pmf, -20);
      enc.put(table, v);
      ideal += symbolBits(table, v);
      entropyBits -= Math.log2(pmf[v + 20]!);
    }
    const bits = enc.finish().length * 8;
    assert.ok(bits <= ideal * 1.01 + 32, `coded ${bits} bits vs ideal ${ideal.toFixed(0)}`);
    assert.ok(bits >= ideal * 0.99, `coded ${bits} bits is below the ideal ${ideal.toFixed(0)}: impossible`);
    // And the table's quantisation costs little against the true entropy.
    assert.ok(ideal <= entropyBits * 1.01, `ideal ${ideal.toFixed(0)} vs entropy ${entropyBits.toFixed(0)}`);
  });

  test('a truncated stream is an error, not garbage', () => {
    const table = quantizePmf(laplace(11, -5, 1), -5);
    const enc = new RansEncoder();
    for (let i = 0; i < 500; i++) enc.put(table, (i % 11) - 5);
    const bytes = enc.finish();
    const dec = new RansDecoder(bytes.subarray(0, bytes.length >> 1));
    assert.throws(() => {
      for (let i = 0; i < 500; i++) dec.get(table);
    }, /ended early/);
    assert.throws(() => new RansDecoder(new Uint8Array(2)), /truncated/);
  });
});
