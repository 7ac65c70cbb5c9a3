/**
 * `yoto export SWEEP RUN --out DIR` — a standalone TensorFlow.js Layers model of the
 * run's decoder (model.json + weights.bin, inputs `z` and `log_lambda`), its
 * eval.json and a README.md of its inputs. Runs the worker's model tools in a child
 * process (artifacts/run-models.ts says why).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { exportRun } from '../../artifacts/run-models.ts';
import type { CliContext } from '../context.ts';
import { runIdArg, sweepIdArg } from './args.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('export a finished run as a TensorFlow.js Layers model directory (loadable with tf.loadLayersModel) with README and eval numbers')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .argument('<run>', 'run id (see `yoto status SWEEP`)', runIdArg)
    .requiredOption('--out <dir>', 'destination directory')
    .action(async (sweepId: string, runId: string, opts: { out: string }) => {
      await ctx.withSweeps(async (_sweeps, store) => {
        const res = await exportRun(store, sweepId, runId, resolve(opts.out), { env: ctx.env });
        process.stdout.write(`${res.files.join('\n')}\n`);
      });
    });
}
