/**
 * HTML building blocks of the dashboard: escaping, the page frame with its style
 * sheet, status badges. Pages are server-rendered strings; the only script is the
 * sweep page's small EventSource client.
 */
import type { SweepStatus } from '../sweeps/sweep-record.ts';
import { REPORT_CSS } from '../aggregate/report-html.ts';

export const esc = (s: string | number): string => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

const CSS = `
:root{--fg:#1f2328;--muted:#59636e;--line:#d0d7de;--bg:#f6f8fa;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:#fff}
header{display:flex;align-items:center;gap:1.5em;padding:.7em 1.5em;border-bottom:1px solid var(--line);background:var(--bg)}
header .brand{font-weight:700;font-size:16px;color:var(--fg);text-decoration:none}
header nav a{color:var(--muted);text-decoration:none;margin-right:1.1em}
header nav a:hover{color:var(--accent)}
header .mode{margin-left:auto;color:var(--muted);font-size:12px}
main{padding:1.2em 1.5em;max-width:1400px}
h1{font-size:20px;margin:.2em 0 .4em}h2{font-size:16px;margin:1.4em 0 .5em}
a{color:var(--accent)}
.muted{color:var(--muted)}
table.grid{border-collapse:collapse;width:100%;margin:.6em 0}
table.grid th,table.grid td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;white-space:nowrap}
table.grid th{font-size:12px;color:var(--muted);font-weight:600;background:var(--bg)}
table.grid td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid transparent}
.s-queued,.s-waiting,.s-prioritized,.s-waiting-children{background:#eff2f5;color:#59636e}
.s-running,.s-active,.s-aggregating{background:#ddf4ff;color:#0550ae}
.s-completed{background:#dafbe1;color:#116329}
.s-failed,.s-failed-to-enqueue{background:#ffebe9;color:#a40e26}
.s-cancelled,.s-paused,.s-delayed,.s-missing{background:#fff8c5;color:#7d4e00}
.bar{display:inline-block;width:90px;height:8px;background:#eff2f5;border-radius:4px;vertical-align:middle;margin-right:6px;overflow:hidden}
.bar>span{display:block;height:100%;background:var(--accent)}
.bar.done>span{background:#1a7f37}
.cards{display:flex;gap:1em;flex-wrap:wrap;margin:.6em 0}
.card{border:1px solid var(--line);border-radius:6px;padding:.5em .9em;min-width:140px}
.card b{display:block;font-size:18px}
.err{color:#a40e26}
form.login{max-width:360px}form.login input{width:100%;padding:6px;margin:.4em 0}
${REPORT_CSS}
`;

export interface PageOptions {
  title: string;
  body: string;
  /** Extra text at the right of the header (read-only mode). */
  mode?: string;
  script?: string;
}

export function page(o: PageOptions): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(o.title)} · yoto</title><style>${CSS}</style></head>
<body>
<header><a class="brand" href="/">yoto</a><nav><a href="/">Sweeps</a><a href="/queues">Queues</a><a href="/metrics">Metrics</a></nav>${o.mode ? `<span class="mode">${esc(o.mode)}</span>` : ''}</header>
<main>
${o.body}
</main>${o.script ? `\n<script>${o.script}</script>` : ''}
</body></html>
`;
}

export function badge(state: SweepStatus | string): string {
  return `<span class="badge s-${esc(state)}">${esc(state)}</span>`;
}

export function bar(frac: number, done = false): string {
  const pct = Math.max(0, Math.min(100, Math.round(frac * 100)));
  return `<span class="bar${done ? ' done' : ''}"><span style="width:${pct}%"></span></span>`;
}
