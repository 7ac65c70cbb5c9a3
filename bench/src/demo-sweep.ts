// What the sweep benchmarks (paper, compression, yoto-gap) share: their command-line
// options, and one real yoto sweep run through `yoto demo --json` on local workers,
// returning the report it prints.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from '@yoto/shared';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

/** The value after `name` on the command line, or `dflt`. */
export function option(name: string, dflt: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}

/** `--spec FILE` (default: bench/specs/<defaultSpec>) and `--workers N` (default: one per core, at most `maxWorkers`). */
export function sweepOptions(defaultSpec: string, maxWorkers = Infinity): { spec: string; workers: string } {
  return {
    spec: option('--spec', join(here, '..', 'specs', defaultSpec)),
    workers: option('--workers', String(Math.max(1, Math.min(maxWorkers, cpus().length)))),
  };
}

export interface DemoSweep {
  report: Report;
  /** Wall-clock seconds of the whole `yoto demo` (services, sweep, report). */
  wall: number;
  /** One-minute load average when it started. */
  load: number;
}

/** Runs the spec through `yoto demo` and returns its report; exits the process if the sweep fails. */
export function runDemoSweep(spec: string, workers: string, env: Record<string, string> = {}): DemoSweep {
  const load = loadavg()[0]!;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'packages/coordinator/src/cli/main.ts'), 'demo', '--spec', spec, '--workers', workers, '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  const wall = (Date.now() - t0) / 1000;
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let report: Report;
  try {
    report = JSON.parse(last) as Report;
  } catch {
    console.error(`yoto demo produced no report (exit ${r.status})`);
    process.exit(1);
  }
  if (!report.rows) {
    console.error(`sweep failed: ${last}`);
    process.exit(1);
  }
  return { report, wall, load };
}
