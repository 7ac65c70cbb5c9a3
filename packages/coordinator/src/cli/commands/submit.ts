/**
 * `yoto submit SPEC [--wait] [--json]` — validates and enqueues a sweep. With --wait,
 * follows it to the end (progress on stderr) and prints the report; Ctrl-C stops
 * waiting, not the sweep. Exit 1 when the sweep failed.
 */
import type { Command } from 'commander';
import type { SweepDetail } from '../../sweeps/sweep-record.ts';
import { readSpecFile, type CliContext } from '../context.ts';
import { renderProgressLine, renderReportTable } from '../render.ts';

interface SubmitOptions {
  wait?: boolean;
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('submit')
    .description('validate a sweep spec and enqueue it (resubmitting the same spec enqueues nothing)')
    .argument('<spec>', 'spec file (YAML or JSON; "-" reads stdin)')
    .option('--wait', 'follow the sweep until it completes or fails, then print the report')
    .option('--json', 'machine-readable output on stdout')
    .action(async (specPath: string, opts: SubmitOptions) => {
      const text = readSpecFile(specPath);
      process.exitCode = await ctx.withSweeps(
        async (sweeps) => {
          const res = await sweeps.submit(text);
          const head = { sweepId: res.sweepId, runs: res.runs, created: res.created };
          if (!opts.wait) {
            if (opts.json) process.stdout.write(`${JSON.stringify(head)}\n`);
            else process.stdout.write(res.created ? `submitted sweep ${res.sweepId}: ${res.runs} runs (+1 aggregate)\nwatch it: yoto status ${res.sweepId}\n` : `sweep ${res.sweepId} was already submitted; nothing enqueued\nwatch it: yoto status ${res.sweepId}\n`);
            return 0;
          }
          if (!opts.json) process.stderr.write(res.created ? `submitted sweep ${res.sweepId}: ${res.runs} runs; waiting (Ctrl-C stops waiting, not the sweep)\n` : `sweep ${res.sweepId} was already submitted; waiting for it\n`);

          const aborter = new AbortController();
          const onSigint = () => aborter.abort(new Error('stopped waiting'));
          process.once('SIGINT', onSigint);
          const started = Date.now();
          let last = '';
          const onUpdate = (d: SweepDetail) => {
            const line = renderProgressLine(d, Date.now() - started);
            const key = line.replace(/^\[[^\]]*\] /, '');
            if (key !== last && !opts.json) process.stderr.write(`${line}\n`);
            last = key;
          };
          let done: SweepDetail;
          try {
            done = await sweeps.waitForCompletion(res.sweepId, { onUpdate, signal: aborter.signal });
          } catch (err) {
            if (aborter.signal.aborted) {
              process.stderr.write(`stopped waiting; sweep ${res.sweepId} keeps running — yoto status ${res.sweepId}\n`);
              return 130;
            }
            throw err;
          } finally {
            process.off('SIGINT', onSigint);
          }
          const report = done.status === 'completed' ? await sweeps.report(res.sweepId) : null;
          const failed = done.runs.filter((r) => r.state === 'failed');
          if (opts.json) {
            process.stdout.write(`${JSON.stringify({ ...head, status: done.status, failed: failed.map((r) => ({ runId: r.runId, reason: r.failedReason })), aggregateError: done.aggregate.failedReason, report })}\n`);
          } else if (report) {
            process.stdout.write(`${renderReportTable(report)}\n`);
          } else {
            process.stdout.write(`sweep ${res.sweepId} ${done.status}\n`);
            for (const r of failed) process.stdout.write(`  ${r.runId}: ${r.failedReason ?? 'failed'}\n`);
            if (done.aggregate.failedReason) process.stdout.write(`  aggregate: ${done.aggregate.failedReason}\n`);
            if (done.record.error) process.stdout.write(`  ${done.record.error}\n`);
          }
          return done.status === 'completed' ? 0 : 1;
        },
        { longLived: opts.wait === true },
      );
    });
}
