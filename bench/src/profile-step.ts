// Where a training step of the real engine spends its time, per tfjs kernel (tf.profile),
// on one backend: the tool for deciding which kernels to move to native code.
// Run: node --import tsx bench/src/profile-step.ts [--backend native-cpu] [--arch conv|mlp] [--batch 64] [--threads N] [--shapes] [--kernel-cpu]
import { parseSweepSpec, planSweep } from '@yoto/shared';
import { getTf, loadDataset, LossConditionalTrainer, selectBackend, type BackendPreference } from '@yoto/worker';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
};
const info = await selectBackend({ preferred: opt('--backend', 'native-cpu') as BackendPreference, threads: Number(opt('--threads', '0')) || undefined });
const tf = getTf();
const arch = opt('--arch', 'conv') as 'conv' | 'mlp';
const batch = Number(opt('--batch', '64'));
const spec = parseSweepSpec({
  name: 'profile',
  problem: 'beta-vae',
  dataset: { name: 'mnist', trainExamples: 4096, testExamples: 16 },
  model: { arch, latentDim: 10, width: 1 },
  lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 512 } },
  grid: { kl: [1] },
  train: { steps: 100000, batchSize: batch, checkpointEvery: 1000000, checkpointSeconds: 0 },
});
// --kernel-cpu: CPU time per kernel (process.cpuUsage around every wasm kernel; one-thread runs only make sense).
const kernelCpu = new Map<string, { us: number; n: number }>();
if (args.includes('--kernel-cpu')) {
  for (const k of tf.getKernelsForBackend(tf.getBackend())) {
    const f = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, k.backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: ((a: Parameters<typeof f>[0]) => {
        const c = process.cpuUsage();
        const r = f(a);
        const d = process.cpuUsage(c);
        const e = kernelCpu.get(k.kernelName) ?? { us: 0, n: 0 };
        e.us += d.user + d.system;
        e.n++;
        kernelCpu.set(k.kernelName, e);
        return r;
      }) as typeof f,
    });
  }
}
const trainer = new LossConditionalTrainer({ payload: planSweep(spec).runs[0]!, tf, dataset: await loadDataset(spec.dataset) });
await trainer.train({ untilStep: 3 });
{
  // Wall vs CPU time of 10 unprofiled steps: on a shared machine the CPU time of a one-thread run is the less disturbed figure.
  kernelCpu.clear();
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  await trainer.train({ untilStep: trainer.step + 10 });
  const cpu = process.cpuUsage(c0);
  const wallMs = (performance.now() - w0) / 10;
  const cpuMs = (cpu.user + cpu.system) / 1000 / 10;
  const gflop = (batch * trainer.flopsPerExample) / 1e9;
  if (kernelCpu.size) {
    const inKernels = [...kernelCpu.values()].reduce((x, e) => x + e.us, 0) / 1000 / 10;
    console.log(`CPU ms/step per kernel (${inKernels.toFixed(1)} in kernels, ${(cpuMs - inKernels).toFixed(1)} outside):`);
    for (const [k, e] of [...kernelCpu.entries()].sort((x, y) => y[1].us - x[1].us).slice(0, 15)) console.log(`  ${k.padEnd(28)} ${(e.us / 10000).toFixed(2).padStart(8)}  x${e.n / 10}`);
  }
  console.log(`${info.name}×${info.threads} ${arch} batch ${batch}: ${wallMs.toFixed(1)} ms/step wall, ${cpuMs.toFixed(1)} ms/step CPU; ${(gflop / (wallMs / 1000)).toFixed(1)} GFLOP/s wall, ${(gflop / (cpuMs / 1000)).toFixed(1)} per CPU-second`);
}
const t0 = performance.now();
const prof = await tf.profile(async () => {
  await trainer.train({ untilStep: trainer.step + 3 });
  return [];
});
const wall = performance.now() - t0;
const agg = new Map<string, { ms: number; n: number }>();
for (const k of prof.kernels) {
  const e = agg.get(k.name) ?? { ms: 0, n: 0 };
  e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  e.n++;
  agg.set(k.name, e);
}
const total = [...agg.values()].reduce((a, e) => a + e.ms, 0);
console.log(`${info.name} ${arch} batch ${batch}: 3 steps, ${(wall / 3).toFixed(1)} ms/step wall (profiled), ${(total / 3).toFixed(1)} ms/step in kernels, ${(prof.kernels.length / 3).toFixed(0)} kernels/step`);
for (const [k, e] of [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
  console.log(`  ${k.padEnd(28)} ${(e.ms / 3).toFixed(2).padStart(8)} ms/step  x${e.n / 3}`);
}
trainer.dispose();
if (args.includes('--shapes')) {
  const by = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    if (!['BatchMatMul', 'Sum', 'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'forward', 'LeakyRelu', 'Add', 'Multiply'].includes(k.name)) continue;
    const key = `${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}`;
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.n++;
    by.set(key, e);
  }
  for (const [k, e] of [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40)) console.log(`  ${(e.ms / 3).toFixed(2).padStart(7)} ms x${e.n / 3}  ${k}`);
}
