import { RunPayloadSchema } from '@yoto/shared';
import { getTf, selectBackend, loadDataset, LossConditionalTrainer } from '/work/wt/i8/packages/worker/src/engine/index.ts';
const steps = Number(process.argv[2] ?? 200);
const fixed = process.argv[3] ? Number(process.argv[3]) : null;
const lr = Number(process.argv[4] ?? 1e-3);
const fs = Number(process.argv[5] ?? 0.01);
const info = await selectBackend({ preferred: 'wasm' });
console.log(info.name);
const payload = RunPayloadSchema.parse({
  version: 1, sweepId: 'calib', runId: 'yoto', kind: fixed ? 'baseline' : 'yoto', variantId: 'base', variant: {}, seed: 1,
  problem: 'compression',
  dataset: { name: 'fashion-mnist', trainExamples: 10000, testExamples: 500 },
  model: { arch: 'conv', latentDim: 16, width: 1, filmHidden: 64, filmScale: fs, filmShift: fs },
  conditioning: { perExample: true, normalize: 'none' },
  prior: fixed ? { distortion: { dist: 'fixed', value: fixed } } : { distortion: { dist: 'log-uniform', low: 0.0005, high: 0.1 } },
  fixedLambda: fixed ? { distortion: fixed } : null,
  evalGrid: [0.0005, 0.002, 0.008, 0.03, 0.1].map((d) => ({ distortion: d })),
  train: { steps, batchSize: 32, lr, lrDecayAt: [0.8], checkpointSeconds: 0, evalBatchSize: 250 },
});
const dataset = await loadDataset(payload.dataset);
const tr = new LossConditionalTrainer({ payload, tf: getTf(), dataset });
console.log('params', tr.model.params.count, 'flops', tr.flopsPerExample);
const t0 = Date.now();
await tr.train({ onProgress: (p) => { if (p.step % 200 === 0) console.log(p.step, p.loss.toFixed(3), JSON.stringify(p.terms), p.examplesPerSecond.toFixed(0)); } });
console.log('train s', (Date.now() - t0) / 1000);
const t1 = Date.now();
for (const e of await tr.evaluate()) console.log(JSON.stringify(e));
console.log('eval s', (Date.now() - t1) / 1000);
