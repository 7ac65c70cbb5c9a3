/**
 * Who may do what. Every write (any method but GET/HEAD/OPTIONS: the API's submit and
 * cancel, bull-board's job actions) needs the bearer token `YOTO_API_TOKEN`; reads need
 * it too when the server listens beyond loopback. A browser presents the token as the
 * `yoto_token` cookie that `/login` sets (HttpOnly, SameSite=Strict), since a page
 * cannot add headers to links and EventSource.
 *
 * Tokens are compared as SHA-256 digests with `timingSafeEqual`: equal-length inputs,
 * constant time, whatever the length of what the client sent. The token itself is
 * never logged or echoed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { HttpError } from './http-error.ts';
import { isLoopback, type ServerConfig } from './server-config.ts';

export const TOKEN_COOKIE = 'yoto_token';
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Reachable without a token: signing in and out, and the health check. */
const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/login', '/logout', '/healthz']);

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class ApiAuth {
  private readonly tokenDigest: Buffer | null;
  readonly readsNeedToken: boolean;

  constructor(private readonly config: Pick<ServerConfig, 'apiToken' | 'readOnly' | 'host'>) {
    this.tokenDigest = config.apiToken ? digest(config.apiToken) : null;
    this.readsNeedToken = !isLoopback(config.host);
  }

  /** Whether writes can ever succeed on this server (bull-board shows its actions only then). */
  get writable(): boolean {
    return !this.config.readOnly && this.tokenDigest !== null;
  }

  /** Constant-time check of a presented token. */
  matches(presented: string | undefined | null): boolean {
    if (!this.tokenDigest || !presented) return false;
    return timingSafeEqual(digest(presented), this.tokenDigest);
  }

  /** The token a request presents: `Authorization: Bearer …`, else the login cookie. */
  presented(req: FastifyRequest): string | null {
    const h = req.headers.authorization;
    if (typeof h === 'string') {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
      return m?.[1] ?? null;
    }
    return readCookie(req.headers.cookie, TOKEN_COOKIE);
  }

  /** Throws the HttpError the request earns, or returns when it may proceed. */
  check(req: FastifyRequest): void {
    const path = req.url.split('?')[0] ?? '';
    if (PUBLIC_PATHS.has(path)) return;
    const write = !SAFE_METHODS.has(req.method);
    if (write && this.config.readOnly) throw new HttpError(403, 'READ_ONLY', 'this server is read-only (--read-only / YOTO_READ_ONLY)');
    if (!write && !this.readsNeedToken) return;
    if (!this.tokenDigest) throw new HttpError(403, 'WRITES_DISABLED', 'writes are disabled: the server has no YOTO_API_TOKEN');
    const presented = this.presented(req);
    if (!presented) throw new HttpError(401, 'UNAUTHENTICATED', 'missing bearer token (Authorization: Bearer <YOTO_API_TOKEN>)');
    if (!this.matches(presented)) throw new HttpError(401, 'UNAUTHENTICATED', 'invalid token');
  }
}

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}
