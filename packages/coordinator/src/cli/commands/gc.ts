/** `yoto gc SWEEP [--keep-last N]` — deletes intermediate checkpoints (checkpoint-gc.ts); finals are never touched. */
import type { Command } from 'commander';
import { pruneCheckpoints } from '../../artifacts/checkpoint-gc.ts';
import { readPlan } from '../../artifacts/run-models.ts';
import type { CliContext } from '../context.ts';
import { formatBytes } from './artifacts.ts';
import { sweepIdArg } from './args.ts';
import { nonNegativeInt } from './sample.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('gc')
    .description('prune intermediate checkpoints: keep the newest N per run and the one latest.json points to; never final artifacts')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .option('--keep-last <n>', 'checkpoint directories kept per run', nonNegativeInt, 1)
    .action(async (sweepId: string, opts: { keepLast: number }) => {
      await ctx.withSweeps(async (_sweeps, store) => {
        await readPlan(store, sweepId); // an unknown sweep is an error, not "0 runs: deleted 0"
        const s = await pruneCheckpoints(store, sweepId, opts.keepLast);
        process.stdout.write(
          `${s.runs} runs: deleted ${s.deletedDirs} checkpoint directories (${s.deletedFiles} files, ${formatBytes(s.freedBytes)}), kept ${s.keptDirs}${s.manifestRewritten ? '; manifest.json rewritten' : ''}\n`,
        );
      });
    });
}
