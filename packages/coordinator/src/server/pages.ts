/**
 * The dashboard's pages as HTML strings: the sweep list, a sweep with every run
 * (its table body is re-rendered for each live update), the report with its plots,
 * a run's artifacts, the login form.
 */
import { s3Keys, type Report } from '@yoto/shared';
import { renderReportSections } from '../aggregate/report-html.ts';
import type { SweepListEntry } from '../sweeps/sweep-service.ts';
import { TERMINAL_STATUSES, type RunStatusRow, type SweepDetail } from '../sweeps/sweep-record.ts';
import { badge, bar, esc, page } from './html.ts';

export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const num = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
/** Runs the sweep page lists (and its live updates refresh); the counts are of every run. */
export const SWEEP_PAGE_RUNS = 200;

export const sweepHref = (sweepId: string) => `/sweeps/${encodeURIComponent(sweepId)}`;
/** Download link of an object, by its key relative to the sweep's prefix. */
export const fileHref = (sweepId: string, key: string) => `${sweepHref(sweepId)}/files/${key.slice(s3Keys.sweep(sweepId).length).split('/').map(encodeURIComponent).join('/')}`;

export interface SweepListRow extends SweepListEntry {
  /** Train jobs finished (the aggregate's processed children); null when unknown. */
  done: number | null;
}

export function sweepListPage(rows: readonly SweepListRow[], mode?: string): string {
  const body = rows.length === 0
    ? '<h1>Sweeps</h1><p class="muted">No sweeps yet. Submit one with <code>yoto submit SPEC</code> or <code>POST /api/sweeps</code>.</p>'
    : `<h1>Sweeps</h1>
<table class="grid" id="sweeps"><thead><tr><th>sweep</th><th>spec name</th><th>problem</th><th>status</th><th>progress</th><th>created</th></tr></thead><tbody>
${rows
  .map((r) => {
    const done = r.status === 'completed' ? r.totalRuns : r.done;
    const prog = done === null ? '—' : `${bar(r.totalRuns ? done / r.totalRuns : 0, r.status === 'completed')}${done}/${r.totalRuns} runs`;
    return `<tr data-sweep="${esc(r.sweepId)}"><td><a href="${sweepHref(r.sweepId)}">${esc(r.sweepId)}</a></td><td>${esc(r.name)}</td><td>${esc(r.problem)}</td><td>${badge(r.status)}</td><td>${prog}</td><td class="muted">${when(r.created)}</td></tr>`;
  })
  .join('\n')}
</tbody></table>`;
  return page({ title: 'Sweeps', body, ...(mode ? { mode } : {}) });
}

function stateText(run: RunStatusRow): string {
  if (run.state === 'active') return run.progress?.phase ?? 'starting';
  if (run.state === 'waiting' || run.state === 'prioritized') return 'queued';
  if (run.state === 'delayed') return `retrying ${run.attemptsMade + 1}/${run.maxAttempts}`;
  if (run.state === 'completed') return 'done';
  return run.state;
}

function termsText(run: RunStatusRow): string {
  const p = run.progress;
  if (!p) return '';
  const terms = Object.entries(p.terms).map(([k, v]) => `${esc(k)} ${num(v, 2)}`).join(' · ');
  return `<b>${num(p.loss, 2)}</b>${terms ? ` <span class="muted">(${terms})</span>` : ''}`;
}

/** The runs table's body: one row per run; what each live update replaces. */
export function runRowsHtml(d: SweepDetail): string {
  return d.runs
    .map((run) => {
      const p = run.progress;
      const total = p?.totalSteps ?? 0;
      const step = run.state === 'completed' && total ? total : (p?.step ?? 0);
      const frac = run.state === 'completed' ? 1 : total ? step / total : 0;
      const eta = run.state === 'active' ? duration(p?.etaSeconds) : '';
      const failure = run.failedReason ? `<span class="err" title="${esc(run.failedReason)}">${esc(run.failedReason.slice(0, 80))}</span>` : '';
      return `<tr data-run="${esc(run.runId)}" data-state="${esc(run.state)}" data-kind="${run.kind}">`
        + `<td>${esc(run.runId)}</td><td>${esc(run.label)}</td><td>${badge(run.state)} <span class="muted">${esc(stateText(run))}</span></td>`
        + `<td class="num">${bar(frac, run.state === 'completed')}<span data-field="step">${step}</span>/<span data-field="total">${total || '—'}</span></td>`
        + `<td data-field="loss">${termsText(run)}</td>`
        + `<td class="num" data-field="eps">${p && run.state === 'active' ? num(p.examplesPerSecond, 0) : ''}</td>`
        + `<td class="num">${eta}</td><td>${esc(p?.worker ?? '')}</td><td>${esc(p?.backend ?? '')}</td>`
        + `<td class="num">${run.attemptsMade ? `${run.attemptsMade}/${run.maxAttempts}` : ''}</td><td>${failure}</td></tr>`;
    })
    .join('\n');
}

/** The cards above the runs table (status, progress, aggregate); also replaced live. */
export function sweepSummaryHtml(d: SweepDetail): string {
  const total = d.page?.total ?? d.runs.length;
  const done = d.counts.completed;
  const report = d.status === 'completed' ? `<div class="card"><span class="muted">report</span><b><a id="report-link" href="${sweepHref(d.record.sweepId)}/report">open report</a></b></div>` : '';
  const error = d.record.error ? `<p class="err">${esc(d.record.error)}</p>` : '';
  return `<div class="cards"><div class="card"><span class="muted">status</span><b>${badge(d.status)}</b></div>`
    + `<div class="card"><span class="muted">runs done</span><b id="done">${done}/${total}</b>${bar(total ? done / total : 0, done === total)}</div>`
    + `<div class="card"><span class="muted">active</span><b>${d.counts.active}</b></div>`
    + `<div class="card"><span class="muted">aggregate</span><b>${badge(d.aggregate.state)}</b></div>${report}</div>${error}`;
}

/** Client of `/sweeps/:id/events`: swaps in the server-rendered parts; stops at a terminal status. */
const LIVE_SCRIPT = `(function(){
  var es=new EventSource(location.pathname.replace(/\\/$/,'')+'/events');
  var live=document.getElementById('live');
  es.addEventListener('update',function(e){var d=JSON.parse(e.data);
    document.getElementById('summary').innerHTML=d.summary;document.getElementById('runs-body').innerHTML=d.rows;
    live.textContent='live · updated '+new Date().toLocaleTimeString();if(d.terminal){es.close();live.textContent='finished';}});
  es.onerror=function(){live.textContent='reconnecting…';};
})();`;

export function sweepPage(d: SweepDetail, mode?: string): string {
  const rec = d.record;
  const terminal = TERMINAL_STATUSES.has(d.status);
  const body = `<h1>${esc(rec.name)} <span class="muted" style="font-weight:400">${esc(rec.sweepId)}</span></h1>
<p class="muted">${esc(rec.problem)} · created ${when(rec.created)} · <span id="live">${terminal ? 'finished' : 'connecting…'}</span> · <a href="/queues">queues</a> · <a href="/api/sweeps/${esc(rec.sweepId)}">JSON</a></p>
<div id="summary">${sweepSummaryHtml(d)}</div>
<table class="grid" id="runs"><thead><tr><th>run</th><th>kind</th><th>state</th><th>step</th><th>loss (terms)</th><th>examples/s</th><th>ETA</th><th>worker</th><th>backend</th><th>tries</th><th>failure</th></tr></thead>
<tbody id="runs-body">
${runRowsHtml(d)}
</tbody></table>${d.page && d.runs.length < d.page.total ? `\n<p class="muted">The first ${d.runs.length} of ${d.page.total} runs; every run: <a href="/api/sweeps/${esc(rec.sweepId)}?limit=${d.page.total}">JSON</a>.</p>` : ''}`;
  return page({ title: rec.name, body, ...(mode ? { mode } : {}), ...(terminal ? {} : { script: LIVE_SCRIPT }) });
}

export function reportPage(r: Report, mode?: string): string {
  const href = sweepHref(r.sweepId);
  const files = (['html', 'json', 'md'] as const).map((ext) => `<a href="${fileHref(r.sweepId, s3Keys.report(r.sweepId, ext))}">report.${ext}</a>`).join(' · ');
  const body = `<h1>Report: ${esc(r.name)}</h1>
<p class="muted">Sweep <a href="${href}">${esc(r.sweepId)}</a> · ${esc(r.problem)} · ${r.summary.runs} runs · generated ${esc(r.generatedAt)} · download ${files}</p>
${renderReportSections(r, { runHref: (runId) => `${href}/runs/${encodeURIComponent(runId)}/artifacts` })}`;
  return page({ title: `Report ${r.name}`, body, ...(mode ? { mode } : {}) });
}

export function artifactsPage(sweepId: string, runId: string, objects: readonly { key: string; size: number }[], mode?: string): string {
  const rows = objects.map((o) => `<tr><td><a href="${fileHref(sweepId, o.key)}">${esc(o.key.slice(s3Keys.run(sweepId, runId).length))}</a></td><td class="num">${o.size.toLocaleString('en')}</td></tr>`).join('\n');
  const body = `<h1>Artifacts of ${esc(runId)}</h1><p class="muted">Sweep <a href="${sweepHref(sweepId)}">${esc(sweepId)}</a> · <code>${esc(s3Keys.run(sweepId, runId))}</code></p>
${objects.length ? `<table class="grid"><thead><tr><th>object</th><th>bytes</th></tr></thead><tbody>\n${rows}\n</tbody></table>` : '<p class="muted">No artifacts yet.</p>'}`;
  return page({ title: `Artifacts ${runId}`, body, ...(mode ? { mode } : {}) });
}

export function messagePage(title: string, message: string, mode?: string): string {
  return page({ title, body: `<h1>${esc(title)}</h1><p>${esc(message)}</p>`, ...(mode ? { mode } : {}) });
}

export function loginPage(error?: string): string {
  const body = `<h1>Sign in</h1><p class="muted">This dashboard needs the server's <code>YOTO_API_TOKEN</code>.</p>${error ? `<p class="err">${esc(error)}</p>` : ''}
<form class="login" method="post" action="/login"><input type="password" name="token" autocomplete="current-password" placeholder="API token" autofocus><button type="submit">Sign in</button></form>`;
  return page({ title: 'Sign in', body });
}
