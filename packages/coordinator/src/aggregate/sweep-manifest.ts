/**
 * Builds `sweeps/<sweepId>/manifest.json` (format in @yoto/shared manifest.ts) from a
 * listing of the sweep's prefix and each object's stored sha256. An object written
 * without the metadata (by another tool) is fetched and hashed instead, so every
 * entry carries a digest a reader can verify.
 */
import { classifyArtifact, s3Keys, YotoError, type Manifest, type ManifestEntry } from '@yoto/shared';
import { sha256Hex, type ObjectStore } from '@yoto/runtime';

const PARALLEL = 8;

export async function buildManifest(store: ObjectStore, sweepId: string, now = new Date()): Promise<Manifest> {
  const objects: { key: string; kind: ManifestEntry['kind']; runId: string | null }[] = [];
  for await (const o of store.list(s3Keys.sweep(sweepId))) {
    const c = classifyArtifact(sweepId, o.key);
    if (c) objects.push({ key: o.key, ...c });
  }
  const artifacts: ManifestEntry[] = new Array(objects.length);
  let next = 0;
  const work = async () => {
    for (let i = next++; i < objects.length; i = next++) {
      const o = objects[i]!;
      const head = await store.head(o.key);
      if (!head) continue; // deleted between list and head (checkpoint retention)
      const sha256 = head.sha256 ?? sha256Hex(await store.get(o.key));
      artifacts[i] = { key: o.key, size: head.size, sha256, runId: o.runId, kind: o.kind };
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, work));
  return { version: 1, sweepId, generatedAt: now.toISOString(), artifacts: artifacts.filter(Boolean) };
}

export async function writeManifest(store: ObjectStore, sweepId: string): Promise<Manifest> {
  const manifest = await buildManifest(store, sweepId);
  await store.putJson(s3Keys.manifest(sweepId), manifest);
  return manifest;
}

/**
 * The sweep's manifest: the stored one when the aggregate has written it, else a live
 * build from the listing (not stored). NOT_FOUND when the sweep has no plan.json.
 */
export async function loadManifest(store: ObjectStore, sweepId: string): Promise<{ manifest: Manifest; live: boolean }> {
  const stored = await store.getJsonIfExists<Manifest>(s3Keys.manifest(sweepId));
  if (stored) return { manifest: stored, live: false };
  if (!(await store.head(s3Keys.plan(sweepId)))) throw new YotoError('NOT_FOUND', `no sweep ${sweepId} in the store (no ${s3Keys.plan(sweepId)})`);
  return { manifest: await buildManifest(store, sweepId), live: true };
}
