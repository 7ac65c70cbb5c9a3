// `yoto status` of a large sweep, alone in a fresh process (nothing cached) so that its
// time and memory are what a CLI invocation pays. Reads the endpoint, sweep id and
// options from argv[2] (JSON), prints one JSON line.
import { ObjectStore, type S3Config } from '@yoto/runtime';
import { SweepService } from '@yoto/coordinator';

const input = JSON.parse(process.argv[2] ?? '{}') as { redisUrl: string; s3: S3Config; prefix: string; sweepId: string; limit?: number };
const rss = () => process.memoryUsage().rss / 2 ** 20;
const store = new ObjectStore(input.s3);
const sweeps = new SweepService({ redis: input.redisUrl, store, prefix: input.prefix });
await sweeps.list(1); // connection up before the clock starts
const rssBeforeMiB = rss();
const t = performance.now();
const detail = await sweeps.get(input.sweepId, input.limit === undefined ? {} : { limit: input.limit });
const seconds = (performance.now() - t) / 1000;
const out = {
  seconds,
  status: detail?.status,
  counts: detail?.counts,
  runsReturned: detail?.runs.length,
  rssBeforeMiB,
  maxRssMiB: process.resourceUsage().maxRSS / 1024,
};
await sweeps.close();
store.close();
console.log(JSON.stringify(out));
process.exit(0);
