/**
 * Application-level retry around artifact-store writes that must not be lost. The
 * SDK already retries each request a few times within seconds; this outlasts a longer
 * outage (an S3 endpoint restarting, a network partition) with exponential backoff up
 * to a bounded total, so a run that trained for an hour is not failed by a minute of
 * S3 downtime. Only transient store failures are retried: a missing object or a
 * checksum mismatch is an answer, not an outage.
 */
import { YotoError } from '@yoto/shared';
import type { Logger } from './logger.ts';

export interface StoreRetryOptions {
  /** Give up (rethrow the last error) once this much time has passed. @defaultValue 120000 */
  maxMs?: number;
  /** First wait between tries; doubled each time. @defaultValue 500 */
  initialDelayMs?: number;
  /** Longest wait between tries. @defaultValue 10000 */
  maxDelayMs?: number;
  /** Stops waiting early (the error is rethrown). */
  signal?: AbortSignal;
  log?: Logger;
}

/** True for failures worth waiting out: store/network errors, not NOT_FOUND or corruption. */
export function isTransientStoreError(err: unknown): boolean {
  if (err instanceof YotoError) return err.code === 'STORE_ERROR';
  return false;
}

export async function withStoreRetry<T>(what: string, fn: () => Promise<T>, opts: StoreRetryOptions = {}): Promise<T> {
  const maxMs = opts.maxMs ?? 120_000;
  let delay = opts.initialDelayMs ?? 500;
  const maxDelay = opts.maxDelayMs ?? 10_000;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await fn();
      if (attempt > 1) opts.log?.info({ what, tries: attempt, seconds: (Date.now() - started) / 1000 }, 'artifact store reachable again');
      return out;
    } catch (err) {
      const elapsed = Date.now() - started;
      if (!isTransientStoreError(err) || elapsed + delay > maxMs || opts.signal?.aborted) throw err;
      opts.log?.warn({ what, try: attempt, retryInMs: delay, err: { message: (err as Error).message } }, 'artifact store write failed; retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(maxDelay, delay * 2);
    }
  }
}
