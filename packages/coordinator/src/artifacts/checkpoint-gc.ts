/**
 * `yoto gc`: deletes intermediate checkpoint directories, never final artifacts.
 *
 * Per run, the checkpoint directories (`runs/<runId>/checkpoints/<step>/`) are ranked
 * by step; the newest `keepLast` are kept, and so is the one `latest.json` points to
 * (a worker resuming the run reads it — it is kept even if a newer, half-written
 * directory exists). `latest.json`, `final/`, metrics and reports are never touched.
 * Afterwards a stored manifest.json is rebuilt so it lists only what still exists.
 */
import { s3Keys } from '@yoto/shared';
import type { ObjectStore } from '@yoto/runtime';
import { writeManifest } from '../aggregate/sweep-manifest.ts';

export interface GcSummary {
  runs: number;
  deletedDirs: number;
  deletedFiles: number;
  freedBytes: number;
  keptDirs: number;
  manifestRewritten: boolean;
}

const CHECKPOINT_DIR = /^runs\/([^/]+)\/checkpoints\/(\d+)\/.+$/;

export async function pruneCheckpoints(store: ObjectStore, sweepId: string, keepLast: number): Promise<GcSummary> {
  const base = s3Keys.sweep(sweepId);
  // runId -> step -> objects
  const runs = new Map<string, Map<number, { key: string; size: number }[]>>();
  for await (const o of store.list(`${base}runs/`)) {
    const m = CHECKPOINT_DIR.exec(o.key.slice(base.length));
    if (!m) continue;
    const [runId, step] = [m[1] as string, Number(m[2])];
    const steps = runs.get(runId) ?? new Map<number, { key: string; size: number }[]>();
    runs.set(runId, steps);
    const objs = steps.get(step) ?? [];
    objs.push(o);
    steps.set(step, objs);
  }
  const summary: GcSummary = { runs: runs.size, deletedDirs: 0, deletedFiles: 0, freedBytes: 0, keptDirs: 0, manifestRewritten: false };
  for (const [runId, steps] of runs) {
    const latest = await store.getJsonIfExists<{ step?: number }>(s3Keys.checkpointLatest(sweepId, runId));
    const ranked = [...steps.keys()].sort((a, b) => b - a);
    const keep = new Set(ranked.slice(0, Math.max(0, keepLast)));
    if (typeof latest?.step === 'number') keep.add(latest.step);
    const doomed: string[] = [];
    for (const [step, objs] of steps) {
      if (keep.has(step)) {
        summary.keptDirs++;
        continue;
      }
      summary.deletedDirs++;
      summary.deletedFiles += objs.length;
      summary.freedBytes += objs.reduce((s, o) => s + o.size, 0);
      doomed.push(...objs.map((o) => o.key));
    }
    if (doomed.length) await store.deleteMany(doomed);
  }
  if (summary.deletedFiles > 0 && (await store.head(s3Keys.manifest(sweepId)))) {
    await writeManifest(store, sweepId);
    summary.manifestRewritten = true;
  }
  return summary;
}
