// The gRPC face of data sources and sync (wharf.v1.Admin): decode, call
// SyncControl, encode. Records become wire messages here and nowhere else.
import type { AdminHandlers } from '../rpc/gen/wharf/v1/Admin.js';
import { WharfError } from '../common/index.js';
import { parseInt64 } from '../rpc/index.js';
import { newRequestId, type AuditLog } from '../access/index.js';
import { accessHandlers } from './AccessAdmin.js';
import { cacheHandlers, policyToWire } from './CacheAdmin.js';
import type { CachePlane } from './CachePlane.js';
import type { ServiceMetrics } from './ServiceMetrics.js';
import type { SyncControl } from './SyncControl.js';
import type { NodeRegistry } from './NodeRegistry.js';
import { unary } from './unary.js';
import type { RuleRecord } from './records.js';
import type { CallAuth } from './CallAuth.js';
import { iamHandlers } from './IamAdmin.js';
import type { EventStreams } from './EventStreams.js';
import type { ChangeStream } from './ChangeStream.js';
import { changeStatusToWire, streamHandlers, streamToWire } from './StreamAdmin.js';
import { jobToWire, nodeToWire, ruleToWire, ruleTypeOf, sourceToWire, wireBytes, wireMinutes } from './wire.js';

export { jobToWire, nodeToWire, ruleToWire, sourceToWire } from './wire.js';

export function adminHandlers(sync: SyncControl, nodes: NodeRegistry, cache: CachePlane, metrics: ServiceMetrics, audit: AuditLog, auth: CallAuth, streams: EventStreams, changes: ChangeStream): AdminHandlers {
  const streamOf = (name: string) => (sync.catalog.get(name).stream ? { stream: streamToWire(streams.status(name)) } : {});
  const u = <Req, Res>(m: string, fn: (r: Req) => Promise<Res>) => unary<Req, Res>(`Admin.${m}`, metrics, fn);
  const wireRule = (x: RuleRecord) => ruleToWire(x, sync.rules.actionsOf(x));
  return {
    ...cacheHandlers(cache, metrics),
    ...accessHandlers(cache.groups, sync.catalog, metrics),
    ...iamHandlers(auth, metrics),
    ...streamHandlers(streams, metrics),
    QueryAudit: u('QueryAudit', async (r) => ({
      entries: (await audit.query({
        ...(Number(r.since_ms) > 0 ? { sinceMs: Number(r.since_ms) } : {}), ...(Number(r.until_ms) > 0 ? { untilMs: Number(r.until_ms) } : {}),
        ...(r.action ? { action: r.action } : {}), ...(r.result ? { result: r.result } : {}), ...(r.source_ip ? { sourceIp: r.source_ip } : {}),
        ...(r.plane === 'admin' || r.plane === 'data' ? { plane: r.plane } : {}), limit: r.limit || 100,
      })).map((e) => ({
        time: e.time, request_id: e.requestId, principal: e.principal, source_ip: e.sourceIp, plane: e.plane, action: e.action,
        resource: e.resource, params_json: JSON.stringify(e.params), result: e.result, latency_ms: e.latencyMs,
      })),
    })),
    ImportSource: u('ImportSource', async (r) => {
      const { source, job } = await sync.importSource({
        name: r.name, uri: r.uri, at: r.at, readOnly: r.read_only, objectMetadata: r.object_metadata,
        ...(r.endpoint ? { endpoint: r.endpoint } : {}), ...(r.region ? { region: r.region } : {}),
        ...(r._sync_interval_ms && r.sync_interval_ms !== undefined ? { syncIntervalMs: Number(parseInt64(r.sync_interval_ms, 'sync interval')) } : {}),
      });
      return { source: sourceToWire(source), job: jobToWire(job) };
    }),
    RemoveSource: u('RemoveSource', async (r) => ({
      removed_entries: (await sync.removeSource(r.name, { force: r.force, beforeRemove: async () => { await streams.forget(r.name); return cache.forgetSource(r.name); } })).removedEntries,
    })),
    ListSources: u('ListSources', async () => ({ sources: sync.catalog.list().map(sourceToWire) })),
    ShowSource: u('ShowSource', async (r) => {
      const st = (await sync.status()).find((s) => s.source.name === r.name);
      if (!st) throw new WharfError('ENOENT', `no data source named ${JSON.stringify(r.name)}`);
      return {
        source: sourceToWire(st.source), rules: st.rules.map(wireRule), sync_mode: st.syncMode, ...streamOf(st.source.name),
        ...(st.runningJob ? { running_job: jobToWire(st.runningJob) } : {}), ...(st.lastJob ? { last_job: jobToWire(st.lastJob) } : {}),
      };
    }),
    CreateRule: u('CreateRule', async (r) => {
      const { rule, job } = await sync.rules.create(r.source, {
        name: r.name, type: ruleTypeOf(r.type), directory: r.directory || '/', description: r.description,
        ...(r._interval_minutes ? { intervalMinutes: wireMinutes(r.interval_minutes!) } : {}),
        executeOnCreate: r.execute_on_create,
        ...(r._enable_on_create ? { enableOnCreate: r.enable_on_create! } : {}),
      });
      return { rule: wireRule(rule), ...(job ? { job: jobToWire(job) } : {}) };
    }),
    ListRules: u('ListRules', async (r) => ({ rules: sync.rules.list(r.name).map(wireRule) })),
    ShowRule: u('ShowRule', async (r) => wireRule(sync.rules.get(r.source, r.name))),
    UpdateRule: u('UpdateRule', async (r) => wireRule(await sync.rules.update(r.source, r.name, {
      ...(r._new_name ? { name: r.new_name! } : {}),
      ...(r._description ? { description: r.description! } : {}),
      ...(r._interval_minutes ? { intervalMinutes: wireMinutes(r.interval_minutes!) } : {}),
    }))),
    DeleteRule: u('DeleteRule', async (r) => { await sync.rules.delete(r.source, r.name); return {}; }),
    ExecuteRule: u('ExecuteRule', async (r) => jobToWire(await sync.rules.execute(r.source, r.name))),
    TerminateRule: u('TerminateRule', async (r) => jobToWire(await sync.rules.terminate(r.source, r.name))),
    EnableRule: u('EnableRule', async (r) => wireRule(await sync.rules.enable(r.source, r.name))),
    DisableRule: u('DisableRule', async (r) => wireRule(await sync.rules.disable(r.source, r.name))),
    ListJobs: u('ListJobs', async (r) => ({
      jobs: (await sync.jobs.list({ ...(r.source ? { source: r.source } : {}), ...(r.rule ? { rule: r.rule } : {}), limit: r.limit || 50 })).map(jobToWire),
    })),
    ShowJob: u('ShowJob', async (r) => jobToWire(await sync.jobs.get(r.id))),
    BeginResync: u('BeginResync', async (r) => {
      if (Boolean(r.topic) !== Boolean(r.group)) throw new WharfError('EINVAL', 'a resync over a stream needs both a new topic and a new group');
      const current = sync.catalog.get(r.name).stream;
      if (r.topic && !current) throw new WharfError('EINVAL', `source ${r.name} has no event stream to move to ${r.topic} (wharf source stream set first)`);
      if (r.topic && current && r.topic === current.topics[0] && r.group === current.group) throw new WharfError('EINVAL', 'the new topic and group must differ from the current ones');
      // The generation first: what the new topic's events apply is stamped with it.
      let s = await sync.beginResync(r.name);
      if (r.topic && current) {
        await streams.set(r.name, { ...current, topics: [r.topic], group: r.group });
        s = sync.catalog.get(r.name);
      }
      return sourceToWire(s);
    }),
    EndResync: u('EndResync', async (r) => {
      const res = await sync.endResync(r.name, { force: r.force });
      return { source: sourceToWire(res.source), removed: res.removed, total: res.total };
    }),
    RegisterNode: u('RegisterNode', async (r) => {
      const n = await nodes.register({ id: r.id, address: r.address, capacityBytes: wireBytes(r.capacity_bytes, 'capacity'), instanceVersion: wireBytes(r.instance_version, 'instance version') });
      return { node: nodeToWire(n), epoch: String(nodes.epoch()), heartbeat_ms: nodes.heartbeatMs, policy: policyToWire(cache.instances.policyFor(n.id)) };
    }),
    NodeHeartbeat: unary('Admin.NodeHeartbeat', metrics, async (r, call) => {
      const n = nodes.heartbeat({ id: r.id, usedBytes: wireBytes(r.used_bytes, 'used bytes'), blocks: wireBytes(r.blocks, 'blocks') });
      // Block reads the node refused since its last heartbeat: data-plane denials, audited here.
      for (const d of r.denied.slice(0, 1_000)) {
        audit.record({
          requestId: newRequestId(), principal: `reported by ${auth.principalName(call)}`, sourceIp: d.address, plane: 'data', action: 'ReadBlock', resource: d.source,
          params: { node: n.id, key: d.key, atMs: Number(d.time_ms) }, result: 'EACCES', latencyMs: 0,
        });
      }
      if (r.denied_dropped > 0) {
        audit.record({
          requestId: newRequestId(), principal: `reported by ${auth.principalName(call)}`, sourceIp: '-', plane: 'data', action: 'ReadBlock', resource: '-',
          params: { node: n.id, notKept: r.denied_dropped }, result: 'EACCES', latencyMs: 0,
        });
      }
      return { node: nodeToWire(n), epoch: String(nodes.epoch()), heartbeat_ms: nodes.heartbeatMs, policy: policyToWire(cache.instances.policyFor(n.id)) };
    }),
    ListNodes: u('ListNodes', async () => ({ nodes: nodes.list().map(nodeToWire), epoch: String(nodes.epoch()) })),
    DrainNode: u('DrainNode', async (r) => nodeToWire(await nodes.drain(r.id))),
    RemoveNode: u('RemoveNode', async (r) => { await nodes.remove(r.id, r.force); return {}; }),
    Status: u('Status', async () => ({
      sources: (await sync.status()).map((st) => ({
        source: sourceToWire(st.source), sync_mode: st.syncMode, rules: st.rules.map(wireRule), ...streamOf(st.source.name),
        ...(st.runningJob ? { running_job: jobToWire(st.runningJob) } : {}), ...(st.lastJob ? { last_job: jobToWire(st.lastJob) } : {}),
      })),
      ...changeStatusToWire(changes.status()),
    })),
  };
}
