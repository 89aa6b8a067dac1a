// The client of wharf.v1.Admin: data sources, sync rules and jobs, begin/end,
// status. Replies are the generated wire types (typed; ids and 64-bit counters as
// decimal strings), which is what the CLI prints.
import type { CallOptions, ClientUnaryCall, Metadata } from '@grpc/grpc-js';
import { MAX_MESSAGE_BYTES } from '../common/index.js';
import type { AdminClient as AdminStub } from './gen/wharf/v1/Admin.js';
import type { CreateRuleRequest } from './gen/wharf/v1/CreateRuleRequest.js';
import type { CreateRuleReply__Output } from './gen/wharf/v1/CreateRuleReply.js';
import type { EndResyncReply__Output } from './gen/wharf/v1/EndResyncReply.js';
import type { ImportSourceRequest } from './gen/wharf/v1/ImportSourceRequest.js';
import type { ImportSourceReply__Output } from './gen/wharf/v1/ImportSourceReply.js';
import type { Job__Output } from './gen/wharf/v1/Job.js';
import type { JobList__Output } from './gen/wharf/v1/JobList.js';
import type { RemoveSourceReply__Output } from './gen/wharf/v1/RemoveSourceReply.js';
import type { Rule__Output } from './gen/wharf/v1/Rule.js';
import type { RuleList__Output } from './gen/wharf/v1/RuleList.js';
import type { Source__Output } from './gen/wharf/v1/Source.js';
import type { SourceDetail__Output } from './gen/wharf/v1/SourceDetail.js';
import type { SourceList__Output } from './gen/wharf/v1/SourceList.js';
import type { StatusReply__Output } from './gen/wharf/v1/StatusReply.js';
import type { UpdateRuleRequest } from './gen/wharf/v1/UpdateRuleRequest.js';
import { channelOptions, invoke, type Callback } from './invoke.js';
import { callMetadata, channelCredentials, tlsChannelOptions, type ClientSecurity } from './security.js';
import { wharfProto } from './proto.js';

import type { CacheNode__Output } from './gen/wharf/v1/CacheNode.js';
import type { CacheJob__Output } from './gen/wharf/v1/CacheJob.js';
import type { CacheJobList__Output } from './gen/wharf/v1/CacheJobList.js';
import type { CreateCacheRuleReply__Output } from './gen/wharf/v1/CreateCacheRuleReply.js';
import type { CreateInstanceRequest } from './gen/wharf/v1/CreateInstanceRequest.js';
import type { DeleteInstanceReply__Output } from './gen/wharf/v1/DeleteInstanceReply.js';
import type { Instance__Output } from './gen/wharf/v1/Instance.js';
import type { InstanceList__Output } from './gen/wharf/v1/InstanceList.js';
import type { NodePolicy__Output } from './gen/wharf/v1/NodePolicy.js';
import type { ResizeInstanceRequest } from './gen/wharf/v1/ResizeInstanceRequest.js';
import type { PermissionGroup__Output } from './gen/wharf/v1/PermissionGroup.js';
import type { GroupList__Output } from './gen/wharf/v1/GroupList.js';
import type { AccessDecision__Output } from './gen/wharf/v1/AccessDecision.js';
import type { AuditEntries__Output } from './gen/wharf/v1/AuditEntries.js';
import type { AuditEntry__Output } from './gen/wharf/v1/AuditEntry.js';
import type { User__Output } from './gen/wharf/v1/User.js';
import type { StreamStatus__Output } from './gen/wharf/v1/StreamStatus.js';
import type { StreamSettings } from './gen/wharf/v1/StreamSettings.js';
import type { UserList__Output } from './gen/wharf/v1/UserList.js';
import type { AccessKey__Output } from './gen/wharf/v1/AccessKey.js';
import type { KeyList__Output } from './gen/wharf/v1/KeyList.js';
import type { CreateKeyReply__Output } from './gen/wharf/v1/CreateKeyReply.js';
import type { DeleteUserReply__Output } from './gen/wharf/v1/DeleteUserReply.js';
import type { WhoAmIReply__Output } from './gen/wharf/v1/WhoAmIReply.js';
import type { NodeList__Output } from './gen/wharf/v1/NodeList.js';
import type { NodeReply__Output } from './gen/wharf/v1/NodeReply.js';

export type WireSource = Source__Output;
export type WireNode = CacheNode__Output;
export type WireNodeList = NodeList__Output;
export type WireRule = Rule__Output;
export type WireJob = Job__Output;
export type WireStatus = StatusReply__Output;
export type WireSourceDetail = SourceDetail__Output;
export type WireInstance = Instance__Output;
export type WireCacheJob = CacheJob__Output;
export type WireNodePolicy = NodePolicy__Output;
export type WireGroup = PermissionGroup__Output;
export type WireAccessDecision = AccessDecision__Output;
export type WireAuditEntry = AuditEntry__Output;
export type WireUser = User__Output;
export type WireStreamStatus = StreamStatus__Output;
export type WireAccessKey = AccessKey__Output;
export type WireWhoAmI = WhoAmIReply__Output;

export class AdminClient {
  private readonly stub: AdminStub;
  private readonly metadata: Metadata;

  constructor(readonly address: string, private readonly deadlineMs = 30_000, security?: ClientSecurity) {
    const Admin = wharfProto().wharf.v1.Admin;
    this.stub = new Admin(address, channelCredentials(address, security), { ...channelOptions(MAX_MESSAGE_BYTES), ...tlsChannelOptions(address, security) });
    this.metadata = callMetadata(security);
  }

  private call<T>(method: string, fn: (md: Metadata, opts: CallOptions, cb: Callback<T>) => ClientUnaryCall): Promise<T> {
    return invoke(method, this.deadlineMs, fn, this.metadata);
  }

  registerNode(r: { id: string; address: string; capacityBytes: number; instanceVersion?: number }): Promise<NodeReply__Output> {
    return this.call('RegisterNode', (md, o, cb) => this.stub.RegisterNode({ id: r.id, address: r.address, capacity_bytes: String(r.capacityBytes), instance_version: String(r.instanceVersion ?? 0) }, md, o, cb));
  }
  nodeHeartbeat(r: { id: string; usedBytes: number; blocks: number; denied?: { timeMs: number; address: string; source: string; key: string }[]; dropped?: number }): Promise<NodeReply__Output> {
    return this.call('NodeHeartbeat', (md, o, cb) => this.stub.NodeHeartbeat({
      id: r.id, used_bytes: String(r.usedBytes), blocks: String(r.blocks),
      denied: (r.denied ?? []).map((d) => ({ time_ms: String(d.timeMs), address: d.address, source: d.source, key: d.key })), denied_dropped: r.dropped ?? 0,
    }, md, o, cb));
  }
  listNodes(): Promise<NodeList__Output> {
    return this.call('ListNodes', (md, o, cb) => this.stub.ListNodes({}, md, o, cb));
  }
  drainNode(id: string): Promise<CacheNode__Output> {
    return this.call('DrainNode', (md, o, cb) => this.stub.DrainNode({ id }, md, o, cb));
  }
  async removeNode(id: string, force: boolean): Promise<void> {
    await this.call('RemoveNode', (md, o, cb) => this.stub.RemoveNode({ id, force }, md, o, cb));
  }
  importSource(r: ImportSourceRequest): Promise<ImportSourceReply__Output> {
    return this.call('ImportSource', (md, o, cb) => this.stub.ImportSource(r, md, o, cb));
  }
  removeSource(name: string, force: boolean): Promise<RemoveSourceReply__Output> {
    return this.call('RemoveSource', (md, o, cb) => this.stub.RemoveSource({ name, force }, md, o, cb));
  }
  async listSources(): Promise<WireSource[]> {
    return (await this.call<SourceList__Output>('ListSources', (md, o, cb) => this.stub.ListSources({}, md, o, cb))).sources;
  }
  showSource(name: string): Promise<SourceDetail__Output> {
    return this.call('ShowSource', (md, o, cb) => this.stub.ShowSource({ name }, md, o, cb));
  }
  createRule(r: CreateRuleRequest): Promise<CreateRuleReply__Output> {
    return this.call('CreateRule', (md, o, cb) => this.stub.CreateRule(r, md, o, cb));
  }
  async listRules(source: string): Promise<WireRule[]> {
    return (await this.call<RuleList__Output>('ListRules', (md, o, cb) => this.stub.ListRules({ name: source }, md, o, cb))).rules;
  }
  showRule(source: string, name: string): Promise<WireRule> {
    return this.call('ShowRule', (md, o, cb) => this.stub.ShowRule({ source, name }, md, o, cb));
  }
  updateRule(r: UpdateRuleRequest): Promise<WireRule> {
    return this.call('UpdateRule', (md, o, cb) => this.stub.UpdateRule(r, md, o, cb));
  }
  async deleteRule(source: string, name: string): Promise<void> {
    await this.call('DeleteRule', (md, o, cb) => this.stub.DeleteRule({ source, name }, md, o, cb));
  }
  executeRule(source: string, name: string): Promise<WireJob> {
    return this.call('ExecuteRule', (md, o, cb) => this.stub.ExecuteRule({ source, name }, md, o, cb));
  }
  terminateRule(source: string, name: string): Promise<WireJob> {
    return this.call('TerminateRule', (md, o, cb) => this.stub.TerminateRule({ source, name }, md, o, cb));
  }
  enableRule(source: string, name: string): Promise<WireRule> {
    return this.call('EnableRule', (md, o, cb) => this.stub.EnableRule({ source, name }, md, o, cb));
  }
  disableRule(source: string, name: string): Promise<WireRule> {
    return this.call('DisableRule', (md, o, cb) => this.stub.DisableRule({ source, name }, md, o, cb));
  }
  async listJobs(f: { source?: string; rule?: string; limit?: number } = {}): Promise<WireJob[]> {
    return (await this.call<JobList__Output>('ListJobs', (md, o, cb) => this.stub.ListJobs({ source: f.source ?? '', rule: f.rule ?? '', limit: f.limit ?? 0 }, md, o, cb))).jobs;
  }
  showJob(id: string): Promise<WireJob> {
    return this.call('ShowJob', (md, o, cb) => this.stub.ShowJob({ id }, md, o, cb));
  }
  beginResync(name: string, stream?: { topic: string; group: string }): Promise<WireSource> {
    return this.call('BeginResync', (md, o, cb) => this.stub.BeginResync({ name, topic: stream?.topic ?? '', group: stream?.group ?? '' }, md, o, cb));
  }
  endResync(name: string, force: boolean): Promise<EndResyncReply__Output> {
    return this.call('EndResync', (md, o, cb) => this.stub.EndResync({ name, force }, md, o, cb));
  }
  createInstance(r: CreateInstanceRequest): Promise<WireInstance> {
    return this.call('CreateInstance', (md, o, cb) => this.stub.CreateInstance(r, md, o, cb));
  }
  resizeInstance(r: ResizeInstanceRequest): Promise<WireInstance> {
    return this.call('ResizeInstance', (md, o, cb) => this.stub.ResizeInstance(r, md, o, cb));
  }
  deleteInstance(name: string, force: boolean): Promise<DeleteInstanceReply__Output> {
    return this.call('DeleteInstance', (md, o, cb) => this.stub.DeleteInstance({ name, force }, md, o, cb));
  }
  async listInstances(): Promise<WireInstance[]> {
    return (await this.call<InstanceList__Output>('ListInstances', (md, o, cb) => this.stub.ListInstances({}, md, o, cb))).instances;
  }
  showInstance(name: string): Promise<WireInstance> {
    return this.call('ShowInstance', (md, o, cb) => this.stub.ShowInstance({ name }, md, o, cb));
  }
  bindSource(source: string, instance: string): Promise<WireSource> {
    return this.call('BindSource', (md, o, cb) => this.stub.BindSource({ source, instance }, md, o, cb));
  }
  pinDirectory(r: { source: string; directory: string; ttlMs: number; remove: boolean }): Promise<WireSource> {
    return this.call('PinDirectory', (md, o, cb) => this.stub.PinDirectory({ source: r.source, directory: r.directory, ttl_ms: String(r.ttlMs), remove: r.remove }, md, o, cb));
  }
  createCacheRule(r: CreateRuleRequest): Promise<CreateCacheRuleReply__Output> {
    return this.call('CreateCacheRule', (md, o, cb) => this.stub.CreateCacheRule(r, md, o, cb));
  }
  async listCacheRules(source: string): Promise<WireRule[]> {
    return (await this.call<RuleList__Output>('ListCacheRules', (md, o, cb) => this.stub.ListCacheRules({ name: source }, md, o, cb))).rules;
  }
  showCacheRule(source: string, name: string): Promise<WireRule> {
    return this.call('ShowCacheRule', (md, o, cb) => this.stub.ShowCacheRule({ source, name }, md, o, cb));
  }
  updateCacheRule(r: UpdateRuleRequest): Promise<WireRule> {
    return this.call('UpdateCacheRule', (md, o, cb) => this.stub.UpdateCacheRule(r, md, o, cb));
  }
  async deleteCacheRule(source: string, name: string): Promise<void> {
    await this.call('DeleteCacheRule', (md, o, cb) => this.stub.DeleteCacheRule({ source, name }, md, o, cb));
  }
  executeCacheRule(source: string, name: string): Promise<WireCacheJob> {
    return this.call('ExecuteCacheRule', (md, o, cb) => this.stub.ExecuteCacheRule({ source, name }, md, o, cb));
  }
  terminateCacheRule(source: string, name: string): Promise<WireCacheJob> {
    return this.call('TerminateCacheRule', (md, o, cb) => this.stub.TerminateCacheRule({ source, name }, md, o, cb));
  }
  enableCacheRule(source: string, name: string): Promise<WireRule> {
    return this.call('EnableCacheRule', (md, o, cb) => this.stub.EnableCacheRule({ source, name }, md, o, cb));
  }
  disableCacheRule(source: string, name: string): Promise<WireRule> {
    return this.call('DisableCacheRule', (md, o, cb) => this.stub.DisableCacheRule({ source, name }, md, o, cb));
  }
  async listCacheJobs(f: { source?: string; rule?: string; limit?: number } = {}): Promise<WireCacheJob[]> {
    return (await this.call<CacheJobList__Output>('ListCacheJobs', (md, o, cb) => this.stub.ListCacheJobs({ source: f.source ?? '', rule: f.rule ?? '', limit: f.limit ?? 0 }, md, o, cb))).jobs;
  }
  showCacheJob(id: string): Promise<WireCacheJob> {
    return this.call('ShowCacheJob', (md, o, cb) => this.stub.ShowCacheJob({ id }, md, o, cb));
  }
  createGroup(instance: string, name: string, description = ''): Promise<WireGroup> {
    return this.call('CreateGroup', (md, o, cb) => this.stub.CreateGroup({ instance, name, description }, md, o, cb));
  }
  async deleteGroup(instance: string, name: string): Promise<void> {
    await this.call('DeleteGroup', (md, o, cb) => this.stub.DeleteGroup({ instance, name }, md, o, cb));
  }
  async listGroups(instance: string): Promise<WireGroup[]> {
    return (await this.call<GroupList__Output>('ListGroups', (md, o, cb) => this.stub.ListGroups({ instance }, md, o, cb))).groups;
  }
  showGroup(instance: string, name: string): Promise<WireGroup> {
    return this.call('ShowGroup', (md, o, cb) => this.stub.ShowGroup({ instance, name }, md, o, cb));
  }
  addGroupRule(instance: string, group: string, cidr: string, mode: string): Promise<WireGroup> {
    return this.call('AddGroupRule', (md, o, cb) => this.stub.AddGroupRule({ instance, group, cidr, mode }, md, o, cb));
  }
  setGroupRule(instance: string, group: string, cidr: string, mode: string): Promise<WireGroup> {
    return this.call('SetGroupRule', (md, o, cb) => this.stub.SetGroupRule({ instance, group, cidr, mode }, md, o, cb));
  }
  deleteGroupRule(instance: string, group: string, cidr: string): Promise<WireGroup> {
    return this.call('DeleteGroupRule', (md, o, cb) => this.stub.DeleteGroupRule({ instance, group, cidr }, md, o, cb));
  }
  bindSourceGroup(source: string, group: string): Promise<WireSource> {
    return this.call('BindSourceGroup', (md, o, cb) => this.stub.BindSourceGroup({ source, group }, md, o, cb));
  }
  checkAccess(source: string, address: string): Promise<WireAccessDecision> {
    return this.call('CheckAccess', (md, o, cb) => this.stub.CheckAccess({ source, address }, md, o, cb));
  }
  async queryAudit(q: { sinceMs?: number; untilMs?: number; action?: string; result?: string; sourceIp?: string; plane?: string; limit?: number }): Promise<WireAuditEntry[]> {
    return (await this.call<AuditEntries__Output>('QueryAudit', (md, o, cb) => this.stub.QueryAudit({
      since_ms: q.sinceMs ?? 0, until_ms: q.untilMs ?? 0, action: q.action ?? '', result: q.result ?? '', source_ip: q.sourceIp ?? '', plane: q.plane ?? '', limit: q.limit ?? 0,
    }, md, o, cb))).entries;
  }
  setSourceStream(source: string, stream: StreamSettings): Promise<WireStreamStatus> {
    return this.call('SetSourceStream', (md, o, cb) => this.stub.SetSourceStream({ source, stream }, md, o, cb));
  }
  clearSourceStream(name: string): Promise<WireSource> {
    return this.call('ClearSourceStream', (md, o, cb) => this.stub.ClearSourceStream({ name }, md, o, cb));
  }
  showSourceStream(name: string): Promise<WireStreamStatus> {
    return this.call('ShowSourceStream', (md, o, cb) => this.stub.ShowSourceStream({ name }, md, o, cb));
  }
  whoAmI(): Promise<WireWhoAmI> {
    return this.call('WhoAmI', (md, o, cb) => this.stub.WhoAmI({}, md, o, cb));
  }
  createUser(name: string, grants: string[], description = ''): Promise<WireUser> {
    return this.call('CreateUser', (md, o, cb) => this.stub.CreateUser({ name, grants, description }, md, o, cb));
  }
  updateUser(name: string, change: { grants?: string[]; disabled?: boolean }): Promise<WireUser> {
    return this.call('UpdateUser', (md, o, cb) => this.stub.UpdateUser({ name, grants: change.grants ?? [], ...(change.disabled !== undefined ? { disabled: change.disabled } : {}) }, md, o, cb));
  }
  async deleteUser(name: string): Promise<number> {
    return (await this.call<DeleteUserReply__Output>('DeleteUser', (md, o, cb) => this.stub.DeleteUser({ name }, md, o, cb))).keys_deleted;
  }
  async listUsers(): Promise<WireUser[]> {
    return (await this.call<UserList__Output>('ListUsers', (md, o, cb) => this.stub.ListUsers({}, md, o, cb))).users;
  }
  createKey(user: string, o: { expiresMs?: number; description?: string } = {}): Promise<CreateKeyReply__Output> {
    return this.call('CreateKey', (md, opts, cb) => this.stub.CreateKey({ user, expires_ms: String(o.expiresMs ?? 0), description: o.description ?? '' }, md, opts, cb));
  }
  async listKeys(user = ''): Promise<WireAccessKey[]> {
    return (await this.call<KeyList__Output>('ListKeys', (md, o, cb) => this.stub.ListKeys({ user }, md, o, cb))).keys;
  }
  setKeyDisabled(id: string, disabled: boolean): Promise<WireAccessKey> {
    return this.call('SetKeyDisabled', (md, o, cb) => this.stub.SetKeyDisabled({ id, disabled }, md, o, cb));
  }
  async deleteKey(id: string): Promise<void> {
    await this.call('DeleteKey', (md, o, cb) => this.stub.DeleteKey({ id }, md, o, cb));
  }
  /** Any Admin method by name with a raw request (tests walk the whole service with it). */
  invokeMethod(method: string, request: object): Promise<unknown> {
    const fn = (this.stub as unknown as Record<string, (r: object, md: Metadata, o: CallOptions, cb: Callback<unknown>) => ClientUnaryCall>)[method];
    if (!fn) throw new Error(`no Admin method ${method}`);
    return this.call(method, (md, o, cb) => fn.call(this.stub, request, md, o, cb));
  }
  status(): Promise<WireStatus> {
    return this.call('Status', (md, o, cb) => this.stub.Status({}, md, o, cb));
  }
  close(): void {
    this.stub.close();
  }
}
