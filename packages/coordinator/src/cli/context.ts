/**
 * What every CLI command gets: the connection settings parsed once in main, a
 * logger, and a way to open the sweep service against them. Commands never read
 * process.env themselves.
 */
import { readFileSync } from 'node:fs';
import { ObjectStore, createLogger, createRedis, redactUrl, type ConnectionConfig, type Logger, loadConnectionConfig } from '@yoto/runtime';
import { YotoError } from '@yoto/shared';
import { SweepService } from '../sweeps/sweep-service.ts';

/** A user-facing CLI failure: printed as `error: <message>`, exit status 1, no stack. */
export class CliError extends Error {
  readonly code: 'NO_ENDPOINTS' | 'UNREACHABLE' | 'NOT_FOUND' | 'BAD_INPUT';
  constructor(code: CliError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.code = code;
  }
}

export interface CliContext {
  readonly env: NodeJS.ProcessEnv;
  /** `loadConnectionConfig(env)`'s result, or the error it threw (reported only when a command needs a connection). */
  readonly connection: ReturnType<typeof loadConnectionConfig> | { error: unknown };
  readonly log: Logger;
  /** The connection config, or a CliError saying how to get one. */
  requireConfig(): ConnectionConfig;
  /** Opens a SweepService (and its store) for the duration of `fn`, closing both after. */
  withSweeps<T>(fn: (sweeps: SweepService, store: ObjectStore) => Promise<T>, opts?: { longLived?: boolean }): Promise<T>;
}

export const NO_ENDPOINTS_MESSAGE = 'no REDIS_URL / S3_ENDPOINT set and no `yoto up` running (.yoto/endpoints.json); run `yoto up` or `yoto demo`';

export function createCliContext(env: NodeJS.ProcessEnv): CliContext {
  let connection: CliContext['connection'];
  try {
    connection = loadConnectionConfig(env);
  } catch (error) {
    connection = { error };
  }
  // The CLI's own log lines are for diagnosis; the terminal output is the UI.
  const log = createLogger({ name: 'yoto', level: env.LOG_LEVEL || 'error' });

  const requireConfig = (): ConnectionConfig => {
    if ('error' in connection) throw connection.error;
    if (!connection.config) throw new CliError('NO_ENDPOINTS', NO_ENDPOINTS_MESSAGE);
    return connection.config;
  };

  const withSweeps: CliContext['withSweeps'] = async (fn, opts = {}) => {
    const config = requireConfig();
    // One-shot commands fail fast when Redis is down; a long wait rides out blips.
    const redis = createRedis(config.redisUrl, opts.longLived ? 'producer' : 'client', log);
    const store = new ObjectStore(config.s3, log);
    let lastRedisError: Error | null = null;
    redis.on('error', (err: Error) => (lastRedisError = err));
    const sweeps = new SweepService({ redis, store, log });
    try {
      try {
        await withTimeout(redis.ping(), 6000);
      } catch (err) {
        const cause = lastRedisError ?? err;
        const why = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
        const where = env.REDIS_URL ? 'REDIS_URL' : `${config.home}/endpoints.json — is \`yoto up\` still running?`;
        throw new CliError('UNREACHABLE', `cannot reach Redis at ${redactUrl(config.redisUrl)} (${why}); from ${where}`, { cause: err });
      }
      return await fn(sweeps, store);
    } finally {
      await sweeps.close();
      await redis.quit().catch(() => redis.disconnect());
      store.close();
    }
  };

  return { env, connection, log, requireConfig, withSweeps };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(t));
}

/** Reads a spec file (`-` = stdin) as text; a missing file is a user error. */
export function readSpecFile(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError('BAD_INPUT', `cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err });
  }
}

/** The sweep's detail, or a NOT_FOUND error naming it. */
export async function requireSweep<T>(value: T | null, sweepId: string): Promise<T> {
  if (value === null) throw new YotoError('NOT_FOUND', `no sweep ${sweepId} (see \`yoto status\` for the list)`);
  return value;
}
