/** Shared set-up for the engine tests: a backend, small payloads on the shapes dataset. */
import { RunPayloadSchema, type RunPayload } from '@yoto/shared';
import { getTf, selectBackend, type BackendInfo, type Tf } from '../src/engine/index.ts';

export interface TestBackend {
  tf: Tf;
  info: BackendInfo;
  /** conv gradients need the patched wasm kernels (or cpu/tensorflow); else tests use mlp. */
  convTrains: boolean;
}

let backend: Promise<TestBackend> | null = null;

/** wasm (the engine's CPU backend) when it loads, else cpu. Once per test file. */
export function testBackend(): Promise<TestBackend> {
  backend ??= (async () => {
    let info: BackendInfo;
    try {
      info = await selectBackend({ preferred: 'wasm' });
    } catch {
      info = await selectBackend({ preferred: 'cpu' });
    }
    const convTrains = info.name !== 'wasm' || info.kernelsPatched.includes('Conv2DBackpropFilter');
    return { tf: getTf(), info, convTrains };
  })();
  return backend;
}

type Overrides = {
  runId?: string;
  seed?: number;
  kind?: 'yoto' | 'baseline';
  beta?: number;
  model?: Record<string, unknown>;
  train?: Record<string, unknown>;
  dataset?: Record<string, unknown>;
  conditioning?: Record<string, unknown>;
  evalGrid?: { kl: number }[];
};

/** A small, fast run on `shapes`: tiny networks, few examples. */
export function smallPayload(o: Overrides = {}): RunPayload {
  const kind = o.kind ?? 'yoto';
  const beta = o.beta ?? 4;
  return RunPayloadSchema.parse({
    version: 1,
    sweepId: 'engine-test',
    runId: o.runId ?? `${kind}-s${o.seed ?? 7}`,
    kind,
    variantId: 'base',
    variant: {},
    seed: o.seed ?? 7,
    problem: 'beta-vae',
    dataset: { name: 'shapes', trainExamples: 512, testExamples: 64, ...o.dataset },
    model: { arch: 'mlp', latentDim: 4, width: 0.125, filmHidden: 16, ...o.model },
    conditioning: { perExample: true, normalize: 'none', ...o.conditioning },
    prior: kind === 'yoto' ? { kl: { dist: 'log-uniform', low: 0.5, high: 64 } } : { kl: { dist: 'fixed', value: beta } },
    fixedLambda: kind === 'yoto' ? null : { kl: beta },
    evalGrid: o.evalGrid ?? [{ kl: 1 }, { kl: 4 }, { kl: 32 }],
    train: { steps: 100, batchSize: 16, lr: 1e-3, lrDecayAt: [0.5], checkpointSeconds: 0, evalBatchSize: 40, ...o.train },
  });
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
