import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as tfc from '@tensorflow/tfjs-core';
import { YotoError } from '@yoto/shared';
import {
  betaVae,
  deserializeFinalModel,
  deserializeState,
  FilmVae,
  loadDataset,
  LossConditionalTrainer,
  serializeState,
  STATE_BLOB_FILE,
  type Problem,
  type TrainerState,
} from '../src/engine/index.ts';
import { maxAbsDiff, smallPayload, testBackend, type TestBackend } from './engine-fixtures.ts';

let be: TestBackend;
before(async () => {
  be = await testBackend();
});

async function trainer(payload: ReturnType<typeof smallPayload>, problem?: Problem, shareConstantConditioning = false) {
  const dataset = await loadDataset(payload.dataset);
  return new LossConditionalTrainer({ payload, tf: be.tf, dataset, readEvery: 5, shareConstantConditioning, ...(problem ? { problem } : {}) });
}

function assertSameState(a: TrainerState, b: TrainerState, tol: number): void {
  assert.equal(a.step, b.step);
  assert.deepEqual(a.rng, b.rng);
  assert.equal(a.optimizer.t, b.optimizer.t);
  for (const [name, rec] of Object.entries(a.weights)) {
    const d = maxAbsDiff(rec.data, b.weights[name]!.data);
    assert.ok(d <= tol, `${name} differs by ${d}`);
  }
  for (const [name, rec] of Object.entries(a.optimizer.v)) {
    const d = maxAbsDiff(rec.data, b.optimizer.v[name]!.data);
    assert.ok(d <= tol, `adam.v ${name} differs by ${d}`);
  }
}

describe('LossConditionalTrainer', () => {
  for (const arch of ['mlp', 'conv'] as const) {
    test(`resume is exact (${arch}): 2k straight = k, checkpoint, reload, k more`, async (t) => {
      if (arch === 'conv' && !be.convTrains) return t.skip(`conv gradients unavailable on ${be.info.name}`);
      const k = 6;
      const payload = smallPayload({ model: { arch, width: 0.25 }, train: { steps: 2 * k, checkpointEvery: k, lrDecayAt: [0.75] } });
      const straight = await trainer(payload);
      let atK: Record<string, Uint8Array> | null = null;
      const due: number[] = [];
      await straight.train({
        onCheckpointDue: async (step) => {
          due.push(step);
          atK = serializeState(await straight.exportState()).files;
        },
      });
      assert.deepEqual(due, [k], 'checkpoint due once, mid-run (not at the end)');
      const final = await straight.exportState();
      straight.dispose();

      const resumed = await trainer(payload);
      const initial = await resumed.exportState();
      const first = Object.keys(final.weights)[0]!;
      assert.ok(maxAbsDiff(initial.weights[first]!.data, final.weights[first]!.data) > 0, 'training changed the weights');
      resumed.importState(deserializeState(atK!));
      assert.equal(resumed.step, k);
      const summary = await resumed.train();
      assert.equal(summary.step, 2 * k);
      assert.equal(summary.steps, k);
      assertSameState(final, await resumed.exportState(), 1e-6);
      resumed.dispose();
    });
  }

  test('no tensor leaks across steps, evaluation and export', async () => {
    const arch = be.convTrains ? 'conv' : 'mlp';
    const tr = await trainer(smallPayload({ model: { arch, width: 0.25 }, train: { steps: 40 } }));
    await tr.train({ untilStep: 1 });
    const n0 = be.tf.memory().numTensors;
    await tr.train({ untilStep: 12 });
    assert.equal(be.tf.memory().numTensors, n0, 'after 11 more steps');
    await tr.evaluate();
    assert.equal(be.tf.memory().numTensors, n0, 'after evaluate');
    await tr.exportState();
    await tr.exportFinalModel();
    assert.equal(be.tf.memory().numTensors, n0, 'after export');
    const stopAt = tr.step + 3;
    const s = await tr.train({ shouldStop: () => tr.step >= stopAt });
    assert.ok(s.stopped);
    assert.equal(s.step, stopAt);
    assert.equal(be.tf.memory().numTensors, n0, 'after an early stop');
    tr.dispose();
    tr.dispose();
    assert.ok(be.tf.memory().numTensors < n0);
  });

  for (const kind of ['yoto', 'baseline'] as const) {
    test(`λ per example (${kind}): conditioning and FiLM scale/shift per row`, async () => {
      const seen: { cond: Float32Array; weights: Float32Array; batch: number }[] = [];
      const spy: Problem = {
        ...(betaVae as unknown as Problem),
        loss(model, x, cond, weights, noise) {
          seen.push({ cond: cond.dataSync() as Float32Array, weights: weights.dataSync() as Float32Array, batch: x.shape[0] });
          return betaVae.loss.call(betaVae, model as FilmVae, x, cond, weights, noise);
        },
      };
      const payload = smallPayload({ kind, beta: 8, train: { batchSize: 12 } });
      const tr = await trainer(payload, spy);
      await tr.train({ untilStep: 2 });
      assert.equal(seen.length, 2);
      const { cond, weights, batch } = seen[0]!;
      assert.equal(batch, 12);
      assert.equal(cond.length, 12);
      for (let i = 0; i < batch; i++) {
        const c = cond[i]!;
        assert.equal(weights[2 * i], 1, 'unit-term weight');
        assert.ok(Math.abs(weights[2 * i + 1]! - Math.exp(c)) < 1e-3 * weights[2 * i + 1]!, 'kl weight is λ = exp(cond)');
      }
      const distinct = new Set(cond).size;
      if (kind === 'yoto') {
        assert.equal(distinct, batch, 'every example draws its own λ');
        for (const v of cond) assert.ok(v >= Math.log(0.5) - 1e-5 && v <= Math.log(64) + 1e-5, `log λ ${v} inside the prior`);
        assert.notDeepEqual(seen[1]!.cond, cond, 'new draws next step');
      } else {
        assert.equal(distinct, 1, 'a baseline is conditioned on a constant');
        assert.ok(Math.abs(cond[0]! - Math.log(8)) < 1e-6);
      }
      // FiLM parameters follow the conditioning row by row.
      const model = tr.model as FilmVae;
      const rows = be.tf.tidy(() => {
        const { scale, shift } = model.film(model.filmBlocks[0]!, be.tf.tensor2d(cond, [cond.length, 1]));
        return [scale.arraySync(), shift.arraySync()];
      });
      for (const m of rows) {
        const uniq = new Set(m.map((r) => r.join(',')));
        assert.equal(uniq.size, distinct, 'one distinct FiLM row per distinct λ');
      }
      tr.dispose();
    });
  }

  test('per-batch conditioning when perExample is false', async () => {
    const seen: Float32Array[] = [];
    const spy: Problem = {
      ...(betaVae as unknown as Problem),
      loss(model, x, cond, weights, noise) {
        seen.push(cond.dataSync() as Float32Array);
        return betaVae.loss.call(betaVae, model as FilmVae, x, cond, weights, noise);
      },
    };
    const tr = await trainer(smallPayload({ conditioning: { perExample: false } }), spy);
    await tr.train({ untilStep: 2 });
    assert.equal(new Set(seen[0]).size, 1);
    assert.notEqual(seen[0]![0], seen[1]![0]);
    tr.dispose();
  });

  test('geometric-mean normalisation weighs the unit term by 1/g', async () => {
    const seen: { cond: Float32Array; weights: Float32Array }[] = [];
    const spy: Problem = {
      ...(betaVae as unknown as Problem),
      loss(model, x, cond, weights, noise) {
        seen.push({ cond: cond.dataSync() as Float32Array, weights: weights.dataSync() as Float32Array });
        return betaVae.loss.call(betaVae, model as FilmVae, x, cond, weights, noise);
      },
    };
    const tr = await trainer(smallPayload({ conditioning: { normalize: 'geometric-mean' } }), spy);
    await tr.train({ untilStep: 1 });
    const { cond, weights } = seen[0]!;
    cond.forEach((c, i) => {
      // One weighted term: g = sqrt(λ), so the weights are (1/sqrt(λ), sqrt(λ)); the conditioning stays log λ.
      const root = Math.exp(c / 2);
      assert.ok(Math.abs(weights[2 * i]! - 1 / root) < 1e-5 / root);
      assert.ok(Math.abs(weights[2 * i + 1]! - root) < 1e-5 * root);
    });
    tr.dispose();
  });

  test('loss decreases on shapes; baseline and YOTO give finite losses at β', async () => {
    const payload = smallPayload({ model: { width: 0.25, latentDim: 6, filmHidden: 32 }, train: { steps: 240, batchSize: 32, lr: 2e-3 } });
    const tr = await trainer(payload);
    const losses: number[] = [];
    const s = await tr.train({ onProgress: (p) => void losses.push(p.loss) });
    assert.equal(s.step, 240);
    const head = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const tail = losses.slice(-3).reduce((a, b) => a + b) / 3;
    assert.ok(tail < 0.8 * head, `loss went from ${head} to ${tail}`);
    assert.ok(Number.isFinite(s.finalTrain.loss!) && Number.isFinite(s.finalTrain.recon!) && Number.isFinite(s.finalTrain.kl!));

    const beta = 4;
    const base = await trainer(smallPayload({ kind: 'baseline', beta, model: payload.model, train: { ...payload.train, steps: 60 } }));
    await base.train();
    for (const [who, ev] of [['yoto', await tr.evaluate([{ kl: beta }])], ['baseline', await base.evaluate([{ kl: beta }])]] as const) {
      const e = ev[0]!;
      assert.ok(Number.isFinite(e.loss) && e.loss > 0, `${who} loss ${e.loss}`);
      assert.ok(Math.abs(e.loss - (e.terms.recon! + beta * e.terms.kl!)) < 1e-6 * e.loss, `${who}: loss = recon + β·kl`);
      assert.ok(e.terms.kl! >= 0);
    }
    // A baseline's conditioning stays at its own β whatever point it is scored at.
    const [at1, at32] = await base.evaluate([{ kl: 1 }, { kl: 32 }]);
    assert.equal(at1!.terms.recon, at32!.terms.recon);
    const [y1, y32] = await tr.evaluate([{ kl: 1 }, { kl: 32 }]);
    assert.notEqual(y1!.terms.recon, y32!.terms.recon, 'YOTO responds to λ');
    tr.dispose();
    base.dispose();
  });

  test(
    'shared constant conditioning trains like per-example rows',
    async () => {
      const payload = smallPayload({ kind: 'baseline', beta: 4, train: { steps: 6 } });
      const states = [];
      for (const share of [false, true]) {
        const tr = await trainer(payload, undefined, share);
        await tr.train();
        states.push(await tr.exportState());
        tr.dispose();
      }
      assertSameState(states[0]!, states[1]!, 1e-4);
    },
  );

  test('evaluation is deterministic and survives a reload', async () => {
    const payload = smallPayload({ train: { steps: 20 } });
    const tr = await trainer(payload);
    await tr.train({ untilStep: 8 });
    const a = await tr.evaluate();
    assert.deepEqual(await tr.evaluate(), a);
    const files = serializeState(await tr.exportState()).files;
    const final = deserializeFinalModel((await tr.exportFinalModel()).files);
    tr.dispose();
    const again = await trainer(payload);
    again.importState(deserializeState(files));
    assert.deepEqual(await again.evaluate(), a);
    const fresh = await trainer(payload);
    fresh.importWeights(final.weights);
    assert.deepEqual(await fresh.evaluate(), a);
    assert.equal(final.meta.runId, payload.runId);
    // Evaluation batch size changes only summation order.
    const big = await trainer({ ...payload, train: { ...payload.train, evalBatchSize: 64 } });
    big.importState(deserializeState(files));
    const b = await big.evaluate();
    b.forEach((p, i) => assert.ok(Math.abs(p.loss - a[i]!.loss) < 1e-4 * a[i]!.loss));
    for (const x of [again, fresh, big]) x.dispose();
  });

  test('divergence throws TRAINING_DIVERGED naming the step', async () => {
    const poisoned: Problem = {
      ...(betaVae as unknown as Problem),
      loss(model, x, cond, weights, noise) {
        const out = betaVae.loss.call(betaVae, model as FilmVae, x, cond, weights, noise);
        const step = poisonCalls++;
        return step === 3 ? { ...out, total: be.tf.mul(out.total, NaN) as tfc.Scalar } : out;
      },
    };
    let poisonCalls = 0;
    const tr = await trainer(smallPayload(), poisoned);
    await assert.rejects(tr.train({ untilStep: 10 }), (err: unknown) => {
      assert.ok(err instanceof YotoError);
      assert.equal(err.code, 'TRAINING_DIVERGED');
      assert.match(err.message, /step 4\b/);
      return true;
    });
    tr.dispose();
  });

  test('checkpoints refuse corruption and foreign models', async () => {
    const payload = smallPayload({ train: { steps: 4 } });
    const tr = await trainer(payload);
    await tr.train({ untilStep: 2 });
    const { files } = serializeState(await tr.exportState());
    const blob = files[STATE_BLOB_FILE]!.slice();
    blob[100] = blob[100]! ^ 0xff;
    assert.throws(() => deserializeState({ ...files, [STATE_BLOB_FILE]: blob }), (e: unknown) => e instanceof YotoError && e.code === 'CHECKPOINT_CORRUPT');
    assert.throws(() => deserializeState({ ...files, [STATE_BLOB_FILE]: blob.subarray(8) }), /bytes/);
    const other = await trainer({ ...payload, model: { ...payload.model, latentDim: 5 } });
    assert.throws(() => other.importState(deserializeState(files)), (e: unknown) => e instanceof YotoError && e.code === 'CHECKPOINT_CORRUPT');
    tr.dispose();
    other.dispose();
  });

  test('learning-rate step decay and FLOPs estimate', async () => {
    const tr = await trainer(smallPayload({ train: { steps: 100, lr: 1e-3, lrDecayAt: [0.5, 0.8], lrDecayFactor: 0.5 } }));
    assert.equal(tr.learningRate(0), 1e-3);
    assert.equal(tr.learningRate(49), 1e-3);
    assert.equal(tr.learningRate(50), 5e-4);
    assert.equal(tr.learningRate(80), 2.5e-4);
    // mlp 784→64→32→8 / 4→32→64→784 with width 1/8, plus FiLM generators (1→16→C, twice per block).
    const dense = 784 * 64 + 64 * 32 + 32 * 8 + 4 * 32 + 32 * 64 + 64 * 784;
    const film = [64, 32, 32, 64].reduce((s, c) => s + 2 * (16 + 16 * c), 0);
    assert.equal(tr.flopsPerExample, 6 * (dense + film));
    tr.dispose();
    const base = await trainer(smallPayload({ kind: 'baseline', train: { batchSize: 16 } }), undefined, true);
    assert.equal(base.flopsPerExample, 6 * (dense + film / 16), 'shared constant conditioning: FiLM once per batch');
    base.dispose();
  });
});
