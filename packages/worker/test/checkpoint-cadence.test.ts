/**
 * When the trainer asks for checkpoints: every `train.checkpointEvery` steps, and
 * also once `train.checkpointSeconds` have passed since the last one (0 = steps only);
 * never at the final step (the final artifacts cover it).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDataset, LossConditionalTrainer } from '../src/engine/index.ts';
import { smallPayload, testBackend, type TestBackend } from './engine-fixtures.ts';

let be: TestBackend;
before(async () => {
  be = await testBackend();
});

async function dueSteps(train: { steps: number; checkpointEvery: number; checkpointSeconds: number }, stepDelayMs = 0): Promise<number[]> {
  const payload = smallPayload({ model: { arch: 'mlp', width: 0.125 }, train });
  const trainer = new LossConditionalTrainer({ payload, tf: be.tf, dataset: await loadDataset(payload.dataset), readEvery: 1 });
  const due: number[] = [];
  try {
    await trainer.train({
      onProgress: async () => {
        if (stepDelayMs) await new Promise((r) => setTimeout(r, stepDelayMs));
      },
      onCheckpointDue: async (step) => {
        due.push(step);
      },
    });
  } finally {
    trainer.dispose();
  }
  return due;
}

test('every checkpointEvery steps, not at the end, when checkpointSeconds is 0', async () => {
  assert.deepEqual(await dueSteps({ steps: 20, checkpointEvery: 5, checkpointSeconds: 0 }), [5, 10, 15]);
});

test('checkpointSeconds bounds the time between checkpoints when steps are slow', async () => {
  // 20 steps of ≥ 30 ms with a 0.1 s bound: a checkpoint at least every ~4 steps, none from checkpointEvery.
  const due = await dueSteps({ steps: 20, checkpointEvery: 1000, checkpointSeconds: 0.1 }, 30);
  assert.ok(due.length >= 3, `time-based checkpoints at ${due.join(',')}`);
  assert.ok(due.every((s, i) => i === 0 || s > due[i - 1]!));
  assert.ok(!due.includes(20), 'none at the final step');
  for (let i = 1; i < due.length; i++) assert.ok(due[i]! - due[i - 1]! <= 5, `gap ${due[i - 1]}→${due[i]} too long for a 0.1 s bound`);
});
