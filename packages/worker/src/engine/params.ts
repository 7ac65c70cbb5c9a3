/**
 * Named trainable variables with deterministic initialisation.
 *
 * Every parameter has a stable path-like name (`enc/conv1/kernel`) that is the key
 * in checkpoints and exported weights; the tf.Variable itself gets an anonymous
 * engine name, because tfjs variable names are process-global and several models
 * (a run and its resumed copy, a YOTO model and its baselines) may coexist.
 * Initial values come from the pure-TS Rng, so a seed gives the same model on
 * every backend.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type { Rng } from './prng.ts';
import type { Tf } from './tf.ts';

export interface TensorRecord {
  shape: number[];
  data: Float32Array;
}

export type WeightMap = Record<string, TensorRecord>;

export class ParamSet {
  /** In creation order, which is also checkpoint order. */
  readonly variables = new Map<string, tfc.Variable>();
  /** Parameters weight decay applies to (kernels, not biases). */
  readonly decayed = new Set<string>();
  private disposed = false;

  constructor(
    readonly tf: Tf,
    private readonly rng: Rng,
  ) {}

  /** Glorot (Xavier) uniform: U(−a, a) with a = sqrt(6 / (fanIn + fanOut)). */
  glorot(name: string, shape: number[], fanIn: number, fanOut: number): tfc.Variable {
    const a = Math.sqrt(6 / (fanIn + fanOut));
    const n = shape.reduce((p, d) => p * d, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (2 * this.rng.uniform() - 1) * a;
    this.decayed.add(name);
    return this.add(name, shape, data);
  }

  zeros(name: string, shape: number[]): tfc.Variable {
    return this.add(name, shape, new Float32Array(shape.reduce((p, d) => p * d, 1)));
  }

  /** Explicit initial values (not weight-decayed): GDN and entropy-model parameters. */
  values(name: string, shape: number[], data: Float32Array): tfc.Variable {
    return this.add(name, shape, data);
  }

  /** U(−a, a), not weight-decayed. */
  uniform(name: string, shape: number[], a: number): tfc.Variable {
    const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
    for (let i = 0; i < data.length; i++) data[i] = (2 * this.rng.uniform() - 1) * a;
    return this.add(name, shape, data);
  }

  private add(name: string, shape: number[], data: Float32Array): tfc.Variable {
    if (this.variables.has(name)) throw new Error(`duplicate parameter name ${name}`);
    const t = this.tf.tensor(data, shape, 'float32');
    const v = this.tf.variable(t, true);
    t.dispose();
    this.variables.set(name, v);
    return v;
  }

  get count(): number {
    let n = 0;
    for (const v of this.variables.values()) n += v.size;
    return n;
  }

  async read(): Promise<WeightMap> {
    const out: WeightMap = {};
    for (const [name, v] of this.variables) out[name] = { shape: [...v.shape], data: ((await v.data()) as Float32Array).slice() };
    return out;
  }

  /** Assigns every parameter from `weights`; names and shapes must match exactly. */
  assign(weights: WeightMap, what = 'weights'): void {
    const problems = checkWeightMap(this.variables, weights);
    if (problems.length) throw new Error(`${what} do not fit the model: ${problems.slice(0, 5).join('; ')}`);
    for (const [name, v] of this.variables) {
      const rec = weights[name]!;
      this.tf.tidy(() => v.assign(this.tf.tensor(rec.data, rec.shape, 'float32')));
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.variables.values()) v.dispose();
  }
}

/** Names and shapes in `weights` against the variables; returns one line per mismatch. */
export function checkWeightMap(variables: ReadonlyMap<string, tfc.Variable>, weights: WeightMap): string[] {
  const problems: string[] = [];
  for (const [name, v] of variables) {
    const rec = weights[name];
    if (!rec) problems.push(`missing ${name}`);
    else if (rec.shape.join('x') !== v.shape.join('x')) problems.push(`${name} has shape [${rec.shape}] but the model expects [${v.shape}]`);
    else if (rec.data.length !== v.size) problems.push(`${name} has ${rec.data.length} values, expected ${v.size}`);
  }
  for (const name of Object.keys(weights)) if (!variables.has(name)) problems.push(`unexpected ${name}`);
  return problems;
}
