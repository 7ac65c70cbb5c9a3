/**
 * One train job, from payload to stored result, on the main thread: resume from the
 * latest checkpoint, drive the training thread, store checkpoints as they come, and
 * upload the final artifacts before returning. `final/result.json` is written last;
 * a redelivered job that finds it returns the stored result instead of training.
 */
import { hostname } from 'node:os';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import {
  parseRunPayload,
  parseRunResult,
  RunResultSchema,
  s3Keys,
  ValidationError,
  type RunPayload,
  type RunProgress,
  type RunResult,
} from '@yoto/shared';
import type { Logger, ObjectStore } from '@yoto/runtime';
import type { BackendPreference } from '../backend/index.ts';
import { CheckpointStore } from '../storage/checkpoint-store.ts';
import type { FromThread, ReadyMessage } from './protocol.ts';
import type { TrainingThread } from './training-thread-client.ts';

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
}

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

export async function runTrainJob(job: Job, token: string | undefined, ctx: TrainJobContext): Promise<RunResult> {
  const payload = parsePayloadOrFail(job.data);
  const { sweepId, runId } = payload;
  const log = ctx.log.child({ sweepId, runId, jobId: job.id, attempt: job.attemptsMade + 1 });
  const store = ctx.store;

  const stored = await store.getJsonIfExists(s3Keys.finalResult(sweepId, runId));
  if (stored) {
    const r = RunResultSchema.safeParse(stored);
    if (r.success) {
      log.info('run already finished; returning its stored result');
      return r.data;
    }
    log.warn('stored result unreadable; training again');
  }

  const checkpoints = new CheckpointStore(store, sweepId, runId, log, { keep: ctx.keepCheckpoints ?? 2 });
  const resume = await checkpoints.loadLatest();
  const metricsKey = s3Keys.metrics(sweepId, runId);
  const metrics = resume ? await readMetrics(store, metricsKey, resume.entry.step) : [];
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

  const onStop = () => ctx.thread.send({ type: 'stop' });
  ctx.stopSignal.addEventListener('abort', onStop);
  let result: RunResult | null = null;
  let handedBack = false;
  const t0 = Date.now();
  try {
    const transfer = resume ? Object.values(resume.files).map((f) => new Uint8Array(f).buffer) : [];
    const resumeFiles = resume ? Object.fromEntries(Object.keys(resume.files).map((k, i) => [k, new Uint8Array(transfer[i] as ArrayBuffer)])) : null;
    await ctx.thread.run({ type: 'start', payload, backend: ctx.backend, resume: resumeFiles }, transfer, async (msg: FromThread) => {
      switch (msg.type) {
        case 'ready':
          ready = msg;
          log.info({ backend: msg.backend, resumedFromStep: msg.resumedFromStep }, 'training started');
          if (ctx.stopSignal.aborted) onStop();
          return false;
        case 'progress': {
          metrics.push({ step: msg.step, loss: msg.loss, terms: msg.terms, lr: msg.lr, examplesPerSecond: msg.examplesPerSecond, time: new Date().toISOString() });
          const eta = msg.examplesPerSecond > 0 ? ((totalSteps - msg.step) * payload.train.batchSize) / msg.examplesPerSecond : null;
          await publish({ step: msg.step, totalSteps, examplesPerSecond: msg.examplesPerSecond, terms: msg.terms, loss: msg.loss, phase: 'training', ...progressBase(), etaSeconds: eta });
          return false;
        }
        case 'checkpoint': {
          await checkpoints.save(msg.step, msg.files, { computeSeconds: priorSeconds + msg.seconds, examples: priorExamples + msg.examples });
          await store.put(metricsKey, metricsText(metrics), { contentType: 'application/x-ndjson' });
          log.debug({ step: msg.step }, 'checkpoint stored');
          ctx.thread.send({ type: 'checkpoint-saved', step: msg.step });
          return false;
        }
        case 'failed':
          if (msg.unrecoverable) throw new UnrecoverableError(msg.message);
          throw new Error(msg.message);
        case 'done': {
          if (msg.stopped) {
            await checkpoints.save(msg.step, msg.files, { computeSeconds: priorSeconds + msg.seconds, examples: priorExamples + msg.examples });
            await store.put(metricsKey, metricsText(metrics), { contentType: 'application/x-ndjson' });
            log.info({ step: msg.step }, 'stopped: checkpoint stored, handing the run back to the queue');
            handedBack = true;
            return true;
          }
          await publish({ ...(lastProgress ?? { terms: {}, loss: NaN, examplesPerSecond: 0 }), step: msg.step, totalSteps, phase: 'uploading', ...progressBase(), etaSeconds: 0 }, true);
          const finalDir = s3Keys.finalDir(sweepId, runId);
          for (const [name, data] of Object.entries(msg.files)) await store.put(finalDir + name, data);
          await store.putJson(s3Keys.finalEval(sweepId, runId), { runId, kind: payload.kind, fixedLambda: payload.fixedLambda, evals: msg.evals });
          await store.put(metricsKey, metricsText(metrics), { contentType: 'application/x-ndjson' });
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
          });
          // Written last: its presence means every other final artifact is stored.
          await store.putJson(s3Keys.finalResult(sweepId, runId), result);
          await publish({ ...(lastProgress ?? { terms: {}, loss: NaN, examplesPerSecond: 0 }), step: msg.step, totalSteps, phase: 'done', ...progressBase(), etaSeconds: 0 }, true);
          return true;
        }
      }
    });
  } finally {
    ctx.stopSignal.removeEventListener('abort', onStop);
  }
  if (handedBack) {
    // Back to the queue without burning an attempt; another worker resumes from the checkpoint.
    await job.moveToDelayed(Date.now() + 500, token);
    throw new DelayedError();
  }
  if (!result) throw new Error('training thread finished without a result');
  log.info({ seconds: (Date.now() - t0) / 1000, steps: (result as RunResult).steps }, 'run complete');
  return result;
}
