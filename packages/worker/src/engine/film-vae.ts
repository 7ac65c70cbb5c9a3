/**
 * The conditional VAE of the paper's β-VAE experiments (its ConditionalConvnet,
 * adapted to 28×28 inputs), plus an MLP variant. Every hidden block is
 * `h = leaky(FiLM(layer(x), c))`, the FiLM applied before the nonlinearity; the
 * output layers (posterior parameters, image logits) are plain.
 *
 * conv (width w, channels rounded, at least 1):
 *   enc/conv1   conv 4×4 s2 'same' → 32w ch   (28→14)   FiLM, leaky
 *   enc/conv2   conv 4×4 s2 'same' → 64w ch   (14→7)    FiLM, leaky
 *   enc/dense   flatten → 256w                          FiLM, leaky
 *   enc/out     → 2·latentDim (mean, log-variance)
 *   dec/dense1  latentDim → 256w                        FiLM, leaky
 *   dec/dense2  → 7·7·64w, reshaped to [7, 7, 64w]      FiLM per channel (64w), leaky
 *   dec/deconv1 conv-transpose 4×4 s2 → 32w ch (7→14)  FiLM, leaky
 *   dec/deconv2 conv-transpose 4×4 s2 → channels (14→28) logits
 * mlp:
 *   encoder 784 → 512w → 256w → 2·latentDim; decoder latentDim → 256w → 512w → 784,
 *   FiLM after each hidden dense layer.
 *
 * FiLM on dec/dense2 is per reshaped channel rather than per unit: the paper
 * modulates channels, and per-unit generators would hold ~1.6M parameters each.
 *
 * Blocks and output layers go through film-block.ts: one fused kernel each way on
 * native-cpu, the composed ops elsewhere.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type { ModelConfig } from '@yoto/shared';
import { ParamSet } from './params.ts';
import { Rng, RNG_STREAMS } from './prng.ts';
import { filmParams, MacCounter, makeConv, makeConvTranspose, makeDense, makeFilm, type Film } from './layers.ts';
import { applyFilmBlock, applyLayer, type BlockLayer } from './film-block.ts';
import type { Tf } from './tf.ts';

export interface InputShape {
  height: number;
  width: number;
  channels: number;
}

interface Block {
  name: string;
  layer: BlockLayer;
  /** Absent on output layers. */
  film?: Film;
  /** Reshape the output to [batch, ...reshape] before FiLM. */
  reshape?: number[];
}

const scaled = (base: number, width: number) => Math.max(1, Math.round(base * width));

export class FilmVae {
  readonly params: ParamSet;
  readonly latentDim: number;
  /** Multiply-adds of one forward pass (encoder + decoder, FiLM generators included). */
  readonly macsPerExample: number;
  /** The FiLM generators' share of macsPerExample (paid once per batch under constant conditioning). */
  readonly filmMacsPerExample: number;
  /** Names of the FiLM-conditioned blocks, in network order. */
  readonly filmBlocks: string[];
  private readonly encoder: Block[] = [];
  private readonly decoder: Block[] = [];

  constructor(
    readonly tf: Tf,
    readonly config: ModelConfig,
    readonly input: InputShape,
    /** Size of the conditioning input (one log λ per weighted term). */
    readonly condDim: number,
    seed: number,
  ) {
    this.params = new ParamSet(tf, Rng.seeded(seed, RNG_STREAMS.init));
    this.latentDim = config.latentDim;
    const macs = new MacCounter();
    const p = this.params;
    const w = config.width;
    const film = (name: string, channels: number) => makeFilm(p, macs, name, condDim, config.filmHidden, channels, config.filmScale, config.filmShift);
    const { height: H, width: W, channels: C } = input;
    const L = config.latentDim;
    if (config.arch === 'conv') {
      if (H % 4 !== 0 || W % 4 !== 0) throw new Error(`conv arch needs height and width divisible by 4, got ${H}×${W}`);
      const c1 = scaled(32, w);
      const c2 = scaled(64, w);
      const d = scaled(256, w);
      const [h2, w2, h4, w4] = [H / 2, W / 2, H / 4, W / 4];
      this.encoder.push(
        { name: 'enc/conv1', layer: { kind: 'conv', layer: makeConv(p, macs, 'enc/conv1', H, W, C, c1, 4, 2) }, film: film('enc/conv1', c1) },
        { name: 'enc/conv2', layer: { kind: 'conv', layer: makeConv(p, macs, 'enc/conv2', h2, w2, c1, c2, 4, 2) }, film: film('enc/conv2', c2) },
        { name: 'enc/dense', layer: { kind: 'dense', layer: makeDense(p, macs, 'enc/dense', h4 * w4 * c2, d) }, film: film('enc/dense', d) },
        { name: 'enc/out', layer: { kind: 'dense', layer: makeDense(p, macs, 'enc/out', d, 2 * L) } },
      );
      this.decoder.push(
        { name: 'dec/dense1', layer: { kind: 'dense', layer: makeDense(p, macs, 'dec/dense1', L, d) }, film: film('dec/dense1', d) },
        { name: 'dec/dense2', layer: { kind: 'dense', layer: makeDense(p, macs, 'dec/dense2', d, h4 * w4 * c2) }, film: film('dec/dense2', c2), reshape: [h4, w4, c2] },
        { name: 'dec/deconv1', layer: { kind: 'conv', layer: makeConvTranspose(p, macs, 'dec/deconv1', h4, w4, c2, c1, 4, 2) }, film: film('dec/deconv1', c1) },
        { name: 'dec/deconv2', layer: { kind: 'conv', layer: makeConvTranspose(p, macs, 'dec/deconv2', h2, w2, c1, C, 4, 2) } },
      );
    } else {
      const pixels = H * W * C;
      const [u1, u2] = [scaled(512, w), scaled(256, w)];
      const dense = (name: string, i: number, o: number, conditioned: boolean): Block => ({
        name,
        layer: { kind: 'dense', layer: makeDense(p, macs, name, i, o) },
        ...(conditioned ? { film: film(name, o) } : {}),
      });
      this.encoder.push(dense('enc/dense1', pixels, u1, true), dense('enc/dense2', u1, u2, true), dense('enc/out', u2, 2 * L, false));
      this.decoder.push(dense('dec/dense1', L, u2, true), dense('dec/dense2', u2, u1, true), dense('dec/out', u1, pixels, false));
    }
    this.macsPerExample = macs.total;
    this.filmMacsPerExample = macs.film;
    this.filmBlocks = [...this.encoder, ...this.decoder].filter((b) => b.film).map((b) => b.name);
  }

  /**
   * Posterior parameters for images x [batch, H, W, C] under conditioning c
   * [batch, condDim] (or [1, condDim]: the same for every example).
   */
  encode(x: tfc.Tensor4D, c: tfc.Tensor2D): { mean: tfc.Tensor2D; logVar: tfc.Tensor2D } {
    const tf = this.tf;
    const b = x.shape[0];
    const first = this.encoder[0]!.layer.kind === 'conv';
    const h = this.run(this.encoder, first ? x : tf.reshape(x, [b, -1]), c) as tfc.Tensor2D;
    const L = this.latentDim;
    return { mean: tf.slice(h, [0, 0], [b, L]), logVar: tf.slice(h, [0, L], [b, L]) };
  }

  /** Image logits [batch, H, W, C] for latents z [batch, latentDim]. */
  decode(z: tfc.Tensor2D, c: tfc.Tensor2D): tfc.Tensor4D {
    const { height, width, channels } = this.input;
    return this.tf.reshape(this.run(this.decoder, z, c), [z.shape[0], height, width, channels]);
  }

  /** A block's FiLM scale and shift, each [batch, channels] (inspection and tests). */
  film(block: string, c: tfc.Tensor2D): { scale: tfc.Tensor2D; shift: tfc.Tensor2D } {
    const f = [...this.encoder, ...this.decoder].find((b) => b.name === block)?.film;
    if (!f) throw new Error(`no FiLM block ${block}; have ${this.filmBlocks.join(', ')}`);
    return filmParams(this.tf, f, c);
  }

  private run(blocks: Block[], x: tfc.Tensor, c: tfc.Tensor2D): tfc.Tensor {
    const tf = this.tf;
    let h = x;
    for (const [i, blk] of blocks.entries()) {
      // The images into the encoder need no gradient; the latents into the decoder do.
      const inputGradient = !(i === 0 && blocks === this.encoder);
      h = blk.film ? applyFilmBlock(tf, blk.layer, blk.film, h, c, blk.reshape, { inputGradient }) : applyLayer(tf, blk.layer, h, blk.reshape, { inputGradient });
    }
    return h;
  }

  dispose(): void {
    this.params.dispose();
  }
}
