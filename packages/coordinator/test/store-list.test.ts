/**
 * Listing more than one page (1,000 keys) from the embedded S3 server: every key once.
 * (s3rver's v2 continuation tokens need DES, which Node's OpenSSL 3 refuses; the
 * ObjectStore lists with v1 markers, so a sweep of a few hundred runs can still be
 * listed for its manifest, `yoto gc` and `artifacts ls`.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestS3, type TestS3 } from './helpers/s3.ts';

let s3: TestS3;
before(async () => {
  s3 = await startTestS3();
});
after(() => s3?.stop());

test('ObjectStore.list pages past 1,000 keys on the embedded server', { timeout: 120_000 }, async () => {
  const n = 1_234;
  for (let i = 0; i < n; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) => s3.store.put(`sweeps/big/runs/r${String(i + k).padStart(4, '0')}/final/eval.json`, '{}')));
  }
  await s3.store.put('sweeps/other/x.json', '{}');
  const keys: string[] = [];
  for await (const o of s3.store.list('sweeps/big/')) keys.push(o.key);
  assert.equal(keys.length, n);
  assert.equal(new Set(keys).size, n);
  assert.ok(keys.every((k) => k.startsWith('sweeps/big/')));
});
