// Roles of the management plane and what a grant of one covers.
//   admin    — everything, including users, keys and the audit log.
//   operator — every change to sources, rules, jobs, instances, nodes and groups;
//              reads and writes the namespace.
//   viewer   — reads: lists, shows, status, access checks; reads the namespace.
//   member   — a cluster member (a cache node or a mount): registers and heartbeats
//              nodes, reads the cluster's lists, reads and writes the namespace.
// A grant may be scoped to one cache instance ("operator@gpu-pool"): it then covers
// only calls on that instance's sources, groups and nodes. Scoping limits what a
// key may change and which namespace paths it reaches, not which lists it may read.
import { WharfError } from '../common/index.js';

export const ROLES = ['admin', 'operator', 'viewer', 'member'] as const;
export type Role = (typeof ROLES)[number];

export interface Grant {
  role: Role;
  /** Absent: every instance ('' — nodes in no instance — is an instance too). */
  instance?: string;
}

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** "operator" or "operator@instance". */
export function parseGrant(text: string): Grant {
  const at = text.indexOf('@');
  const role = at < 0 ? text : text.slice(0, at);
  if (!isRole(role)) throw new WharfError('EINVAL', `${JSON.stringify(role)} is not a role (${ROLES.join(', ')})`);
  if (at < 0) return { role };
  const instance = text.slice(at + 1);
  if (!/^[A-Za-z0-9_-]{1,65}$/.test(instance)) throw new WharfError('EINVAL', `${JSON.stringify(instance)} is not a cache instance name`);
  return { role, instance };
}

export function grantText(g: Grant): string {
  return g.instance === undefined ? g.role : `${g.role}@${g.instance}`;
}

/**
 * Whether some grant has one of `roles` and covers `instance`: undefined means the
 * call is cluster-wide (only an unscoped grant covers it), null means the call is
 * not about any one instance's resources and any scope covers it.
 */
export function granted(grants: readonly Grant[], roles: readonly Role[], instance: string | undefined | null): boolean {
  return grants.some((g) => roles.includes(g.role) && (g.instance === undefined || instance === null || g.instance === instance));
}
