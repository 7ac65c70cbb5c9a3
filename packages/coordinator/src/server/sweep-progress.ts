/**
 * The sweep list with each sweep's runs done, cheaply: the aggregate job's processed
 * children are exactly the finished train jobs, so one job read per sweep replaces
 * reading every run.
 */
import type { Queue } from 'bullmq';
import { jobIds } from '@yoto/shared';
import type { SweepService } from '../sweeps/sweep-service.ts';
import type { SweepListRow } from './pages.ts';

export class SweepProgressReader {
  constructor(
    private readonly sweeps: SweepService,
    private readonly aggregateQueue: Queue,
  ) {}

  async list(limit = 200): Promise<SweepListRow[]> {
    const entries = await this.sweeps.list(limit);
    return Promise.all(
      entries.map(async (e) => {
        if (e.status === 'completed') return { ...e, done: e.totalRuns };
        const job = await this.aggregateQueue.getJob(jobIds.aggregate(e.sweepId)).catch(() => undefined);
        if (!job) return { ...e, done: null };
        const c = await job.getDependenciesCount({ processed: true }).catch(() => ({ processed: undefined }));
        return { ...e, done: c.processed ?? null };
      }),
    );
  }
}
