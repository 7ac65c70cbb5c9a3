/**
 * The training thread: owns the tfjs backend, the datasets (loaded once per thread
 * and reused across jobs) and one trainer at a time. Protocol in protocol.ts.
 */
import { parentPort } from 'node:worker_threads';
import { YotoError, type PeerCurve } from '@yoto/shared';
import { createLogger } from '@yoto/runtime';
import { getTf, selectBackend, type BackendInfo } from '../backend/index.ts';
import { loadDataset } from '../data/index.ts';
import { deserializeState, serializeState } from '../engine/checkpoint-format.ts';
import { flopsPerExample, LossConditionalTrainer } from '../engine/trainer.ts';
import type { FromThread, StartMessage, ToThread } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('training-thread.ts must run in a worker thread');

// Backend choice and fallbacks are logged from here, in the worker's JSON log stream.
const log = createLogger({ name: 'yoto-training-thread', level: process.env.LOG_LEVEL ?? 'info' });
let backend: BackendInfo | null = null;
let stopRequested = false;
let ackWaiter: ((step: number) => void) | null = null;
/** The baselines' probe curves of the running gap-driven YOTO run (latest `peers` message). */
let peerCurves: PeerCurve[] = [];
let currentRunId: string | null = null;

function send(msg: FromThread, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

function buffersOf(files: Record<string, Uint8Array>): ArrayBuffer[] {
  return Object.values(files)
    .map((f) => f.buffer)
    .filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}

/** Copies each file into its own ArrayBuffer so it can be transferred safely. */
function ownBuffers(files: Record<string, Uint8Array>): Record<string, Uint8Array> {
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, new Uint8Array(v)]));
}

async function run(msg: StartMessage): Promise<void> {
  stopRequested = false;
  peerCurves = msg.peers ?? [];
  currentRunId = msg.payload.runId;
  backend ??= await selectBackend({
    preferred: msg.backend.preferred,
    ...(msg.backend.threads ? { threads: msg.backend.threads } : {}),
    log: (text, fields) => log.info(fields ?? {}, text),
  });
  const tf = getTf();
  const dataset = await loadDataset(msg.payload.dataset);
  const trainer = new LossConditionalTrainer({ payload: msg.payload, tf, dataset });
  try {
    let resumedFromStep: number | null = null;
    if (msg.resume) {
      const state = deserializeState(msg.resume);
      trainer.importState(state);
      resumedFromStep = state.step;
    }
    send({
      type: 'ready',
      backend: { name: backend.name, threads: backend.threads, simd: backend.simd, ...(backend.native ? { native: backend.native } : {}) },
      flopsPerExample: flopsPerExample(trainer.model),
      resumedFromStep,
    });
    const t0 = performance.now();
    let examples = 0;
    const summary = await trainer.train({
      shouldStop: () => stopRequested,
      peerCurves: () => peerCurves,
      onProbe: (record) => send({ type: 'probe', record }),
      onProgress: (p) => {
        examples = (p.step - (resumedFromStep ?? 0)) * msg.payload.train.batchSize;
        send({ type: 'progress', ...p });
      },
      onCheckpointDue: async (step) => {
        const files = ownBuffers(serializeState(await trainer.exportState()).files);
        const acked = new Promise<number>((resolve) => (ackWaiter = resolve));
        send({ type: 'checkpoint', step, seconds: (performance.now() - t0) / 1000, examples, files }, buffersOf(files));
        await acked;
      },
    });
    const files = ownBuffers(serializeState(await trainer.exportState()).files);
    if (summary.stopped) {
      send({ type: 'done', stopped: true, step: summary.step, seconds: summary.seconds, examples: summary.examples, evalSeconds: 0, evals: [], finalTrain: summary.finalTrain, files }, buffersOf(files));
      return;
    }
    const e0 = performance.now();
    const evals = await trainer.evaluate(msg.payload.evalGrid);
    const evalSeconds = (performance.now() - e0) / 1000;
    const adaptive = trainer.adaptiveTrace;
    send({ type: 'done', stopped: false, step: summary.step, seconds: summary.seconds, examples: summary.examples, evalSeconds, evals, finalTrain: summary.finalTrain, files, ...(adaptive ? { adaptive } : {}) }, buffersOf(files));
  } finally {
    currentRunId = null;
    trainer.dispose();
  }
}

port.on('message', (msg: ToThread) => {
  if (msg.type === 'stop') {
    stopRequested = true;
  } else if (msg.type === 'peers') {
    if (msg.runId === currentRunId) peerCurves = msg.curves;
  } else if (msg.type === 'checkpoint-saved') {
    const w = ackWaiter;
    ackWaiter = null;
    w?.(msg.step);
  } else if (msg.type === 'start') {
    run(msg).catch((err: unknown) => {
      const code = err instanceof YotoError ? err.code : undefined;
      send({
        type: 'failed',
        message: err instanceof Error ? err.message : String(err),
        ...(code ? { code } : {}),
        unrecoverable: code === 'TRAINING_DIVERGED' || code === 'PAYLOAD_INVALID' || code === 'CHECKPOINT_CORRUPT',
      });
    });
  }
});
