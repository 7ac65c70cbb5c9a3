/**
 * The zero-setup default: whatever the environment does not configure — Redis when
 * REDIS_URL is unset, S3 when neither S3_ENDPOINT nor S3_BUCKET is set — is started
 * here (a private redis-server, an in-process s3rver), and the endpoints are written
 * to `<home>/endpoints.json` (format: @yoto/runtime config.ts; mode 0600) so that
 * `yoto submit` / `yoto status` in another terminal find them. The file is removed
 * again on stop.
 *
 * Only loopback endpoints with throwaway credentials go into that file: when S3 is
 * external, or Redis is external and has a password, no file is written and other
 * terminals need the same environment variables.
 *
 * Layout under home (default `./.yoto`):
 *   endpoints.json   while running
 *   s3/              embedded S3 objects (kept across runs)
 *   redis/           AOF of a durable redis-server (`yoto up`; `yoto demo` uses a temp dir)
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { endpointsPath, loadConnectionConfig, readEndpointsFile, type ConnectionConfig, type EndpointsFile, type Logger } from '@yoto/runtime';
import { isAlive } from './child-guard.ts';
import { startEmbeddedS3, type EmbeddedS3 } from './s3.ts';
import { startRedisServer, type RedisServer } from './redis-server.ts';
import { ServiceError } from './service-error.ts';

export interface EmbeddedServicesOptions {
  /** The yoto home directory (`YOTO_HOME`, default `./.yoto`). */
  home: string;
  /** The environment the connection is read from (the CLI passes process.env). */
  env: NodeJS.ProcessEnv;
  log: Logger;
  /**
   * Start a private redis-server.
   * @defaultValue true when `env.REDIS_URL` is unset
   */
  needRedis?: boolean;
  /**
   * Start the embedded S3.
   * @defaultValue true when neither `env.S3_ENDPOINT` nor `env.S3_BUCKET` is set
   */
  needS3?: boolean;
  /**
   * Keep Redis data in `<home>/redis` (AOF) so queued sweeps survive a restart.
   * @defaultValue false (a temp dir, removed on stop)
   */
  durableRedis?: boolean;
  /**
   * Bucket of the embedded S3.
   * @defaultValue `env.S3_BUCKET` or `yoto`
   */
  bucket?: string;
  /**
   * Write `<home>/endpoints.json`. When another live yoto process owns that file,
   * `'required'` fails with SERVICES_ALREADY_RUNNING and `'if-free'` leaves it alone.
   * @defaultValue 'if-free'
   */
  endpointsFile?: 'required' | 'if-free' | 'never';
}

export interface EmbeddedServices {
  /** The connection every process of this session uses (embedded endpoints filled in). */
  readonly config: ConnectionConfig;
  readonly redis: RedisServer | null;
  readonly s3: EmbeddedS3 | null;
  /** Path of the endpoints file this session wrote, or null. */
  readonly endpointsFile: string | null;
  /** Stops what was started (S3, then Redis) and removes the endpoints file. Idempotent. */
  stop(): Promise<void>;
}

/** The live yoto process that owns `<home>/endpoints.json`, or null (stale files are removed). */
export function endpointsOwner(home: string): number | null {
  const file = readEndpointsFile(home);
  if (!file) return null;
  if (file.pid !== process.pid && Number.isInteger(file.pid) && isAlive(file.pid)) return file.pid;
  rmSync(endpointsPath(home), { force: true });
  return null;
}

function writeEndpoints(home: string, content: EndpointsFile): string {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const path = endpointsPath(home);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return true;
  }
}

export async function startServices(opts: EmbeddedServicesOptions): Promise<EmbeddedServices> {
  const { home, env, log } = opts;
  const needRedis = opts.needRedis ?? !env.REDIS_URL;
  const needS3 = opts.needS3 ?? !(env.S3_ENDPOINT || env.S3_BUCKET);
  const mode = opts.endpointsFile ?? 'if-free';
  const owner = mode === 'never' ? null : endpointsOwner(home);
  if (owner !== null && mode === 'required') {
    throw new ServiceError('SERVICES_ALREADY_RUNNING', `yoto services are already running (pid ${owner}); their endpoints are in ${endpointsPath(home)}. Stop that process first, or use it: yoto submit spec.yaml`);
  }

  let redis: RedisServer | null = null;
  let s3: EmbeddedS3 | null = null;
  let written: string | null = null;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (written && readEndpointsFile(home)?.pid === process.pid) rmSync(written, { force: true });
      const results = await Promise.allSettled([s3?.stop(), redis?.stop()]);
      for (const r of results) if (r.status === 'rejected') log.warn({ err: r.reason as Error }, 'stopping an embedded service failed');
    })();
    return stopping;
  };

  try {
    if (needRedis) {
      const dir = opts.durableRedis ? join(home, 'redis') : undefined;
      redis = await startRedisServer({ log: log.child({ service: 'redis' }), durable: opts.durableRedis ?? false, ...(dir ? { dir } : {}) });
    }
    if (needS3) {
      s3 = await startEmbeddedS3({ dir: join(home, 's3'), bucket: opts.bucket ?? (env.S3_BUCKET || 'yoto'), log: log.child({ service: 's3' }) });
    }
    // Explicit variables for everything, so the endpoints file (ours or a stale one) is never consulted.
    const overrides: Record<string, string> = { YOTO_HOME: home };
    if (redis) overrides.REDIS_URL = redis.url;
    if (s3) {
      Object.assign(overrides, {
        S3_ENDPOINT: s3.endpoint,
        S3_BUCKET: s3.bucket,
        S3_REGION: s3.region,
        S3_ACCESS_KEY_ID: s3.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        S3_FORCE_PATH_STYLE: 'true',
        S3_PREFIX: '',
      });
    }
    const { config } = loadConnectionConfig({ ...env, ...overrides });
    if (!config) throw new ServiceError('SERVICE_START_FAILED', 'connection config incomplete after starting the embedded services');

    const started = redis !== null || s3 !== null;
    if (started && mode !== 'never') {
      const why = owner !== null ? `another yoto process (pid ${owner}) owns it` : !s3 ? 'S3 is external (its credentials stay in your environment)' : hasPassword(config.redisUrl) ? 'Redis is external and has a password' : null;
      if (why === null && s3) {
        written = writeEndpoints(home, {
          redisUrl: config.redisUrl,
          s3: { endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
          pid: process.pid,
          startedAt: new Date().toISOString(),
        });
      } else {
        log.info({ reason: why }, `${endpointsPath(home)} not written; other terminals need the same REDIS_URL / S3_* variables`);
      }
    }
    return {
      config,
      redis,
      s3,
      get endpointsFile() {
        return written && existsSync(written) ? written : null;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
