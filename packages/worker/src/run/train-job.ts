/**
 * One train job, from payload to stored result, on the main thread: resume from the
 * latest checkpoint, drive the training thread, store checkpoints as they come, and
 * upload the final artifacts before returning. `final/result.json` is written last,
 * after the store has confirmed every other final object (ObjectStore `verify`: the
 * PUT's ETag is the body's MD5, or the object is read back and compared); a
 * redelivered job that finds it returns the stored result instead of training.
 *
 * Start-up look-ups (result.json, the checkpoint pointer) are skipped only when
 * nothing can be stored for the run yet: its sweep was submitted `fresh` (the
 * coordinator found nothing under the sweep's runs/ and no earlier job of it ran) and
 * this job is starting for the first time (BullMQ attemptsStarted 1, never stalled,
 * no attempt made). Every retry, stall recovery, hand-back (SIGTERM, pause) and
 * resubmission does the look-ups.
 *
 * Every store write waits out outages (withStoreRetry, ≈2 min) before failing the
 * attempt: a checkpoint or a final upload is never dropped because S3 blinked.
 *
 * A run ends early in three ways, each after storing a checkpoint:
 * - the worker stops (SIGTERM): the job goes back to the queue (moveToDelayed, no
 *   attempt burned) and any worker resumes it;
 * - its sweep is paused (`yoto pause`, sweep hash status `paused`, polled at progress
 *   ticks): the job is parked in the delayed set (PARK_MS, then re-checked); `yoto
 *   resume` promotes it;
 * - its sweep is cancelled (status `cancelled`): the job fails with UnrecoverableError.
 */
import { hostname } from 'node:os';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import {
  parseRunPayload,
  parseRunResult,
  RunResultSchema,
  s3Keys,
  ValidationError,
  YotoError,
  type PeerCurve,
  type RunPayload,
  type RunProgress,
  type RunResult,
} from '@yoto/shared';
import { withStoreRetry, type Logger, type ObjectStore, type StoreRetryOptions } from '@yoto/runtime';
import type { BackendPreference } from '../backend/index.ts';
import { CheckpointStore } from '../storage/checkpoint-store.ts';
import type { FromThread, ReadyMessage } from './protocol.ts';
import type { TrainingThread } from './training-thread-client.ts';
import type { ProbeChannel } from './probe-channel.ts';

export interface TrainJobContext {
  store: ObjectStore;
  log: Logger;
  workerName: string;
  backend: { preferred: BackendPreference; threads?: number };
  thread: TrainingThread;
  /** Aborted when the worker is asked to stop: the run checkpoints and goes back to the queue. */
  stopSignal: AbortSignal;
  /** Checkpoint directories kept per run. @defaultValue 2 */
  keepCheckpoints?: number;
  /** Minimum milliseconds between progress updates to Redis. @defaultValue 1000 */
  progressIntervalMs?: number;
  /**
   * Reads the sweep's stored status and fresh mark (`yoto:sweep:<id>` fields `status`
   * and `fresh`), at start and at most every `controlIntervalMs` while training, so
   * that pause and cancel reach running jobs. @defaultValue never paused or
   * cancelled, never fresh
   */
  sweepState?: (sweepId: string) => Promise<SweepState>;
  /** @defaultValue 2000 */
  controlIntervalMs?: number;
  /** How long store writes wait out an outage. @defaultValue withStoreRetry's (≈2 min) */
  storeRetry?: StoreRetryOptions;
  /**
   * Probe curves for gap-driven P_λ: baselines publish, gap-driven YOTO runs read
   * their peers' every `peersIntervalMs`. @defaultValue none (YOTO runs fall back to
   * their own learning progress)
   */
  probes?: ProbeChannel;
  /** @defaultValue 2000 */
  peersIntervalMs?: number;
}

/**
 * How long a paused sweep's job is parked in the delayed set before a worker looks at
 * the status again. `resume` promotes parked jobs at once; the re-check only bounds
 * the wait of a job parked in the instant between resume's status write and its
 * promote pass.
 */
export const PARK_MS = 60_000;

/** What a train job reads of its sweep's record. */
export interface SweepState {
  status: string | null;
  /** Set at submit when nothing was stored for any of the sweep's runs (layout.ts). */
  fresh: boolean;
}

type StopReason = 'shutdown' | 'paused' | 'cancelled';

interface MetricLine {
  step: number;
  loss: number;
  terms: Record<string, number>;
  lr: number;
  examplesPerSecond: number;
  time: string;
}

function parsePayloadOrFail(data: unknown): RunPayload {
  try {
    return parseRunPayload(data);
  } catch (err) {
    // A payload that can never succeed must not be retried.
    if (err instanceof ValidationError) throw new UnrecoverableError(err.message);
    throw err;
  }
}

async function readMetrics(store: ObjectStore, key: string, upToStep: number): Promise<MetricLine[]> {
  const buf = await store.getIfExists(key);
  if (!buf) return [];
  return buf
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as MetricLine)
    .filter((m) => m.step <= upToStep);
}

const metricsText = (lines: MetricLine[]) => lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length ? '\n' : '');

/**
 * True when this delivery of the job is its first start ever: a job that started
 * before (a retry, a stall recovery, a hand-back to the queue) has attemptsStarted > 1
 * or a stall or attempt counted.
 */
export function isFirstStart(job: Pick<Job, 'attemptsStarted' | 'stalledCounter' | 'attemptsMade'>): boolean {
  return job.attemptsStarted === 1 && job.stalledCounter === 0 && job.attemptsMade === 0;
}

async function hasStopped(job: Job, token: string | undefined, reason: StopReason): Promise<never> {
  if (reason === 'cancelled') throw new UnrecoverableError('sweep cancelled');
  // Back to the queue without burning an attempt; another worker resumes from the checkpoint.
  await job.moveToDelayed(Date.now() + (reason === 'paused' ? PARK_MS : 500), token);
  throw new DelayedError();
}

export async function runTrainJob(job: Job, token: string | undefined, ctx: TrainJobContext): Promise<RunResult> {
  // Where a run's wall time goes (logged with "run complete"): tiny runs are all overhead.
  const phases: Record<string, number> = {};
  let phaseAt = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = (phases[name] ?? 0) + Math.round(now - phaseAt);
    phaseAt = now;
  };
  const payload = parsePayloadOrFail(job.data);
  const { sweepId, runId } = payload;
  const log = ctx.log.child({ sweepId, runId, jobId: job.id, attempt: job.attemptsMade + 1 });
  const store = ctx.store;
  const patient = <T>(what: string, fn: () => Promise<T>) => withStoreRetry(what, fn, { log, ...ctx.storeRetry });

  const stopReasonOf = (status: string | null): StopReason | null => (status === 'cancelled' ? 'cancelled' : status === 'paused' ? 'paused' : null);
  const control = async (): Promise<StopReason | null> => (ctx.sweepState ? stopReasonOf((await ctx.sweepState(sweepId)).status) : null);
  const initial: SweepState = ctx.sweepState ? await ctx.sweepState(sweepId) : { status: null, fresh: false };
  const early = stopReasonOf(initial.status);
  if (early) {
    log.info({ sweep: early }, 'sweep is not running; not starting this run');
    await hasStopped(job, token, early);
  }

  const resultKey = s3Keys.finalResult(sweepId, runId);
  const checkpoints = new CheckpointStore(store, sweepId, runId, log, { keep: ctx.keepCheckpoints ?? 2, ...(ctx.storeRetry ? { retry: ctx.storeRetry } : {}) });
  // Nothing can be stored for a first start of a fresh sweep's run (see the header).
  const untouched = initial.fresh && isFirstStart(job);
  // Both reads at once: a tiny run's whole start-up is these two round trips.
  const [stored, resume] = untouched ? [null, null] : await Promise.all([
    // A torn or tampered result.json (bad JSON, sha256 mismatch) counts as no result: train again.
    patient(resultKey, () =>
      store.getJsonIfExists(resultKey).catch((err: unknown) => {
        if (err instanceof SyntaxError || (err instanceof YotoError && err.code === 'CHECKPOINT_CORRUPT')) return { unreadable: true };
        throw err;
      }),
    ),
    checkpoints.loadLatest(),
  ]);
  phase('startup');
  if (stored) {
    const r = RunResultSchema.safeParse(stored);
    if (r.success) {
      log.info('run already finished; returning its stored result');
      return r.data;
    }
    log.warn('stored result unreadable; training again');
  }

  const metricsKey = s3Keys.metrics(sweepId, runId);
  const metrics = resume ? await patient(metricsKey, () => readMetrics(store, metricsKey, resume.entry.step)) : [];
  const putMetrics = (verify = false) => patient(metricsKey, () => store.put(metricsKey, metricsText(metrics), { contentType: 'application/x-ndjson', verify }));
  const priorSeconds = resume?.entry.computeSeconds ?? 0;
  const priorExamples = resume?.entry.examples ?? 0;
  if (resume) log.info({ step: resume.entry.step }, 'resuming from checkpoint');

  let ready: ReadyMessage | null = null;
  let lastProgressAt = 0;
  let lastProgress: RunProgress | null = null;
  const totalSteps = payload.train.steps;
  const progressEvery = ctx.progressIntervalMs ?? 1000;
  const publish = async (p: RunProgress, force = false) => {
    lastProgress = p;
    const now = Date.now();
    if (!force && now - lastProgressAt < progressEvery) return;
    lastProgressAt = now;
    await job.updateProgress(p).catch((err: unknown) => log.warn({ err }, 'progress update failed'));
  };
  const progressBase = () => ({
    backend: ready?.backend.name,
    worker: ctx.workerName,
  });
  await publish({ step: resume?.entry.step ?? 0, totalSteps, examplesPerSecond: 0, terms: {}, loss: NaN, phase: 'loading', ...progressBase(), etaSeconds: null }, true);

  let stopReason: StopReason | null = null;
  const stopFor = (reason: StopReason) => {
    if (stopReason === 'cancelled') return;
    stopReason = reason;
    ctx.thread.send({ type: 'stop' });
  };
  const onStop = () => stopFor('shutdown');
  ctx.stopSignal.addEventListener('abort', onStop);
  // Pause/cancel poll: off the message chain, so a slow Redis never holds up checkpoints.
  let lastControlAt = Date.now();
  let controlInFlight = false;
  const pollControl = () => {
    if (controlInFlight || Date.now() - lastControlAt < (ctx.controlIntervalMs ?? 2000)) return;
    controlInFlight = true;
    lastControlAt = Date.now();
    control()
      .then((reason) => {
        if (reason && stopReason !== reason) {
          log.info({ sweep: reason }, 'sweep no longer running: checkpointing and stopping this run');
          stopFor(reason);
        }
      })
      .catch((err: unknown) => log.warn({ err }, 'could not read the sweep status'))
      .finally(() => (controlInFlight = false));
  };
  // Gap-driven YOTO runs: the peers' curves, read here (Redis) and passed to the thread.
  const peers = payload.kind === 'yoto' ? (payload.peers ?? []) : [];
  const readPeers = async (): Promise<PeerCurve[]> => {
    if (!ctx.probes || !peers.length) return [];
    const curves = await ctx.probes.read(sweepId, peers.map((p) => p.runId));
    return peers.flatMap((p) => {
      const points = curves.get(p.runId);
      return points ? [{ runId: p.runId, lambda: p.lambda, points }] : [];
    });
  };
  let lastPeersAt = Date.now();
  let peersInFlight = false;
  const pollPeers = () => {
    if (!ctx.probes || !peers.length || peersInFlight || Date.now() - lastPeersAt < (ctx.peersIntervalMs ?? 2000)) return;
    peersInFlight = true;
    lastPeersAt = Date.now();
    readPeers()
      .then((curves) => ctx.thread.send({ type: 'peers', runId, curves }))
      .catch((err: unknown) => log.warn({ err }, 'could not read the baselines\' probe curves'))
      .finally(() => (peersInFlight = false));
  };
  const initialPeers = await readPeers().catch((err: unknown) => {
    log.warn({ err }, 'could not read the baselines\' probe curves');
    return [];
  });
  let result: RunResult | null = null;
  let handedBack = false;
  const t0 = Date.now();
  try {
    const transfer = resume ? Object.values(resume.files).map((f) => new Uint8Array(f).buffer) : [];
    const resumeFiles = resume ? Object.fromEntries(Object.keys(resume.files).map((k, i) => [k, new Uint8Array(transfer[i] as ArrayBuffer)])) : null;
    await ctx.thread.run({ type: 'start', payload, backend: ctx.backend, resume: resumeFiles, ...(peers.length ? { peers: initialPeers } : {}) }, transfer, async (msg: FromThread) => {
      switch (msg.type) {
        case 'ready':
          ready = msg;
          log.info({ backend: msg.backend, resumedFromStep: msg.resumedFromStep }, 'training started');
          if (ctx.stopSignal.aborted) onStop();
          else if (stopReason) ctx.thread.send({ type: 'stop' });
          return false;
        case 'progress': {
          metrics.push({ step: msg.step, loss: msg.loss, terms: msg.terms, lr: msg.lr, examplesPerSecond: msg.examplesPerSecond, time: new Date().toISOString() });
          const eta = msg.examplesPerSecond > 0 ? ((totalSteps - msg.step) * payload.train.batchSize) / msg.examplesPerSecond : null;
          await publish({ step: msg.step, totalSteps, examplesPerSecond: msg.examplesPerSecond, terms: msg.terms, loss: msg.loss, phase: 'training', ...progressBase(), etaSeconds: eta });
          pollControl();
          pollPeers();
          return false;
        }
        case 'probe': {
          if (payload.kind === 'baseline' && payload.probe && ctx.probes) {
            const loss = msg.record.points[0]?.loss;
            // A lost probe only weakens the YOTO run's signal; it never fails this run.
            if (loss !== undefined) await ctx.probes.publish(sweepId, runId, { step: msg.record.step, fraction: msg.record.fraction, loss }).catch((err: unknown) => log.warn({ err }, 'could not publish a probe'));
          }
          return false;
        }
        case 'checkpoint': {
          // Metrics first: the curve must always reach at least the step latest.json points
          // to, or a crash between the two would leave a gap after resume.
          await putMetrics();
          await checkpoints.save(msg.step, msg.files, { computeSeconds: priorSeconds + msg.seconds, examples: priorExamples + msg.examples });
          log.debug({ step: msg.step }, 'checkpoint stored');
          ctx.thread.send({ type: 'checkpoint-saved', step: msg.step });
          return false;
        }
        case 'failed':
          if (msg.unrecoverable) throw new UnrecoverableError(msg.message);
          throw new Error(msg.message);
        case 'done': {
          if (msg.stopped) {
            await putMetrics();
            await checkpoints.save(msg.step, msg.files, { computeSeconds: priorSeconds + msg.seconds, examples: priorExamples + msg.examples });
            log.info({ step: msg.step, reason: stopReason ?? 'shutdown' }, 'stopped: checkpoint stored');
            handedBack = true;
            return true;
          }
          // Published alongside the uploads (publish never throws): one round trip less per run.
          const uploading = publish({ ...(lastProgress ?? { terms: {}, loss: NaN, examplesPerSecond: 0 }), step: msg.step, totalSteps, phase: 'uploading', ...progressBase(), etaSeconds: 0 }, true);
          phase('train');
          const finalDir = s3Keys.finalDir(sweepId, runId);
          const evalKey = s3Keys.finalEval(sweepId, runId);
          // Independent objects, all at once; each confirmed by the store before it counts.
          await Promise.all([
            ...Object.entries(msg.files).map(([name, data]) => patient(finalDir + name, () => store.put(finalDir + name, data, { verify: true }))),
            patient(evalKey, () => store.putJson(evalKey, { runId, kind: payload.kind, fixedLambda: payload.fixedLambda, evals: msg.evals }, { verify: true })),
            putMetrics(true),
            uploading,
          ]);
          phase('upload');
          const r = ready as ReadyMessage | null;
          result = parseRunResult({
            version: 1,
            sweepId,
            runId,
            kind: payload.kind,
            variantId: payload.variantId,
            seed: payload.seed,
            fixedLambda: payload.fixedLambda,
            steps: msg.step,
            batchSize: payload.train.batchSize,
            examples: priorExamples + msg.examples,
            computeSeconds: priorSeconds + msg.seconds,
            evalSeconds: msg.evalSeconds,
            flopsPerExample: r?.flopsPerExample ?? 0,
            backend: r?.backend ?? { name: 'unknown', threads: 1 },
            worker: ctx.workerName || hostname(),
            evals: msg.evals,
            finalTrain: msg.finalTrain,
            artifacts: { final: finalDir, eval: s3Keys.finalEval(sweepId, runId), metrics: metricsKey },
            resumedFromStep: r?.resumedFromStep ?? null,
            finishedAt: new Date().toISOString(),
            ...(msg.adaptive ? { adaptive: msg.adaptive } : {}),
          });
          // Written last: its presence means every other final artifact is stored and verified.
          const res = result;
          await patient(resultKey, () => store.putJson(resultKey, res, { verify: true }));
          phase('result');
          await publish({ ...(lastProgress ?? { terms: {}, loss: NaN, examplesPerSecond: 0 }), step: msg.step, totalSteps, phase: 'done', ...progressBase(), etaSeconds: 0 }, true);
          return true;
        }
      }
    });
  } finally {
    ctx.stopSignal.removeEventListener('abort', onStop);
  }
  if (handedBack) await hasStopped(job, token, stopReason ?? 'shutdown');
  if (!result) throw new Error('training thread finished without a result');
  phase('done');
  log.info({ seconds: (Date.now() - t0) / 1000, steps: (result as RunResult).steps, phasesMs: phases, lookups: !untouched }, 'run complete');
  return result;
}
