// Records → wire messages of wharf.v1.Admin (and the few wire → value decoders the
// handlers share). The one place records become messages.
import type { CacheNode } from '../rpc/gen/wharf/v1/CacheNode.js';
import type { Job } from '../rpc/gen/wharf/v1/Job.js';
import type { Rule } from '../rpc/gen/wharf/v1/Rule.js';
import type { Source } from '../rpc/gen/wharf/v1/Source.js';
import { WharfError } from '../common/index.js';
import { parseInt64 } from '../rpc/index.js';
import { nodeActions, type NodeView } from './NodeRegistry.js';
import { RULE_TYPES, type JobRecord, type RuleRecord, type RuleType, type SourceRecord } from './records.js';

export function sourceToWire(s: SourceRecord): Source {
  return {
    name: s.name, uri: s.uri, at: s.at, root_ino: s.rootIno, read_only: s.readOnly, endpoint: s.endpoint ?? '', region: s.region ?? '',
    sync_interval_ms: s.syncIntervalMs, created_ms: s.createdMs, mode: s.mode, gen: s.gen,
    resync_started_ms: s.resyncStartedMs ?? 0, last_refresh_ms: s.lastRefreshMs ?? 0, last_success_ms: s.lastSuccessMs ?? 0, stale_since_ms: s.staleSinceMs ?? 0, stale_reason: s.staleReason ?? '',
    object_metadata: s.objectMetadata ?? false, instance: s.instance ?? '',
    pins: (s.pins ?? []).map((p) => ({ directory: p.directory, ttl_ms: p.ttlMs })), group: s.group ?? '',
  };
}

/** `actions`: what the gates accept now (RuleBook.actionsOf); none where the caller does not say. */
export function ruleToWire(r: RuleRecord, actions: readonly string[] = []): Rule {
  return {
    actions: [...actions],
    source: r.source, name: r.name, description: r.description, type: r.type, directory: r.directory, status: r.status,
    interval_minutes: r.intervalMinutes, created_ms: r.createdMs, last_job_id: r.lastJobId ?? '', last_run_ms: r.lastRunMs ?? 0,
    cron: r.cron ?? '',
    ...(r.cache ? {
      cache: {
        kind: r.cache.kind, include: r.cache.include, exclude: r.cache.exclude, metadata_only: r.cache.metadataOnly, skip_cached: r.cache.skipCached,
        bandwidth_bytes_per_sec: r.cache.bandwidthBytesPerSec, block_size: r.cache.blockSize,
      },
    } : {}),
  };
}

export function jobToWire(j: JobRecord): Job {
  const c = j.counters;
  return {
    id: j.id, source: j.source, rule: j.rule ?? '', trigger: j.trigger, directory: j.directory, state: j.state, gen: j.gen,
    started_ms: j.startedMs, ended_ms: j.endedMs ?? 0, reason: j.reason ?? '', rate: j.rate ?? 0,
    counters: {
      listed: c.listed, created: c.created, updated: c.updated, deleted: c.deleted, unchanged: c.unchanged, skipped: c.skipped,
      errors: c.errors, warnings: c.warnings, warning_count: c.warningCount, error_messages: c.errorMessages,
    },
  };
}

export function nodeToWire(n: NodeView): CacheNode {
  return {
    id: n.id, address: n.address, capacity_bytes: n.capacityBytes, used_bytes: n.usedBytes, blocks: n.blocks, state: n.state,
    last_heartbeat_ms: n.lastHeartbeatMs, registered_ms: n.registeredMs, weight: n.weight, in_placement: n.inPlacement, readable: n.readable,
    instance: n.instance ?? '', actions: nodeActions(n.id, n.state),
  };
}

/** A byte count from the wire (a decimal string), as a safe JS number. */
export function wireBytes(v: string, what: string): number {
  const n = parseInt64(v, what);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new WharfError('EINVAL', `${what} ${v} is too large`);
  return Number(n);
}

export function ruleTypeOf(t: string): RuleType {
  if (!(RULE_TYPES as readonly string[]).includes(t)) throw new WharfError('EINVAL', `rule type ${JSON.stringify(t)} is not manual or periodic`);
  return t as RuleType;
}

/** A rule interval from the wire (64 bits there, so a huge value is refused by the range check, not cut to 32 bits). */
export function wireMinutes(v: string): number {
  return Number(parseInt64(v, 'interval minutes'));
}
