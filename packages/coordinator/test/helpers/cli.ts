/**
 * The `yoto` CLI as a user runs it, for tests: `node --import tsx …/cli/main.ts ARGS`
 * as a child process from the repository root, its stdout, stderr and exit status
 * collected. `cliEnv` builds the environment a user would set for given services,
 * with any connection settings of the surrounding shell removed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { S3Config } from '@yoto/runtime';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function yoto(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const CONNECTION_VARS = ['REDIS_URL', 'S3_ENDPOINT', 'S3_BUCKET', 'S3_PREFIX', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];

/** process.env pointed at this Redis and S3 (and `home` as YOTO_HOME), quiet logs. */
export function cliEnv(opts: { home: string; redisUrl: string; s3: S3Config }): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const k of CONNECTION_VARS) delete base[k];
  return {
    ...base,
    YOTO_HOME: opts.home,
    REDIS_URL: opts.redisUrl,
    S3_ENDPOINT: opts.s3.endpoint,
    S3_BUCKET: opts.s3.bucket,
    ...(opts.s3.prefix ? { S3_PREFIX: opts.s3.prefix } : {}),
    ...(opts.s3.accessKeyId ? { S3_ACCESS_KEY_ID: opts.s3.accessKeyId } : {}),
    ...(opts.s3.secretAccessKey ? { S3_SECRET_ACCESS_KEY: opts.s3.secretAccessKey } : {}),
    LOG_LEVEL: 'error',
  };
}
