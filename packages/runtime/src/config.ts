/**
 * Connection settings shared by every yoto process, read from the environment once
 * (in each app's main) and passed down. When REDIS_URL / S3_ENDPOINT are unset, the
 * endpoints that `yoto up` / `yoto demo` wrote to `.yoto/endpoints.json` are used.
 *
 * `.yoto/endpoints.json` (written by the coordinator's embedded services):
 *   { "redisUrl": "redis://127.0.0.1:PORT", "s3": { "endpoint", "bucket", "region",
 *     "accessKeyId", "secretAccessKey" }, "pid": N, "startedAt": ISO }
 * It holds only loopback endpoints with throwaway credentials.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ValidationError, formatPath } from '@yoto/shared';

export const S3ConfigSchema = z.object({
  endpoint: z.string().url().optional(),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name'),
  region: z.string().min(1),
  prefix: z.string().regex(/^([a-zA-Z0-9._-]+\/)*$/, 'must be empty or end with "/" (letters, digits, . _ - and /)'),
  accessKeyId: z.string().min(1).optional(),
  secretAccessKey: z.string().min(1).optional(),
  forcePathStyle: z.boolean(),
});
export type S3Config = z.output<typeof S3ConfigSchema>;

export const ConnectionConfigSchema = z.object({
  redisUrl: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://'),
  s3: S3ConfigSchema,
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /** Where the embedded services keep their data and endpoints file. */
  home: z.string(),
});
export type ConnectionConfig = z.output<typeof ConnectionConfigSchema>;

export interface EndpointsFile {
  redisUrl: string;
  s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string };
  pid: number;
  startedAt: string;
}

export function endpointsPath(home: string): string {
  return join(home, 'endpoints.json');
}

export function readEndpointsFile(home: string): EndpointsFile | null {
  const p = endpointsPath(home);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as EndpointsFile;
  } catch {
    return null;
  }
}

function bool(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined || v === '') return dflt;
  return /^(1|true|yes|on)$/i.test(v);
}

/**
 * Builds the connection config from an environment. `requireEndpoints` false lets a
 * caller (yoto demo/up) start embedded services when nothing is configured; the
 * missing endpoints are then reported as `null` in `missing`.
 */
export function loadConnectionConfig(env: NodeJS.ProcessEnv, opts: { cwd?: string } = {}): { config: ConnectionConfig | null; missing: ('redis' | 's3')[]; partial: Partial<ConnectionConfig> & { home: string } } {
  const home = resolve(opts.cwd ?? process.cwd(), env.YOTO_HOME ?? '.yoto');
  const file = readEndpointsFile(home);
  const redisUrl = env.REDIS_URL || file?.redisUrl;
  const endpoint = env.S3_ENDPOINT || (env.S3_BUCKET && !env.S3_ENDPOINT ? undefined : file?.s3.endpoint);
  const useFile = !env.S3_ENDPOINT && !env.S3_BUCKET && file;
  const raw = {
    redisUrl,
    s3: {
      endpoint,
      bucket: env.S3_BUCKET || (useFile ? file.s3.bucket : 'yoto'),
      region: env.S3_REGION || env.AWS_REGION || (useFile ? file.s3.region : 'us-east-1'),
      prefix: env.S3_PREFIX ?? '',
      accessKeyId: env.S3_ACCESS_KEY_ID || env.AWS_ACCESS_KEY_ID || (useFile ? file.s3.accessKeyId : undefined),
      secretAccessKey: env.S3_SECRET_ACCESS_KEY || env.AWS_SECRET_ACCESS_KEY || (useFile ? file.s3.secretAccessKey : undefined),
      forcePathStyle: bool(env.S3_FORCE_PATH_STYLE, true),
    },
    logLevel: env.LOG_LEVEL || 'info',
    home,
  };
  const missing: ('redis' | 's3')[] = [];
  if (!raw.redisUrl) missing.push('redis');
  if (!raw.s3.endpoint && !env.S3_BUCKET) missing.push('s3');
  if (missing.length) return { config: null, missing, partial: { home, logLevel: raw.logLevel as ConnectionConfig['logLevel'] } };
  const r = ConnectionConfigSchema.safeParse(raw);
  if (!r.success) {
    // Messages name the variable, never echo its value (it may hold a secret).
    throw new ValidationError('CONFIG_INVALID', 'configuration', r.error.issues.map((i) => ({ path: envName(formatPath(i.path)), message: i.message })));
  }
  return { config: r.data, missing, partial: r.data };
}

function envName(path: string): string {
  const map: Record<string, string> = {
    redisUrl: 'REDIS_URL',
    's3.endpoint': 'S3_ENDPOINT',
    's3.bucket': 'S3_BUCKET',
    's3.region': 'S3_REGION',
    's3.prefix': 'S3_PREFIX',
    's3.accessKeyId': 'S3_ACCESS_KEY_ID',
    's3.secretAccessKey': 'S3_SECRET_ACCESS_KEY',
    logLevel: 'LOG_LEVEL',
  };
  return map[path] ?? path;
}

/** The config as environment variables, for child processes (workers) a CLI starts. */
export function connectionEnv(c: ConnectionConfig): Record<string, string> {
  const env: Record<string, string> = {
    REDIS_URL: c.redisUrl,
    S3_BUCKET: c.s3.bucket,
    S3_REGION: c.s3.region,
    S3_PREFIX: c.s3.prefix,
    S3_FORCE_PATH_STYLE: String(c.s3.forcePathStyle),
    LOG_LEVEL: c.logLevel,
    YOTO_HOME: c.home,
  };
  if (c.s3.endpoint) env.S3_ENDPOINT = c.s3.endpoint;
  if (c.s3.accessKeyId) env.S3_ACCESS_KEY_ID = c.s3.accessKeyId;
  if (c.s3.secretAccessKey) env.S3_SECRET_ACCESS_KEY = c.s3.secretAccessKey;
  return env;
}
