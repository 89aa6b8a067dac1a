// The gRPC face of permission groups (part of wharf.v1.Admin): decode, call
// PermissionGroups, encode.
import type { AdminHandlers } from '../rpc/gen/wharf/v1/Admin.js';
import type { PermissionGroup } from '../rpc/gen/wharf/v1/PermissionGroup.js';
import { WharfError } from '../common/index.js';
import { normalizeCidr, peerAddress } from '../access/index.js';
import type { GroupView, PermissionGroups } from './PermissionGroups.js';
import type { SourceCatalog } from './SourceCatalog.js';
import type { ServiceMetrics } from './ServiceMetrics.js';
import { sourceToWire } from './wire.js';
import { unary } from './unary.js';

type Names = 'CreateGroup' | 'DeleteGroup' | 'ListGroups' | 'ShowGroup' | 'AddGroupRule' | 'SetGroupRule' | 'DeleteGroupRule' | 'BindSourceGroup' | 'CheckAccess';

export function groupToWire(g: GroupView): PermissionGroup {
  return { instance: g.instance, name: g.name, description: g.description, rules: g.rules, sources: g.sources, is_default: g.isDefault, created_ms: g.createdMs };
}

export function accessHandlers(groups: PermissionGroups, catalog: SourceCatalog, metrics: ServiceMetrics): Pick<AdminHandlers, Names> {
  const u = <Req, Res>(m: string, fn: (r: Req) => Promise<Res>) => unary<Req, Res>(`Admin.${m}`, metrics, fn);
  return {
    CreateGroup: u('CreateGroup', async (r) => groupToWire(await groups.create(r.instance, r.name, r.description))),
    DeleteGroup: u('DeleteGroup', async (r) => { await groups.delete(r.instance, r.name); return {}; }),
    ListGroups: u('ListGroups', async (r) => ({ groups: groups.list(r.instance).map(groupToWire) })),
    ShowGroup: u('ShowGroup', async (r) => groupToWire(groups.get(r.instance, r.name))),
    AddGroupRule: u('AddGroupRule', async (r) => groupToWire(await groups.setRule(r.instance, r.group, r.cidr, r.mode, false))),
    SetGroupRule: u('SetGroupRule', async (r) => groupToWire(await groups.setRule(r.instance, r.group, r.cidr, r.mode, true))),
    DeleteGroupRule: u('DeleteGroupRule', async (r) => groupToWire(await groups.deleteRule(r.instance, r.group, r.cidr))),
    BindSourceGroup: u('BindSourceGroup', async (r) => sourceToWire(await groups.bind(r.source, r.group))),
    CheckAccess: u('CheckAccess', async (r) => {
      const cidr = normalizeCidr(r.address); // a bare address: refused precisely if malformed
      if (!/\/(32|128)$/.test(cidr)) throw new WharfError('EINVAL', `check one address, not the network ${cidr}`);
      const d = groups.decide(r.source ? catalog.get(r.source) : undefined, peerAddress(cidr.replace(/\/\d+$/, '')));
      return { mode: d.mode, instance: d.instance, group: d.group, cidr: d.rule?.cidr ?? '' };
    }),
  };
}
