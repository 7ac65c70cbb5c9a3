/**
 * BullMQ settings every yoto worker shares (the train worker in @yoto/worker and the
 * aggregate worker in @yoto/coordinator), and the retry policy the coordinator puts
 * on train jobs. One module, so the lock the coordinator expects and the lock the
 * worker renews cannot drift apart.
 *
 * Why these numbers:
 * - `lockDuration` 60 s: a train step on a busy CPU backend, a checkpoint upload or a
 *   synchronous tfjs kernel can block the event loop for several seconds; BullMQ renews
 *   the lock every lockDuration/2, so 60 s tolerates ~30 s stalls of the event loop
 *   before another worker may take the job. Longer would delay recovery after a crash.
 * - `stalledInterval` 30 s: how often each worker looks for jobs whose lock expired.
 *   A crashed worker's job is therefore picked up again within lockDuration +
 *   stalledInterval (≤ 90 s), and resumes from its last checkpoint.
 * - `maxStalledCount` 2: a job whose worker died twice (OOM, GPU reset, preemption) is
 *   retried, not failed at once — preemptible GPU nodes die routinely — but a job that
 *   kills every worker that touches it is failed after the third loss instead of
 *   cycling forever.
 *
 * Workers may override lockDuration / stalledInterval (YOTO_LOCK_DURATION_MS /
 * YOTO_STALLED_INTERVAL_MS, for chaos tests that must recover in seconds); every
 * worker of a queue must then use the same values, see {@link stallSettings}.
 */
export const QUEUE_SETTINGS = {
  lockDuration: 60_000,
  stalledInterval: 30_000,
  maxStalledCount: 2,
} as const;

export interface StallSettings {
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount: number;
}

/**
 * QUEUE_SETTINGS with overrides. A stalledInterval longer than lockDuration only
 * delays recovery; a lockDuration under 1 s cannot be renewed reliably, so both are
 * refused here rather than discovered as phantom stalls.
 */
export function stallSettings(overrides: { lockDuration?: number; stalledInterval?: number } = {}): StallSettings {
  const lockDuration = overrides.lockDuration ?? QUEUE_SETTINGS.lockDuration;
  const stalledInterval = overrides.stalledInterval ?? QUEUE_SETTINGS.stalledInterval;
  if (!(lockDuration >= 1000)) throw new RangeError(`lockDuration must be at least 1000 ms, got ${lockDuration}`);
  if (!(stalledInterval >= 500 && stalledInterval <= lockDuration)) throw new RangeError(`stalledInterval must be 500 ms .. lockDuration (${lockDuration} ms), got ${stalledInterval}`);
  return { lockDuration, stalledInterval, maxStalledCount: QUEUE_SETTINGS.maxStalledCount };
}

/**
 * Retry policy of train jobs: 3 attempts, exponential backoff from 10 s (10 s, 20 s).
 * A retry resumes from the run's latest checkpoint, so a retry costs little.
 */
export const TRAIN_JOB_RETRY = {
  attempts: 3,
  backoff: { type: 'exponential' as const, delay: 10_000 },
} as const;

/** Retry policy of aggregate jobs: transient S3 errors get two more chances. */
export const AGGREGATE_JOB_RETRY = {
  attempts: 3,
  backoff: { type: 'exponential' as const, delay: 5_000 },
} as const;
