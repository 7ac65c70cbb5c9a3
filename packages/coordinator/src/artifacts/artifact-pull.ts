/**
 * Downloads a sweep's artifacts to a directory, verifying each against the manifest.
 *
 * Local layout mirrors the store under the sweep: `<out>/runs/<runId>/final/state.json`,
 * `<out>/report/report.json`, …. Each file is streamed to `<file>.partial` while its
 * sha256 is computed, and renamed into place only when size and digest match the
 * manifest entry; a mismatch deletes the partial file, so nothing that did not verify
 * ever sits under its real name. A file already present is hashed first and skipped
 * when it matches (so a second pull, or one resumed after a failure, fetches only
 * what is missing or wrong).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { s3Keys, YotoError, type ArtifactKind, type ManifestEntry } from '@yoto/shared';
import type { ObjectStore } from '@yoto/runtime';

/** What `--kind` selects: final = the model and its eval/result, report = the aggregate's output. */
export const PULL_KINDS = ['final', 'checkpoint', 'report', 'all'] as const;
export type PullKind = (typeof PULL_KINDS)[number];

const KIND_MEMBERS: Record<Exclude<PullKind, 'all'>, readonly ArtifactKind[]> = {
  final: ['final', 'eval', 'metrics'],
  checkpoint: ['checkpoint'],
  report: ['report', 'spec', 'plan'],
};

export function selectArtifacts(entries: readonly ManifestEntry[], opts: { kind: PullKind; runId?: string }): ManifestEntry[] {
  return entries.filter((e) => (opts.kind === 'all' || KIND_MEMBERS[opts.kind].includes(e.kind)) && (!opts.runId || e.runId === opts.runId || (e.runId === null && opts.kind === 'report')));
}

export interface PullProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
}

export interface PullSummary {
  downloaded: string[];
  /** Already present and verified. */
  skipped: string[];
  bytes: number;
}

export class ArtifactMismatchError extends YotoError {
  constructor(readonly keys: string[]) {
    super('CHECKPOINT_CORRUPT', `${keys.length} artifact(s) did not match the manifest's sha256 and were not kept: ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''}`);
    this.name = 'ArtifactMismatchError';
  }
}

/** `<out>/<key under the sweep>`; refuses anything that would land outside `out`. */
export function localPath(out: string, sweepId: string, key: string): string {
  const base = s3Keys.sweep(sweepId);
  if (!key.startsWith(base)) throw new YotoError('STORE_ERROR', `manifest entry ${key} is outside sweep ${sweepId}`);
  const root = resolve(out);
  const p = resolve(root, key.slice(base.length));
  if (!p.startsWith(root + sep)) throw new YotoError('STORE_ERROR', `manifest entry ${key} would be written outside ${out}`);
  return p;
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

async function presentAndValid(path: string, e: ManifestEntry): Promise<boolean> {
  try {
    const s = await stat(path);
    return s.size === e.size && (await fileSha256(path)) === e.sha256;
  } catch {
    return false;
  }
}

export async function pullArtifacts(
  store: ObjectStore,
  sweepId: string,
  entries: readonly ManifestEntry[],
  out: string,
  onProgress?: (p: PullProgress) => void,
): Promise<PullSummary> {
  const totalBytes = entries.reduce((s, e) => s + e.size, 0);
  const progress: PullProgress = { files: 0, totalFiles: entries.length, bytes: 0, totalBytes };
  const summary: PullSummary = { downloaded: [], skipped: [], bytes: 0 };
  const bad: string[] = [];
  for (const e of entries) {
    const dest = localPath(out, sweepId, e.key);
    if (await presentAndValid(dest, e)) {
      summary.skipped.push(e.key);
    } else {
      await mkdir(dirname(dest), { recursive: true });
      const partial = `${dest}.partial`;
      const obj = await store.stream(e.key);
      if (!obj) throw new YotoError('NOT_FOUND', `${e.key} is in the manifest but not in the store (pruned since?); run \`yoto artifacts ls ${sweepId}\` again`);
      const h = createHash('sha256');
      let size = 0;
      const before = progress.bytes;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          h.update(chunk);
          size += chunk.length;
          progress.bytes = before + Math.min(size, e.size);
          onProgress?.(progress);
          cb(null, chunk);
        },
      });
      try {
        await pipeline(obj.body, tap, createWriteStream(partial, { mode: 0o644 }));
      } catch (err) {
        await rm(partial, { force: true });
        throw new YotoError('STORE_ERROR', `download of ${e.key} failed: ${(err as Error).message}`, { cause: err });
      }
      const digest = h.digest('hex');
      if (size !== e.size || digest !== e.sha256) {
        await rm(partial, { force: true });
        // Whatever stood there before did not verify either (presentAndValid said so).
        await rm(dest, { force: true });
        bad.push(e.key);
      } else {
        await rename(partial, dest);
        summary.downloaded.push(e.key);
        summary.bytes += size;
      }
    }
    progress.files++;
    progress.bytes = entries.slice(0, progress.files).reduce((s, x) => s + x.size, 0);
    onProgress?.(progress);
  }
  if (bad.length) throw new ArtifactMismatchError(bad);
  return summary;
}

/** Relative display path of a pulled file. */
export function displayPath(out: string, sweepId: string, key: string): string {
  return join(out, relative(resolve(out), localPath(out, sweepId, key)));
}
