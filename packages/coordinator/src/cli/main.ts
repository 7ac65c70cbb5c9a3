/**
 * The `yoto` CLI entry (`pnpm yoto …` = `node --import tsx packages/coordinator/src/cli/main.ts`).
 * The environment is parsed once here (createCliContext) and handed to every command.
 * Each command module exports `register(program, ctx)`.
 *
 * Errors: user errors (bad spec, unknown sweep, no endpoints, unreachable services)
 * print `error: <message>` and exit 1, without a stack trace; LOG_LEVEL=debug adds
 * the stack for anything else. Messages never include credentials.
 */
import { Command, CommanderError } from 'commander';
import { ValidationError, YotoError } from '@yoto/shared';
import { CliError, createCliContext, type CliContext } from './context.ts';
import { register as registerValidate } from './commands/validate.ts';
import { register as registerSubmit } from './commands/submit.ts';
import { register as registerStatus } from './commands/status.ts';
import { register as registerReport } from './commands/report.ts';
import { register as registerCancel } from './commands/cancel.ts';
import { register as registerPause } from './commands/pause.ts';
import { register as registerDemo } from './commands/demo.ts';
import { register as registerUp } from './commands/up.ts';
import { register as registerWorker } from './commands/worker.ts';
import { register as registerWatch } from './commands/watch.ts';
import { register as registerDashboard } from './commands/dashboard.ts';
import { register as registerArtifacts } from './commands/artifacts.ts';
import { register as registerExport } from './commands/export.ts';
import { register as registerSample } from './commands/sample.ts';
import { register as registerGc } from './commands/gc.ts';

type RegisterCommand = (program: Command, ctx: CliContext) => void;

const COMMANDS: RegisterCommand[] = [registerValidate, registerSubmit, registerStatus, registerWatch, registerReport, registerCancel, registerPause, registerDemo, registerUp, registerWorker, registerDashboard, registerArtifacts, registerExport, registerSample, registerGc];

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('yoto')
    .description('You Only Train Once: distributed loss-conditional training sweeps — one YOTO model vs a fixed-λ baseline per grid point')
    .showHelpAfterError('(yoto --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) });
  program.exitOverride();
  for (const register of COMMANDS) register(program, ctx);
  return program;
}

/** The message a user sees for an error; stack traces only for bugs, and only at debug level. */
export function describeError(err: unknown, debug: boolean): string {
  if (err instanceof ValidationError) return err.message;
  if (err instanceof YotoError || err instanceof CliError) return err.message;
  if (err instanceof Error) return debug && err.stack ? err.stack : err.message;
  return String(err);
}

async function main(): Promise<void> {
  // The AWS SDK warns on every run under Node 20 about its future support policy;
  // it is noise for a CLI user. (Set before the first S3 client exists.)
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const ctx = createCliContext(process.env);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message (or help / version, which exit 0).
      process.exitCode = err.exitCode;
      return;
    }
    const debug = /^(debug|trace)$/.test(process.env.LOG_LEVEL ?? '');
    process.stderr.write(`error: ${describeError(err, debug)}\n`);
    process.exitCode = 1;
  }
}

await main();
