// Permission groups (RapidFS model): per cache instance ('' — the nodes in no
// instance — also governs every path outside a data source), named sets of rules
// CIDR → ReadWrite | ReadOnly | Forbidden. A data source is bound to one group of
// its instance (absent: the instance's `default` group, all ReadWrite, which cannot
// be deleted). Every group keeps 0.0.0.0/0 and ::/0 (their mode can change, they
// cannot go); at most 20 groups per instance, names 1–65 of [A-Za-z0-9_-], no
// duplicate CIDR in a group.
//
// Decisions are taken from memory on every call (AccessGate): a rule change applies
// to the next call. Discipline: changes run on one FIFO (WriteQueue); a group
// record is replaced whole, never edited in place, so a decision in progress sees
// the rules before or after a change, never half of one.
import { WharfError, logger } from '../common/index.js';
import { AccessMatcher, CATCH_ALL, DEFAULT_RULES, checkMode, normalizeCidr, type AccessMode, type AccessRule } from '../access/index.js';
import { WriteQueue, familyRange, groupKey, type InodeTree } from '../meta/index.js';
import { DEFAULT_GROUP, MAX_GROUPS_PER_INSTANCE, MAX_RULES_PER_GROUP, decodeRecord, encodeRecord, type GroupRecord, type SourceRecord } from './records.js';
import type { SourceCatalog } from './SourceCatalog.js';

const log = logger('access');
const NAME = /^[A-Za-z0-9_-]{1,65}$/;

export interface GroupView extends GroupRecord {
  sources: string[];
  isDefault: boolean;
}

export interface Decision {
  mode: AccessMode;
  instance: string;
  group: string;
  rule: AccessRule | undefined;
}

export class PermissionGroups {
  private readonly groups = new Map<string, { rec: GroupRecord; matcher: AccessMatcher }>(); // "instance\0name"
  private readonly queue = new WriteQueue();
  /** True when some rule anywhere is not ReadWrite: otherwise every call is allowed without a lookup. */
  restrictive = false;

  constructor(private readonly tree: InodeTree, private readonly catalog: SourceCatalog, private readonly instanceExists: (name: string) => boolean) {}

  async load(): Promise<void> {
    for await (const [, v] of this.tree.db.iterator(familyRange('group'))) {
      const r = decodeRecord<GroupRecord>(v);
      this.groups.set(id(r.instance, r.name), { rec: r, matcher: new AccessMatcher(r.rules) });
    }
    this.refresh();
  }

  /** The group a source's calls are judged by (paths outside every source: the '' instance's default). */
  groupOf(source: SourceRecord | undefined): { instance: string; name: string } {
    return source ? { instance: source.instance ?? '', name: source.group ?? DEFAULT_GROUP } : { instance: '', name: DEFAULT_GROUP };
  }

  /** What `address` may do to a source (or outside every source). A group not created yet is the default: all ReadWrite. */
  decide(source: SourceRecord | undefined, address: string): Decision {
    const g = this.groupOf(source);
    const found = this.groups.get(id(g.instance, g.name));
    if (!found) return { mode: 'ReadWrite', instance: g.instance, group: g.name, rule: undefined };
    const rule = found.matcher.ruleFor(address);
    return { mode: rule?.mode ?? 'Forbidden', instance: g.instance, group: g.name, rule };
  }

  list(instance: string): GroupView[] {
    this.checkInstance(instance);
    const out = [...this.groups.values()].filter((g) => g.rec.instance === instance).map((g) => this.view(g.rec));
    if (!out.some((g) => g.name === DEFAULT_GROUP)) out.push(this.view(this.defaultRecord(instance)));
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  get(instance: string, name: string): GroupView {
    this.checkInstance(instance);
    const g = this.groups.get(id(instance, name));
    if (g) return this.view(g.rec);
    if (name === DEFAULT_GROUP) return this.view(this.defaultRecord(instance));
    throw new WharfError('ENOENT', `cache instance ${label(instance)} has no permission group ${JSON.stringify(name)}`);
  }

  async create(instance: string, name: string, description = ''): Promise<GroupView> {
    if (typeof name !== 'string' || !NAME.test(name)) throw new WharfError('EINVAL', `group name ${JSON.stringify(name)} must be 1–65 letters, digits, '-' or '_'`);
    return this.queue.run(async () => {
      this.checkInstance(instance);
      if (name === DEFAULT_GROUP || this.groups.has(id(instance, name))) throw new WharfError('EEXIST', `cache instance ${label(instance)} already has a group ${name}`);
      const count = this.list(instance).length;
      if (count >= MAX_GROUPS_PER_INSTANCE) throw new WharfError('ENOSPC', `cache instance ${label(instance)} has ${MAX_GROUPS_PER_INSTANCE} groups, the most allowed`);
      const rec: GroupRecord = { instance, name, description, rules: [...DEFAULT_RULES], createdMs: Date.now() };
      await this.put(rec);
      return this.view(rec);
    });
  }

  async delete(instance: string, name: string): Promise<void> {
    await this.queue.run(async () => {
      this.get(instance, name);
      if (name === DEFAULT_GROUP) throw new WharfError('EPERM', `the default group of cache instance ${label(instance)} cannot be deleted`);
      const bound = this.boundTo(instance, name);
      if (bound.length) throw new WharfError('EBUSY', `group ${name} has bound sources (${bound.join(', ')}); bind them elsewhere first`);
      await this.tree.write('group delete', async (tx) => tx.delRecord(groupKey(instance, name)));
      this.groups.delete(id(instance, name));
      this.refresh();
    });
  }

  /** Adds a rule, or (`replace`) changes the mode of an existing one. */
  async setRule(instance: string, name: string, cidrText: string, modeText: string, replace: boolean): Promise<GroupView> {
    const cidr = normalizeCidr(cidrText);
    const mode = checkMode(modeText);
    return this.queue.run(async () => {
      const rec = this.recordFor(instance, name);
      const at = rec.rules.findIndex((r) => r.cidr === cidr);
      if (!replace && at >= 0) throw new WharfError('EEXIST', `group ${name} already has a rule for ${cidr} (${rec.rules[at]!.mode}); change it instead`);
      if (replace && at < 0) throw new WharfError('ENOENT', `group ${name} has no rule for ${cidr}`);
      if (!replace && rec.rules.length >= MAX_RULES_PER_GROUP) throw new WharfError('ENOSPC', `group ${name} has ${MAX_RULES_PER_GROUP} rules, the most allowed`);
      const rules = replace ? rec.rules.map((r, i) => (i === at ? { cidr, mode } : r)) : [...rec.rules, { cidr, mode }];
      const next = { ...rec, rules };
      await this.put(next);
      log.info({ instance, group: name, cidr, mode }, replace ? 'access rule changed' : 'access rule added');
      return this.view(next);
    });
  }

  async deleteRule(instance: string, name: string, cidrText: string): Promise<GroupView> {
    const cidr = normalizeCidr(cidrText);
    return this.queue.run(async () => {
      const rec = this.recordFor(instance, name);
      if ((CATCH_ALL as readonly string[]).includes(cidr)) throw new WharfError('EPERM', `the catch-all rule ${cidr} cannot be deleted; change its mode instead`);
      if (!rec.rules.some((r) => r.cidr === cidr)) throw new WharfError('ENOENT', `group ${name} has no rule for ${cidr}`);
      const next = { ...rec, rules: rec.rules.filter((r) => r.cidr !== cidr) };
      await this.put(next);
      return this.view(next);
    });
  }

  /** Binds a source to a group of its instance (the default group when `name` is 'default'). */
  async bind(source: string, name: string): Promise<SourceRecord> {
    return this.queue.run(async () => {
      const s = this.catalog.get(source);
      this.get(s.instance ?? '', name);
      return this.catalog.update(source, (r) => {
        if (name === DEFAULT_GROUP) delete r.group;
        else r.group = name;
      });
    });
  }

  /** An instance was deleted: its groups go. (Its sources were unbound, back to the '' instance's default group.) */
  async forgetInstance(instance: string): Promise<void> {
    await this.queue.run(async () => {
      const mine = [...this.groups.values()].filter((g) => g.rec.instance === instance);
      await this.tree.write('groups of a deleted instance', async (tx) => { for (const g of mine) tx.delRecord(groupKey(instance, g.rec.name)); });
      for (const g of mine) this.groups.delete(id(instance, g.rec.name));
      this.refresh();
    });
  }

  private recordFor(instance: string, name: string): GroupRecord {
    this.checkInstance(instance);
    const g = this.groups.get(id(instance, name));
    if (g) return g.rec;
    if (name === DEFAULT_GROUP) return this.defaultRecord(instance);
    throw new WharfError('ENOENT', `cache instance ${label(instance)} has no permission group ${JSON.stringify(name)}`);
  }

  private defaultRecord(instance: string): GroupRecord {
    return { instance, name: DEFAULT_GROUP, description: 'every address may read and write', rules: [...DEFAULT_RULES], createdMs: 0 };
  }

  private boundTo(instance: string, name: string): string[] {
    return this.catalog.list().filter((s) => (s.instance ?? '') === instance && (s.group ?? DEFAULT_GROUP) === name).map((s) => s.name);
  }

  private view(rec: GroupRecord): GroupView {
    return { ...rec, sources: this.boundTo(rec.instance, rec.name), isDefault: rec.name === DEFAULT_GROUP };
  }

  private checkInstance(instance: string): void {
    if (instance !== '' && !this.instanceExists(instance)) throw new WharfError('ENOENT', `no cache instance ${JSON.stringify(instance)}`);
  }

  private async put(rec: GroupRecord): Promise<void> {
    await this.tree.write('group', async (tx) => tx.putRecord(groupKey(rec.instance, rec.name), encodeRecord(rec)));
    this.groups.set(id(rec.instance, rec.name), { rec, matcher: new AccessMatcher(rec.rules) });
    this.refresh();
  }

  private refresh(): void {
    this.restrictive = [...this.groups.values()].some((g) => g.rec.rules.some((r) => r.mode !== 'ReadWrite'));
  }
}

function id(instance: string, name: string): string {
  return `${instance}\0${name}`;
}

function label(instance: string): string {
  return instance === '' ? '(none)' : instance;
}
