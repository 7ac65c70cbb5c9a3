/**
 * CheckpointStore against the real embedded S3: the torn write (checkpoint data
 * stored, pointer not), corrupt checkpoints (tampered bytes, a wrong sha256 in the
 * pointer, a corrupt pointer) fall back to an intact checkpoint, loudly; an
 * unreachable store is an error, never a silent restart from an older step.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s3Keys, YotoError } from '@yoto/shared';
import { ObjectStore, type Logger } from '@yoto/runtime';
import { startEmbeddedS3, type EmbeddedS3 } from '@yoto/coordinator';
import { CheckpointStore } from '@yoto/worker';

/** A logger that records what it is told (the fallbacks must be loud). */
function recordingLog(): { log: Logger; lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (a: unknown, b?: unknown) => lines.push({ level, msg: typeof a === 'string' ? a : String(b ?? '') });
  const log = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), trace: at('trace'), fatal: at('fatal') } as Record<string, unknown>;
  log.child = () => log;
  return { log: log as unknown as Logger, lines };
}

let dir: string;
let s3: EmbeddedS3;
let store: ObjectStore;
const SWEEP = 'ckpt-test';
let n = 0;
const runId = () => `run-${++n}`;

const files = (step: number) => ({ 'state.json': new TextEncoder().encode(JSON.stringify({ step })), 'tensors.bin': new Uint8Array(64).fill(step) });
const meta = { computeSeconds: 1, examples: 16 };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'yoto-ckpt-'));
  s3 = await startEmbeddedS3({ dir, bucket: 'ckpt' });
  store = new ObjectStore(s3.s3Config());
  await store.ensureBucket();
});

after(async () => {
  store?.close();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('CheckpointStore (embedded S3)', () => {
  test('save + loadLatest round-trips; retention keeps the newest N directories', async () => {
    const { log } = recordingLog();
    const id = runId();
    const cs = new CheckpointStore(store, SWEEP, id, log, { keep: 2 });
    for (const step of [10, 20, 30]) await cs.save(step, files(step), meta);
    const loaded = await cs.loadLatest();
    assert.equal(loaded?.entry.step, 30);
    assert.deepEqual(Buffer.from(loaded!.files['tensors.bin']!), Buffer.from(files(30)['tensors.bin']));
    const dirs = new Set((await cs.allKeys()).filter((k) => !k.endsWith('latest.json')).map((k) => k.split('/').at(-2)));
    assert.deepEqual([...dirs].sort(), ['000000020', '000000030']);
  });

  test('torn write: data of a newer step stored, pointer not -> the pointer step is loaded', async () => {
    const { log } = recordingLog();
    const id = runId();
    const cs = new CheckpointStore(store, SWEEP, id, log);
    await cs.save(10, files(10), meta);
    // The worker died after uploading step 20's files, before the pointer.
    for (const [name, data] of Object.entries(files(20))) await store.put(s3Keys.checkpointDir(SWEEP, id, 20) + name, data);
    const loaded = await cs.loadLatest();
    assert.equal(loaded?.entry.step, 10);
    assert.deepEqual(Buffer.from(loaded!.files['state.json']!), Buffer.from(files(10)['state.json']));
  });

  test('tampered bytes in the latest checkpoint -> falls back to the previous one, loudly', async () => {
    const { log, lines } = recordingLog();
    const id = runId();
    const cs = new CheckpointStore(store, SWEEP, id, log, { keep: 3 });
    await cs.save(10, files(10), meta);
    await cs.save(20, files(20), meta);
    // Overwrite step 20's tensors with other bytes (the store's own sha256 metadata follows the new bytes).
    await store.put(s3Keys.checkpointDir(SWEEP, id, 20) + 'tensors.bin', new Uint8Array(64).fill(99));
    const loaded = await cs.loadLatest();
    assert.equal(loaded?.entry.step, 10);
    assert.ok(lines.some((l) => l.level === 'error' && /falling back/.test(l.msg)), 'the fallback is logged at error');
  });

  test('a wrong sha256 in the pointer, and a missing file -> falls back; nothing usable -> null, loudly', async () => {
    const { log, lines } = recordingLog();
    const id = runId();
    const cs = new CheckpointStore(store, SWEEP, id, log, { keep: 3 });
    await cs.save(10, files(10), meta);
    await cs.save(20, files(20), meta);
    const pointer = (await cs.readPointer())!;
    pointer.files[0]!.sha256 = '0'.repeat(64);
    await store.putJson(s3Keys.checkpointLatest(SWEEP, id), pointer);
    assert.equal((await cs.loadLatest())?.entry.step, 10);
    await store.deleteMany([s3Keys.checkpointDir(SWEEP, id, 10) + 'state.json']);
    assert.equal(await cs.loadLatest(), null);
    assert.ok(lines.some((l) => l.level === 'error' && /starting from scratch/.test(l.msg)));
  });

  test('a corrupt pointer -> candidates rebuilt from the stored directories', async () => {
    const { log, lines } = recordingLog();
    const id = runId();
    const cs = new CheckpointStore(store, SWEEP, id, log, { keep: 3 });
    await cs.save(10, files(10), meta);
    await cs.save(20, files(20), meta);
    await store.put(s3Keys.checkpointLatest(SWEEP, id), '{"version": 1, "step": 2');
    const loaded = await cs.loadLatest();
    assert.equal(loaded?.entry.step, 20);
    assert.ok(lines.some((l) => l.level === 'error' && /pointer corrupt/.test(l.msg)));
  });

  test('an unreachable store is an error after retrying, not a fallback to an older step', async () => {
    const { log } = recordingLog();
    const id = runId();
    await new CheckpointStore(store, SWEEP, id, log).save(10, files(10), meta);
    const down = new ObjectStore({ ...s3.s3Config(), endpoint: 'http://127.0.0.1:9' });
    try {
      const cs = new CheckpointStore(down, SWEEP, id, log, { retry: { maxMs: 300, initialDelayMs: 50 } });
      await assert.rejects(cs.loadLatest(), (e: unknown) => e instanceof YotoError && e.code === 'STORE_ERROR');
    } finally {
      down.close();
    }
  });
});
