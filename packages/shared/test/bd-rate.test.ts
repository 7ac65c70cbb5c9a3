import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bdRate, polyfit, type RdPoint } from '../src/bd-rate.ts';

const curve = (psnrs: number[], logRate: (p: number) => number): RdPoint[] => psnrs.map((psnr) => ({ psnr, rate: Math.exp(logRate(psnr)) }));

describe('BD-rate', () => {
  test('polyfit recovers an exact cubic', () => {
    const xs = [-2, -1, 0, 1, 2, 3];
    const c = polyfit(xs, xs.map((x) => 1 - 2 * x + 0.5 * x ** 2 + 0.25 * x ** 3), 3);
    [1, -2, 0.5, 0.25].forEach((v, i) => assert.ok(Math.abs(c[i]! - v) < 1e-9, `c${i} = ${c[i]}`));
  });

  test('a curve using 10% fewer bits at every PSNR has BD-rate −10%', () => {
    const anchor = curve([28, 31, 34, 37, 40], (p) => 0.12 * p - 4);
    const test_ = anchor.map((q) => ({ psnr: q.psnr, rate: q.rate * 0.9 }));
    assert.ok(Math.abs(bdRate(anchor, test_)! - -0.1) < 1e-9);
    assert.ok(Math.abs(bdRate(test_, anchor)! - 1 / 0.9 + 1) < 1e-9, 'swapping the curves inverts the ratio');
  });

  test('hand-computed example with different slopes and partial overlap', () => {
    // Anchor: ln R = 0.1·P on P ∈ [30, 40]; test: ln R = 0.1·P − 0.2 + 0.01·(P − 35) on P ∈ [32, 44].
    // Overlap [32, 40]; mean of (P − 35) over it is 1, so the mean log difference is
    // −0.2 + 0.01 = −0.19 and BD-rate = e^−0.19 − 1 = −0.173041…
    const anchor = curve([30, 32.5, 35, 37.5, 40], (p) => 0.1 * p);
    const test_ = curve([32, 35, 38, 41, 44], (p) => 0.1 * p - 0.2 + 0.01 * (p - 35));
    const bd = bdRate(anchor, test_)!;
    assert.ok(Math.abs(bd - (Math.exp(-0.19) - 1)) < 1e-9, `got ${bd}`);
    assert.ok(Math.abs(bd - -0.173041) < 1e-6);
  });

  test('undefined without overlap or without enough points', () => {
    assert.equal(bdRate(curve([20, 25], (p) => p / 10), curve([30, 35], (p) => p / 10)), null);
    assert.equal(bdRate(curve([20], (p) => p / 10), curve([20, 25], (p) => p / 10)), null);
    assert.equal(bdRate([{ psnr: 20, rate: 0 }, { psnr: 25, rate: 1 }], curve([20, 25], (p) => p / 10)), null);
  });
});
