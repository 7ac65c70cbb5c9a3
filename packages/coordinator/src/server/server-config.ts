/**
 * The dashboard / API server's settings: one zod schema, read once from the
 * environment and the command's flags (flags win), then passed down.
 *
 *   YOTO_API_TOKEN       bearer token for writes (and for every request when bound
 *                        beyond loopback); at least 16 characters
 *   YOTO_READ_ONLY       1/true: refuse every write, whatever the token
 *   YOTO_DASHBOARD_HOST  bind address            (default 127.0.0.1)
 *   YOTO_DASHBOARD_PORT  port, 0 = any free one  (default 8790)
 */
import { z } from 'zod';
import { ValidationError, formatPath } from '@yoto/shared';

export const DEFAULT_DASHBOARD_PORT = 8790;

export const ServerConfigSchema = z.object({
  /** Bind address. @defaultValue '127.0.0.1' */
  host: z.string().min(1),
  /** @defaultValue 8790 */
  port: z.number().int().min(0).max(65535),
  /** Bearer token; null: writes are disabled (and binding beyond loopback is refused). */
  apiToken: z.string().min(16, 'must be at least 16 characters').max(4096).nullable(),
  /** Refuse every write. @defaultValue false */
  readOnly: z.boolean(),
  /** Largest request body accepted, bytes (413 beyond). @defaultValue 262144 */
  bodyLimit: z.number().int().min(1024).max(16 * 1024 * 1024),
  /** How often a sweep page's live stream polls the sweep. @defaultValue 1000 */
  eventIntervalMs: z.number().int().min(50).max(60_000),
});
export type ServerConfig = z.output<typeof ServerConfigSchema>;

export interface ServerFlags {
  host?: string;
  port?: number;
  readOnly?: boolean;
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

/** Builds the server config from the environment and flags; a bad value is a ValidationError naming the variable (never its value). */
export function loadServerConfig(env: NodeJS.ProcessEnv, flags: ServerFlags = {}, overrides: Partial<ServerConfig> = {}): ServerConfig {
  const raw = {
    host: flags.host ?? (env.YOTO_DASHBOARD_HOST || '127.0.0.1'),
    port: flags.port ?? (env.YOTO_DASHBOARD_PORT ? Number(env.YOTO_DASHBOARD_PORT) : DEFAULT_DASHBOARD_PORT),
    apiToken: env.YOTO_API_TOKEN ? env.YOTO_API_TOKEN : null,
    readOnly: (flags.readOnly ?? false) || truthy(env.YOTO_READ_ONLY),
    bodyLimit: 256 * 1024,
    eventIntervalMs: 1000,
    ...overrides,
  };
  const r = ServerConfigSchema.safeParse(raw);
  if (!r.success) {
    const names: Record<string, string> = { host: 'YOTO_DASHBOARD_HOST / --host', port: 'YOTO_DASHBOARD_PORT / --port', apiToken: 'YOTO_API_TOKEN', readOnly: 'YOTO_READ_ONLY' };
    throw new ValidationError('CONFIG_INVALID', 'dashboard configuration', r.error.issues.map((i) => ({ path: names[formatPath(i.path)] ?? formatPath(i.path), message: i.message })));
  }
  return r.data;
}

/** Whether a bind address only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}
