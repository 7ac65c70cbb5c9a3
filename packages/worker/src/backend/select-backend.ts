/**
 * Backend selection for the training engine.
 *
 * How to get the tf namespace: always `getTf()` from this module (or from
 * `../backend/index.ts`), after `await selectBackend(...)`. Do not import
 * '@tensorflow/tfjs-core' directly in engine code for anything that runs ops.
 *
 * Why a getter instead of a plain import:
 *  - When a native backend is chosen, '@tensorflow/tfjs-node(-gpu)' brings its
 *    own '@tensorflow/tfjs' union package. With today's pnpm layout it resolves
 *    to the same tfjs-core module instance as ours, but that is an accident of
 *    hoisting; returning the namespace of the module that actually registered
 *    the backend keeps us correct if the copies ever diverge.
 *  - The Node entry of '@tensorflow/tfjs-core' (dist/tf-core.node.js) registers
 *    neither the gradients nor the chained tensor methods (`t.sum()`); only the
 *    '@tensorflow/tfjs' union bundle does, and it is not a dependency of the
 *    worker. `ensureGradientsAndChainedOps()` loads the ESM registration
 *    modules that ship inside tfjs-core through `require`, which works because
 *    everything here runs under tsx (its CJS hook transpiles those ESM files).
 *    The registries they write to (kernels, gradients, the Tensor class, the
 *    engine) are process globals in tfjs, so they apply to our instance. Without
 *    this, `tf.grads` fails with "gradient function not found for RealDiv".
 */
import * as tfcore from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { registerWasmKernels } from './wasm-kernels.ts';
import { registerNativeKernels, setNativeKernelsActive } from './native-kernels.ts';
import { loadNativeBlas } from '@yoto/native-blas';
// Brings the chained-op typings (`t.square()`, `t.reshape()`) into scope; the runtime side is ensureGradientsAndChainedOps().
import type {} from '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';

export type Tf = typeof tfcore;
/**
 * `native-cpu` is the wasm backend with its matmul and convolution kernels running in
 * OpenBLAS (native-kernels.ts); it needs the optional addon built by scripts/build-native.sh.
 */
export type BackendName = 'tensorflow' | 'native-cpu' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export interface BackendInfo {
  name: BackendName;
  threads: number;
  simd: boolean;
  native?: 'tfjs-node-gpu' | 'tfjs-node' | 'openblas';
  /** Kernel names replaced or added on top of the stock backend. */
  kernelsPatched: string[];
}

export interface SelectBackendOptions {
  preferred?: BackendPreference;
  /**
   * Wanted intra-op threads (default: all available cores). The wasm backend is
   * single-threaded under Node (see wasm-kernels.ts); `native-cpu` sizes OpenBLAS's pool
   * with it (process-wide, so workers running several jobs per process should divide).
   */
  threads?: number;
  log?: (msg: string, fields?: object) => void;
}

const require = createRequire(import.meta.url);

let activeTf: Tf = tfcore;
let current: BackendInfo | null = null;
let inFlight: Promise<BackendInfo> | null = null;
let wasmPathsSet = false;

/** The tf namespace bound to the selected backend. Safe to call before selection (returns tfjs-core). */
export function getTf(): Tf {
  return activeTf;
}

/** The last successful selection, or null. */
export function currentBackend(): BackendInfo | null {
  return current;
}

/**
 * Makes `tf.grad(s)`, optimizers' minimize and `tensor.method()` chaining work
 * on the plain tfjs-core Node bundle. Idempotent and cheap after the first call.
 */
export function ensureGradientsAndChainedOps(tf: Tf = activeTf): void {
  const needGrads = tf.getGradient(tfcore.RealDiv) == null;
  const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
  const needChained = typeof proto['sum'] !== 'function';
  try {
    if (needGrads) require('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    if (needChained) require('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js');
  } catch (err) {
    throw new Error(
      'could not register tfjs gradients/chained ops (this module must run under tsx, ' +
        `or with '@tensorflow/tfjs' loaded): ${(err as Error).message}`,
    );
  }
}

export async function selectBackend(opts: SelectBackendOptions = {}): Promise<BackendInfo> {
  const preferred = opts.preferred ?? 'auto';
  if (current && (preferred === 'auto' || preferred === current.name) && activeTf.getBackend() === backendKey(current.name)) {
    return current;
  }
  // Concurrent callers share one selection rather than racing tf.setBackend.
  if (inFlight) {
    await inFlight.catch(() => undefined);
    return selectBackend(opts);
  }
  inFlight = doSelect(preferred, opts);
  try {
    current = await inFlight;
    return current;
  } finally {
    inFlight = null;
  }
}

/** The tfjs backend a selection runs on: `native-cpu` is wasm with rerouted kernels. */
function backendKey(name: BackendName): string {
  return name === 'native-cpu' ? 'wasm' : name;
}

async function doSelect(preferred: BackendPreference, opts: SelectBackendOptions): Promise<BackendInfo> {
  const log = opts.log ?? (() => undefined);
  const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
  const order: BackendName[] = preferred === 'auto' ? ['tensorflow', 'native-cpu', 'wasm', 'cpu'] : preferred === 'native-cpu' ? ['native-cpu', 'wasm'] : [preferred];
  const failures: string[] = [];
  for (const name of order) {
    try {
      const info =
        name === 'tensorflow'
          ? await tryNative(threads, log)
          : name === 'native-cpu'
            ? await tryNativeCpu(threads)
            : name === 'wasm'
              ? await tryWasm(threads)
              : await tryCpu();
      if (info) {
        log('tf backend selected', { ...info, kernelsPatched: info.kernelsPatched.length });
        return info;
      }
      failures.push(`${name}: unavailable`);
    } catch (err) {
      const msg = firstLine(err);
      failures.push(`${name}: ${msg}`);
      log(`tf backend ${name} unavailable, falling back`, { error: msg });
    }
  }
  throw new Error(`no usable tf backend (${failures.join('; ')})`);
}

async function tryNative(threads: number, log: (msg: string, fields?: object) => void): Promise<BackendInfo | null> {
  for (const pkg of ['tfjs-node-gpu', 'tfjs-node'] as const) {
    // A variable specifier keeps TypeScript from requiring the (optional, maybe absent) package's types.
    const spec = `@tensorflow/${pkg}`;
    let mod: Tf;
    try {
      mod = (await import(spec)) as Tf;
      const ns = ((mod as unknown as { default?: Tf }).default ?? mod) as Tf;
      if (typeof ns.setBackend !== 'function') throw new Error(`${spec} did not export a tf namespace`);
      mod = ns;
    } catch (err) {
      // Missing package or missing native libtensorflow: both are normal on CPU-only hosts.
      log(`tf native backend ${pkg} not loadable`, { error: firstLine(err) });
      continue;
    }
    if (!(await mod.setBackend('tensorflow'))) {
      log(`tf native backend ${pkg} loaded but 'tensorflow' backend failed to initialise`);
      continue;
    }
    await mod.ready();
    activeTf = mod;
    ensureGradientsAndChainedOps(mod);
    // libtensorflow sizes its own intra-op pool (all cores); it cannot be changed after load.
    return { name: 'tensorflow', threads, simd: true, native: pkg, kernelsPatched: [] };
  }
  return null;
}

function wasmDistDir(): string {
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
}

async function tryWasm(threads: number): Promise<BackendInfo | null> {
  activeTf = tfcore;
  setNativeKernelsActive(false);
  ensureGradientsAndChainedOps(tfcore);
  if (!wasmPathsSet) {
    // A filesystem prefix makes the emscripten loader read the .wasm with fs instead of fetch().
    tfwasm.setWasmPaths(wasmDistDir());
    tfwasm.setThreadsCount(threads);
    wasmPathsSet = true;
  }
  if (!(await tfcore.setBackend('wasm'))) return null;
  await tfcore.ready();
  const kernelsPatched = registerWasmKernels();
  const simd = (await tfcore.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  return { name: 'wasm', threads: tfwasm.getThreadsCount(), simd, kernelsPatched };
}

async function tryCpu(): Promise<BackendInfo | null> {
  activeTf = tfcore;
  setNativeKernelsActive(false);
  ensureGradientsAndChainedOps(tfcore);
  if (!(await tfcore.setBackend('cpu'))) return null;
  await tfcore.ready();
  return { name: 'cpu', threads: 1, simd: false, kernelsPatched: [] };
}

/** The wasm backend with OpenBLAS kernels; throws (one line: why) when the addon cannot load. */
async function tryNativeCpu(threads: number): Promise<BackendInfo | null> {
  const loaded = loadNativeBlas();
  if (!loaded.ok) throw new Error(loaded.reason);
  const wasm = await tryWasm(threads);
  if (!wasm) return null;
  const native = registerNativeKernels(loaded.blas);
  loaded.blas.setThreads(threads);
  setNativeKernelsActive(true);
  return { name: 'native-cpu', threads: loaded.blas.getThreads(), simd: wasm.simd, native: 'openblas', kernelsPatched: [...new Set([...wasm.kernelsPatched, ...native])] };
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split('\n')[0] ?? msg).trim();
}
