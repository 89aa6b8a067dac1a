// How the CLI prints sources, rules, jobs and status.
import bytes from 'bytes';
import type { WireStreamStatus, WireCacheJob, WireJob, WireNodeList, WireRule, WireSource, WireStatus } from '../rpc/index.js';

export function when(ms: string | number): string {
  const n = Number(ms);
  return n > 0 ? new Date(n).toISOString().replace('T', ' ').slice(0, 19) : '-';
}

function intervalText(ms: string | number): string {
  const n = Number(ms);
  return n < 0 ? 'never after first load' : n === 0 ? 'every access' : `${n} ms`;
}

export function sourceLine(s: WireSource, syncMode: string = s.mode): string {
  return `${s.name.padEnd(16)} ${s.at.padEnd(24)} ${s.uri}${s.read_only ? ' (read-only)' : ''}  ${syncMode}`;
}

/** A job in one line: "last job 7 succeeded: listed …, created …, updated …, deleted …" (or running). */
export function jobSummary(j: WireJob | null | undefined): string {
  if (!j) return 'no job yet';
  const c = j.counters;
  const counts = c ? `: listed ${c.listed}, created ${c.created}, updated ${c.updated}, deleted ${c.deleted}` : '';
  return `${['starting', 'executing', 'terminating'].includes(j.state) ? 'running job' : 'last job'} ${j.id} ${j.state}${counts}`;
}

export function sourceText(s: WireSource): string {
  return [
    `Source:        ${s.name}`,
    `Store:         ${s.uri}${s.endpoint ? ` via ${s.endpoint}` : ''}${s.region ? ` (${s.region})` : ''}`,
    `Mounted at:    ${s.at} (inode ${s.root_ino})${s.read_only ? ', read-only' : ''}`,
    `On access:     sync ${intervalText(s.sync_interval_ms)}`,
    `Object meta:   ${s.object_metadata ? 'read (s3fs/rclone owner, mode, time, symlinks)' : 'not read'}`,
    `Mode:          ${s.mode}${Number(s.resync_started_ms) > 0 ? ` since ${when(s.resync_started_ms)}` : ''}`,
    `Generation:    ${s.gen}`,
    `Last success:  ${when(s.last_success_ms)}`,
    `Cache:         ${s.instance ? `instance ${s.instance}` : 'the nodes in no instance'}${s.pins.length ? `; ${s.pins.map((p) => `${p.directory} ${Number(p.ttl_ms) ? `ttl ${Number(p.ttl_ms) / 1000}s` : 'pinned'}`).join(', ')}` : ''}`,
  ].join('\n');
}

export function ruleLine(r: WireRule): string {
  const sched = r.type === 'periodic' ? `every ${r.interval_minutes} min` : '';
  return `${r.name.padEnd(16)} ${r.type.padEnd(9)} ${r.status.padEnd(10)} ${r.directory.padEnd(20)} ${sched}${r.last_job_id ? `  last job ${r.last_job_id}` : ''}`;
}

export function ruleText(r: WireRule): string {
  return [
    `Rule:          ${r.name} (source ${r.source})`,
    `Type:          ${r.type}${r.type === 'periodic' ? `, every ${r.interval_minutes} minutes` : ''}`,
    `Status:        ${r.status}`,
    `Directory:     ${r.directory}`,
    `Description:   ${r.description || '-'}`,
    `Last job:      ${r.last_job_id || '-'}${Number(r.last_run_ms) > 0 ? ` at ${when(r.last_run_ms)}` : ''}`,
  ].join('\n');
}

export function countersText(j: WireJob): string {
  const c = j.counters;
  if (!c) return '';
  return `listed ${c.listed}, created ${c.created}, updated ${c.updated}, deleted ${c.deleted}, unchanged ${c.unchanged}, skipped ${c.skipped}, errors ${c.errors}`;
}

export function jobLine(j: WireJob): string {
  return `${j.id.padStart(6)} ${j.source.padEnd(14)} ${(j.rule || `(${j.trigger})`).padEnd(14)} ${j.state.padEnd(16)} ${when(j.started_ms)}  ${countersText(j)}`;
}

export function jobText(j: WireJob): string {
  const lines = [
    `Job:           ${j.id} (${j.trigger}${j.rule ? `, rule ${j.rule}` : ''})`,
    `Source:        ${j.source}, directory ${j.directory}, generation ${j.gen}`,
    `State:         ${j.state}${j.reason ? ` — ${j.reason}` : ''}`,
    `Started:       ${when(j.started_ms)}`,
    `Ended:         ${when(j.ended_ms)}`,
    `Counters:      ${countersText(j)}`,
    `Rate:          ${j.rate} entries/s`,
  ];
  const c = j.counters;
  if (c && Number(c.warning_count) > 0) lines.push(`Warnings:      ${c.warning_count}`, ...c.warnings.map((w) => `  - ${w}`));
  if (c && c.error_messages.length > 0) lines.push('Errors:', ...c.error_messages.map((w) => `  - ${w}`));
  return lines.join('\n');
}

export function statusText(st: WireStatus): string {
  const plane = changePlaneText(st);
  if (st.sources.length === 0) return ['no data sources (import one with: wharf source import NAME --uri … --at /path)', plane].filter(Boolean).join('\n\n');
  const blocks = st.sources.map((s) => {
    const src = s.source!;
    const lines = [`${src.name}  ${src.uri} at ${src.at}`, `  sync mode:    ${s.sync_mode}`];
    if (s.running_job) lines.push(`  running job:  ${s.running_job.id} ${s.running_job.state}, ${countersText(s.running_job)}, ${s.running_job.rate}/s`);
    if (s.last_job) lines.push(`  last job:     ${s.last_job.id} ${s.last_job.state} at ${when(s.last_job.ended_ms || s.last_job.started_ms)}${s.last_job.reason ? ` (${s.last_job.reason})` : ''}`);
    lines.push(`  last success: ${when(src.last_success_ms)}`);
    if (s.last_job?.counters) {
      lines.push(`  counters:     ${countersText(s.last_job)}`);
      if (Number(s.last_job.counters.warning_count) > 0) lines.push(`  warnings:     ${s.last_job.counters.warning_count} (first: ${s.last_job.counters.warnings[0] ?? ''})`);
    }
    lines.push(`  rules:        ${s.rules.length === 0 ? 'none' : s.rules.map((r) => `${r.name} (${r.type}, ${r.status})`).join(', ')}`);
    if (s.stream) lines.push(`  stream:       ${streamLine(s.stream)}`);
    if (Number(src.stale_since_ms) > 0) lines.push(`  STALE since:  ${when(src.stale_since_ms)}: invalidations were lost (${src.stale_reason}); each directory re-lists on its next access`);
    return lines.join('\n');
  });
  if (plane) blocks.push(plane);
  return blocks.join('\n\n');
}

/** The change stream this master publishes and the invalidations it reads, if any. */
function changePlaneText(st: WireStatus): string {
  const lines: string[] = [];
  const c = st.changes;
  if (c) {
    lines.push(`change stream: ${c.state} on ${c.topic} as cluster ${c.cluster} (epoch ${c.epoch}, ${c.partitions} partitions), `
      + `${c.published} published, last seq ${c.last_published_seq} of ${c.last_seq} at ${when(c.last_published_ms)}, ${c.pending} waiting in the outbox${c.error ? `; error: ${c.error}` : ''}`);
  }
  const f = st.invalidations;
  if (f) {
    const lag = Number(f.lag) < 0 ? 'lag unknown' : `lag ${f.lag}`;
    lines.push(`invalidations: ${f.state} (${f.topics.join(', ')} as group ${f.group}), ${lag}, last message ${when(f.last_message_ms)}; `
      + `${f.applied} applied, ${f.duplicates} duplicates, ${f.own} own, ${f.losses} losses${f.last_loss ? ` (last at ${when(f.last_loss_ms)}: ${f.last_loss})` : ''}${f.error ? `; error: ${f.error}` : ''}`);
  }
  return lines.join('\n');
}

/** The cache cluster in `wharf status`: nodes by state, and the cache jobs running. */
export function clusterText(l: WireNodeList, running: WireCacheJob[]): string {
  if (l.nodes.length === 0 && running.length === 0) return '';
  const by = new Map<string, number>();
  for (const n of l.nodes) by.set(n.state, (by.get(n.state) ?? 0) + 1);
  const used = l.nodes.reduce((a, n) => a + Number(n.used_bytes), 0);
  const cap = l.nodes.reduce((a, n) => a + Number(n.capacity_bytes), 0);
  const lines = [`cache nodes: ${l.nodes.length} (${[...by].map(([s, n]) => `${n} ${s}`).join(', ') || 'none'}), ${bytes(used) ?? '0B'} of ${bytes(cap) ?? '0B'} used, placement epoch ${l.epoch}`];
  for (const n of l.nodes) if (n.state !== 'ONLINE') lines.push(`  ${n.id} ${n.state} at ${n.address}, last heartbeat ${when(n.last_heartbeat_ms)}`);
  for (const j of running) {
    const p = j.progress;
    lines.push(`  cache job ${j.id} ${j.kind} ${j.source}:${j.directory} ${j.state}, ${p?.files_done ?? 0}/${p?.files_total ?? '?'} files, ${p?.files_failed ?? 0} failed`);
  }
  return lines.join('\n');
}

/** One line of a source's event stream: state, lag, last event, counters. */
export function streamLine(t: WireStreamStatus): string {
  const lag = Number(t.lag) < 0 ? 'lag unknown' : `lag ${t.lag}`;
  return `${t.state} (${t.topics.join(', ')} as group ${t.group}), ${lag}, last event ${when(t.last_event_ms)}; `
    + `${t.applied} applied, ${t.dropped} dropped as old, ${t.stale} marked stale, ${t.skipped} skipped, ${t.dead_lettered} to ${t.dead_letter_topic}${t.error ? `; error: ${t.error}` : ''}`;
}
