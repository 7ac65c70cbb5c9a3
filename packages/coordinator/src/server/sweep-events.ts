/**
 * Live updates of sweep pages over server-sent events. One poll loop per watched
 * sweep, however many pages watch it: `SweepService.get` every `intervalMs` while at
 * least one stream is open. Each stream gets
 *
 *   event: update   data: { status, terminal, summary, rows }   (HTML fragments)
 *
 * whenever the rendering changes (and once on connect), a comment line every 15 s
 * to keep proxies from closing an idle stream, and is ended after the update that
 * shows a terminal status.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '@yoto/runtime';
import type { SweepService } from '../sweeps/sweep-service.ts';
import { TERMINAL_STATUSES, type SweepDetail } from '../sweeps/sweep-record.ts';
import { SWEEP_PAGE_RUNS, runRowsHtml, sweepSummaryHtml } from './pages.ts';

interface Watch {
  streams: Set<ServerResponse>;
  timer: NodeJS.Timeout | null;
  last: string | null;
  polling: boolean;
}

const HEARTBEAT_MS = 15_000;

export function updateEvent(d: SweepDetail): string {
  const data = { status: d.status, terminal: TERMINAL_STATUSES.has(d.status), done: d.counts.completed, total: d.page?.total ?? d.runs.length, summary: sweepSummaryHtml(d), rows: runRowsHtml(d) };
  return `event: update\ndata: ${JSON.stringify(data)}\n\n`;
}

export class SweepEventHub {
  private readonly watches = new Map<string, Watch>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly sweeps: SweepService,
    private readonly intervalMs: number,
    private readonly log?: Logger,
  ) {
    this.heartbeat = setInterval(() => {
      for (const w of this.watches.values()) for (const s of w.streams) s.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Takes over `res` as an event stream for `sweepId`. */
  subscribe(sweepId: string, res: ServerResponse): void {
    if (this.closed) {
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    let w = this.watches.get(sweepId);
    if (!w) {
      w = { streams: new Set(), timer: null, last: null, polling: false };
      this.watches.set(sweepId, w);
    }
    w.streams.add(res);
    res.on('close', () => this.unsubscribe(sweepId, res));
    // A new page gets the current state at once, not at the next change.
    if (w.last) res.write(w.last);
    if (!w.timer) void this.poll(sweepId, w);
  }

  private unsubscribe(sweepId: string, res: ServerResponse): void {
    const w = this.watches.get(sweepId);
    if (!w) return;
    w.streams.delete(res);
    if (w.streams.size === 0) {
      if (w.timer) clearTimeout(w.timer);
      this.watches.delete(sweepId);
    }
  }

  private async poll(sweepId: string, w: Watch): Promise<void> {
    if (w.polling) return;
    w.polling = true;
    let terminal = false;
    try {
      const d = await this.sweeps.get(sweepId, { limit: SWEEP_PAGE_RUNS });
      if (!d) {
        for (const s of w.streams) s.end('event: gone\ndata: {}\n\n');
        return;
      }
      const ev = updateEvent(d);
      terminal = TERMINAL_STATUSES.has(d.status);
      if (ev !== w.last) {
        w.last = ev;
        for (const s of w.streams) s.write(ev);
      }
      if (terminal) for (const s of w.streams) s.end();
    } catch (err) {
      this.log?.warn({ sweepId, err: { message: (err as Error).message } }, 'live update failed; retrying');
    } finally {
      w.polling = false;
    }
    if (!terminal && !this.closed && this.watches.get(sweepId) === w && w.streams.size > 0) {
      w.timer = setTimeout(() => void this.poll(sweepId, w), this.intervalMs);
    }
  }

  /** Ends every stream (so the HTTP server can close) and stops polling. Idempotent. */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const w of this.watches.values()) {
      if (w.timer) clearTimeout(w.timer);
      for (const s of w.streams) s.end();
    }
    this.watches.clear();
  }
}
