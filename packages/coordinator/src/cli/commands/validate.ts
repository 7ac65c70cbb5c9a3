/**
 * `yoto validate SPEC` — parses and plans a spec without connecting anywhere; prints
 * what it would run, or every field error (exit 1).
 */
import type { Command } from 'commander';
import { parseSweepSpecText, planSweep } from '@yoto/shared';
import { readSpecFile, type CliContext } from '../context.ts';
import { renderSpecSummary } from '../render.ts';

export function register(program: Command, _ctx: CliContext): void {
  program
    .command('validate')
    .description('check a sweep spec (YAML or JSON; "-" reads stdin) and show what it plans; no connection needed')
    .argument('<spec>', 'spec file')
    .option('--json', 'print the normalised spec and plan summary as JSON')
    .action((specPath: string, opts: { json?: boolean }) => {
      const spec = parseSweepSpecText(readSpecFile(specPath));
      const plan = planSweep(spec);
      if (opts.json) {
        const summary = { sweepId: plan.sweepId, runs: plan.runs.length, grid: plan.grid, variants: plan.variants, spec };
        process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      } else {
        process.stdout.write(`${renderSpecSummary(spec, plan)}\n`);
      }
    });
}
