// The gRPC face of cache instances, cache rules and cache jobs (part of wharf.v1.Admin):
// decode, call the CachePlane, encode. Cache records become wire messages here only.
import type { CacheJob } from '../rpc/gen/wharf/v1/CacheJob.js';
import type { CacheRuleSettings__Output } from '../rpc/gen/wharf/v1/CacheRuleSettings.js';
import type { Instance } from '../rpc/gen/wharf/v1/Instance.js';
import type { NodePolicy as WirePolicy } from '../rpc/gen/wharf/v1/NodePolicy.js';
import type { AdminHandlers } from '../rpc/gen/wharf/v1/Admin.js';
import type { NodePolicy } from '../node/index.js';
import type { CachePlane } from './CachePlane.js';
import type { InstanceView } from './CacheInstances.js';
import { ruleToWire, sourceToWire, ruleTypeOf, wireBytes, wireMinutes } from './wire.js';
import type { CacheJobRecord, CacheRuleSpec } from './records.js';
import type { ServiceMetrics } from './ServiceMetrics.js';
import { unary } from './unary.js';
import type { RuleRecord } from './records.js';

type CacheHandlerNames =
  | 'CreateInstance' | 'ResizeInstance' | 'DeleteInstance' | 'ListInstances' | 'ShowInstance' | 'BindSource' | 'PinDirectory'
  | 'CreateCacheRule' | 'ListCacheRules' | 'ShowCacheRule' | 'UpdateCacheRule' | 'DeleteCacheRule' | 'ExecuteCacheRule'
  | 'TerminateCacheRule' | 'EnableCacheRule' | 'DisableCacheRule' | 'ListCacheJobs' | 'ShowCacheJob';

export function instanceToWire(v: InstanceView): Instance {
  return {
    name: v.name, description: v.description, capacity_bytes: v.capacityBytes, high_watermark: v.highWatermark, low_watermark: v.lowWatermark,
    created_ms: v.createdMs, nodes: v.nodes, sources: v.sources, node_capacity_bytes: v.nodeCapacityBytes, used_bytes: v.usedBytes,
  };
}

export function cacheJobToWire(j: CacheJobRecord): CacheJob {
  const p = j.progress;
  const c = j.counters;
  return {
    id: j.id, source: j.source, rule: j.rule, kind: j.kind, trigger: j.trigger, directory: j.directory, state: j.state,
    started_ms: j.startedMs, ended_ms: j.endedMs ?? 0, reason: j.reason ?? '', warnings: j.warnings ?? '',
    progress: {
      phase: p.phase, ...(p.filesTotal !== undefined ? { files_total: p.filesTotal } : {}), ...(p.bytesTotal !== undefined ? { bytes_total: p.bytesTotal } : {}),
      files_done: p.filesDone, bytes_done: p.bytesDone, files_failed: p.filesFailed, blocks_fetched: p.blocksFetched, blocks_present: p.blocksPresent,
      blocks_evicted: p.blocksEvicted, bytes_evicted: p.bytesEvicted, nodes: p.nodes, failures: p.failures, bytes_per_sec: p.bytesPerSec,
    },
    counters: {
      listed: c.listed, created: c.created, updated: c.updated, deleted: c.deleted, unchanged: c.unchanged, skipped: c.skipped,
      errors: c.errors, warnings: c.warnings, warning_count: c.warningCount, error_messages: c.errorMessages,
    },
  };
}

export function policyToWire(p: NodePolicy): WirePolicy {
  return { instance: p.instance, instance_version: p.instanceVersion, limit_bytes: p.limitBytes, high_watermark: p.highWatermark, low_watermark: p.lowWatermark, pins: p.pins.map((x) => ({ source: x.source, prefix: x.prefix, ttl_ms: x.ttlMs })),
    access: (p.access ?? []).map((a) => ({ source: a.source, rules: a.rules })) };
}

function specFromWire(c: CacheRuleSettings__Output | null | undefined): Partial<CacheRuleSpec> | undefined {
  if (!c) return undefined;
  return {
    kind: c.kind as CacheRuleSpec['kind'], include: c.include, exclude: c.exclude, metadataOnly: c.metadata_only,
    ...(c._skip_cached ? { skipCached: c.skip_cached! } : {}),
    bandwidthBytesPerSec: wireBytes(c.bandwidth_bytes_per_sec, 'bandwidth'), blockSize: wireBytes(c.block_size, 'block size'),
  };
}

export function cacheHandlers(cache: CachePlane, metrics: ServiceMetrics): Pick<AdminHandlers, CacheHandlerNames> {
  const u = <Req, Res>(m: string, fn: (r: Req) => Promise<Res>) => unary<Req, Res>(`Admin.${m}`, metrics, fn);
  const wireRule = (x: RuleRecord) => ruleToWire(x, cache.rules.actionsOf(x));
  const I = cache.instances;
  return {
    CreateInstance: u('CreateInstance', async (r) => instanceToWire(await I.create({
      name: r.name, description: r.description, capacityBytes: wireBytes(r.capacity_bytes, 'capacity'), nodes: r.nodes,
      ...(r._high_watermark ? { highWatermark: r.high_watermark! } : {}), ...(r._low_watermark ? { lowWatermark: r.low_watermark! } : {}),
    }))),
    ResizeInstance: u('ResizeInstance', async (r) => instanceToWire(await I.resize(r.name, {
      ...(r._capacity_bytes ? { capacityBytes: wireBytes(r.capacity_bytes!, 'capacity') } : {}), addNodes: r.add_nodes, removeNodes: r.remove_nodes,
      ...(r._high_watermark ? { highWatermark: r.high_watermark! } : {}), ...(r._low_watermark ? { lowWatermark: r.low_watermark! } : {}),
    }))),
    DeleteInstance: u('DeleteInstance', async (r) => {
      const d = await I.delete(r.name, r.force);
      return { unbound_sources: d.unboundSources, nodes_freed: d.nodesFreed, unreachable: d.unreachable, bytes_freed: d.bytesFreed };
    }),
    ListInstances: u('ListInstances', async () => ({ instances: I.list().map(instanceToWire) })),
    ShowInstance: u('ShowInstance', async (r) => instanceToWire(I.get(r.name))),
    BindSource: u('BindSource', async (r) => sourceToWire(await I.bind(r.source, r.instance))),
    PinDirectory: u('PinDirectory', async (r) => sourceToWire(await I.pin(r.source, r.directory || '/', wireBytes(r.ttl_ms, 'ttl'), r.remove))),
    CreateCacheRule: u('CreateCacheRule', async (r) => {
      const { rule, job } = await cache.rules.create(r.source, {
        name: r.name, type: ruleTypeOf(r.type), directory: r.directory || '/', description: r.description,
        ...(r._interval_minutes ? { intervalMinutes: wireMinutes(r.interval_minutes!) } : {}),
        ...(r.cron ? { cron: r.cron } : {}),
        ...(specFromWire(r.cache) ? { cache: specFromWire(r.cache)! } : {}),
        executeOnCreate: r.execute_on_create,
        ...(r._enable_on_create ? { enableOnCreate: r.enable_on_create! } : {}),
      });
      return { rule: wireRule(rule), ...(job ? { job: cacheJobToWire(job) } : {}) };
    }),
    ListCacheRules: u('ListCacheRules', async (r) => ({ rules: cache.rules.list(r.name).map(wireRule) })),
    ShowCacheRule: u('ShowCacheRule', async (r) => wireRule(cache.rules.get(r.source, r.name))),
    UpdateCacheRule: u('UpdateCacheRule', async (r) => wireRule(await cache.rules.update(r.source, r.name, {
      ...(r._new_name ? { name: r.new_name! } : {}),
      ...(r._description ? { description: r.description! } : {}),
      ...(r._interval_minutes ? { intervalMinutes: wireMinutes(r.interval_minutes!) } : {}),
      ...(r._cron ? { cron: r.cron! } : {}),
    }))),
    DeleteCacheRule: u('DeleteCacheRule', async (r) => { await cache.rules.delete(r.source, r.name); return {}; }),
    ExecuteCacheRule: u('ExecuteCacheRule', async (r) => cacheJobToWire(await cache.rules.execute(r.source, r.name))),
    TerminateCacheRule: u('TerminateCacheRule', async (r) => cacheJobToWire(await cache.rules.terminate(r.source, r.name))),
    EnableCacheRule: u('EnableCacheRule', async (r) => wireRule(await cache.rules.enable(r.source, r.name))),
    DisableCacheRule: u('DisableCacheRule', async (r) => wireRule(await cache.rules.disable(r.source, r.name))),
    ListCacheJobs: u('ListCacheJobs', async (r) => ({
      jobs: (await cache.jobs.list({ ...(r.source ? { source: r.source } : {}), ...(r.rule ? { rule: r.rule } : {}), limit: r.limit || 50 })).map(cacheJobToWire),
    })),
    ShowCacheJob: u('ShowCacheJob', async (r) => cacheJobToWire(await cache.jobs.get(r.id))),
  };
}
