// Who may call each Admin RPC (src/access Roles): the roles allowed, and which
// cache instance the call is about, so that a grant scoped to an instance covers
// exactly the calls on that instance's sources, groups and nodes. The table is a
// Record over every Admin method: a new RPC does not compile until it has a row.
import type { Role } from '../access/index.js';
import type { AdminHandlers } from '../rpc/gen/wharf/v1/Admin.js';

/**
 * What a call is about:
 *   any      — reads and member calls: a scoped grant covers them too;
 *   cluster  — creates or removes cluster-wide things: only an unscoped grant;
 *   source / instance / node — the instance of the named source, instance or node
 *   (from the request field given; a node not registered yet: any); bind — a
 *   source's instance before and after; resize — the instance, and '' (the nodes in
 *   no instance) when nodes are added.
 */
export type Scope =
  | { kind: 'any' }
  | { kind: 'cluster' }
  | { kind: 'source'; field: string }
  | { kind: 'instance'; field: string }
  | { kind: 'node'; field: string }
  | { kind: 'bind' }
  | { kind: 'resize' };

export interface CallPolicy {
  roles: readonly Role[];
  scope: Scope;
}

const ALL: readonly Role[] = ['admin', 'operator', 'viewer', 'member'];
const CHANGE: readonly Role[] = ['admin', 'operator'];
const MEMBER: readonly Role[] = ['admin', 'operator', 'member'];
const ADMIN: readonly Role[] = ['admin'];

const any = { kind: 'any' } as const;
const cluster = { kind: 'cluster' } as const;
const read: CallPolicy = { roles: ALL, scope: any };
const onSource = (field: string): CallPolicy => ({ roles: CHANGE, scope: { kind: 'source', field } });
const onInstance = (field: string): CallPolicy => ({ roles: CHANGE, scope: { kind: 'instance', field } });
const iam: CallPolicy = { roles: ADMIN, scope: cluster };

/** The Admin methods by name (the generated interface without its index signature). */
export type AdminMethod = keyof { [K in keyof AdminHandlers as string extends K ? never : number extends K ? never : K]: AdminHandlers[K] };

export const ADMIN_POLICY: Record<AdminMethod, CallPolicy> = {
  // Reads: every role (scoping does not hide lists).
  ListSources: read, ShowSource: read, ListRules: read, ShowRule: read, ListJobs: read, ShowJob: read, Status: read,
  ListNodes: read, ListInstances: read, ShowInstance: read, ListCacheRules: read, ShowCacheRule: read,
  ListCacheJobs: read, ShowCacheJob: read, ListGroups: read, ShowGroup: read, CheckAccess: read, WhoAmI: read,
  // Cluster members: cache nodes register and heartbeat.
  RegisterNode: { roles: MEMBER, scope: { kind: 'node', field: 'id' } }, NodeHeartbeat: { roles: MEMBER, scope: { kind: 'node', field: 'id' } },
  // Data sources and their sync.
  ImportSource: { roles: CHANGE, scope: cluster }, RemoveSource: onSource('name'),
  CreateRule: onSource('source'), UpdateRule: onSource('source'), DeleteRule: onSource('source'), ExecuteRule: onSource('source'),
  TerminateRule: onSource('source'), EnableRule: onSource('source'), DisableRule: onSource('source'),
  BeginResync: onSource('name'), EndResync: onSource('name'),
  // A stream names brokers the master connects to with the cluster's SASL password: unscoped only.
  SetSourceStream: { roles: CHANGE, scope: cluster }, ClearSourceStream: onSource('name'), ShowSourceStream: read,
  // The cache cluster.
  DrainNode: { roles: CHANGE, scope: { kind: 'node', field: 'id' } }, RemoveNode: { roles: CHANGE, scope: { kind: 'node', field: 'id' } },
  CreateInstance: { roles: CHANGE, scope: cluster }, DeleteInstance: { roles: CHANGE, scope: cluster }, ResizeInstance: { roles: CHANGE, scope: { kind: 'resize' } },
  BindSource: { roles: CHANGE, scope: { kind: 'bind' } }, PinDirectory: onSource('source'),
  CreateCacheRule: onSource('source'), UpdateCacheRule: onSource('source'), DeleteCacheRule: onSource('source'), ExecuteCacheRule: onSource('source'),
  TerminateCacheRule: onSource('source'), EnableCacheRule: onSource('source'), DisableCacheRule: onSource('source'),
  // Permission groups.
  CreateGroup: onInstance('instance'), DeleteGroup: onInstance('instance'), AddGroupRule: onInstance('instance'),
  SetGroupRule: onInstance('instance'), DeleteGroupRule: onInstance('instance'), BindSourceGroup: onSource('source'),
  // IAM and the audit log: unscoped admins only.
  QueryAudit: iam, CreateUser: iam, UpdateUser: iam, DeleteUser: iam, ListUsers: iam,
  CreateKey: iam, ListKeys: iam, SetKeyDisabled: iam, DeleteKey: iam,
};

/** Namespace calls: reads by every role; changes by the roles that may write data. */
export const NAMESPACE_WRITERS: readonly Role[] = MEMBER;
