// Training throughput of the real engine (LossConditionalTrainer, FiLM β-VAE on MNIST)
// for conv and mlp at batch 64 and 256, on every backend that loads here, beside the
// same backend's plain-matmul peak measured in the same process (and, for native-cpu,
// OpenBLAS's own sgemm peak called directly on Float32Arrays).
//
// Run: pnpm bench train-throughput            (all backends, ~3 min; --backends native-cpu,wasm for a subset)
//      node --import tsx bench/src/train-throughput.ts --backend wasm [--quick]
// Writes bench/results/train-throughput.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSweepSpec, planSweep } from '@yoto/shared';
import { getTf, loadDataset, LossConditionalTrainer, selectBackend, type BackendPreference } from '@yoto/worker';
import { loadNativeBlas } from '../../packages/native-blas/src/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const QUICK = flag('--quick');

interface Row {
  backend: string;
  arch: 'conv' | 'mlp';
  batch: number;
  examplesPerSecond: number;
  gflops: number;
  msPerStep: number;
  steps: number;
}
interface BackendResult {
  backend: string;
  threads: number;
  simd: boolean;
  matmulPeakGflops: number;
  /** OpenBLAS sgemm called directly (no tfjs), square 1024, same process: the native ceiling. */
  blasPeakGflops?: number;
  rows: Row[];
}

/** OpenBLAS's own sgemm rate: C[1024,1024] = A·B on plain Float32Arrays, best of the timed window. */
function blasPeak(): number | undefined {
  const loaded = loadNativeBlas();
  if (!loaded.ok) return undefined;
  const n = 1024;
  const a = new Float32Array(n * n).map(() => Math.random());
  const b = new Float32Array(n * n).map(() => Math.random());
  const c = new Float32Array(n * n);
  const mm = () => loaded.blas.sgemm(false, false, n, n, n, 1, a, 0, n, b, 0, n, 0, c, 0, n, 1, 0, 0, 0);
  for (let i = 0; i < 3; i++) mm();
  let best = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < (QUICK ? 500 : 2000)) {
    const t = performance.now();
    mm();
    best = Math.max(best, (2 * n * n * n) / ((performance.now() - t) / 1000) / 1e9);
  }
  return best;
}

async function measureBackend(pref: BackendPreference): Promise<BackendResult> {
  const info = await selectBackend({ preferred: pref, ...(opt('--threads') ? { threads: Number(opt('--threads')) } : {}) });
  const tf = getTf();
  const blasPeakGflops = info.name === 'native-cpu' ? blasPeak() : undefined;
  // Plain matmul peak: [256, 1024] x [1024, 1024], the shape class of the dense layers.
  const a = tf.randomUniform([256, 1024]);
  const b = tf.randomUniform([1024, 1024]);
  const mm = () => tf.dispose(tf.matMul(a, b));
  for (let i = 0; i < 2; i++) mm();
  let it = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < (QUICK ? 500 : 2000) || it < 3) {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
    it++;
  }
  const peak = (2 * 256 * 1024 * 1024 * it) / ((performance.now() - t0) / 1000) / 1e9;
  tf.dispose([a, b]);

  const rows: Row[] = [];
  const slow = info.name === 'cpu';
  // --configs conv:64,mlp:256 limits the rows (default: conv and mlp at batch 64 and 256).
  const configs = opt('--configs')?.split(',').map((c) => c.split(':') as ['conv' | 'mlp', string]);
  for (const arch of ['conv', 'mlp'] as const) {
    for (const batch of [64, 256]) {
      if (configs && !configs.some(([a, b]) => a === arch && Number(b) === batch)) continue;
      const spec = parseSweepSpec({
        name: 'bench',
        problem: 'beta-vae',
        dataset: { name: 'mnist', trainExamples: 4096, testExamples: 16 },
        model: { arch, latentDim: 10, width: 1 },
        lambda: { kl: { dist: 'log-uniform', low: 0.5, high: 512 } },
        grid: { kl: [1] },
        train: { steps: 100000, batchSize: batch, checkpointEvery: 1000000, checkpointSeconds: 0 },
      });
      const payload = planSweep(spec).runs[0]!; // the YOTO run: per-example λ, the full FiLM path
      const trainer = new LossConditionalTrainer({ payload, tf, dataset: await loadDataset(spec.dataset) });
      try {
        const warm = slow && arch === 'conv' ? 1 : 3;
        await trainer.train({ untilStep: warm });
        const budgetMs = slow ? (QUICK ? 3000 : 10000) : QUICK ? 2000 : 8000;
        let steps = 0;
        let seconds = 0;
        while (seconds * 1000 < budgetMs || steps < 2) {
          const chunk = slow ? 1 : 5;
          const s = await trainer.train({ untilStep: trainer.step + chunk });
          steps += s.steps;
          seconds += s.seconds;
        }
        const eps = (steps * batch) / seconds;
        const row = { backend: info.name, arch, batch, examplesPerSecond: eps, gflops: (eps * trainer.flopsPerExample) / 1e9, msPerStep: (seconds * 1000) / steps, steps };
        rows.push(row);
        process.stderr.write(`${info.name.padEnd(10)} ${arch.padEnd(4)} batch ${String(batch).padStart(3)}: ${eps.toFixed(0).padStart(6)} ex/s  ${row.gflops.toFixed(1).padStart(5)} GFLOP/s  (${steps} steps)\n`);
      } finally {
        trainer.dispose();
      }
    }
  }
  return { backend: info.name, threads: info.threads, simd: info.simd, matmulPeakGflops: peak, ...(blasPeakGflops ? { blasPeakGflops } : {}), rows };
}

if (opt('--backend')) {
  const r = await measureBackend(opt('--backend') as BackendPreference);
  process.stdout.write(JSON.stringify(r) + '\n');
} else {
  // One child per backend: a process holds one tfjs backend for its lifetime.
  const load = loadavg();
  const results: BackendResult[] = [];
  // --backends a,b limits the run (e.g. native-cpu,wasm: the cpu rows take minutes).
  for (const backend of opt('--backends')?.split(',') ?? ['tensorflow', 'native-cpu', 'wasm', 'cpu']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--backend', backend, ...(QUICK ? ['--quick'] : []), ...(opt('--configs') ? ['--configs', opt('--configs')!] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    try {
      const res = JSON.parse(last) as BackendResult;
      // `tensorflow` and `native-cpu` fall back when their native library is absent; keep each backend once.
      if (!results.some((x) => x.backend === res.backend)) results.push(res);
    } catch {
      process.stderr.write(`backend ${backend}: no result (exit ${r.status})\n`);
    }
  }
  const lines = ['| backend | arch | batch | examples/s | GFLOP/s | ms/step | matmul peak GFLOP/s | share of peak |', '|---|---|---|---|---|---|---|---|'];
  const notes: string[] = [];
  for (const b of results) {
    for (const row of b.rows) {
      lines.push(`| ${b.backend}${b.simd ? ' (SIMD)' : ''} ×${b.threads} | ${row.arch} | ${row.batch} | ${row.examplesPerSecond.toFixed(0)} | ${row.gflops.toFixed(1)} | ${row.msPerStep.toFixed(1)} | ${b.matmulPeakGflops.toFixed(1)} | ${((100 * row.gflops) / b.matmulPeakGflops).toFixed(0)}% |`);
    }
  }
  for (const b of results) if (b.blasPeakGflops) notes.push(`${b.backend}: OpenBLAS sgemm peak (1024³, called directly, ${b.threads} threads) ${b.blasPeakGflops.toFixed(1)} GFLOP/s`);
  const wasm = results.find((b) => b.backend === 'wasm');
  for (const b of results.filter((x) => x.backend === 'native-cpu')) {
    for (const row of b.rows) {
      const ref = wasm?.rows.find((r) => r.arch === row.arch && r.batch === row.batch);
      if (ref) notes.push(`native-cpu ${row.arch} batch ${row.batch}: ${(row.gflops / ref.gflops).toFixed(2)}× wasm`);
    }
  }
  console.log([...lines, '', ...notes.map((n) => `- ${n}`)].join('\n'));
  const out = join(here, '..', 'results', 'train-throughput.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, cpu: cpus()[0]?.model, loadBefore: load, results }, null, 2));
  console.error(`wrote ${out}`);
}
