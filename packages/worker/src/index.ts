/**
 * @yoto/worker's public surface: the train-queue worker and the training engine.
 * The process entry is `src/main.ts` (`yoto worker`).
 */
export { TrainWorker, type TrainWorkerOptions } from './run/train-worker.ts';
export { isFirstStart, runTrainJob, type SweepState, type TrainJobContext } from './run/train-job.ts';
export { RedisProbeChannel, type ProbeChannel, type ProbePoint } from './run/probe-channel.ts';
export { CheckpointStore, type CheckpointEntry, type LoadedCheckpoint } from './storage/checkpoint-store.ts';
export * from './engine/index.ts';
export * from './backend/index.ts';
