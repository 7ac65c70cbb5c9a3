/**
 * `yoto artifacts ls SWEEP [--run RUN] [--json]` — every stored artifact with kind, size, sha256.
 * `yoto artifacts pull SWEEP [--run RUN] [--kind final|checkpoint|report|all] [--out DIR]` —
 *   downloads and verifies them (artifact-pull.ts); resumable; a progress bar on a TTY.
 * Before the aggregate has run, the manifest is built live from the store's listing.
 */
import { Option, type Command } from 'commander';
import type { ObjectStore } from '@yoto/runtime';
import { loadManifest } from '../../aggregate/sweep-manifest.ts';
import { pickRun, readPlan } from '../../artifacts/run-models.ts';
import { PULL_KINDS, pullArtifacts, selectArtifacts, type PullKind, type PullProgress } from '../../artifacts/artifact-pull.ts';
import type { CliContext } from '../context.ts';
import { renderTable } from '../render.ts';
import { runIdArg, sweepIdArg } from './args.ts';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) [v, i] = [v / 1024, i + 1];
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** One redrawn line on a TTY; nothing otherwise (pipes get the summary only). */
export function progressBar(stream: NodeJS.WriteStream, label: string): { update(p: PullProgress): void; done(): void } {
  if (!stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  const draw = (p: PullProgress) => {
    const frac = p.totalBytes > 0 ? p.bytes / p.totalBytes : p.totalFiles > 0 ? p.files / p.totalFiles : 1;
    const width = 24;
    const fill = Math.round(frac * width);
    stream.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${p.files}/${p.totalFiles} files  ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}\x1b[K`);
  };
  let latest: PullProgress | null = null;
  return {
    update(p) {
      latest = p;
      const now = Date.now();
      if (now - last >= 100 || p.files === p.totalFiles) {
        last = now;
        draw(p);
      }
    },
    done() {
      if (latest) draw(latest);
      stream.write('\n');
    },
  };
}

/** `--run` names a run of the sweep: a typo is an error, not an empty selection. */
async function requireRun(store: ObjectStore, sweepId: string, runId: string): Promise<void> {
  pickRun(await readPlan(store, sweepId), runId);
}

export function register(program: Command, ctx: CliContext): void {
  const artifacts = program.command('artifacts').description('list or download a sweep\'s stored artifacts (verified against the manifest\'s sha256)');

  artifacts
    .command('ls')
    .description('list a sweep\'s artifacts: key (runs/<run>/… for a run\'s), kind, size, sha256')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .option('--run <run>', 'only this run\'s artifacts', runIdArg)
    .option('--json', 'the manifest JSON (entries filtered by --run)')
    .action(async (sweepId: string, opts: { run?: string; json?: boolean }) => {
      await ctx.withSweeps(async (_sweeps, store) => {
        const { manifest, live } = await loadManifest(store, sweepId);
        if (opts.run) await requireRun(store, sweepId, opts.run);
        const entries = manifest.artifacts.filter((a) => !opts.run || a.runId === opts.run);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ ...manifest, live, artifacts: entries }, null, 2)}\n`);
          return;
        }
        const base = `sweeps/${sweepId}/`;
        process.stdout.write(
          `${renderTable(
            ['key', 'kind', 'size', 'sha256'],
            entries.map((a) => [a.key.slice(base.length), a.kind, formatBytes(a.size), a.sha256.slice(0, 12)]),
            ['l', 'l', 'r', 'l'],
          )}\n`,
        );
        const total = entries.reduce((s, a) => s + a.size, 0);
        process.stdout.write(`${entries.length} artifacts, ${formatBytes(total)}${live ? ' (live listing: the sweep is not aggregated yet)' : ''}\n`);
      });
    });

  artifacts
    .command('pull')
    .description('download a sweep\'s artifacts, verifying every sha256; files already present and verified are skipped')
    .argument('<sweep>', 'sweep id', sweepIdArg)
    .option('--run <run>', 'only this run\'s artifacts', runIdArg)
    .addOption(new Option('--kind <kind>', 'what to fetch: final (model, eval, metrics), checkpoint, report (+ spec, plan), all').choices(PULL_KINDS).default('final'))
    .option('--out <dir>', 'destination directory (default ./<sweep>)')
    .action(async (sweepId: string, opts: { run?: string; kind: PullKind; out?: string }) => {
      await ctx.withSweeps(async (_sweeps, store) => {
        const { manifest } = await loadManifest(store, sweepId);
        if (opts.run) await requireRun(store, sweepId, opts.run);
        const entries = selectArtifacts(manifest.artifacts, { kind: opts.kind, ...(opts.run ? { runId: opts.run } : {}) });
        const out = opts.out ?? sweepId;
        const bar = progressBar(process.stderr, 'pull');
        try {
          const s = await pullArtifacts(store, sweepId, entries, out, (p) => bar.update(p));
          bar.done();
          process.stdout.write(`${s.downloaded.length} downloaded (${formatBytes(s.bytes)}), ${s.skipped.length} already present and verified, into ${out}\n`);
        } catch (err) {
          bar.done();
          throw err;
        }
      });
    });
}
