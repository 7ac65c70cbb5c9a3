/**
 * `yoto dashboard [--port N] [--host H] [--read-only]` — the dashboard, REST API,
 * bull-board (/queues) and /metrics against REDIS_URL / S3_* (or a running `yoto up`),
 * in the foreground until Ctrl-C. Binding beyond loopback needs YOTO_API_TOKEN.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { ObjectStore } from '@yoto/runtime';
import type { CliContext } from '../context.ts';
import { onShutdownSignal } from '../../services/local-cluster.ts';
import { assertSafeBind, startDashboardServer } from '../../server/dashboard-server.ts';
import { DEFAULT_DASHBOARD_PORT, loadServerConfig } from '../../server/server-config.ts';

export function portArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number from 0 (any free port) to 65535');
  return n;
}

interface DashboardOptions {
  port?: number;
  host?: string;
  readOnly?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('dashboard')
    .description('serve the dashboard, the REST API (/api), bull-board (/queues) and Prometheus metrics (/metrics)')
    .option('--port <n>', `port (default YOTO_DASHBOARD_PORT or ${DEFAULT_DASHBOARD_PORT}; 0 = any free port)`, portArg)
    .option('--host <addr>', 'bind address (default YOTO_DASHBOARD_HOST or 127.0.0.1; beyond loopback YOTO_API_TOKEN is required)')
    .option('--read-only', 'refuse every write (also YOTO_READ_ONLY=1)')
    .action(async (opts: DashboardOptions) => {
      const serverConfig = loadServerConfig(ctx.env, { ...(opts.port !== undefined ? { port: opts.port } : {}), ...(opts.host ? { host: opts.host } : {}), ...(opts.readOnly ? { readOnly: true } : {}) });
      assertSafeBind(serverConfig);
      const config = ctx.requireConfig();
      const store = new ObjectStore(config.s3, ctx.log);
      let stop: (signal: NodeJS.Signals) => void = () => undefined;
      const stopped = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
      const removeSignals = onShutdownSignal((s) => stop(s), ctx.log);
      try {
        const server = await startDashboardServer({ redisUrl: config.redisUrl, store, config: serverConfig, log: ctx.log });
        process.stdout.write(`yoto dashboard: ${server.url}/  (API ${server.url}/api/sweeps · queues ${server.url}/queues · metrics ${server.url}/metrics)${serverConfig.readOnly ? ' [read-only]' : serverConfig.apiToken ? '' : ' [writes disabled: no YOTO_API_TOKEN]'}\n`);
        await stopped;
        await server.close();
      } finally {
        removeSignals();
        store.close();
      }
    });
}
