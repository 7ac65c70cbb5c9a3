/**
 * Errors as the API answers them: `{ "error": { "code", "message", "field"?, "fields"? } }`
 * with a fitting status. Every error that can reach a client goes through `toHttpError`,
 * so no stack trace, secret or internal message leaks.
 */
import { ValidationError, YotoError } from '@yoto/shared';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: { field?: string; fields?: { path: string; message: string }[] } = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): { error: { code: string; message: string; field?: string; fields?: { path: string; message: string }[] } } {
    return { error: { code: this.code, message: this.message, ...this.extra } };
  }
}

const YOTO_STATUS: Partial<Record<string, number>> = { NOT_FOUND: 404, CONFLICT: 409, SPEC_INVALID: 400, PAYLOAD_INVALID: 400, CONFIG_INVALID: 400, INPUT_INVALID: 400, TOOL_FAILED: 500, TIMEOUT: 504, ENQUEUE_FAILED: 503, STORE_ERROR: 502 };

/** Maps anything thrown in a handler to an HttpError; `internal` is true for what must be logged as a bug. */
export function toHttpError(err: unknown): { error: HttpError; internal: boolean } {
  if (err instanceof HttpError) return { error: err, internal: false };
  if (err instanceof ValidationError) {
    const fields = err.issues.map((i) => ({ path: i.path, message: i.message }));
    return { error: new HttpError(400, err.code, err.message, { field: fields[0]?.path ?? '', fields }), internal: false };
  }
  if (err instanceof YotoError) return { error: new HttpError(YOTO_STATUS[err.code] ?? 500, err.code, err.message), internal: (YOTO_STATUS[err.code] ?? 500) >= 500 };
  // Fastify's own errors (body too large, bad content type, …) carry a status and a code.
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    if (e.statusCode === 413) return { error: new HttpError(413, 'PAYLOAD_TOO_LARGE', 'request body too large'), internal: false };
    return { error: new HttpError(e.statusCode, e.code ?? 'BAD_REQUEST', e.message ?? 'bad request'), internal: false };
  }
  return { error: new HttpError(500, 'INTERNAL', 'internal error; see the server log'), internal: true };
}
