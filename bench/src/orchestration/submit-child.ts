// The coordinator side of the 10k-run submit, alone in its own process so that its
// memory is the coordinator's (Redis and S3 live in the parent). Reads the endpoint
// and spec from argv[2] (JSON), prints one JSON line: timings and memory.
import { ObjectStore, type S3Config } from '@yoto/runtime';
import { SweepService } from '@yoto/coordinator';
import { parseSweepSpec, planSweep } from '@yoto/shared';

const input = JSON.parse(process.argv[2] ?? '{}') as { redisUrl: string; s3: S3Config; spec: unknown; prefix: string };
const rss = () => process.memoryUsage().rss / 2 ** 20;
const rssBefore = rss();
const store = new ObjectStore(input.s3);
const sweeps = new SweepService({ redis: input.redisUrl, store, prefix: input.prefix });
await sweeps.list(1); // connection up before the clock starts
let t = performance.now();
const plan = planSweep(parseSweepSpec(input.spec));
const planSeconds = (performance.now() - t) / 1000;
t = performance.now();
const res = await sweeps.submit(input.spec);
const submitSeconds = (performance.now() - t) / 1000;
const out = {
  runs: res.runs,
  planRuns: plan.runs.length,
  created: res.created,
  sweepId: res.sweepId,
  planSeconds,
  submitSeconds,
  rssBeforeMiB: rssBefore,
  rssAfterMiB: rss(),
  maxRssMiB: process.resourceUsage().maxRSS / 1024,
};
await sweeps.close();
store.close();
console.log(JSON.stringify(out));
// Nothing is in flight any more; do not wait on idle sockets' keep-alive timers.
process.exit(0);
