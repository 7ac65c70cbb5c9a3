/**
 * The model tools process: `node --import tsx packages/worker/src/model-tools/main.ts REQUEST.json`.
 *
 * Why a process of its own: sampling and export need TensorFlow.js and the engine's
 * model code, which live in this package; the coordinator must not import
 * @yoto/worker (DESIGN.md), so `yoto sample` / `yoto export` and the API's
 * /sample route fetch and verify the run's artifacts into a directory and run this
 * entry on them (as `yoto worker` runs src/main.ts). The tools touch no network and
 * hold no credentials. The request is @yoto/shared's ModelToolRequestSchema.
 *
 * Output: on success, the last stdout line is a ModelToolResult JSON. On failure,
 * exit status 1, `error: <message>` on stderr and `{"error":{"code","message"}}` as
 * the last stdout line (code: a YotoError code, or INTERNAL); status 2 for a request
 * that does not parse.
 *
 * Environment: YOTO_BACKEND (auto | tensorflow | wasm | cpu, default auto).
 */
import { readFileSync } from 'node:fs';
import { ModelToolRequestSchema, YotoError, type ModelToolResult } from '@yoto/shared';
import { getTf, selectBackend, type BackendPreference } from '../backend/index.ts';
import { exportModel } from './export-model.ts';
import { renderSamples } from './sample-grid.ts';

async function main(): Promise<number> {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('error: usage: model-tools/main.ts REQUEST.json\n');
    return 2;
  }
  const parsed = ModelToolRequestSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) {
    process.stderr.write(`error: bad model-tools request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`);
    return 2;
  }
  const req = parsed.data;
  const preferred = (process.env.YOTO_BACKEND ?? 'auto') as BackendPreference;
  await selectBackend({ preferred });
  const result: ModelToolResult = req.op === 'sample' ? await renderSamples(getTf(), req) : await exportModel(req);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  const msg = err instanceof YotoError ? err.message : err instanceof Error ? (process.env.LOG_LEVEL === 'debug' && err.stack ? err.stack : err.message) : String(err);
  process.stderr.write(`error: ${msg.replace(/\n/g, ' ')}\n`);
  process.stdout.write(`${JSON.stringify({ error: { code: err instanceof YotoError ? err.code : 'INTERNAL', message: msg.split('\n')[0] } })}\n`);
  process.exitCode = 1;
}
