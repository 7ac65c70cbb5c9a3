/**
 * pino loggers with fixed redaction paths, so no secret (S3 keys, Redis password,
 * API token) reaches a log line even when a whole config object is logged.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  'token',
  'apiToken',
  'secretAccessKey',
  'accessKeyId',
  'authorization',
  '*.password',
  '*.token',
  '*.apiToken',
  '*.secretAccessKey',
  '*.accessKeyId',
  '*.authorization',
  '*.*.secretAccessKey',
  '*.*.accessKeyId',
  '*.*.password',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** Replaces the password (and user) of a URL with `***`: safe to log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.username && u.password) u.username = u.username;
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

export function createLogger(opts: { name: string; level?: string; destination?: number } & Partial<LoggerOptions>): Logger {
  const { name, level, destination, ...rest } = opts;
  return pino(
    {
      name,
      level: level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      ...rest,
    },
    pino.destination({ dest: destination ?? 2, sync: true }),
  );
}
