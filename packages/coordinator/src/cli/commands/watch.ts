/**
 * `yoto watch SWEEP [--json]` — follows a sweep live until it finishes: on a TTY one
 * progress bar per run plus an overall bar (the view `yoto demo` shows); elsewhere a
 * line per change. With `--json`, one JSON line (the sweep detail) per change on
 * stdout. Prints the report at the end; Ctrl-C stops watching, not the sweep.
 * Exit status: 0 completed, 1 failed or cancelled, 130 interrupted.
 */
import type { Command } from 'commander';
import { TERMINAL_STATUSES, type SweepDetail } from '../../sweeps/sweep-record.ts';
import { requireSweep, type CliContext } from '../context.ts';
import { ProgressView } from '../progress-view.ts';
import { renderReportTable } from '../render.ts';
import { sweepIdArg } from './args.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('watch')
    .description('follow a sweep live: a progress bar per run and overall, then the report (Ctrl-C stops watching, not the sweep)')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .option('--json', 'one JSON line per change on stdout instead of bars')
    .action(async (sweepId: string, opts: { json?: boolean }) => {
      process.exitCode = await ctx.withSweeps(
        async (sweeps) => {
          await requireSweep(await sweeps.record(sweepId), sweepId);
          const plan = await sweeps.plan(sweepId);
          const tty = Boolean(process.stderr.isTTY) && !ctx.env.CI && !opts.json;
          const view = opts.json ? null : new ProgressView(process.stderr, plan, Date.now(), tty);
          let last = '';
          const onUpdate = (d: SweepDetail) => {
            if (view) return view.update(d);
            const line = JSON.stringify(d);
            if (line !== last) process.stdout.write(`${line}\n`);
            last = line;
          };
          const aborter = new AbortController();
          const onSigint = () => aborter.abort(new Error('stopped watching'));
          process.once('SIGINT', onSigint);
          let done: SweepDetail;
          try {
            done = await sweeps.waitForCompletion(sweepId, { onUpdate, signal: aborter.signal });
          } catch (err) {
            if (aborter.signal.aborted) {
              view?.finish(null);
              process.stderr.write(`stopped watching; sweep ${sweepId} keeps running\n`);
              return 130;
            }
            throw err;
          } finally {
            process.off('SIGINT', onSigint);
          }
          view?.finish(done);
          if (!opts.json) {
            const report = done.status === 'completed' ? await sweeps.report(sweepId) : null;
            process.stdout.write(report ? `\n${renderReportTable(report)}\n` : `sweep ${sweepId} ${done.status}\n`);
          }
          return done.status === 'completed' && TERMINAL_STATUSES.has(done.status) ? 0 : 1;
        },
        { longLived: true },
      );
    });
}
