/**
 * Every name yoto uses outside the process: queue names, Redis keys, S3 keys.
 * Nothing else builds these strings.
 *
 * Redis (besides BullMQ's own `bull:<queue>:*` keys):
 *   yoto:sweeps                 ZSET  sweepId -> created (ms since epoch)
 *   yoto:sweep:<sweepId>        HASH  name, problem, status, created, totalRuns,
 *                                     aggregateJobId, specKey, planKey, reportKey, error,
 *                                     fresh (train workers poll `status` for paused / cancelled;
 *                                     `fresh` "1": at submit nothing was stored under the
 *                                     sweep's runs/, so a run's first start skips its S3
 *                                     look-ups; removed by any later (re-)enqueue)
 *   yoto:sweep:<sweepId>:probe:<runId>  LIST  a baseline's probe curve for gap-driven YOTO
 *                                     runs: JSON `{"step","fraction","loss"}` per probe,
 *                                     appended as it trains (a resumed run may append a
 *                                     step again; readers keep the last), expires after 30 days
 *
 * S3 (one bucket, optional prefix):
 *   sweeps/<sweepId>/spec.json                           the validated spec
 *   sweeps/<sweepId>/plan.json                           every run with its payload
 *   sweeps/<sweepId>/runs/<runId>/checkpoints/<step>/... weights + optimizer + RNG state
 *   sweeps/<sweepId>/runs/<runId>/checkpoints/latest.json pointer, written last, with sha256s
 *   sweeps/<sweepId>/runs/<runId>/final/...              final model state + eval.json, then result.json last
 *   sweeps/<sweepId>/runs/<runId>/metrics.jsonl          training curve
 *   sweeps/<sweepId>/report/report.{json,md,html}        aggregate output
 *   sweeps/<sweepId>/manifest.json                       every artifact: key, size, sha256
 */
import { isValidId } from './ids.ts';

export const QUEUES = {
  train: 'yoto-train',
  aggregate: 'yoto-aggregate',
  /**
   * Holds one gate job per sweep while a large sweep is enqueued in chunks; no worker
   * takes from it. The aggregate waits on its gate, so it cannot start before every
   * run is enqueued (see the coordinator's sweep-service.ts).
   */
  gate: 'yoto-gate',
} as const;

function id(x: string): string {
  if (!isValidId(x)) throw new Error(`invalid id "${x.slice(0, 80)}"`);
  return x;
}

export const redisKeys = {
  sweeps: 'yoto:sweeps',
  sweep: (sweepId: string) => `yoto:sweep:${id(sweepId)}`,
  probe: (sweepId: string, runId: string) => `yoto:sweep:${id(sweepId)}:probe:${id(runId)}`,
} as const;

/** Seconds a probe curve stays in Redis after its last append. */
export const PROBE_TTL_SECONDS = 30 * 24 * 3600;

/** BullMQ job ids: deterministic, so a resubmission cannot enqueue a run twice. */
export const jobIds = {
  train: (sweepId: string, runId: string) => `${id(sweepId)}.${id(runId)}`,
  aggregate: (sweepId: string) => `${id(sweepId)}.aggregate`,
  gate: (sweepId: string) => `${id(sweepId)}.gate`,
} as const;

export const s3Keys = {
  sweep: (sweepId: string) => `sweeps/${id(sweepId)}/`,
  spec: (sweepId: string) => `sweeps/${id(sweepId)}/spec.json`,
  plan: (sweepId: string) => `sweeps/${id(sweepId)}/plan.json`,
  manifest: (sweepId: string) => `sweeps/${id(sweepId)}/manifest.json`,
  run: (sweepId: string, runId: string) => `sweeps/${id(sweepId)}/runs/${id(runId)}/`,
  checkpointDir: (sweepId: string, runId: string, step: number) =>
    `sweeps/${id(sweepId)}/runs/${id(runId)}/checkpoints/${String(step).padStart(9, '0')}/`,
  checkpointLatest: (sweepId: string, runId: string) => `sweeps/${id(sweepId)}/runs/${id(runId)}/checkpoints/latest.json`,
  finalDir: (sweepId: string, runId: string) => `sweeps/${id(sweepId)}/runs/${id(runId)}/final/`,
  finalEval: (sweepId: string, runId: string) => `sweeps/${id(sweepId)}/runs/${id(runId)}/final/eval.json`,
  /** The run's result record, written after every other final artifact: its presence means the run is done. */
  finalResult: (sweepId: string, runId: string) => `sweeps/${id(sweepId)}/runs/${id(runId)}/final/result.json`,
  metrics: (sweepId: string, runId: string) => `sweeps/${id(sweepId)}/runs/${id(runId)}/metrics.jsonl`,
  report: (sweepId: string, ext: 'json' | 'md' | 'html') => `sweeps/${id(sweepId)}/report/report.${ext}`,
} as const;
