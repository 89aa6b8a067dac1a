// What the console's forms do: each POST route is one Admin call (or two, where a
// form creates and starts), with the form's fields as its request. The server
// checks and refuses; this only translates. Returns where to go next and what to
// say there.
import bytes from 'bytes';
import { WharfError } from '../common/index.js';
import type { AdminClient } from '../rpc/index.js';

export interface ActionResult {
  back: string;
  message: string;
  reveal?: { keyId: string; secret: string };
}

const RULE_ACTIONS = ['execute', 'terminate', 'enable', 'disable'] as const;
type RuleAction = (typeof RULE_ACTIONS)[number];
const isRuleAction = (a: string): a is RuleAction => (RULE_ACTIONS as readonly string[]).includes(a);

function field(form: URLSearchParams, name: string, what = name): string {
  const v = (form.get(name) ?? '').trim();
  if (!v) throw new WharfError('EINVAL', `${what} is required`);
  return v;
}

function integer(text: string, what: string): number {
  if (!/^-?\d+$/.test(text)) throw new WharfError('EINVAL', `${what} must be a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

export async function handleAction(a: AdminClient, path: string, form: URLSearchParams): Promise<ActionResult> {
  const p = path.split('/').filter(Boolean).map(decodeURIComponent);
  const opt = (name: string) => (form.get(name) ?? '').trim();
  // ---- nodes and instances
  if (p[0] === 'nodes' && p.length === 3 && p[2] === 'drain') {
    const n = await a.drainNode(p[1]!);
    return { back: '/nodes', message: `node ${n.id} is ${n.state}: out of placement, still serving what it holds` };
  }
  if (p[0] === 'nodes' && p.length === 3 && p[2] === 'remove') {
    await a.removeNode(p[1]!, false);
    return { back: '/nodes', message: `node ${p[1]} removed` };
  }
  if (p[0] === 'instances' && p.length === 1) {
    const capacity = bytes.parse(field(form, 'capacity'));
    if (capacity === null || capacity <= 0) throw new WharfError('EINVAL', `capacity ${JSON.stringify(opt('capacity'))} is not a size (500GB, 2TB)`);
    const i = await a.createInstance({ name: field(form, 'name'), description: opt('description'), capacity_bytes: capacity, nodes: [] });
    return { back: '/instances', message: `instance ${i.name} created` };
  }
  // ---- sources, rules, jobs
  if (p[0] === 'sources' && p.length === 1) {
    const interval = opt('syncIntervalMs');
    const r = await a.importSource({
      name: field(form, 'name'), uri: field(form, 'uri', 'the store URI'), at: field(form, 'at', 'the namespace path'), read_only: opt('readOnly') === '1',
      endpoint: opt('endpoint'), region: '', ...(interval ? { sync_interval_ms: integer(interval, 'the sync interval') } : {}),
    });
    return { back: `/sources/${encodeURIComponent(r.source!.name)}`, message: `source ${r.source!.name} imported; its first sync is job ${r.job!.id}` };
  }
  if (p[0] === 'sources' && p.length >= 3) {
    const source = p[1]!;
    const back = `/sources/${encodeURIComponent(source)}`;
    const cache = p[2] === 'cache-rules';
    if (p[2] !== 'rules' && !cache) throw new WharfError('ENOENT', `no action at ${path}`);
    if (p.length === 3) {
      const type = opt('type') || 'manual';
      const minutes = opt('intervalMinutes');
      const base = { source, name: field(form, 'name'), type, directory: opt('directory') || '/', description: '', cron: '', ...(minutes ? { interval_minutes: integer(minutes, 'the interval') } : {}) };
      if (!cache) {
        const r = await a.createRule(base);
        return { back, message: `sync rule ${r.rule!.name} created (${r.rule!.type}${r.rule!.type === 'periodic' ? `, ${r.rule!.status}` : ''})` };
      }
      const include = opt('include');
      const r = await a.createCacheRule({
        ...base, cache: { kind: field(form, 'kind'), include: include ? include.split(',').map((s) => s.trim()).filter(Boolean) : [], exclude: [], metadata_only: opt('metadataOnly') === '1', skip_cached: true, bandwidth_bytes_per_sec: 0, block_size: 4 * 1024 * 1024 },
      });
      return { back, message: `cache rule ${r.rule!.name} created (${r.rule!.cache?.kind})` };
    }
    if (p.length === 5 && isRuleAction(p[4]!)) {
      const rule = p[3]!;
      const act = p[4]!;
      if (cache) {
        const r = act === 'execute' ? await a.executeCacheRule(source, rule) : act === 'terminate' ? await a.terminateCacheRule(source, rule) : act === 'enable' ? await a.enableCacheRule(source, rule) : await a.disableCacheRule(source, rule);
        return { back, message: 'state' in r && 'kind' in r ? `cache job ${r.id} ${r.state}` : `cache rule ${rule} ${(r as { status: string }).status}` };
      }
      const r = act === 'execute' ? await a.executeRule(source, rule) : act === 'terminate' ? await a.terminateRule(source, rule) : act === 'enable' ? await a.enableRule(source, rule) : await a.disableRule(source, rule);
      return { back, message: 'state' in r ? `sync job ${r.id} ${r.state}` : `sync rule ${rule} ${(r as { status: string }).status}` };
    }
  }
  // ---- permission groups
  if (p[0] === 'access' && p[1] === 'groups' && p.length === 2) {
    const g = await a.createGroup(opt('instance'), field(form, 'name'), opt('description'));
    return { back: '/access', message: `group ${g.name} created` };
  }
  if (p[0] === 'access' && p[1] === 'rules' && p.length === 2) {
    const g = await a.addGroupRule(opt('instance'), field(form, 'group'), field(form, 'cidr', 'the CIDR'), field(form, 'mode'));
    return { back: '/access', message: `rule ${opt('cidr')} ${opt('mode')} added to group ${g.name}` };
  }
  if (p[0] === 'access' && p[1] === 'rules' && p[2] === 'delete') {
    await a.deleteGroupRule(opt('instance'), field(form, 'group'), field(form, 'cidr', 'the CIDR'));
    return { back: '/access', message: `rule ${opt('cidr')} deleted` };
  }
  // ---- users and keys
  if (p[0] === 'users' && p.length === 1) {
    const grants = opt('grants').split(',').map((s) => s.trim()).filter(Boolean);
    const u = await a.createUser(field(form, 'name'), grants, opt('description'));
    return { back: '/users', message: `user ${u.name} created with ${u.grants.join(', ') || 'no grants'}` };
  }
  if (p[0] === 'users' && p.length === 3 && p[2] === 'keys') {
    const r = await a.createKey(p[1]!);
    return { back: '/users', message: `key ${r.key!.id} created for ${p[1]}`, reveal: { keyId: r.key!.id, secret: r.secret } };
  }
  if (p[0] === 'users' && p.length === 3 && (p[2] === 'disable' || p[2] === 'enable')) {
    const u = await a.updateUser(p[1]!, { disabled: p[2] === 'disable' });
    return { back: '/users', message: `user ${u.name} ${u.disabled ? 'disabled' : 'enabled'}` };
  }
  if (p[0] === 'keys' && p.length === 3 && (p[2] === 'disable' || p[2] === 'enable')) {
    const k = await a.setKeyDisabled(p[1]!, p[2] === 'disable');
    return { back: '/users', message: `key ${k.id} ${k.disabled ? 'disabled' : 'enabled'}` };
  }
  if (p[0] === 'keys' && p.length === 3 && p[2] === 'delete') {
    await a.deleteKey(p[1]!);
    return { back: '/users', message: `key ${p[1]} deleted` };
  }
  throw new WharfError('ENOENT', `no action at ${path}`);
}
