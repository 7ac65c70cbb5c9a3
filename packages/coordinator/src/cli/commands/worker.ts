/**
 * `yoto worker` — one training worker in the foreground: runs the worker entry
 * (`packages/worker/src/main.ts`) as a child with the connection in its environment
 * (REDIS_URL / S3_* from this environment, else `.yoto/endpoints.json` of a running
 * `yoto up`), plus YOTO_BACKEND / YOTO_CONCURRENCY / YOTO_WORKER_NAME from the options.
 * Its output goes straight to this terminal. SIGINT/SIGTERM are passed on once (the
 * worker finishes or checkpoints its job and exits); yoto exits with its status.
 */
import { spawn } from 'node:child_process';
import { Option, type Command } from 'commander';
import pc from 'picocolors';
import { loadConnectionConfig } from '@yoto/runtime';
import { dieWithParent, guardChild } from '../../services/child-guard.ts';
import { workerCommand, workerEnv } from '../../services/worker-processes.ts';
import type { CliContext } from '../context.ts';
import { BACKENDS, backendEnv, positiveInt } from './demo.ts';

interface WorkerOptions {
  concurrency?: number;
  backend?: string;
  name?: string;
}

/** `ctx` (from the CLI's main) supplies the environment; without it, process.env. */
export function register(program: Command, ctx?: Pick<CliContext, 'env'>): void {
  program
    .command('worker')
    .description('run one training worker in the foreground against REDIS_URL / S3_* (or the services of a running `yoto up`)')
    .option('--concurrency <n>', 'train jobs this worker runs at once (default: the worker decides, normally 1)', positiveInt)
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto'))
    .option('--name <name>', 'worker name in logs and run records (default: the worker picks host-pid)')
    .action(async (opts: WorkerOptions) => {
      process.exitCode = await runWorker(opts, ctx?.env ?? process.env);
    });
}

const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143, SIGKILL: 137 };

export async function runWorker(opts: WorkerOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const err = (line: string) => process.stderr.write(`${line}\n`);
  let loaded;
  try {
    loaded = loadConnectionConfig(env);
  } catch (e) {
    err(pc.red(`yoto worker: ${(e as Error).message}`));
    return 2;
  }
  if (!loaded.config) {
    err(pc.red(`yoto worker: no ${loaded.missing.join(' and no ').replace('redis', 'Redis').replace('s3', 'S3')} configured.`));
    err('Set REDIS_URL and S3_ENDPOINT (or S3_BUCKET for AWS), or start `yoto up` in this directory: it writes .yoto/endpoints.json, which this command reads.');
    return 2;
  }
  let cmd;
  try {
    cmd = workerCommand();
  } catch (e) {
    err(pc.red(`yoto worker: ${(e as Error).message}`));
    return 1;
  }
  const extra: Record<string, string> = { ...backendEnv(opts.backend) };
  if (opts.concurrency !== undefined) extra.YOTO_CONCURRENCY = String(opts.concurrency);
  const childEnv = workerEnv(loaded.config, opts.name ?? env.YOTO_WORKER_NAME, env, extra);

  // Own process group: a terminal's Ctrl-C reaches yoto only, which passes exactly one
  // signal on (two would make the worker give up its graceful stop).
  // If yoto itself is killed, the worker gets SIGTERM: it checkpoints and leaves.
  const wrapped = dieWithParent(cmd.command, cmd.args, 'SIGTERM');
  const child = spawn(wrapped.command, wrapped.args, { env: childEnv, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  guardChild(child);
  const forward = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve) => {
      child.once('error', (e) => {
        err(pc.red(`yoto worker: could not start the worker: ${e.message}`));
        resolve(1);
      });
      child.once('exit', (code, signal) => resolve(code ?? (signal ? (SIGNAL_EXIT[signal] ?? 1) : 1)));
    });
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}
