/** `yoto report SWEEP [--json|--md]` — the aggregate's report: terminal table, JSON or Markdown. */
import { Option, type Command } from 'commander';
import { YotoError } from '@yoto/shared';
import { requireSweep, type CliContext } from '../context.ts';
import { renderReportTable } from '../render.ts';
import { sweepIdArg } from './args.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('report')
    .description('print a sweep\'s report: YOTO vs baseline loss at every λ, and the compute each side spent')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .addOption(new Option('--json', 'the report JSON').conflicts('md'))
    .addOption(new Option('--md', 'the report as Markdown').conflicts('json'))
    .action(async (sweepId: string, opts: { json?: boolean; md?: boolean }) => {
      await ctx.withSweeps(async (sweeps) => {
        const report = await sweeps.report(sweepId);
        if (!report) {
          const d = await requireSweep(await sweeps.get(sweepId), sweepId);
          throw new YotoError('NOT_FOUND', `no report for sweep ${sweepId} yet (status ${d.status}, ${d.counts.completed}/${d.runs.length} runs completed)`);
        }
        if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else if (opts.md) process.stdout.write((await sweeps.reportMarkdown(sweepId)) ?? '');
        else process.stdout.write(`${renderReportTable(report)}\n`);
      });
    });
}
