/**
 * Adam (Kingma & Ba) over a ParamSet, written out so its whole state — the step
 * count t and the moments m, v per parameter — is plain data for checkpoints.
 *
 * Weight decay is L2 folded into the gradient (`g ← g + wd·w`, i.e. the gradient of
 * wd/2·‖w‖² added to the loss), applied to kernels only (not biases or FiLM biases).
 * That is what the paper's TensorFlow code does with its weight-decay loss; it is
 * not AdamW's decoupled decay.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { ADAM_UPDATE, type AdamUpdateAttrs } from '../backend/wasm-kernels.ts';
import type { ParamSet, TensorRecord } from './params.ts';
import type { Tf } from './tf.ts';

export interface AdamOptions {
  /** @defaultValue 0.9 */
  beta1?: number;
  /** @defaultValue 0.999 */
  beta2?: number;
  /** @defaultValue 1e-8 */
  epsilon?: number;
  /** L2 coefficient on kernels. @defaultValue 0 */
  weightDecay?: number;
}

export interface AdamState {
  t: number;
  m: Record<string, TensorRecord>;
  v: Record<string, TensorRecord>;
}

export class Adam {
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  private readonly m = new Map<string, tfc.Variable>();
  private readonly v = new Map<string, tfc.Variable>();
  /** Updates applied so far. */
  t = 0;

  constructor(
    private readonly tf: Tf,
    private readonly params: ParamSet,
    opts: AdamOptions = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    for (const [name, p] of params.variables) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /**
   * One update. Call inside the step's tidy; `grads` is keyed by the tf.Variable's
   * engine name, as `tf.variableGrads` returns it.
   */
  apply(grads: Record<string, tfc.Tensor>, lr: number): void {
    const tf = this.tf;
    this.t += 1;
    const { beta1: b1, beta2: b2 } = this;
    // Bias correction folded into the step size (Adam paper, end of §2).
    const lrT = (lr * Math.sqrt(1 - b2 ** this.t)) / (1 - b1 ** this.t);
    // One fused pass per parameter where the backend has it (wasm): the same float32
    // operations in the same order as the tf ops below, so bit-identical results.
    const fused = tf.getKernel(ADAM_UPDATE, tf.getBackend()) !== undefined;
    for (const [name, p] of this.params.variables) {
      let g = grads[p.name];
      if (!g) throw new Error(`no gradient for ${name}`);
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      if (fused) {
        const weightDecay = this.params.decayed.has(name) ? this.weightDecay : 0;
        const attrs: AdamUpdateAttrs = { beta1: b1, beta2: b2, epsilon: this.epsilon, lrT, weightDecay };
        const [pNew, mNew, vNew] = tf.engine().runKernel(ADAM_UPDATE, { p, g, m, v }, attrs as unknown as tfc.NamedAttrMap) as tfc.Tensor[];
        m.assign(mNew!);
        v.assign(vNew!);
        p.assign(pNew!);
        continue;
      }
      if (this.weightDecay > 0 && this.params.decayed.has(name)) g = tf.add(g, tf.mul(p, this.weightDecay));
      const mNew = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
      const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
      m.assign(mNew);
      v.assign(vNew);
      p.assign(tf.sub(p, tf.mul(tf.div(mNew, tf.add(tf.sqrt(vNew), this.epsilon)), lrT)));
    }
  }

  async exportState(): Promise<AdamState> {
    const read = async (vars: Map<string, tfc.Variable>) => {
      const out: Record<string, TensorRecord> = {};
      for (const [name, x] of vars) out[name] = { shape: [...x.shape], data: ((await x.data()) as Float32Array).slice() };
      return out;
    };
    return { t: this.t, m: await read(this.m), v: await read(this.v) };
  }

  importState(state: AdamState): void {
    if (!Number.isInteger(state.t) || state.t < 0) throw new Error(`optimizer step ${state.t} is not a non-negative integer`);
    for (const [what, vars, recs] of [['m', this.m, state.m], ['v', this.v, state.v]] as const) {
      for (const [name, x] of vars) {
        const rec = recs[name];
        if (!rec || rec.data.length !== x.size || rec.shape.join('x') !== x.shape.join('x')) {
          throw new Error(`optimizer ${what} for ${name} is missing or has the wrong shape`);
        }
      }
      for (const [name, x] of vars) {
        const rec = recs[name]!;
        this.tf.tidy(() => x.assign(this.tf.tensor(rec.data, rec.shape, 'float32')));
      }
    }
    this.t = state.t;
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}
