/**
 * `sweeps/<sweepId>/manifest.json`: every artifact of a sweep with its size and
 * sha256, written by the aggregate from a listing of the sweep's prefix (sha256 from
 * each object's stored metadata) and rewritten by `yoto gc`. Before the aggregate,
 * readers build the same structure live from the listing without storing it
 * (coordinator sweep-manifest.ts). `yoto artifacts pull` verifies every file against it.
 *
 *   { "version": 1, "sweepId", "generatedAt": ISO,
 *     "artifacts": [{ "key", "size", "sha256", "runId": string | null, "kind" }] }   key order
 *
 * kind: spec | plan (the sweep's inputs), checkpoint (checkpoints/<step>/… and
 * latest.json), final (final/ model and result.json), eval (final/eval.json),
 * metrics (metrics.jsonl), report (report/…). The manifest does not list itself.
 */
import { isValidId } from './ids.ts';

export const ARTIFACT_KINDS = ['spec', 'plan', 'checkpoint', 'final', 'eval', 'metrics', 'report'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

export interface ManifestEntry {
  key: string;
  size: number;
  sha256: string;
  runId: string | null;
  kind: ArtifactKind;
}

export interface Manifest {
  version: 1;
  sweepId: string;
  generatedAt: string;
  artifacts: ManifestEntry[];
}

/** What an object under `sweeps/<sweepId>/` is; null for keys that are not artifacts (the manifest itself, strays). */
export function classifyArtifact(sweepId: string, key: string): { kind: ArtifactKind; runId: string | null } | null {
  const base = `sweeps/${sweepId}/`;
  if (!key.startsWith(base)) return null;
  const rest = key.slice(base.length);
  if (rest === 'spec.json') return { kind: 'spec', runId: null };
  if (rest === 'plan.json') return { kind: 'plan', runId: null };
  if (rest.startsWith('report/')) return { kind: 'report', runId: null };
  const m = /^runs\/([^/]+)\/(.+)$/.exec(rest);
  if (!m || !isValidId(m[1] as string)) return null;
  const runId = m[1] as string;
  const path = m[2] as string;
  if (path.startsWith('checkpoints/')) return { kind: 'checkpoint', runId };
  if (path === 'final/eval.json') return { kind: 'eval', runId };
  if (path.startsWith('final/')) return { kind: 'final', runId };
  if (path === 'metrics.jsonl') return { kind: 'metrics', runId };
  return null;
}
