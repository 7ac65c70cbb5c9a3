/**
 * A real S3 endpoint for one test file: the product's embedded s3rver
 * (services/s3.ts) in-process on port 0 with a temp directory, and an ObjectStore
 * on it (bucket ensured). `stop()` closes both and removes the directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectStore } from '@yoto/runtime';
import { startEmbeddedS3, type EmbeddedS3 } from '../../src/services/s3.ts';

export interface TestS3 {
  s3: EmbeddedS3;
  store: ObjectStore;
  /** Every key in the bucket under `prefix`. */
  keys(prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startTestS3(bucket = 'yoto-test'): Promise<TestS3> {
  const dir = mkdtempSync(join(tmpdir(), 'yoto-s3-'));
  const s3 = await startEmbeddedS3({ dir, bucket });
  const store = new ObjectStore(s3.s3Config());
  await store.ensureBucket();
  let stopped: Promise<void> | null = null;
  return {
    s3,
    store,
    async keys(prefix = '') {
      const out: string[] = [];
      for await (const o of store.list(prefix)) out.push(o.key);
      return out;
    },
    stop() {
      stopped ??= (async () => {
        store.close();
        await s3.stop();
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
