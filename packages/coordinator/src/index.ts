/**
 * @yoto/coordinator's public surface: the sweep lifecycle and the aggregate worker.
 * The CLI (`src/cli/main.ts`) is built on these.
 */
export { SweepService, type SweepServiceOptions, type SubmitResult, type SweepListEntry, type WaitOptions, type CancelResult, type GetPage } from './sweeps/sweep-service.ts';
export {
  deriveStatus,
  parseSweepRecord,
  TERMINAL_STATUSES,
  type SweepRecord,
  type SweepDetail,
  type SweepStatus,
  type StoredSweepStatus,
  type RunState,
  type RunStatusRow,
} from './sweeps/sweep-record.ts';
export { AggregateWorker, type AggregateWorkerOptions, type AggregateSummary } from './aggregate/aggregate-worker.ts';
export { AggregateInputError, aggregateSweep, ChildResultCollector, failedRuns, parseChildResults, priorMembership, reportFromResults } from './aggregate/aggregate-sweep.ts';
export { buildManifest, writeManifest, loadManifest } from './aggregate/sweep-manifest.ts';
export { renderReportHtml, renderReportSections, type ReportHtmlOptions } from './aggregate/report-html.ts';
export { reportFigures, type ReportFigure, type FigureKind } from './plots/report-plots.ts';
export { linePlotSvg, type PlotOptions, type PlotSeries, type PlotPoint } from './plots/svg-plot.ts';
export { startRedisServer, type RedisServer, type RedisServerOptions } from './services/redis-server.ts';
export { startEmbeddedS3, type EmbeddedS3, type EmbeddedS3Options } from './services/s3.ts';
export { startWorkerProcesses, type LocalWorkers, type LocalWorker, type LocalWorkersOptions, type WorkerExit } from './services/worker-processes.ts';
export { pullArtifacts, selectArtifacts, ArtifactMismatchError, PULL_KINDS, type PullKind, type PullProgress, type PullSummary } from './artifacts/artifact-pull.ts';
export { pruneCheckpoints, type GcSummary } from './artifacts/checkpoint-gc.ts';
export { sampleSweep, exportRun, runModelTools, MODEL_TOOLS_ENTRY, type SampleOptions, type ModelToolsOptions } from './artifacts/run-models.ts';
export { startDashboardServer, type DashboardServer, type DashboardServerOptions } from './server/dashboard-server.ts';
export { loadServerConfig } from './server/server-config.ts';
