/**
 * Integrity of writes without a read-back request (runtime object-store.ts): single
 * PUTs carry Content-MD5, and `put(..., { verify: true })` accepts the PUT's ETag as
 * proof only when it is the MD5 of the body sent, reading the object back otherwise.
 *
 * The embedded s3rver does NOT check Content-MD5 (AWS S3 and MinIO do): the first test
 * pins that down, because it is why the ETag comparison exists. The others put a proxy
 * between the store and s3rver that damages PUT bodies on the way, and switch the
 * store's client to the SDK's default checksums (aws-chunked framing, which s3rver
 * stores verbatim), and check that neither gets past `verify`; a multipart upload,
 * whose ETag is not a body MD5, is confirmed by HEAD.
 */
import { createHash } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ObjectStore, sha256Hex, withStoreRetry } from '@yoto/runtime';
import { YotoError } from '@yoto/shared';
import { startTestS3, type TestS3 } from './helpers/s3.ts';

let s3: TestS3;
before(async () => {
  s3 = await startTestS3();
});
after(() => s3?.stop());

const md5 = (b: Uint8Array | string) => createHash('md5').update(b).digest();
const body = Buffer.from(JSON.stringify({ evals: Array.from({ length: 50 }, (_, i) => ({ i, loss: Math.sin(i) })) }));

function client(checksums: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED'): S3Client {
  const cfg = s3.s3.s3Config();
  return new S3Client({
    region: cfg.region,
    endpoint: cfg.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: cfg.accessKeyId as string, secretAccessKey: cfg.secretAccessKey as string },
    requestChecksumCalculation: checksums,
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * An HTTP proxy to s3rver that flips one byte in the body of the first `damage` PUTs
 * (length unchanged, headers untouched: Content-MD5 and the sha256 metadata still
 * describe the body as sent).
 */
async function damagingProxy(damage: number): Promise<{ endpoint: string; damaged: () => number; requests: string[]; close: () => Promise<void> }> {
  const target = new URL(s3.s3.endpoint);
  let damaged = 0;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.method ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const data = Buffer.concat(chunks);
      if (req.method === 'PUT' && data.length > 0 && damaged < damage) {
        damaged += 1;
        const at = data.length >> 1;
        data[at] = (data[at] ?? 0) ^ 0x01;
      }
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(data);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    damaged: () => damaged,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test('s3rver ignores Content-MD5 but answers with the MD5 of the stored bytes as ETag', async () => {
  const c = client('WHEN_REQUIRED');
  try {
    const wrong = md5('something else').toString('base64');
    const out = await c.send(new PutObjectCommand({ Bucket: s3.s3.bucket, Key: 'integrity/ignored.json', Body: body, ContentMD5: wrong }));
    assert.equal(out.ETag, `"${md5(body).toString('hex')}"`, 'stored despite a wrong Content-MD5; ETag is the body MD5');
  } finally {
    c.destroy();
  }
});

test('a put whose ETag is the body MD5 is confirmed without reading it back', async () => {
  const proxy = await damagingProxy(0);
  const store = new ObjectStore({ ...s3.s3.s3Config(), endpoint: proxy.endpoint });
  try {
    const o = await store.put('integrity/ok.json', body, { verify: true });
    assert.equal(o.size, body.length);
    assert.deepEqual(proxy.requests, ['PUT'], 'one request: the PUT');
    assert.deepEqual(await s3.store.get('integrity/ok.json'), body);
  } finally {
    store.close();
    await proxy.close();
  }
});

test('a body damaged on the way to s3rver is caught by verify (and not without it)', async () => {
  const proxy = await damagingProxy(2);
  const store = new ObjectStore({ ...s3.s3.s3Config(), endpoint: proxy.endpoint });
  try {
    // Without verify the damaged write looks like success: what was stored is not what was sent.
    await store.put('integrity/unverified.json', body);
    await assert.rejects(() => s3.store.get('integrity/unverified.json'), (err: unknown) => err instanceof YotoError && err.code === 'CHECKPOINT_CORRUPT');
    await assert.rejects(
      () => store.put('integrity/damaged.json', body, { verify: true }),
      (err: unknown) => err instanceof YotoError && err.code === 'STORE_ERROR' && /reads back as .* wrote/.test(err.message),
    );
    assert.equal(proxy.damaged(), 2);
    assert.deepEqual(proxy.requests, ['PUT', 'PUT', 'GET'], 'the damaged verified PUT was read back');
    // STORE_ERROR is transient: the retry writes again, and the clean body is confirmed.
    const o = await withStoreRetry('integrity/damaged.json', () => store.put('integrity/damaged.json', body, { verify: true }), { initialDelayMs: 10 });
    assert.equal(o.sha256, sha256Hex(body));
    assert.deepEqual(await s3.store.get('integrity/damaged.json'), body);
  } finally {
    store.close();
    await proxy.close();
  }
});

test("the SDK's aws-chunked framing, stored verbatim by s3rver, is caught by verify", async () => {
  const framing = client('WHEN_SUPPORTED');
  try {
    // What the framing does to s3rver: the stored object is longer than the body and its ETag is not the body MD5.
    const out = await framing.send(new PutObjectCommand({ Bucket: s3.s3.bucket, Key: 'integrity/framed-raw.json', Body: Readable.from([body]), ContentLength: body.length }));
    const head = await framing.send(new HeadObjectCommand({ Bucket: s3.s3.bucket, Key: 'integrity/framed-raw.json' }));
    assert.notEqual(head.ContentLength, body.length, 'aws-chunked framing was stored as part of the object');
    assert.notEqual(out.ETag, `"${md5(body).toString('hex')}"`);
    // The same through an ObjectStore whose client streams its bodies with checksums (the
    // store's own client never frames: it sends buffers and checksums only when an
    // operation requires it).
    const store = new ObjectStore(s3.s3.s3Config());
    const streaming = {
      send(cmd: { input: { Body?: unknown } }) {
        if (cmd instanceof PutObjectCommand && Buffer.isBuffer(cmd.input.Body)) cmd.input.Body = Readable.from([cmd.input.Body]);
        return framing.send(cmd as PutObjectCommand);
      },
    };
    Object.assign(store, { client: streaming });
    await assert.rejects(
      () => store.put('integrity/framed.json', body, { verify: true }),
      (err: unknown) => err instanceof YotoError && err.code === 'STORE_ERROR' && /reads back as \d+ bytes/.test(err.message),
    );
  } finally {
    framing.destroy();
  }
});

test('a verified multipart upload is checked by HEAD (size and whole-body sha256)', async () => {
  const proxy = await damagingProxy(0);
  const store = new ObjectStore({ ...s3.s3.s3Config(), endpoint: proxy.endpoint }, undefined, { multipartThreshold: 1024, partSize: 5 * 1024 * 1024 });
  try {
    const big = Buffer.alloc(11 * 1024 * 1024, 7);
    const o = await store.put('integrity/multipart.bin', big, { verify: true });
    assert.equal(o.sha256, sha256Hex(big));
    assert.equal(proxy.requests.at(-1), 'HEAD', 'confirmed by HEAD after the parts');
    assert.ok(proxy.requests.filter((m) => m === 'PUT').length >= 2, 'went up in parts');
  } finally {
    store.close();
    await proxy.close();
  }
});
