/** `yoto cancel SWEEP` — removes the sweep's waiting runs and its aggregate; running runs checkpoint and stop. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { sweepIdArg } from './args.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('cancel')
    .description('cancel a sweep: remove its waiting runs and its aggregate; running runs checkpoint and stop within seconds')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .action(async (sweepId: string) => {
      await ctx.withSweeps(async (sweeps) => {
        const out = await sweeps.cancel(sweepId);
        process.stdout.write(`cancelled ${sweepId}: ${out.removed} job(s) removed${out.active ? `, ${out.active} running run(s) checkpoint and stop` : ''}\n`);
      });
    });
}
