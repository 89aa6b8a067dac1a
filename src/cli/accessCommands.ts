// `wharf access …`: permission groups of a cache instance ("" — the default — for the
// nodes in no instance and every path outside a source), their CIDR rules, a
// source's group, and "what would this address get" (check).
import { Option, type Command } from 'commander';
import type { WireGroup } from '../rpc/index.js';
import { duration, globals, integer, json, out, withAdmin } from './context.js';

/** A duration ago, in ms since the epoch. */
const ago = (text: string): number => Date.now() - duration(text);

function groupText(g: WireGroup): string {
  const rules = [...g.rules].sort((a, b) => Number(b.cidr.split('/')[1]) - Number(a.cidr.split('/')[1]));
  return [
    `Group:         ${g.name}${g.is_default ? ' (default)' : ''} of instance ${g.instance || '(none)'}`,
    `Description:   ${g.description || '-'}`,
    `Sources:       ${g.sources.join(', ') || '-'}`,
    'Rules (most specific first):',
    ...rules.map((r) => `  ${r.cidr.padEnd(40)} ${r.mode}`),
  ].join('\n');
}

export function registerAccessCommands(program: Command): void {
  program.command('audit').description('the audit log, newest first: management calls, and data-plane calls refused')
    .option('--since <duration>', 'only the last 90s / 30m / 2h / 7d', ago)
    .option('--action <name>', 'one action (an Admin method, or a namespace operation)')
    .option('--result <r>', '"ok", "failed", or an errno (EACCES, EROFS, …)')
    .option('--source-ip <address>', 'one client address')
    .addOption(new Option('--plane <plane>', 'admin or data').choices(['admin', 'data']))
    .option('--limit <n>', 'at most N lines', integer(1, 10_000), 50)
    .action(withAdmin('audit', async (admin, o: { since?: number; action?: string; result?: string; sourceIp?: string; plane?: string; limit: number }) => {
      const l = await admin.queryAudit({ ...(o.since ? { sinceMs: o.since } : {}), ...o, limit: o.limit });
      if (globals().json) return json(l);
      for (const e of l) out(`${e.time}  ${e.plane.padEnd(5)} ${e.source_ip.padEnd(15)} ${e.action.padEnd(18)} ${e.resource.padEnd(24)} ${e.result.padEnd(7)} ${e.latency_ms}ms`);
    }));

  const access = program.command('access').description('permission groups: which client addresses may read, write or not reach a data source');
  const inst = () => new Option('--instance <name>', 'cache instance ("" the nodes in none, and paths outside every source)').default('');
  const group = access.command('group').description('permission groups of a cache instance (at most 20; "default" always exists)');
  group.command('create <name>').addOption(inst()).option('--description <text>', 'what it is for', '')
    .action(withAdmin('access group create', async (admin, name: string, o: { instance: string; description: string }) => {
      const g = await admin.createGroup(o.instance, name, o.description);
      if (globals().json) json(g); else out(groupText(g));
    }));
  group.command('list').addOption(inst())
    .action(withAdmin('access group list', async (admin, o: { instance: string }) => {
      const l = await admin.listGroups(o.instance);
      if (globals().json) return json(l);
      for (const g of l) out(`${g.name.padEnd(16)} ${String(g.rules.length).padStart(3)} rule(s)  sources: ${g.sources.join(', ') || '-'}`);
    }));
  group.command('show <name>').addOption(inst())
    .action(withAdmin('access group show', async (admin, name: string, o: { instance: string }) => {
      const g = await admin.showGroup(o.instance, name);
      if (globals().json) json(g); else out(groupText(g));
    }));
  group.command('delete <name>').addOption(inst())
    .action(withAdmin('access group delete', async (admin, name: string, o: { instance: string }) => {
      await admin.deleteGroup(o.instance, name);
      if (globals().json) json({ deleted: name }); else out(`deleted group ${name}`);
    }));

  const rule = access.command('rule').description('a group\'s rules: CIDR → ReadWrite | ReadOnly | Forbidden (the longest prefix decides)');
  const ruleCmd = (verb: 'add' | 'set') => rule.command(`${verb} <cidr> <mode>`)
    .description(verb === 'add' ? 'add a rule' : 'change the mode of a rule (0.0.0.0/0 and ::/0 too)')
    .requiredOption('--group <name>', 'the group').addOption(inst())
    .action(withAdmin(`access rule ${verb}`, async (admin, cidr: string, mode: string, o: { group: string; instance: string }) => {
      const g = verb === 'add' ? await admin.addGroupRule(o.instance, o.group, cidr, mode) : await admin.setGroupRule(o.instance, o.group, cidr, mode);
      if (globals().json) json(g); else out(groupText(g));
    }));
  ruleCmd('add');
  ruleCmd('set');
  rule.command('delete <cidr>').requiredOption('--group <name>', 'the group').addOption(inst())
    .action(withAdmin('access rule delete', async (admin, cidr: string, o: { group: string; instance: string }) => {
      const g = await admin.deleteGroupRule(o.instance, o.group, cidr);
      if (globals().json) json(g); else out(groupText(g));
    }));
  access.command('bind').description('judge a data source\'s clients by a group of its instance')
    .requiredOption('--source <source>', 'data source').requiredOption('--group <name>', 'group ("default" for the default)')
    .action(withAdmin('access bind', async (admin, o: { source: string; group: string }) => {
      const s = await admin.bindSourceGroup(o.source, o.group);
      if (globals().json) json(s); else out(`${o.source} → group ${s.group || 'default'} of instance ${s.instance || '(none)'}`);
    }));
  access.command('check <address>').description('what an address may do to a source (--source "" : outside every source), and which rule decides')
    .option('--source <source>', 'data source', '')
    .action(withAdmin('access check', async (admin, address: string, o: { source: string }) => {
      const d = await admin.checkAccess(o.source, address);
      if (globals().json) json(d); else out(`${address}: ${d.mode} (group ${d.group} of instance ${d.instance || '(none)'}, rule ${d.cidr || 'none'})`);
    }));
}
