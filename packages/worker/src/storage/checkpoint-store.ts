/**
 * Checkpoints of one run in S3, written so that a torn write is never the latest:
 *
 *   runs/<runId>/checkpoints/<step 9 digits>/<file>   the trainer's state files
 *   runs/<runId>/checkpoints/latest.json              pointer, written LAST
 *
 * latest.json:
 *   { "version": 1, "step": N, "computeSeconds": s, "examples": n, "createdAt": ISO,
 *     "files": [{ "name", "key", "size", "sha256" }],
 *     "history": [ <older entries of the same shape, newest first> ] }
 *
 * Loading verifies every file's sha256; a corrupt or incomplete checkpoint (tampered
 * bytes, a file missing) falls back to the next entry in `history`, loudly. A
 * transient store error is NOT a reason to fall back — that would silently restart a
 * run from an older step, or from scratch — it is retried and then thrown. Older
 * checkpoint directories beyond the retention count are deleted after the new
 * pointer is stored.
 */
import { s3Keys, YotoError } from '@yoto/shared';
import { sha256Hex, withStoreRetry, type Logger, type ObjectStore, type StoreRetryOptions } from '@yoto/runtime';

export interface CheckpointEntry {
  step: number;
  computeSeconds: number;
  examples: number;
  createdAt: string;
  files: { name: string; key: string; size: number; sha256: string }[];
}

interface LatestPointer extends CheckpointEntry {
  version: 1;
  history: CheckpointEntry[];
}

export interface LoadedCheckpoint {
  entry: CheckpointEntry;
  files: Record<string, Uint8Array>;
}

export interface CheckpointStoreOptions {
  /** Checkpoint directories kept (the newest N); older ones are pruned. @defaultValue 2 */
  keep?: number;
  /** How long writes and reads wait out store outages. @defaultValue withStoreRetry's defaults (≈2 min) */
  retry?: StoreRetryOptions;
}

export class CheckpointStore {
  private readonly keep: number;
  private readonly retry: StoreRetryOptions;

  constructor(
    private readonly store: ObjectStore,
    private readonly sweepId: string,
    private readonly runId: string,
    private readonly log: Logger,
    opts: CheckpointStoreOptions = {},
  ) {
    this.keep = Math.max(1, opts.keep ?? 2);
    this.retry = { log, ...opts.retry };
  }

  private patient<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withStoreRetry(what, fn, this.retry);
  }

  private get latestKey(): string {
    return s3Keys.checkpointLatest(this.sweepId, this.runId);
  }

  async readPointer(): Promise<LatestPointer | null> {
    return this.patient(this.latestKey, () => this.store.getJsonIfExists<LatestPointer>(this.latestKey));
  }

  async save(step: number, files: Record<string, Uint8Array>, meta: { computeSeconds: number; examples: number }): Promise<CheckpointEntry> {
    const dir = s3Keys.checkpointDir(this.sweepId, this.runId, step);
    const stored = [];
    for (const [name, data] of Object.entries(files)) {
      if (!/^[a-z0-9._-]+$/i.test(name)) throw new YotoError('STORE_ERROR', `invalid checkpoint file name ${name}`);
      const o = await this.patient(dir + name, () => this.store.put(dir + name, data));
      stored.push({ name, key: o.key, size: o.size, sha256: o.sha256 });
    }
    const entry: CheckpointEntry = { step, computeSeconds: meta.computeSeconds, examples: meta.examples, createdAt: new Date().toISOString(), files: stored };
    const prev = await this.readPointer();
    const older = prev ? [stripHistory(prev), ...prev.history].filter((e) => e.step !== step) : [];
    const history = older.slice(0, this.keep - 1);
    const pruned = older.slice(this.keep - 1);
    const pointer: LatestPointer = { version: 1, ...entry, history };
    await this.patient(this.latestKey, () => this.store.putJson(this.latestKey, pointer));
    if (pruned.length) {
      await this.store.deleteMany(pruned.flatMap((e) => e.files.map((f) => f.key))).catch((err: unknown) => {
        this.log.warn({ err }, 'could not prune old checkpoints; they will be retried next time');
      });
    }
    return entry;
  }

  /** The newest checkpoint whose files all verify, or null when the run has none. */
  async loadLatest(): Promise<LoadedCheckpoint | null> {
    let candidates: CheckpointEntry[];
    try {
      const pointer = await this.readPointer();
      if (!pointer) return null;
      candidates = [stripHistory(pointer), ...pointer.history];
    } catch (err) {
      const corrupt = err instanceof SyntaxError || (err instanceof YotoError && err.code === 'CHECKPOINT_CORRUPT');
      if (!corrupt) throw err;
      this.log.error({ err: { message: err.message }, key: this.latestKey }, 'checkpoint pointer corrupt; rebuilding the candidates from the stored directories');
      candidates = await this.entriesFromListing();
    }
    for (const entry of candidates) {
      try {
        const files: Record<string, Uint8Array> = {};
        for (const f of entry.files) {
          const data = await this.patient(f.key, () => this.store.get(f.key));
          if (data.byteLength !== f.size || sha256Hex(data) !== f.sha256) {
            throw new YotoError('CHECKPOINT_CORRUPT', `checkpoint file ${f.key} does not match its recorded sha256`);
          }
          files[f.name] = data;
        }
        return { entry, files };
      } catch (err) {
        // Only what the store says about the checkpoint itself (gone, bytes wrong) falls back.
        if (!(err instanceof YotoError && (err.code === 'CHECKPOINT_CORRUPT' || err.code === 'NOT_FOUND'))) throw err;
        this.log.error({ err: { code: err.code, message: err.message }, step: entry.step }, 'checkpoint unusable; falling back to the previous one');
      }
    }
    this.log.error({ runId: this.runId }, 'no usable checkpoint; starting from scratch');
    return null;
  }

  /** Checkpoint entries rebuilt from the stored directories (newest first), with each file's stored sha256. */
  private async entriesFromListing(): Promise<CheckpointEntry[]> {
    const prefix = s3Keys.run(this.sweepId, this.runId) + 'checkpoints/';
    const dirs = new Map<number, CheckpointEntry>();
    for await (const o of this.store.list(prefix)) {
      const m = /^(\d{9})\/([a-z0-9._-]+)$/i.exec(o.key.slice(prefix.length));
      if (!m) continue;
      const step = Number(m[1]);
      const head = await this.patient(o.key, () => this.store.head(o.key));
      if (!head?.sha256) continue;
      const entry = dirs.get(step) ?? { step, computeSeconds: 0, examples: 0, createdAt: '', files: [] };
      entry.files.push({ name: m[2] as string, key: o.key, size: head.size, sha256: head.sha256 });
      dirs.set(step, entry);
    }
    return [...dirs.values()].sort((a, b) => b.step - a.step);
  }

  /** Every stored checkpoint object key (for cleanup after the final artifacts are safe). */
  async allKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const o of this.store.list(s3Keys.run(this.sweepId, this.runId) + 'checkpoints/')) keys.push(o.key);
    return keys;
  }
}

function stripHistory(p: LatestPointer): CheckpointEntry {
  const { step, computeSeconds, examples, createdAt, files } = p;
  return { step, computeSeconds, examples, createdAt, files };
}
