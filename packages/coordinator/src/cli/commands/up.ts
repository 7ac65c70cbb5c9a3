/**
 * `yoto up` — the local services in the foreground until Ctrl-C: a private
 * redis-server (durable: its AOF lives in `<home>/redis`, so queued sweeps survive a
 * restart of `yoto up`), the embedded S3 (`<home>/s3`), the aggregate worker and N
 * local workers; whatever REDIS_URL / S3_ENDPOINT / S3_BUCKET configure is used
 * instead of starting it. Writes `<home>/endpoints.json` so that `yoto submit`,
 * `yoto status` and `yoto worker` in another terminal of this directory find the
 * services without any variables; removes it on stop.
 *
 * stdout: the endpoints (no secrets) and how to use them. Logs: `<home>/logs/up.log`
 * and `<home>/logs/local-<i>.log`.
 */
import { join, relative } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import pc from 'picocolors';
import { loadConnectionConfig, redactUrl } from '@yoto/runtime';
import { ServiceError } from '../../services/service-error.ts';
import { onShutdownSignal, startLocalCluster, type LocalCluster } from '../../services/local-cluster.ts';
import type { CliContext } from '../context.ts';
import { BACKENDS, backendEnv, defaultWorkerCount, fileLogger } from './demo.ts';
import { portArg } from './dashboard.ts';
import { startDashboardServer, type DashboardServer } from '../../server/dashboard-server.ts';
import { DEFAULT_DASHBOARD_PORT, loadServerConfig } from '../../server/server-config.ts';

interface UpOptions {
  workers?: number;
  backend?: string;
  /** False with --no-dashboard. */
  dashboard?: boolean;
  port?: number;
}

function workerCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 256) throw new InvalidArgumentError('must be a whole number from 0 to 256');
  return n;
}

/** `ctx` (from the CLI's main) supplies the environment; without it, process.env. */
export function register(program: Command, ctx?: Pick<CliContext, 'env'>): void {
  program
    .command('up')
    .description('run Redis, S3, the aggregate worker and local workers in the foreground (Ctrl-C stops them); other terminals find them through .yoto/endpoints.json')
    .option('--workers <n>', `local worker processes, 0 for none (default: one per core, at most 4; here ${defaultWorkerCount()})`, workerCount)
    .addOption(new Option('--backend <name>', 'compute backend of the local workers').choices(BACKENDS).default('auto'))
    .option('--port <n>', `dashboard port (default YOTO_DASHBOARD_PORT or ${DEFAULT_DASHBOARD_PORT}; a free one if that is taken)`, portArg)
    .option('--no-dashboard', 'do not serve the dashboard / API')
    .action(async (opts: UpOptions) => {
      process.exitCode = await runUp(opts, ctx?.env ?? process.env);
    });
}

export async function runUp(opts: UpOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const err = (line: string) => process.stderr.write(`${line}\n`);
  let home: string;
  try {
    home = loadConnectionConfig(env).partial.home;
  } catch (e) {
    err(pc.red(`yoto up: ${(e as Error).message}`));
    return 2;
  }
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  const { log, path: logPath } = fileLogger(home, 'up', env.LOG_LEVEL || 'info');
  const workers = opts.workers ?? defaultWorkerCount();

  let stopRequested: ((signal: NodeJS.Signals) => void) | null = null;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    stopRequested = resolve;
  });
  const removeSignals = onShutdownSignal((signal) => stopRequested?.(signal), log);

  let cluster: LocalCluster | null = null;
  let dashboard: DashboardServer | null = null;
  let alive = workers;
  try {
    cluster = await startLocalCluster({
      home,
      env,
      log,
      workers,
      durableRedis: true,
      endpointsFile: 'required',
      workerEnv: backendEnv(opts.backend, workers, env),
      onWorkerExit: (exit) => {
        alive -= 1;
        err(pc.yellow(`worker ${exit.name} exited (${exit.signal ?? `code ${exit.code}`}); ${alive} left. Its log: ${rel(join(home, 'logs', `${exit.name}.log`))}`));
        for (const line of exit.lastLines.slice(-5)) err(pc.dim(`  ${line}`));
      },
    });
    const { config, services } = cluster;
    if (opts.dashboard !== false) {
      const serverConfig = loadServerConfig(env, opts.port !== undefined ? { port: opts.port } : {});
      const { store } = cluster;
      const start = (port: number) => startDashboardServer({ redisUrl: config.redisUrl, store, config: { ...serverConfig, port }, log: log.child({ component: 'dashboard' }) });
      dashboard = await start(serverConfig.port).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EADDRINUSE') throw e;
        err(pc.yellow(`port ${serverConfig.port} is taken; the dashboard uses a free one`));
        return start(0);
      });
    }
    out(pc.bold('yoto up') + pc.dim(` — running (pid ${process.pid})`));
    out(`  redis    ${pc.cyan(redactUrl(config.redisUrl))}${services.redis ? pc.dim(`  private redis-server, data in ${rel(services.redis.dir)}`) : pc.dim('  from REDIS_URL')}`);
    const s3Where = config.s3.endpoint ?? 'AWS S3';
    out(`  s3       ${pc.cyan(s3Where)}  bucket ${pc.cyan(config.s3.bucket)}${config.s3.prefix ? ` prefix ${config.s3.prefix}` : ''}${services.s3 ? pc.dim(`  embedded, data in ${rel(services.s3.dir)}`) : pc.dim('  from S3_* variables')}`);
    out(`  workers  ${workers ? cluster.workers.workers.map((w) => w.name).join(', ') : 'none'}${workers ? pc.dim(`  logs in ${rel(join(home, 'logs'))}/`) : ''}${opts.backend && opts.backend !== 'auto' ? pc.dim(`  backend ${opts.backend}`) : ''}`);
    out(`  logs     ${pc.dim(rel(logPath))}`);
    if (dashboard) out(`  dashboard ${pc.cyan(`${dashboard.url}/`)}${pc.dim(`  API /api/sweeps · queues /queues · metrics /metrics`)}`);
    out(services.endpointsFile ? `  endpoints file ${pc.cyan(rel(services.endpointsFile))} ${pc.dim('(mode 0600; yoto commands in this directory use it)')}` : pc.yellow('  no endpoints file written: other terminals need the same REDIS_URL / S3_* variables'));
    out('');
    out('In another terminal, in this directory:');
    out(`  ${pc.bold('yoto submit examples/beta-vae-mnist.yaml')}   queue a sweep`);
    out(`  ${pc.bold('yoto status')}                               watch sweeps and runs`);
    out(`  ${pc.bold('yoto worker')}                               add a worker (also from another machine with REDIS_URL / S3_*)`);
    out(pc.dim('Ctrl-C stops everything (workers first; a running job is checkpointed and resumes next time).'));
    log.info({ redis: redactUrl(config.redisUrl), s3: config.s3.endpoint, bucket: config.s3.bucket, workers }, 'yoto up running');

    const signal = await stopSignal;
    out(pc.dim(`\n${signal}: stopping workers (up to 30 s while they checkpoint), then the services…`));
    return 0;
  } catch (e) {
    if (e instanceof ServiceError) {
      err(pc.red(`yoto up: ${e.message}`));
      return 1;
    }
    log.error({ err: e }, 'yoto up failed');
    err(pc.red(`yoto up: ${(e as Error).message}`));
    return 1;
  } finally {
    await dashboard?.close().catch(() => undefined);
    await cluster?.stop();
    if (cluster) out(pc.dim('stopped.'));
    removeSignals();
  }
}
