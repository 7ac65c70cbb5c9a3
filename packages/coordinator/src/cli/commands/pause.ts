/**
 * `yoto pause SWEEP` / `yoto resume SWEEP` — hold a sweep's runs back and let them go
 * again. Running runs checkpoint and park within seconds; nothing is lost and no
 * attempt is burned (see SweepService.pause).
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { sweepIdArg } from './args.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('pause')
    .description('pause a sweep: running runs checkpoint and park, waiting runs are held back until `yoto resume`')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .action(async (sweepId: string) => {
      await ctx.withSweeps(async (sweeps) => {
        const out = await sweeps.pause(sweepId);
        process.stdout.write(`paused ${sweepId}: ${out.held} run(s) held${out.active ? `, ${out.active} running one(s) checkpoint and park within seconds` : ''}\n`);
      });
    });
  program
    .command('resume')
    .description('resume a paused sweep: its runs continue from their checkpoints')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .action(async (sweepId: string) => {
      await ctx.withSweeps(async (sweeps) => {
        const out = await sweeps.resume(sweepId);
        process.stdout.write(`resumed ${sweepId}: ${out.promoted} parked run(s) back in the queue\n`);
      });
    });
}
