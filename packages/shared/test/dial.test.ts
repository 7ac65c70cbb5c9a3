import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertInPrior, logSpace, nearestBaseline, parseLambdaArg, YotoError, type RunPayload } from '../src/index.ts';

test('parseLambdaArg: a value, a log-spaced strip, and clear refusals', () => {
  assert.deepEqual(parseLambdaArg('kl=4', ['kl']), [{ kl: 4 }]);
  const strip = parseLambdaArg('kl=0.5:512:11', ['kl']).map((p) => p.kl!);
  assert.equal(strip.length, 11);
  assert.equal(strip[0], 0.5);
  assert.equal(strip[10], 512);
  assert.ok(Math.abs(strip[1]! - 1) < 1e-9, 'log-spaced: 0.5, 1, 2, …');
  for (const bad of ['kl', 'beta=4', 'kl=-1', 'kl=1:2', 'kl=1:2:1', 'kl=1,kl=2', '']) {
    assert.throws(() => parseLambdaArg(bad, ['kl']), (e: unknown) => e instanceof YotoError && e.code === 'INPUT_INVALID', bad);
  }
  logSpace(1, 8, 4).forEach((v, i) => assert.ok(Math.abs(v - 2 ** i) < 1e-9, `logSpace(1, 8, 4)[${i}] = ${v}`));
});

test('assertInPrior names the range; nearestBaseline is nearest in log λ', () => {
  const yoto = { runId: 'y', kind: 'yoto', variantId: 'v', seed: 0, prior: { kl: { dist: 'log-uniform', low: 0.5, high: 8 } }, fixedLambda: null } as unknown as RunPayload;
  assert.doesNotThrow(() => assertInPrior(yoto, [{ kl: 0.5 }, { kl: 8 }]));
  assert.throws(() => assertInPrior(yoto, [{ kl: 9 }]), /outside run y's training range \[0\.5, 8\]/);
  const b = (runId: string, kl: number, variantId = 'v') => ({ runId, kind: 'baseline', variantId, seed: 0, fixedLambda: { kl } }) as unknown as RunPayload;
  const runs = [yoto, b('b1', 0.5), b('b2', 2), b('b8', 8), b('other', 3, 'w')];
  assert.equal(nearestBaseline(runs, yoto, { kl: 3 })?.runId, 'b2');
  assert.equal(nearestBaseline(runs, yoto, { kl: 5 })?.runId, 'b8');
});
