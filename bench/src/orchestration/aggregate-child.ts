// The aggregate side of the full sweep, alone in its own process so that its memory is
// the aggregate's (Redis, S3 and the training workers live in the parent). Reads the
// endpoint from argv[2] (JSON), processes aggregate jobs until one completes or fails,
// prints one JSON line: the job's wall time and this process's memory.
import { ObjectStore, type S3Config } from '@yoto/runtime';
import { AggregateWorker } from '@yoto/coordinator';

const input = JSON.parse(process.argv[2] ?? '{}') as { redisUrl: string; s3: S3Config; prefix: string };
const rss = () => process.memoryUsage().rss / 2 ** 20;
const store = new ObjectStore(input.s3);
// When the last report file is written: what comes after is the manifest.
let reportsWrittenAt = 0;
const put = store.put.bind(store);
store.put = async (...args: Parameters<ObjectStore['put']>) => {
  const r = await put(...args);
  if (args[0].endsWith('report.html')) reportsWrittenAt = performance.now();
  return r;
};
const aggregate = new AggregateWorker({ redis: input.redisUrl, store, prefix: input.prefix, concurrency: 1 });
await aggregate.worker.waitUntilReady();
const rssIdleMiB = rss();
// Tell the parent we are ready: the sweep is submitted only after this line.
console.log(JSON.stringify({ ready: true }));
let started = 0;
aggregate.worker.on('active', () => (started = performance.now()));
const outcome = await new Promise<{ ok: boolean; error?: string; rows?: number }>((resolve) => {
  aggregate.worker.on('completed', (_job, summary) => resolve({ ok: true, rows: summary.rows }));
  aggregate.worker.on('failed', (job, err) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) resolve({ ok: false, error: err.message });
  });
});
const ended = performance.now();
const aggregateSeconds = (ended - started) / 1000;
const out = { ...outcome, aggregateSeconds, reportSeconds: (reportsWrittenAt - started) / 1000, manifestSeconds: (ended - reportsWrittenAt) / 1000, rssIdleMiB, rssAfterMiB: rss(), maxRssMiB: process.resourceUsage().maxRSS / 1024 };
await aggregate.close();
store.close();
console.log(JSON.stringify(out));
process.exit(0);
