// A book of rules with jobs (RapidFS semantics) and the timers of periodic rules.
// Two books use it: metadata sync rules (jobs: SyncJobs) and cache rules — warmup
// and eviction (jobs: CacheJobs) — so both share one state machine and one set of gates.
//
// MANUAL rules are always `normal`; `execute` starts a job unless the rule's last
// job is still starting, executing or terminating; `terminate` stops it.
// PERIODIC rules move disabled → enabling → enabled → disabling → disabled; an
// enabled rule starts a job every `intervalMinutes` (or at each time of its `cron`
// expression, UTC), never a second one while one runs, and not at all while its
// source is synchronizing (begin/end).
// Disabling or deleting a rule cancels its running job.
//
// Discipline: rule changes are serialised per source by a FIFO (WriteQueue), so two
// racing `execute` calls see each other: one wins, the other is refused.
import { Cron } from 'croner';
import { WharfError, checkName, logger, splitPath } from '../common/index.js';
import { WriteQueue, ruleKey, ruleRange, type InodeTree, type RuleBookName, type Txn } from '../meta/index.js';
import {
  DEFAULT_INTERVAL_MINUTES, MAX_INTERVAL_MINUTES, MAX_RULES_PER_SOURCE, MIN_INTERVAL_MINUTES,
  decodeRecord, encodeRecord, type CacheRuleSpec, type JobState, type JobTrigger, type RuleRecord, type RuleType,
} from './records.js';
import type { SourceCatalog } from './SourceCatalog.js';

const log = logger('rules');

/** What can be done to a rule, by the gates below (the console offers exactly these). */
export const RULE_ACTIONS = ['execute', 'terminate', 'enable', 'disable'] as const;
export type RuleAction = (typeof RULE_ACTIONS)[number];

/**
 * Why `action` is refused for rule `r` with its running job `active` (undefined: it
 * is accepted). The one place these gates live: the book's calls throw what this
 * returns, and the wire's `actions` list is what it accepts.
 */
export function ruleRefusal(action: RuleAction, r: Pick<RuleRecord, 'name' | 'type' | 'status'>, active: RuleJob | undefined): WharfError | undefined {
  switch (action) {
    case 'execute':
      if (r.type !== 'manual') return new WharfError('EINVAL', `rule ${r.name} is periodic: it runs on its schedule (enable/disable it)`);
      if (active) return new WharfError('EBUSY', `rule ${r.name}'s job ${active.id} is ${active.state}; terminate it or wait`);
      return undefined;
    case 'terminate':
      return active ? undefined : new WharfError('EINVAL', `rule ${r.name} has no running job`);
    case 'enable':
      if (r.type !== 'periodic') return new WharfError('EINVAL', `rule ${r.name} is manual: execute it instead`);
      if (r.status === 'enabled') return new WharfError('EINVAL', `rule ${r.name} is already enabled`);
      if (r.status !== 'disabled') return new WharfError('EBUSY', `rule ${r.name} is ${r.status}`);
      return undefined;
    case 'disable':
      if (r.type !== 'periodic') return new WharfError('EINVAL', `rule ${r.name} is manual: it has no schedule to disable`);
      if (r.status === 'disabled') return new WharfError('EINVAL', `rule ${r.name} is already disabled`);
      if (r.status !== 'enabled') return new WharfError('EBUSY', `rule ${r.name} is ${r.status}`);
      return undefined;
  }
}

/** What a book needs of its jobs. */
export interface RuleJob {
  id: string;
  state: JobState;
  startedMs: number;
}

export interface RuleJobs<J extends RuleJob> {
  start(source: string, opts: { rule: string; trigger: JobTrigger; directory: string; spec: RuleRecord }): Promise<J>;
  /** The running job of a source (or of one of its rules). */
  active(source: string, rule?: string): J | undefined;
  terminate(id: string): Promise<J>;
  wait(id: string): Promise<J>;
  /** Makes the jobs of rule `from` name `to`, in the caller's transaction. */
  renameRule(tx: Txn, source: string, from: string, to: string): Promise<void>;
}

export interface RuleBookOptions {
  book: RuleBookName;
  /** 60,000 except in tests, which shrink time. */
  minuteMs?: number;
  /** The clock periodic rules are timed by (tests move it). */
  now?: () => number;
  /** Cache rules: validates and completes the spec given at create. */
  cacheSpec?: (input: Partial<CacheRuleSpec> | undefined) => CacheRuleSpec;
}

export interface RuleSpec {
  name: string;
  type: RuleType;
  directory?: string;
  description?: string;
  intervalMinutes?: number;
  /** Periodic rules: a cron expression instead of the interval. */
  cron?: string;
  cache?: Partial<CacheRuleSpec>;
  /** Manual rules: start a job at once. */
  executeOnCreate?: boolean;
  /** Periodic rules: enable at once (default true). */
  enableOnCreate?: boolean;
}

export interface RuleChanges {
  name?: string;
  description?: string;
  intervalMinutes?: number;
  /** '' drops the cron expression (the interval applies again). */
  cron?: string;
}

export class RuleBook<J extends RuleJob> {
  private readonly rules = new Map<string, RuleRecord>(); // "source\0name"
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly locks = new Map<string, WriteQueue>();
  private readonly minuteMs: number;
  private readonly now: () => number;
  private readonly what: string;

  constructor(private readonly tree: InodeTree, private readonly catalog: SourceCatalog, private readonly jobs: RuleJobs<J>, private readonly o: RuleBookOptions) {
    this.minuteMs = o.minuteMs ?? 60_000;
    this.now = o.now ?? Date.now;
    this.what = o.book === 'sync' ? 'sync rule' : 'cache rule';
  }

  async load(): Promise<void> {
    for (const s of this.catalog.list()) {
      for await (const [, v] of this.tree.db.iterator(ruleRange(s.name, this.o.book))) {
        const r = decodeRecord<RuleRecord>(v);
        // A transition that was under way when the master stopped completes now.
        if (r.status === 'enabling') r.status = 'enabled';
        if (r.status === 'disabling') r.status = 'disabled';
        this.rules.set(id(r.source, r.name), r);
        await this.persist(r);
        if (r.status === 'enabled') this.arm(r, true);
      }
    }
  }

  private lock<T>(source: string, fn: () => Promise<T>): Promise<T> {
    let q = this.locks.get(source);
    if (!q) this.locks.set(source, (q = new WriteQueue()));
    return q.run(fn);
  }

  list(source: string): RuleRecord[] {
    this.catalog.get(source);
    return [...this.rules.values()].filter((r) => r.source === source).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  get(source: string, name: string): RuleRecord {
    const r = this.rules.get(id(source, name));
    if (!r) throw new WharfError('ENOENT', `source ${source} has no ${this.what} ${JSON.stringify(name)}`);
    return r;
  }

  async create(source: string, spec: RuleSpec): Promise<{ rule: RuleRecord; job?: J }> {
    const src = this.catalog.get(source);
    checkName(spec.name);
    if (spec.type !== 'manual' && spec.type !== 'periodic') throw new WharfError('EINVAL', `rule type ${JSON.stringify(spec.type)} is not manual or periodic`);
    const directory = '/' + splitPath(spec.directory ?? '/').join('/');
    if (directory.split('/').includes('..')) throw new WharfError('EINVAL', `rule directory ${directory} contains '..'`);
    const interval = checkInterval(spec.intervalMinutes ?? DEFAULT_INTERVAL_MINUTES);
    if (spec.cron !== undefined && spec.cron !== '') {
      if (spec.type !== 'periodic') throw new WharfError('EINVAL', `rule ${spec.name} is manual: a cron schedule needs a periodic rule`);
      checkCron(spec.cron);
    }
    if (this.o.book === 'sync' && spec.cache) throw new WharfError('EINVAL', 'a sync rule takes no cache settings');
    const cache = this.o.cacheSpec ? this.o.cacheSpec(spec.cache) : undefined;
    const created = await this.lock(source, async () => {
      if (this.rules.has(id(source, spec.name))) throw new WharfError('EEXIST', `source ${source} already has a rule ${JSON.stringify(spec.name)}`);
      if (this.list(source).length >= MAX_RULES_PER_SOURCE) throw new WharfError('ENOSPC', `source ${source} has ${MAX_RULES_PER_SOURCE} rules, the most allowed`);
      const r: RuleRecord = {
        source: src.name, name: spec.name, description: spec.description ?? '', type: spec.type, directory,
        status: spec.type === 'manual' ? 'normal' : 'disabled', intervalMinutes: interval, createdMs: Date.now(),
        ...(spec.cron ? { cron: spec.cron } : {}), ...(cache ? { cache } : {}),
      };
      await this.persist(r);
      this.rules.set(id(source, r.name), r);
      log.info({ source, rule: r.name, type: r.type, book: this.o.book }, `${this.what} created`);
      // In the same hold of the lock: no other call can act on the rule in between.
      if (r.type === 'manual' && spec.executeOnCreate) {
        const job = await this.executeLocked(r);
        return { rule: { ...r }, job }; // after: the rule now names its job
      }
      if (r.type === 'periodic' && (spec.enableOnCreate ?? true)) return { rule: await this.enableLocked(r) };
      return { rule: { ...r } };
    });
    return created;
  }

  async update(source: string, name: string, c: RuleChanges): Promise<RuleRecord> {
    if (c.name !== undefined) checkName(c.name);
    if (c.intervalMinutes !== undefined) checkInterval(c.intervalMinutes);
    if (c.cron) checkCron(c.cron);
    return this.lock(source, async () => {
      const r = { ...this.get(source, name) };
      if (c.cron && r.type !== 'periodic') throw new WharfError('EINVAL', `rule ${name} is manual: a cron schedule needs a periodic rule`);
      // A disable in progress holds the record it will complete; replacing it would leave the rule `disabling`.
      if (r.status === 'enabling' || r.status === 'disabling') throw new WharfError('EBUSY', `rule ${name} is ${r.status}`);
      if (c.name !== undefined && c.name !== name) {
        if (this.rules.has(id(source, c.name))) throw new WharfError('EEXIST', `source ${source} already has a rule ${JSON.stringify(c.name)}`);
        if (this.jobs.active(source, name)) throw new WharfError('EBUSY', `rule ${name} has a running job; rename it when the job has ended`);
        r.name = c.name;
      }
      if (c.description !== undefined) r.description = c.description;
      if (c.intervalMinutes !== undefined) r.intervalMinutes = c.intervalMinutes;
      if (c.cron !== undefined) {
        if (c.cron) r.cron = c.cron;
        else delete r.cron;
      }
      await this.tree.write('rule update', async (tx) => {
        if (r.name !== name) {
          tx.delRecord(ruleKey(source, name, this.o.book));
          await this.jobs.renameRule(tx, source, name, r.name); // its job history follows it
        }
        tx.putRecord(ruleKey(source, r.name, this.o.book), encodeRecord(r));
      });
      this.rules.delete(id(source, name));
      this.rules.set(id(source, r.name), r);
      if (r.status === 'enabled') {
        this.disarm(source, name);
        this.arm(r, false);
      }
      return { ...r };
    });
  }

  async delete(source: string, name: string): Promise<void> {
    const active = await this.lock(source, async () => {
      this.get(source, name);
      this.disarm(source, name);
      await this.tree.write('rule delete', async (tx) => tx.delRecord(ruleKey(source, name, this.o.book)));
      this.rules.delete(id(source, name));
      return this.jobs.active(source, name);
    });
    if (active) await this.cancel(active);
    log.info({ source, rule: name }, `${this.what} deleted`);
  }

  async execute(source: string, name: string): Promise<J> {
    return this.lock(source, async () => this.executeLocked(this.get(source, name)));
  }

  /** Under the source's rule lock. */
  private async executeLocked(r: RuleRecord): Promise<J> {
    const refused = ruleRefusal('execute', r, this.jobs.active(r.source, r.name));
    if (refused) throw refused;
    return this.startJob(r, 'manual');
  }

  async terminate(source: string, name: string): Promise<J> {
    return this.lock(source, async () => {
      const active = this.jobs.active(source, name);
      const refused = ruleRefusal('terminate', this.get(source, name), active);
      if (refused || !active) throw refused;
      return this.jobs.terminate(active.id);
    });
  }

  async enable(source: string, name: string): Promise<RuleRecord> {
    return this.lock(source, async () => this.enableLocked(this.get(source, name)));
  }

  /** Under the source's rule lock. */
  private async enableLocked(r: RuleRecord): Promise<RuleRecord> {
    const refused = ruleRefusal('enable', r, undefined);
    if (refused) throw refused;
    r.status = 'enabling';
    await this.persist(r);
    r.status = 'enabled';
    await this.persist(r);
    this.arm(r, true);
    return { ...r };
  }

  async disable(source: string, name: string): Promise<RuleRecord> {
    const { rule, active } = await this.lock(source, async () => {
      const r = this.get(source, name);
      const refused = ruleRefusal('disable', r, undefined);
      if (refused) throw refused;
      this.disarm(source, name);
      r.status = 'disabling';
      await this.persist(r);
      return { rule: r, active: this.jobs.active(source, name) };
    });
    // The job is cancelled outside the lock: other rules of the source stay usable meanwhile.
    if (active) await this.cancel(active);
    return this.lock(source, async () => {
      rule.status = 'disabled';
      // Deleted while its job was being cancelled: writing the record back would resurrect it.
      if (this.rules.get(id(source, name)) !== rule) return { ...rule };
      await this.persist(rule);
      return { ...rule };
    });
  }

  /** What the gates accept for `r` now (ruleRefusal). */
  actionsOf(r: RuleRecord): RuleAction[] {
    const active = this.jobs.active(r.source, r.name);
    return RULE_ACTIONS.filter((a) => !ruleRefusal(a, r, active));
  }

  /** Cancels rules' timers and drops the rules of a removed source. */
  forgetSource(source: string): void {
    for (const r of this.list(source)) {
      this.disarm(source, r.name);
      this.rules.delete(id(source, r.name));
    }
  }

  /** Deletes a removed source's rule records in the caller's batch. */
  ruleKeys(source: string): Buffer[] {
    return [...this.rules.values()].filter((r) => r.source === source).map((r) => ruleKey(source, r.name, this.o.book));
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async startJob(r: RuleRecord, trigger: 'manual' | 'periodic'): Promise<J> {
    const job = await this.jobs.start(r.source, { rule: r.name, trigger, directory: r.directory, spec: { ...r } });
    r.lastJobId = job.id;
    r.lastRunMs = job.startedMs;
    await this.persist(r);
    return job;
  }

  private async cancel(job: J): Promise<void> {
    await this.jobs.terminate(job.id).catch(() => undefined); // it may have ended meanwhile
    await this.jobs.wait(job.id);
  }

  /**
   * Schedules the next tick: now if `catchUp` and the last run is overdue, else one
   * interval on (a cron rule: its next time; overdue when one passed since its last run).
   */
  private arm(r: RuleRecord, catchUp: boolean): void {
    const now = this.now();
    let due: number;
    if (r.cron) {
      const cron = new Cron(r.cron, { paused: true, timezone: 'UTC' });
      const missed = catchUp && r.lastRunMs !== undefined ? cron.nextRun(new Date(r.lastRunMs)) : null;
      const next = missed && missed.getTime() <= now ? missed : cron.nextRun(new Date(now));
      due = next ? Math.max(0, next.getTime() - now) : 2 ** 31 - 1;
    } else {
      const every = r.intervalMinutes * this.minuteMs;
      due = catchUp ? Math.max(0, (r.lastRunMs ?? 0) + every - now) : every;
    }
    const t = setTimeout(() => void this.tick(r.source, r.name), Math.min(due, 2 ** 31 - 1));
    t.unref();
    this.timers.set(id(r.source, r.name), t);
  }

  private disarm(source: string, name: string): void {
    const k = id(source, name);
    clearTimeout(this.timers.get(k));
    this.timers.delete(k);
  }

  private async tick(source: string, name: string): Promise<void> {
    try {
      await this.lock(source, async () => {
        const r = this.rules.get(id(source, name));
        if (!r || r.status !== 'enabled') return;
        this.arm(r, false);
        if (this.jobs.active(source, name)) return log.info({ source, rule: name, book: this.o.book }, 'periodic tick skipped: the last job still runs');
        if (this.catalog.get(source).mode === 'synchronizing') return log.info({ source, rule: name }, 'periodic tick skipped: the source is synchronizing');
        await this.startJob(r, 'periodic');
      });
    } catch (e) {
      log.error({ err: e, source, rule: name }, 'periodic tick failed');
    }
  }

  private persist(r: RuleRecord): Promise<void> {
    return this.tree.write('rule', async (tx) => tx.putRecord(ruleKey(r.source, r.name, this.o.book), encodeRecord(r)));
  }
}

function id(source: string, name: string): string {
  return `${source}\0${name}`;
}

function checkCron(expr: string): void {
  try {
    const next = new Cron(expr, { paused: true, timezone: 'UTC' }).nextRun();
    if (!next) throw new Error('it never fires');
  } catch (e) {
    throw new WharfError('EINVAL', `cron expression ${JSON.stringify(expr)} is malformed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function checkInterval(m: number): number {
  if (!Number.isInteger(m) || m < MIN_INTERVAL_MINUTES || m > MAX_INTERVAL_MINUTES) {
    throw new WharfError('EINVAL', `interval ${m} minutes is outside ${MIN_INTERVAL_MINUTES}..${MAX_INTERVAL_MINUTES}`);
  }
  return m;
}
