// Artifact-store throughput: a 64 MiB checkpoint blob up and down through the project's
// ObjectStore (sha256 metadata, multipart above 16 MiB, verified reads) beside the raw
// AWS SDK (one PutObject, one GetObject, no hashing) on the same embedded s3rver
// endpoint, in one run. Prints MiB/s per side and the ratio ObjectStore / raw.
// Run: npm run bench -- storage [--mib N] [--reps N]      Writes bench/results/storage.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ObjectStore } from '@yoto/runtime';
import { startEmbeddedS3 } from '@yoto/coordinator';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const MIB = arg('mib', 64);
const REPS = arg('reps', 3);
const bytes = MIB * 1024 * 1024;

const dir = await mkdtemp(join(tmpdir(), 'yoto-bench-storage-'));
const s3 = await startEmbeddedS3({ dir: join(dir, 's3'), bucket: 'bench' });
const cfg = s3.s3Config();
const store = new ObjectStore(cfg);
await store.ensureBucket();
const raw = new S3Client({
  region: cfg.region,
  ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
  forcePathStyle: cfg.forcePathStyle,
  ...(cfg.accessKeyId && cfg.secretAccessKey ? { credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } } : {}),
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

// Checkpoint-like data: float32 noise (incompressible, like trained weights).
const blob = new Uint8Array(bytes);
const f = new Float32Array(blob.buffer);
for (let i = 0; i < f.length; i++) f[i] = Math.random() * 2 - 1;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mibps = (s: number) => MIB / s;

const sides = {
  objectStore: { up: [] as number[], down: [] as number[] },
  rawSdk: { up: [] as number[], down: [] as number[] },
};
// Interleaved so both sides see the same disk / CPU conditions.
for (let r = 0; r < REPS; r++) {
  const k1 = `bench/store-${r}.bin`;
  const k2 = `bench/raw-${r}.bin`;
  sides.objectStore.up.push(await time(() => store.put(k1, blob)));
  sides.rawSdk.up.push(await time(() => raw.send(new PutObjectCommand({ Bucket: cfg.bucket, Key: cfg.prefix + k2, Body: blob, ContentLength: blob.byteLength }))));
  sides.objectStore.down.push(await time(async () => {
    const got = await store.get(k1);
    if (got.byteLength !== bytes) throw new Error('short read');
  }));
  sides.rawSdk.down.push(await time(async () => {
    const out = await raw.send(new GetObjectCommand({ Bucket: cfg.bucket, Key: cfg.prefix + k2 }));
    const got = await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    if (got.byteLength !== bytes) throw new Error('short read');
  }));
}
raw.destroy();
store.close();
await s3.stop();
await rm(dir, { recursive: true, force: true });

const row = (name: string, s: { up: number[]; down: number[] }) => ({ name, upMiBps: mibps(median(s.up)), downMiBps: mibps(median(s.down)) });
const a = row('ObjectStore', sides.objectStore);
const b = row('raw SDK', sides.rawSdk);
const result = {
  mib: MIB,
  reps: REPS,
  endpoint: 'embedded s3rver (loopback)',
  objectStore: a,
  rawSdk: b,
  ratio: { up: a.upMiBps / b.upMiBps, down: a.downMiBps / b.downMiBps },
  node: process.version,
  at: new Date().toISOString(),
};
console.log(`${MIB} MiB, median of ${REPS}, embedded s3rver on loopback`);
console.log(`                upload MiB/s   download MiB/s`);
for (const r of [a, b]) console.log(`${r.name.padEnd(14)} ${r.upMiBps.toFixed(1).padStart(14)} ${r.downMiBps.toFixed(1).padStart(16)}`);
console.log(`ratio ObjectStore / raw: upload ${result.ratio.up.toFixed(2)}, download ${result.ratio.down.toFixed(2)}`);
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'storage.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
