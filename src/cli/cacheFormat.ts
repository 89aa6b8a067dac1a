// How cache instances, cache rules and cache jobs read in a terminal.
import bytes from 'bytes';
import type { WireCacheJob, WireInstance, WireRule } from '../rpc/index.js';
import { when } from './syncFormat.js';

const b = (n: string | number): string => bytes(Number(n)) ?? '0B';

export function instanceLine(i: WireInstance): string {
  return `${i.name.padEnd(16)} ${`${b(i.used_bytes)}/${b(i.capacity_bytes)}`.padEnd(18)} ${String(i.nodes.length).padStart(3)} node(s)  sources: ${i.sources.join(', ') || '-'}`;
}

export function instanceText(i: WireInstance): string {
  return [
    `Instance:      ${i.name}${i.description ? ` — ${i.description}` : ''}`,
    `Capacity:      ${b(i.capacity_bytes)} (its nodes have ${b(i.node_capacity_bytes)}; ${b(i.used_bytes)} used)`,
    `Watermarks:    evict from ${Math.round(i.high_watermark * 100)}% down to ${Math.round(i.low_watermark * 100)}% of each node's share`,
    `Nodes:         ${i.nodes.join(', ') || '-'}`,
    `Sources:       ${i.sources.join(', ') || '-'}`,
    `Created:       ${when(i.created_ms)}`,
  ].join('\n');
}

function settingsText(r: WireRule): string {
  const c = r.cache;
  if (!c) return '';
  const parts = [c.kind];
  if (c.include.length) parts.push(`include ${c.include.join(' ')}`);
  if (c.exclude.length) parts.push(`exclude ${c.exclude.join(' ')}`);
  if (c.metadata_only) parts.push('metadata only');
  if (c.kind === 'warmup' && !c.skip_cached) parts.push('refetch cached blocks');
  if (Number(c.bandwidth_bytes_per_sec) > 0) parts.push(`≤ ${b(c.bandwidth_bytes_per_sec)}/s`);
  return parts.join(', ');
}

function scheduleText(r: WireRule): string {
  if (r.type !== 'periodic') return 'manual';
  return r.cron ? `cron "${r.cron}" (UTC)` : `every ${r.interval_minutes} min`;
}

export function cacheRuleLine(r: WireRule): string {
  return `${r.name.padEnd(16)} ${(r.cache?.kind ?? '').padEnd(7)} ${r.status.padEnd(10)} ${r.directory.padEnd(20)} ${scheduleText(r)}${r.last_job_id ? `  last job ${r.last_job_id}` : ''}`;
}

export function cacheRuleText(r: WireRule): string {
  return [
    `Rule:          ${r.name} (source ${r.source})`,
    `Does:          ${settingsText(r)}`,
    `Schedule:      ${scheduleText(r)}`,
    `Status:        ${r.status}`,
    `Directory:     ${r.directory}`,
    `Description:   ${r.description || '-'}`,
    `Last job:      ${r.last_job_id || '-'}${Number(r.last_run_ms) > 0 ? ` at ${when(r.last_run_ms)}` : ''}`,
  ].join('\n');
}

function progressText(j: WireCacheJob): string {
  const p = j.progress;
  if (!p) return '';
  const total = p.files_total !== null && p.files_total !== undefined ? p.files_total : '?';
  if (j.kind === 'evict') return `${p.nodes} node(s), ${p.blocks_evicted} blocks (${b(p.bytes_evicted)}) freed`;
  return `${p.files_done}/${total} files, ${b(p.bytes_done)}/${p.bytes_total !== null && p.bytes_total !== undefined ? b(p.bytes_total) : '?'}, ${p.files_failed} failed, `
    + `${p.blocks_fetched} blocks fetched, ${p.blocks_present} already cached, ${b(p.bytes_per_sec)}/s`;
}

export function cacheJobLine(j: WireCacheJob): string {
  return `${j.id.padStart(6)} ${j.source.padEnd(14)} ${j.rule.padEnd(14)} ${j.kind.padEnd(7)} ${j.state.padEnd(16)} ${when(j.started_ms)}  ${progressText(j)}`;
}

export function cacheJobText(j: WireCacheJob): string {
  const lines = [
    `Job:           ${j.id} (${j.kind}, ${j.trigger}, rule ${j.rule})`,
    `Source:        ${j.source}, directory ${j.directory}`,
    `State:         ${j.state}${j.reason ? ` — ${j.reason}` : ''}`,
    `Phase:         ${j.progress?.phase ?? '-'}`,
    `Progress:      ${progressText(j)}`,
    `Started:       ${when(j.started_ms)}`,
    `Ended:         ${when(j.ended_ms)}`,
  ];
  if (j.kind === 'warmup' && j.counters) lines.push(`Names synced:  listed ${j.counters.listed}, created ${j.counters.created}, updated ${j.counters.updated}`);
  if (j.warnings) lines.push(`Warnings:      ${j.warnings}`);
  const f = j.progress?.failures ?? [];
  if (f.length) lines.push('Failures:', ...f.map((x) => `  - ${x.path}: ${x.reason}`));
  return lines.join('\n');
}
