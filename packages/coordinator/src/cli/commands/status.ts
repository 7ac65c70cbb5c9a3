/** `yoto status [SWEEP] [--json]` — every sweep, or one sweep's runs with live progress. */
import type { Command } from 'commander';
import { requireSweep, type CliContext } from '../context.ts';
import { renderSweepDetail, renderSweepList } from '../render.ts';
import { sweepIdArg } from './args.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('list sweeps, or show one sweep run by run (state, progress, loss, throughput, ETA, worker, failures)')
    .argument('[sweep]', 'sweep id', sweepIdArg)
    .option('--json', 'machine-readable output')
    .action(async (sweepId: string | undefined, opts: { json?: boolean }) => {
      await ctx.withSweeps(async (sweeps) => {
        if (!sweepId) {
          const list = await sweeps.list();
          process.stdout.write(opts.json ? `${JSON.stringify(list, null, 2)}\n` : `${renderSweepList(list)}\n`);
          return;
        }
        const detail = await requireSweep(await sweeps.get(sweepId), sweepId);
        process.stdout.write(opts.json ? `${JSON.stringify(detail, null, 2)}\n` : `${renderSweepDetail(detail)}\n`);
      });
    });
}
