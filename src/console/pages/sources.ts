// Data sources: the list and the import form; one source's status, its sync rules
// and jobs, its cache rules and jobs; a job's progress. Rule actions are the ones
// the server lists as accepted (RuleBook's gates).
import type { AdminClient, WireCacheJob, WireJob, WireRule } from '../../rpc/index.js';
import { button, bytes, csrfField, html, table, when, type Html, type PageContext } from '../html.js';

const RUNNING = new Set(['starting', 'executing', 'terminating']);
const LABEL: Record<string, string> = { execute: 'Execute', terminate: 'Terminate', enable: 'Enable', disable: 'Disable' };

export async function sourcesPage(ctx: PageContext, admin: AdminClient): Promise<Html> {
  const st = await admin.status();
  return html`${table(['source', 'at', 'store', 'sync mode', 'instance / group', 'stream', 'last job'], st.sources.map((s) => {
    const src = s.source!;
    return [
      html`<a href="/sources/${encodeURIComponent(src.name)}">${src.name}</a>`, src.at, src.uri, s.sync_mode,
      `${src.instance || '—'} / ${src.group || 'default'}`, s.stream ? s.stream.state : '—',
      s.running_job ? `${s.running_job.id} ${s.running_job.state}` : s.last_job ? `${s.last_job.id} ${s.last_job.state}` : '—',
    ];
  }), 'no data sources yet')}
<h2>Import a data source</h2>
<form method="post" action="/sources" class="box">${csrfField(ctx)}
<label>Name<input name="name" required pattern="[A-Za-z0-9._-]+"></label>
<label>Store URI<input name="uri" required placeholder="s3://bucket/prefix or file:///dir" size="34"></label>
<label>At (namespace path)<input name="at" required placeholder="/data/logs"></label>
<label>Endpoint<input name="endpoint" placeholder="https://s3.example.com"></label>
<label>Sync interval (ms)<input name="syncIntervalMs" value="-1" size="7"></label>
<label><span>Read-only</span><input type="checkbox" name="readOnly" value="1"></label>
<button>Import</button></form>`;
}

function ruleRow(ctx: PageContext, base: string, r: WireRule): Html[] {
  const what = r.cache ? `${r.cache.kind}${r.cache.metadata_only ? ' (metadata only)' : ''}` : 'sync';
  const schedule = r.type === 'periodic' ? (r.cron ? `cron ${r.cron}` : `every ${r.interval_minutes} min`) : 'manual';
  return [
    html`${r.name}`, html`${what}`, html`${r.directory}`, html`${schedule}`, html`<span class="state-${r.status}">${r.status}</span>`,
    html`${r.last_job_id ? html`<a href="${r.cache ? '/cache-jobs' : '/jobs'}/${r.last_job_id}">${r.last_job_id}</a>` : '—'}`,
    html`${r.actions.map((a) => button(ctx, `${base}/${encodeURIComponent(r.name)}/${a}`, LABEL[a] ?? a))}`,
  ];
}

function syncJobRow(j: WireJob): (Html | string)[] {
  const c = j.counters;
  return [html`<a href="/jobs/${j.id}">${j.id}</a>`, j.rule || j.trigger, html`<span class="state-${j.state}">${j.state}</span>`, when(j.started_ms), when(j.ended_ms),
    c ? `${c.listed} listed, ${c.created} created, ${c.updated} updated, ${c.deleted} deleted, ${c.errors} errors` : '—', j.reason];
}

function cacheProgress(j: WireCacheJob): Html {
  const p = j.progress;
  if (!p) return html`—`;
  const total = p.files_total === null || p.files_total === undefined ? undefined : Number(p.files_total);
  const pct = total ? Math.round((100 * Number(p.files_done)) / total) : j.state === 'succeeded' ? 100 : 0;
  return html`<progress max="100" value="${pct}"></progress> <span class="pct">${pct}%</span> ${p.files_done}/${total ?? '?'} files, ${bytes(p.bytes_done)}${p.bytes_total ? ` of ${bytes(p.bytes_total)}` : ''}, ${p.files_failed} failed`;
}

function cacheJobRow(j: WireCacheJob): (Html | string)[] {
  return [html`<a href="/cache-jobs/${j.id}">${j.id}</a>`, j.rule || j.trigger, j.kind, html`<span class="state-${j.state}">${j.state}</span>`, when(j.started_ms), cacheProgress(j), j.reason];
}

export async function sourcePage(ctx: PageContext, admin: AdminClient, name: string): Promise<{ body: Html; running: boolean }> {
  const [d, jobs, cacheRules, cacheJobs] = await Promise.all([
    admin.showSource(name), admin.listJobs({ source: name, limit: 10 }), admin.listCacheRules(name), admin.listCacheJobs({ source: name, limit: 10 }),
  ]);
  const s = d.source!;
  const base = `/sources/${encodeURIComponent(name)}`;
  const running = jobs.some((j) => RUNNING.has(j.state)) || cacheJobs.some((j) => RUNNING.has(j.state));
  const body = html`
<p>${s.uri} at <b>${s.at}</b>${s.read_only ? ' (read-only)' : ''}; sync mode <b>${d.sync_mode}</b>${s.mode === 'synchronizing' ? html` since ${when(s.resync_started_ms)} (last refresh ${when(s.last_refresh_ms)})` : ''};
last success ${when(s.last_success_ms)}; instance ${s.instance || '—'}, permission group ${s.group || 'default'}.</p>
${Number(s.stale_since_ms) > 0 ? html`<p class="flash error">Stale since ${when(s.stale_since_ms)}: ${s.stale_reason}</p>` : ''}
${d.stream ? html`<p>Event stream: <span class="state-${d.stream.state}">${d.stream.state}</span> (${d.stream.topics.join(', ')} as ${d.stream.group}), lag ${Number(d.stream.lag) < 0 ? '?' : d.stream.lag}, ${d.stream.applied} applied${d.stream.error ? ` — ${d.stream.error}` : ''}</p>` : ''}
<h2>Metadata sync rules</h2>
${table(['rule', 'kind', 'directory', 'schedule', 'status', 'last job', 'actions'], d.rules.map((r) => ruleRow(ctx, `${base}/rules`, r)))}
<form method="post" action="${base}/rules" class="box">${csrfField(ctx)}
<label>Name<input name="name" required></label><label>Directory<input name="directory" value="/"></label>
<label>Type<select name="type"><option>manual</option><option>periodic</option></select></label>
<label>Interval (minutes)<input name="intervalMinutes" size="5"></label><button>Create sync rule</button></form>
<h2>Sync jobs</h2>
${table(['job', 'rule', 'state', 'started', 'ended', 'counters', 'reason'], jobs.map(syncJobRow))}
<h2>Cache rules</h2>
${table(['rule', 'kind', 'directory', 'schedule', 'status', 'last job', 'actions'], cacheRules.map((r) => ruleRow(ctx, `${base}/cache-rules`, r)))}
<form method="post" action="${base}/cache-rules" class="box">${csrfField(ctx)}
<label>Name<input name="name" required></label>
<label>Kind<select name="kind"><option>warmup</option><option>evict</option></select></label>
<label>Directory<input name="directory" value="/"></label>
<label>Include (glob)<input name="include" placeholder="**/*.parquet"></label>
<label><span>Metadata only</span><input type="checkbox" name="metadataOnly" value="1"></label>
<button>Create cache rule</button></form>
<h2>Cache jobs</h2>
${table(['job', 'rule', 'kind', 'state', 'started', 'progress', 'reason'], cacheJobs.map(cacheJobRow))}`;
  return { body, running };
}

export async function jobPage(admin: AdminClient, id: string): Promise<{ body: Html; running: boolean }> {
  const j = await admin.showJob(id);
  const c = j.counters;
  return {
    running: RUNNING.has(j.state),
    body: html`<p>Source <a href="/sources/${encodeURIComponent(j.source)}">${j.source}</a>, rule ${j.rule || '—'} (${j.trigger}), directory ${j.directory}.</p>
${table(['state', 'started', 'ended', 'rate', 'reason'], [[html`<span class="state-${j.state}">${j.state}</span>`, when(j.started_ms), when(j.ended_ms), `${j.rate}/s`, j.reason]])}
${c ? table(['listed', 'created', 'updated', 'deleted', 'unchanged', 'skipped', 'errors'], [[c.listed, c.created, c.updated, c.deleted, c.unchanged, c.skipped, c.errors]]) : ''}
${c && c.warnings.length ? html`<h2>Warnings (${c.warning_count})</h2><ul>${c.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : ''}`,
  };
}

export async function cacheJobPage(admin: AdminClient, id: string): Promise<{ body: Html; running: boolean }> {
  const j = await admin.showCacheJob(id);
  const p = j.progress;
  return {
    running: RUNNING.has(j.state),
    body: html`<p>Source <a href="/sources/${encodeURIComponent(j.source)}">${j.source}</a>, ${j.kind} rule ${j.rule || '—'} (${j.trigger}), directory ${j.directory}.</p>
${table(['state', 'phase', 'progress', 'nodes', 'blocks fetched / present / evicted', 'rate'], [[html`<span class="state-${j.state}">${j.state}</span>`, p?.phase ?? '—', cacheProgress(j), p?.nodes ?? 0,
    `${p?.blocks_fetched ?? 0} / ${p?.blocks_present ?? 0} / ${p?.blocks_evicted ?? 0}`, `${bytes(p?.bytes_per_sec ?? 0)}/s`]])}
${j.reason ? html`<p>${j.reason}</p>` : ''}
${p && p.failures.length ? html`<h2>Failures</h2>${table(['path', 'reason'], p.failures.map((f) => [f.path, f.reason]))}` : ''}`,
  };
}
