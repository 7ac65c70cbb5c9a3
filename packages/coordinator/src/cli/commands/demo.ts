/**
 * `yoto demo` — the whole product on one machine with no setup: a private
 * redis-server (unless REDIS_URL is set), the embedded S3 (unless S3_ENDPOINT /
 * S3_BUCKET is set), the aggregate worker in this process and N local worker
 * processes; submits a sweep (a small built-in β-VAE one by default), shows live
 * progress, prints the report and where the artifacts are, and stops everything.
 *
 * Streams: progress and messages go to stderr; the report goes to stdout. With
 * `--json` the last stdout line is the report JSON (or `{ "error": … }` on failure).
 * Logs of this process go to `<home>/logs/demo.log`, the workers' to
 * `<home>/logs/local-<i>.log`, so the terminal shows only progress.
 *
 * Exit status: 0 when the sweep completed, 1 when it failed (the failing run and its
 * reason are printed), 2 for a bad spec or option, 130/143 when interrupted.
 */
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import pc from 'picocolors';
import { ValidationError, countRuns, parseSweepSpecText, s3Keys, sweepIdFor, type SweepSpec } from '@yoto/shared';
import { createLogger, loadConnectionConfig, type Logger } from '@yoto/runtime';
import { SweepService } from '../../sweeps/sweep-service.ts';
import type { SweepDetail } from '../../sweeps/sweep-record.ts';
import type { CliContext } from '../context.ts';
import { renderReportTable } from '../render.ts';
import { ProgressView, clock } from '../progress-view.ts';
import { ServiceError } from '../../services/service-error.ts';
import { onShutdownSignal, startLocalCluster, type LocalCluster } from '../../services/local-cluster.ts';
import type { WorkerExit } from '../../services/worker-processes.ts';
import { startDashboardServer, type DashboardServer } from '../../server/dashboard-server.ts';
import { loadServerConfig } from '../../server/server-config.ts';
import { portArg } from './dashboard.ts';

export const DEFAULT_SPEC_PATH = new URL('../../demo/default-spec.yaml', import.meta.url);
export const BACKENDS = ['auto', 'tensorflow', 'native-cpu', 'wasm', 'cpu'] as const;

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('must be a whole number from 1 to 256');
  return n;
}

/** One worker per core, at most 4 (each worker trains one run at a time with all the threads its backend uses). */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * `YOTO_BACKEND` for the workers (nothing for `auto`: the worker picks), and, with
 * `workers` local processes, `YOTO_THREADS` = cores / workers unless the environment
 * sets it, so native-cpu's OpenBLAS pools do not oversubscribe the machine.
 */
export function backendEnv(backend: string | undefined, workers?: number, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = backend && backend !== 'auto' ? { YOTO_BACKEND: backend } : {};
  if (workers && !env.YOTO_THREADS) out.YOTO_THREADS = String(Math.max(1, Math.floor(availableParallelism() / workers)));
  return out;
}

/** A logger that writes JSON lines to `<home>/logs/<name>.log`, keeping the terminal for the UI. */
export function fileLogger(home: string, name: string, level: string): { log: Logger; path: string } {
  const dir = join(home, 'logs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${name}.log`);
  const fd = openSync(path, 'a', 0o600);
  return { log: createLogger({ name: `yoto-${name}`, level, destination: fd }), path };
}

interface DemoOptions {
  spec?: string;
  workers?: number;
  backend?: string;
  json?: boolean;
  dashboard?: boolean;
  port?: number;
}

/** `ctx` (from the CLI's main) supplies the environment; without it, process.env. */
export function register(program: Command, ctx?: Pick<CliContext, 'env'>): void {
  program
    .command('demo')
    .description('run a sweep end to end on this machine with no setup: private Redis, embedded S3, local workers, live progress, report')
    .option('--spec <file>', 'sweep spec (YAML or JSON); default: a small built-in β-VAE sweep on MNIST')
    .option('--workers <n>', `local worker processes (default: one per core, at most 4; here ${defaultWorkerCount()})`, positiveInt)
    .addOption(new Option('--backend <name>', 'compute backend of the local workers').choices(BACKENDS).default('auto'))
    .option('--json', 'print the report as JSON on the last line of stdout (progress goes to stderr)')
    .option('--dashboard', 'also serve the dashboard (loopback) while the demo runs, and print its URL')
    .option('--port <n>', 'dashboard port with --dashboard (default: any free port)', portArg)
    .action(async (opts: DemoOptions) => {
      process.exitCode = await runDemo(opts, ctx?.env ?? process.env);
    });
}

export async function runDemo(opts: DemoOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const ui = process.stderr;
  const say = (line = '') => ui.write(`${line}\n`);
  const json = opts.json ?? false;
  const fail = (code: number, message: string, extra: Record<string, unknown> = {}): number => {
    say(pc.red(`yoto demo: ${message}`));
    if (json) process.stdout.write(`${JSON.stringify({ error: message, ...extra })}\n`);
    return code;
  };

  // The spec first: a typo must not cost a redis-server start.
  const specPath = opts.spec ? resolve(opts.spec) : DEFAULT_SPEC_PATH;
  let specText: string;
  let spec: SweepSpec;
  try {
    specText = readFileSync(specPath, 'utf8');
    spec = parseSweepSpecText(specText);
  } catch (err) {
    if (err instanceof ValidationError) return fail(2, `${opts.spec ?? 'the built-in spec'}: ${err.message}`);
    return fail(2, `cannot read ${opts.spec ?? String(specPath)}: ${(err as Error).message}`);
  }
  const workerCount = opts.workers ?? Math.min(defaultWorkerCount(), countRuns(spec));

  let home: string;
  try {
    home = loadConnectionConfig(env).partial.home;
  } catch (err) {
    return fail(2, (err as Error).message);
  }
  const { log, path: logPath } = fileLogger(home, 'demo', env.LOG_LEVEL || 'info');
  const started = Date.now();
  const aborter = new AbortController();
  const removeSignals = onShutdownSignal((signal) => aborter.abort(new Interrupted(signal)), log);

  const embedded = [!env.REDIS_URL && 'a private redis-server', !(env.S3_ENDPOINT || env.S3_BUCKET) && 'the embedded S3'].filter(Boolean);
  say(pc.bold('yoto demo') + pc.dim(` — starting ${[...embedded, 'the aggregate worker', `${workerCount} local worker${workerCount === 1 ? '' : 's'}`].join(', ')}`));
  say(pc.dim(`logs: ${rel(logPath)}, ${rel(join(home, 'logs'))}/local-*.log`));

  let cluster: LocalCluster | null = null;
  let sweeps: SweepService | null = null;
  let view: ProgressView | null = null;
  let dashboard: DashboardServer | null = null;
  const deadWorkers: WorkerExit[] = [];
  try {
    cluster = await startLocalCluster({
      home,
      env,
      log,
      workers: workerCount,
      endpointsFile: 'if-free',
      workerEnv: backendEnv(opts.backend, workerCount, env),
      onWorkerExit: (exit) => {
        deadWorkers.push(exit);
        view?.note(pc.yellow(`worker ${exit.name} exited (${exit.signal ?? `code ${exit.code}`}); see ${rel(join(home, 'logs', `${exit.name}.log`))}`));
        if (deadWorkers.length >= workerCount) {
          const last = exit.lastLines.slice(-8).map((l) => `    ${l}`).join('\n');
          aborter.abort(new Error(`every local worker exited; the last one (${exit.name}) said:\n${last}`));
        }
      },
    });
    if (aborter.signal.aborted) throw aborter.signal.reason;
    if (cluster.services.redis && cluster.services.s3) await discardOldArtifacts(cluster, sweepIdFor(spec), log);
    sweeps = new SweepService({ redis: cluster.config.redisUrl, store: cluster.store, log: log.child({ component: 'sweeps' }) });
    if (opts.dashboard) {
      // Loopback only: the demo's services are private to this machine.
      dashboard = await startDashboardServer({ redisUrl: cluster.config.redisUrl, store: cluster.store, config: loadServerConfig(env, { host: '127.0.0.1', port: opts.port ?? 0 }), log: log.child({ component: 'dashboard' }) });
    }
    const submitted = await sweeps.submit(specText);
    const { sweepId, plan } = submitted;
    if (dashboard) say(`dashboard: ${pc.cyan(`${dashboard.url}/sweeps/${sweepId}`)}`);
    say(`sweep ${pc.cyan(sweepId)}: ${plan.runs.length} runs (1 YOTO model per variant and seed + ${plan.grid.length} baselines each${plan.variants.some((v) => v.baselinesFrom) ? ', shared between variants that differ only in YOTO-only axes' : ''}) on ${workerCount} worker${workerCount === 1 ? '' : 's'}${submitted.created ? '' : pc.dim(' — already submitted before; following it')}`);
    view = new ProgressView(ui, plan, started, Boolean(ui.isTTY) && !env.CI);
    const detail = await sweeps.waitForCompletion(sweepId, { signal: aborter.signal, onUpdate: (d) => view?.update(d) });
    view.finish(detail);
    view = null;

    const where = `s3://${cluster.config.s3.bucket}/${cluster.config.s3.prefix}${s3Keys.sweep(sweepId)}`;
    if (detail.status !== 'completed') {
      const reasons = failureReasons(detail);
      say(pc.red(`sweep ${sweepId} ${detail.status}:`));
      for (const r of reasons) say(pc.red(`  ${r}`));
      say(pc.dim(`artifacts so far: ${where}; worker logs: ${rel(join(home, 'logs'))}/`));
      if (json) process.stdout.write(`${JSON.stringify({ error: `sweep ${detail.status}`, sweepId, status: detail.status, reasons })}\n`);
      return 1;
    }
    const report = await sweeps.report(sweepId);
    if (!report) return fail(1, `sweep ${sweepId} completed but its report is missing from ${where}report/`, { sweepId });
    const saved = await saveReportFiles(cluster, sweepId, join(home, 'reports', sweepId));
    (json ? process.stderr : process.stdout).write(`\n${renderReportTable(report)}\n`);
    say('');
    say(`artifacts: ${pc.cyan(where)}${cluster.services.s3 ? pc.dim(` (embedded S3, stored under ${rel(cluster.services.s3.dir)})`) : ''}`);
    say(`report:    ${pc.cyan(rel(join(saved, 'report.html')))} ${pc.dim('(also report.md, report.json)')}`);
    say(pc.dim(`finished in ${clock(Date.now() - started)}`));
    if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } catch (err) {
    view?.finish(null);
    if (err instanceof Interrupted) {
      say(pc.yellow(`interrupted (${err.signal}); stopping…`));
      if (json) process.stdout.write(`${JSON.stringify({ error: `interrupted (${err.signal})` })}\n`);
      return err.signal === 'SIGINT' ? 130 : 143;
    }
    if (err instanceof ValidationError) return fail(2, err.message);
    if (err instanceof ServiceError) return fail(1, err.message, { code: err.code });
    log.error({ err }, 'demo failed');
    return fail(1, (err as Error).message ?? String(err));
  } finally {
    const stopping = Date.now();
    await dashboard?.close().catch(() => undefined);
    await sweeps?.close().catch(() => undefined);
    if (cluster) {
      say(pc.dim('stopping workers and services…'));
      await cluster.stop();
      log.info({ ms: Date.now() - stopping }, 'demo stopped');
    }
    removeSignals();
  }
}

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

function rel(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
}

/** Why a sweep did not complete: each failed run with its reason, else the aggregate's or the record's error. */
export function failureReasons(detail: SweepDetail): string[] {
  const out: string[] = [];
  for (const run of detail.runs) {
    if (run.state === 'failed') out.push(`run ${run.runId} (${run.label}) failed after ${run.attemptsMade}/${run.maxAttempts} attempts: ${run.failedReason ?? 'no reason recorded'}`);
  }
  if (detail.aggregate.failedReason) out.push(`aggregate: ${detail.aggregate.failedReason}`);
  if (out.length === 0 && detail.record.error) out.push(detail.record.error);
  if (out.length === 0) out.push(`status ${detail.status}`);
  return out;
}

/**
 * The same spec always yields the same sweep id, and workers resume from what S3 holds
 * for a run — so a second demo against the kept embedded store would finish at once
 * from the first one's artifacts. With both services private to this demo no one else
 * can be using them: remove them, so the demo trains for real.
 */
async function discardOldArtifacts(cluster: LocalCluster, sweepId: string, log: Logger): Promise<void> {
  const keys: string[] = [];
  for await (const o of cluster.store.list(s3Keys.sweep(sweepId))) keys.push(o.key);
  if (keys.length === 0) return;
  await cluster.store.deleteMany(keys);
  log.info({ sweepId, objects: keys.length }, 'removed the artifacts of an earlier demo of this sweep');
}

async function saveReportFiles(cluster: LocalCluster, sweepId: string, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  for (const ext of ['json', 'md', 'html'] as const) {
    const body = await cluster.store.getIfExists(s3Keys.report(sweepId, ext));
    if (body) writeFileSync(join(dir, `report.${ext}`), body);
  }
  return dir;
}
