/**
 * Messages between a train job (main thread: BullMQ, S3, progress) and its training
 * thread (tfjs). Training runs off the main thread so long steps never starve
 * BullMQ's lock renewal. Byte payloads are transferred, not copied.
 *
 * main -> thread: start | stop | peers
 * thread -> main: ready | progress | probe | checkpoint | done | failed
 * Gap-driven P_λ: Redis stays on the main thread. A baseline's `probe` messages are
 * published there; a gap-driven YOTO run gets its baselines' curves in `start` and
 * then in `peers` messages as they grow (each replaces the previous set).
 * A `checkpoint` message is acknowledged with `checkpoint-saved` before training
 * goes on, so at most one checkpoint is ever in flight and a stop always ends with
 * a stored checkpoint.
 */
import type { BackendPreference } from '../backend/index.ts';
import type { AdaptiveTrace, EvalPoint, PeerCurve, ProbeRecord, RunPayload } from '@yoto/shared';
import type { TrainProgress } from '../engine/trainer.ts';

export interface StartMessage {
  type: 'start';
  payload: RunPayload;
  backend: { preferred: BackendPreference; threads?: number };
  /** Trainer state files of the checkpoint to resume from, or null for a fresh run. */
  resume: Record<string, Uint8Array> | null;
  /** Gap-driven YOTO runs: the baselines' probe curves known at start. */
  peers?: PeerCurve[];
}
export interface PeersMessage {
  type: 'peers';
  /** The run they are for; a late message for a finished run is ignored. */
  runId: string;
  curves: PeerCurve[];
}
export interface StopMessage {
  type: 'stop';
}
export interface CheckpointSavedMessage {
  type: 'checkpoint-saved';
  step: number;
}
export type ToThread = StartMessage | StopMessage | CheckpointSavedMessage | PeersMessage;

export interface ReadyMessage {
  type: 'ready';
  backend: { name: string; threads: number; simd: boolean; native?: string };
  flopsPerExample: number;
  resumedFromStep: number | null;
}
export interface ProgressMessage extends TrainProgress {
  type: 'progress';
}
export interface ProbeMessage {
  type: 'probe';
  record: ProbeRecord;
}
export interface CheckpointMessage {
  type: 'checkpoint';
  step: number;
  /** Seconds and examples this attempt has trained so far. */
  seconds: number;
  examples: number;
  files: Record<string, Uint8Array>;
}
export interface DoneMessage {
  type: 'done';
  /** True when a `stop` ended training early; `files` is then the checkpoint to keep. */
  stopped: boolean;
  step: number;
  seconds: number;
  examples: number;
  evalSeconds: number;
  evals: EvalPoint[];
  finalTrain: Record<string, number>;
  files: Record<string, Uint8Array>;
  /** Gap-driven YOTO runs: the density used over training. */
  adaptive?: AdaptiveTrace;
}
export interface FailedMessage {
  type: 'failed';
  message: string;
  code?: string;
  /** A failure that retrying cannot fix (diverged training, impossible payload). */
  unrecoverable: boolean;
}
export type FromThread = ReadyMessage | ProgressMessage | ProbeMessage | CheckpointMessage | DoneMessage | FailedMessage;
