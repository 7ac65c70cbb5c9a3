/**
 * `yoto sample SWEEP [--run RUN] --lambda kl=4 [--n 16] [--seed S] [--reconstruct] [--compare] --out FILE.png`
 * — the λ dial: decodes images from the YOTO model at any λ inside its training range
 * (a strip across λ with `kl=0.5:512:8`), as a PNG grid. See run-models.ts and the
 * worker's model-tools/sample-grid.ts for the layout. For a compression sweep it
 * codes the first n test images at each λ instead, writes each λ's bitstream file
 * (`OUT-term=value.yoto`) and draws the decoded reconstructions.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DIAL_LIMITS } from '@yoto/shared';
import { sampleSweep } from '../../artifacts/run-models.ts';
import type { CliContext } from '../context.ts';
import { runIdArg, sweepIdArg } from './args.ts';

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

function sampleCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > DIAL_LIMITS.samples) throw new InvalidArgumentError(`must be an integer in 1..${DIAL_LIMITS.samples}`);
  return n;
}

interface SampleCliOptions {
  run?: string;
  lambda: string;
  n: number;
  seed: number;
  reconstruct?: boolean;
  compare?: boolean;
  out: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('sample')
    .description('decode a PNG grid from the YOTO model at any λ in its training range (z ~ N(0, I), seeded); compression: code test images at λ, write the bitstreams and the decoded PNG')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .option('--run <run>', 'the run to decode (default: the sweep\'s first YOTO run)', runIdArg)
    .requiredOption('--lambda <spec>', 'term=value (kl=4), or a log-spaced strip term=low:high:steps (kl=0.5:512:8)')
    .option('--n <n>', 'images per λ', sampleCount, 16)
    .option('--seed <seed>', 'seed of the latent draws', nonNegativeInt, 0)
    .option('--reconstruct', 'reconstruct the first n test images instead of sampling')
    .option('--compare', 'put the nearest baseline\'s output (same latents) beside it')
    .requiredOption('--out <file>', 'PNG file to write')
    .action(async (sweepId: string, opts: SampleCliOptions) => {
      await ctx.withSweeps(async (_sweeps, store) => {
        const res = await sampleSweep(
          store,
          sweepId,
          { ...(opts.run ? { runId: opts.run } : {}), lambda: opts.lambda, n: opts.n, seed: opts.seed, reconstruct: !!opts.reconstruct, compare: !!opts.compare, out: resolve(opts.out) },
          { env: ctx.env },
        );
        process.stdout.write(`${res.files[0]} (${res.width}×${res.height})\n`);
        for (const c of res.codec ?? []) {
          process.stdout.write(`${c.file}: ${c.bytes} bytes, ${c.bpp.toFixed(4)} bpp (estimated ${c.estimatedBpp.toFixed(4)}), PSNR ${c.psnr.toFixed(2)} dB\n`);
        }
      });
    });
}
