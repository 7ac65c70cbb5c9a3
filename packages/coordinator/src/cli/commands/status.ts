/**
 * `yoto status [SWEEP] [--json] [--limit N] [--offset N] [--all]` — every sweep, or one
 * sweep: counts by state and a page of its runs with live progress (the first
 * STATUS_PAGE by default; reading every run of a 10,000-run sweep is `--all`).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { requireSweep, type CliContext } from '../context.ts';
import { renderSweepDetail, renderSweepList } from '../render.ts';
import { sweepIdArg } from './args.ts';

/** Runs shown by default. */
export const STATUS_PAGE = 100;

function count(field: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${field} must be a whole number ≥ 0, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('list sweeps, or show one sweep run by run (state, progress, loss, throughput, ETA, worker, failures)')
    .argument('[sweep]', 'sweep id', sweepIdArg)
    .option('--json', 'machine-readable output')
    .option('--limit <n>', `runs to show (counts are always of every run) (default ${STATUS_PAGE})`, count('--limit'))
    .option('--offset <n>', 'first run to show (plan order)', count('--offset'))
    .option('--all', 'show every run (reads each run\'s job: slow on very large sweeps)')
    .action(async (sweepId: string | undefined, opts: { json?: boolean; limit?: number; offset?: number; all?: boolean }) => {
      await ctx.withSweeps(async (sweeps) => {
        if (!sweepId) {
          const list = await sweeps.list();
          process.stdout.write(opts.json ? `${JSON.stringify(list, null, 2)}\n` : `${renderSweepList(list)}\n`);
          return;
        }
        const detail = await requireSweep(await sweeps.get(sweepId, opts.all ? {} : { offset: opts.offset ?? 0, limit: opts.limit ?? STATUS_PAGE }), sweepId);
        process.stdout.write(opts.json ? `${JSON.stringify(detail, null, 2)}\n` : `${renderSweepDetail(detail)}\n`);
      });
    });
}
