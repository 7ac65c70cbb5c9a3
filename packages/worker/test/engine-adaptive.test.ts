/**
 * Gap-driven P_λ in the trainer: probes on cadence, the density moves toward an
 * injected gap, and a run resumed from a checkpoint continues bit-for-bit (weights,
 * RNG and density).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { YotoError, type PeerCurve, type ProbeRecord } from '@yoto/shared';
import { deserializeState, loadDataset, LossConditionalTrainer, serializeState } from '../src/engine/index.ts';
import { maxAbsDiff, smallPayload, testBackend, type TestBackend } from './engine-fixtures.ts';

let be: TestBackend;
before(async () => {
  be = await testBackend();
});

const adaptive = { mode: 'gap', bins: 4, everySteps: 4, probeExamples: 32, floor: 0.2, rate: 20, smoothing: 0.1 };
const payload = smallPayload({ conditioning: { adaptive }, evalGrid: [{ kl: 1 }, { kl: 4 }, { kl: 32 }], train: { steps: 16, checkpointEvery: 8 } });

async function trainer(p = payload) {
  return new LossConditionalTrainer({ payload: p, tf: be.tf, dataset: await loadDataset(p.dataset), readEvery: 5 });
}

/** Baselines far ahead at λ = 1 (YOTO lags there), level with it elsewhere. */
function peersFrom(own: () => ProbeRecord[]): () => PeerCurve[] {
  return () =>
    [1, 4, 32].map((kl) => ({
      runId: `b${kl}`,
      lambda: { kl },
      points: own().map((r) => {
        const mine = r.points.find((p) => p.lambda.kl === kl)!.loss;
        return { fraction: r.fraction, loss: kl === 1 ? mine / 1.2 : mine };
      }),
    }));
}

test('a gap-driven run probes on cadence, moves mass toward the injected gap, and resumes exactly', async () => {
  const straight = await trainer();
  const probes: ProbeRecord[] = [];
  let atHalf: Record<string, Uint8Array> | null = null;
  await straight.train({
    onProbe: (p) => void probes.push(p),
    peerCurves: peersFrom(() => probes),
    onCheckpointDue: async () => {
      atHalf = serializeState(await straight.exportState()).files;
    },
  });
  assert.deepEqual(probes.map((p) => p.step), [4, 8, 12, 16]);
  assert.ok(probes.every((p) => p.points.length === 3), 'the YOTO run probes every grid λ inside its prior');
  const trace = straight.adaptiveTrace!;
  // start + updates at 4, 8, 12 (none at the last step: it would never be used).
  assert.deepEqual(trace.updates.map((u) => [u.step, u.source]), [[0, 'start'], [4, 'baselines'], [8, 'baselines'], [12, 'baselines']]);
  const last = trace.updates[3]!.masses[0]!;
  const bin = (kl: number) => Math.floor(((Math.log(kl) - Math.log(0.5)) / (Math.log(64) - Math.log(0.5))) * 4);
  assert.ok(last[bin(1)]! > 0.25 && last[bin(1)]! > last[bin(32)]!, `mass moved toward λ = 1: ${last.map((x) => x.toFixed(3))}`);
  for (const m of last) assert.ok(m >= 0.2 / 4 - 1e-12);
  const final = await straight.exportState();
  straight.dispose();

  const resumed = await trainer();
  const state = deserializeState(atHalf!);
  assert.equal(state.adaptive?.updates.length, 3, 'the checkpoint at step 8 holds the density updated at step 8');
  resumed.importState(state);
  // The resumed run sees the same peer curves: its own probes up to 8 come from the checkpoint.
  const resumedProbes = [...probes.slice(0, 2)];
  await resumed.train({ onProbe: (p) => void resumedProbes.push(p), peerCurves: peersFrom(() => resumedProbes) });
  const again = await resumed.exportState();
  assert.deepEqual(again.rng, final.rng);
  for (const [name, rec] of Object.entries(final.weights)) assert.ok(maxAbsDiff(rec.data, again.weights[name]!.data) <= 1e-6, `${name} differs after resume`);
  assert.deepEqual(again.adaptive, final.adaptive);
  resumed.dispose();

  // A checkpoint without the density cannot resume a gap-driven run.
  const bare = await trainer();
  const { adaptive: _dropped, ...withoutDensity } = state;
  assert.throws(() => bare.importState(withoutDensity), (e: unknown) => e instanceof YotoError && e.code === 'CHECKPOINT_CORRUPT' && /density/.test(e.message));
  bare.dispose();
});

test('without baselines the run falls back to its own learning progress; a baseline with a probe schedule probes at its λ', async () => {
  const yoto = await trainer();
  await yoto.train();
  const sources = yoto.adaptiveTrace!.updates.map((u) => u.source);
  assert.deepEqual(sources, ['start', 'hold', 'progress', 'progress']);
  yoto.dispose();

  const base = smallPayload({ kind: 'baseline', beta: 4, train: { steps: 8 } });
  const b = await trainer({ ...base, probe: { everySteps: 4, examples: 32 } });
  const seen: ProbeRecord[] = [];
  await b.train({ onProbe: (p) => void seen.push(p) });
  assert.deepEqual(seen.map((p) => [p.step, p.fraction, p.points.map((x) => x.lambda.kl)]), [[4, 0.5, [4]], [8, 1, [4]]]);
  assert.equal(b.adaptiveTrace, null);
  b.dispose();
});
