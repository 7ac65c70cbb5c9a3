/**
 * The sweep record: what the coordinator keeps about a sweep in Redis, beside BullMQ's
 * own job keys. Stored as the hash `redisKeys.sweep(sweepId)` (see @yoto/shared
 * layout.ts) with string fields:
 *
 *   name, problem      from the spec
 *   status             StoredSweepStatus (below)
 *   created            ms since epoch of the first successful registration
 *   totalRuns          number of train jobs (children of the aggregate job)
 *   aggregateJobId     `jobIds.aggregate(sweepId)`
 *   specKey, planKey   S3 keys of spec.json / plan.json (written before the hash)
 *   reportKey          S3 key of report.json, once the aggregate has written it
 *   error              why the sweep failed or could not be enqueued
 *
 * and the sweep id in the sorted set `redisKeys.sweeps`, scored by `created`.
 */
import type { RunProgress } from '@yoto/shared';

/**
 * What the hash says. `queued` covers everything between enqueue and the aggregate's
 * result; the live phase (running, aggregating, failed) is derived from BullMQ state.
 * `paused` holds the sweep's runs back (workers poll it) until `resume`.
 */
export type StoredSweepStatus = 'queued' | 'paused' | 'completed' | 'failed' | 'cancelled' | 'failed-to-enqueue';

/** Stored status refined with what the jobs say right now. */
export type SweepStatus = StoredSweepStatus | 'running' | 'aggregating';

export const TERMINAL_STATUSES: ReadonlySet<SweepStatus> = new Set(['completed', 'failed', 'cancelled', 'failed-to-enqueue']);

export interface SweepRecord {
  sweepId: string;
  name: string;
  problem: string;
  status: StoredSweepStatus;
  created: number;
  totalRuns: number;
  aggregateJobId: string;
  specKey: string;
  planKey: string;
  reportKey: string | null;
  error: string | null;
}

const STORED: ReadonlySet<string> = new Set<StoredSweepStatus>(['queued', 'paused', 'completed', 'failed', 'cancelled', 'failed-to-enqueue']);

/** Reads a hash as returned by HGETALL; null when the hash does not exist. */
export function parseSweepRecord(sweepId: string, h: Record<string, string>): SweepRecord | null {
  if (!h || Object.keys(h).length === 0 || !h.status) return null;
  return {
    sweepId,
    name: h.name ?? sweepId,
    problem: h.problem ?? '',
    status: STORED.has(h.status) ? (h.status as StoredSweepStatus) : 'queued',
    created: Number(h.created ?? 0),
    totalRuns: Number(h.totalRuns ?? 0),
    aggregateJobId: h.aggregateJobId ?? '',
    specKey: h.specKey ?? '',
    planKey: h.planKey ?? '',
    reportKey: h.reportKey || null,
    error: h.error || null,
  };
}

/** BullMQ job states, plus `missing` for a job that no longer exists (removed, cancelled). */
export type RunState = 'waiting' | 'prioritized' | 'delayed' | 'active' | 'completed' | 'failed' | 'waiting-children' | 'missing';

export interface RunStatusRow {
  runId: string;
  jobId: string;
  kind: 'yoto' | 'baseline';
  /** `YOTO` or `baseline kl=0.5`. */
  label: string;
  variantId: string;
  seed: number;
  state: RunState;
  /** Latest progress the train job published; null before its first update. */
  progress: RunProgress | null;
  attemptsMade: number;
  maxAttempts: number;
  failedReason: string | null;
}

export interface SweepDetail {
  record: SweepRecord;
  /** Stored status refined with live job states. */
  status: SweepStatus;
  /** Number of runs per state. */
  counts: Record<RunState, number>;
  aggregate: { jobId: string; state: RunState; failedReason: string | null; attemptsMade: number };
  runs: RunStatusRow[];
  /** Present when `runs` is one page of the sweep's runs (`total` of them in all). */
  page?: { offset: number; limit: number; total: number };
}

export function emptyCounts(): Record<RunState, number> {
  return { waiting: 0, prioritized: 0, delayed: 0, active: 0, completed: 0, failed: 0, 'waiting-children': 0, missing: 0 };
}

/**
 * The live status: stored statuses other than `queued` win; otherwise a failed
 * aggregate means failed, a running aggregate means aggregating, and any started run
 * means running. A run out of attempts does not fail the sweep: the aggregate still
 * reports what completed (partial sweep).
 */
export function deriveStatus(
  record: SweepRecord,
  aggregateState: RunState,
  /** The runs, or whether any has started (active, completed or failed). */
  runs: readonly Pick<RunStatusRow, 'state' | 'attemptsMade' | 'maxAttempts'>[] | boolean,
): SweepStatus {
  if (record.status !== 'queued') return record.status;
  if (aggregateState === 'failed') return 'failed';
  if (aggregateState === 'completed') return 'completed';
  if (aggregateState === 'active') return 'aggregating';
  if (typeof runs === 'boolean' ? runs : runs.some((r) => r.state === 'active' || r.state === 'completed' || r.attemptsMade > 0)) return 'running';
  return 'queued';
}
