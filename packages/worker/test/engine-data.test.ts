import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { clearDatasetCache, fashionSplitOrder, FASHION_TEST_COUNT, generateShapes, loadDataset, parseIdxImages } from '../src/data/index.ts';

const digest = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

function assertUnitRange(a: Float32Array, what: string): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  assert.ok(lo >= 0 && hi <= 1, `${what}: values in [${lo}, ${hi}]`);
  assert.ok(hi > lo, `${what}: constant`);
}

describe('datasets', () => {
  test('MNIST IDX files parse to 60000/10000 28×28 images in [0, 1]', async () => {
    const ds = await loadDataset({ name: 'mnist', trainExamples: 60000, testExamples: 10000 });
    assert.equal(ds.trainCount, 60000);
    assert.equal(ds.testCount, 10000);
    assert.deepEqual([ds.height, ds.width, ds.channels], [28, 28, 1]);
    assert.equal(ds.train.length, 60000 * 784);
    assert.equal(ds.test.length, 10000 * 784);
    assertUnitRange(ds.train, 'mnist train');
    assertUnitRange(ds.test, 'mnist test');
    // A digit: mostly background with some saturated stroke pixels.
    const first = ds.train.subarray(0, 784);
    const on = first.filter((v) => v > 0.5).length;
    assert.ok(on > 30 && on < 400, `first image has ${on} bright pixels`);
    const small = await loadDataset({ name: 'mnist', trainExamples: 100, testExamples: 20 });
    assert.equal(small.train.length, 100 * 784);
    assert.equal(small.train[500], ds.train[500]);
  });

  test('IDX parser reads the header dims and rejects bad files', () => {
    const buf = new Uint8Array(16 + 2 * 3 * 4);
    const view = new DataView(buf.buffer);
    view.setUint32(0, 0x00000803);
    view.setUint32(4, 2);
    view.setUint32(8, 3);
    view.setUint32(12, 4);
    buf[16] = 255;
    buf[17] = 51;
    const img = parseIdxImages(buf);
    assert.deepEqual([img.count, img.height, img.width], [2, 3, 4]);
    assert.equal(img.pixels[0], 1);
    assert.ok(Math.abs(img.pixels[1]! - 0.2) < 1e-7);
    assert.throws(() => parseIdxImages(buf.subarray(0, 30)), /body has/);
    const labels = buf.slice();
    new DataView(labels.buffer).setUint32(0, 0x00000801);
    assert.throws(() => parseIdxImages(labels), /IDX3/);
  });

  test('fashion-mnist: deterministic, disjoint train/test split', async () => {
    const order = fashionSplitOrder(70000);
    const test = new Set(order.subarray(0, FASHION_TEST_COUNT));
    const train = new Set(order.subarray(FASHION_TEST_COUNT));
    assert.equal(test.size, FASHION_TEST_COUNT);
    assert.equal(train.size, 60000);
    for (const i of test) assert.ok(!train.has(i), `image ${i} in both splits`);
    assert.deepEqual(fashionSplitOrder(70000), order);
    assert.notDeepEqual(Array.from(order.subarray(0, 10)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const a = await loadDataset({ name: 'fashion-mnist', trainExamples: 60000, testExamples: 10000 });
    assert.equal(a.trainCount, 60000);
    assert.equal(a.testCount, 10000);
    assertUnitRange(a.train, 'fashion train');
    const [trainHash, testHash] = [digest(a.train), digest(a.test)];
    clearDatasetCache();
    const b = await loadDataset({ name: 'fashion-mnist', trainExamples: 60000, testExamples: 10000 });
    assert.notEqual(a.train, b.train, 'reloaded, not cached');
    assert.equal(digest(b.train), trainHash);
    assert.equal(digest(b.test), testHash);
    // The split mixes classes: the test split is not one class file.
    assert.notEqual(digest(a.test.subarray(0, 784)), digest(a.train.subarray(0, 784)));
  });

  test('shapes: deterministic per seed, prefix-stable, in [0, 1]', async () => {
    const a = generateShapes(3, 50);
    assert.deepEqual(generateShapes(3, 50), a);
    assert.deepEqual(generateShapes(3, 20), a.subarray(0, 20 * 784));
    assert.notDeepEqual(generateShapes(4, 50), a);
    assertUnitRange(a, 'shapes');
    for (let i = 0; i < 50; i++) {
      const on = a.subarray(i * 784, (i + 1) * 784).filter((v) => v > 0).length;
      assert.ok(on >= 10 && on < 784, `image ${i} has ${on} lit pixels`);
    }
    const ds = await loadDataset({ name: 'shapes', trainExamples: 200, testExamples: 30 });
    assert.equal(ds.train.length, 200 * 784);
    assert.equal(ds.test.length, 30 * 784);
    assert.notDeepEqual(ds.train.subarray(0, 784), ds.test.subarray(0, 784));
  });
});
