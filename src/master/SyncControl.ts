// Data sources and their sync, as one surface for the gRPC Admin service and for
// an embedded master: import/remove, rules and jobs, begin/end resynchronisation,
// status, and the on-access hooks the namespace calls.
import { LRUCache } from 'lru-cache';
import { ROOT_INO, WharfError, logger, type Ino } from '../common/index.js';
import { readdirAll, removeTree, type DataLocation, type InodeTree } from '../meta/index.js';
import { parseStoreUri, pathToKey } from '../ufs/index.js';
import { SyncCounters, isStale, shouldSync, sweep, syncDirectoryLevel, syncOneName, type Existing } from '../sync/index.js';
import { RESYNC_REMOVAL_GUARD, type JobRecord, type RuleRecord, type SourceRecord } from './records.js';
import { SourceCatalog, type ImportRequest, type StoreOpener } from './SourceCatalog.js';
import { SyncJobs } from './SyncJobs.js';
import { RuleBook } from './RuleBook.js';

const log = logger('sync-control');

export interface SyncControlOptions {
  openStore: StoreOpener;
  /** Tests shrink minutes. */
  minuteMs?: number;
  progressEveryMs?: number;
  /** `wharf status` shows "snapshot complete" once a resynchronisation has had no refresh for this long. */
  snapshotDeadlineMs?: number;
}

export type SyncModeView = 'normal' | 'synchronizing' | 'snapshot complete';

export interface SourceStatus {
  source: SourceRecord;
  syncMode: SyncModeView;
  runningJob?: JobRecord;
  lastJob?: JobRecord;
  rules: RuleRecord[];
}

export class SyncControl {
  readonly catalog: SourceCatalog;
  readonly jobs: SyncJobs;
  readonly rules: RuleBook<JobRecord>;
  private readonly inflight = new Map<Ino, Promise<void>>();
  /** Names looked up in the store and not found there: asked once per sync interval. */
  private readonly missing = new LRUCache<string, true>({ max: 50_000, ttl: 10_000 });
  private readonly snapshotDeadlineMs: number;

  private constructor(private readonly tree: InodeTree, o: SyncControlOptions) {
    this.catalog = new SourceCatalog(tree, o.openStore);
    this.jobs = new SyncJobs(tree, this.catalog, o.progressEveryMs);
    this.rules = new RuleBook(tree, this.catalog, this.jobs, { book: 'sync', ...(o.minuteMs ? { minuteMs: o.minuteMs } : {}) });
    this.snapshotDeadlineMs = o.snapshotDeadlineMs ?? 60_000;
  }

  static async open(tree: InodeTree, o: SyncControlOptions): Promise<SyncControl> {
    const c = new SyncControl(tree, o);
    await c.catalog.load();
    await c.jobs.load();
    await c.rules.load();
    return c;
  }

  async close(): Promise<void> {
    this.rules.close();
    await this.jobs.close();
    await this.catalog.close();
  }

  // ---- sources ---------------------------------------------------------------------

  /** Records the source and starts its initial scan; the mount path is usable at once. */
  async importSource(req: ImportRequest): Promise<{ source: SourceRecord; job: JobRecord }> {
    const source = await this.catalog.add(req);
    const job = await this.jobs.start(source.name, { trigger: 'import', directory: '/' });
    return { source, job };
  }

  /** Drops the namespace subtree and the mount; never touches the store. */
  async removeSource(name: string, opts: { force?: boolean; beforeRemove?: () => Promise<Buffer[]> } = {}): Promise<{ removedEntries: number }> {
    const s = this.catalog.get(name);
    const active = this.jobs.active(name);
    if (active && !opts.force) throw new WharfError('EBUSY', `source ${name} has job ${active.id} ${active.state}; wait, terminate it, or use --force`);
    // Others' records of the source (its cache rules), deleted with the sync rules.
    const otherKeys = opts.beforeRemove ? await opts.beforeRemove() : [];
    for (const r of this.rules.list(name)) if (this.jobs.active(name, r.name)) await this.rules.terminate(name, r.name).catch(() => undefined);
    if (active) {
      await this.jobs.terminate(active.id).catch(() => undefined);
      await this.jobs.wait(active.id);
    }
    const ruleKeys = this.rules.ruleKeys(name);
    this.rules.forgetSource(name);
    const at = await this.tree.pathOf(BigInt(s.rootIno));
    let removed = 0;
    if (at.length === 0) {
      // Mounted at "/": empty the namespace, keep the root.
      const names: string[] = [];
      for await (const e of readdirAll(this.tree, ROOT_INO)) names.push(e.name);
      for (const n of names) removed += await removeTree(this.tree, ROOT_INO, n);
    } else {
      const parent = await this.tree.resolve('/' + at.slice(0, -1).join('/'));
      removed = await removeTree(this.tree, parent.ino, at.at(-1)!);
    }
    await this.tree.write('source rules remove', async (tx) => { for (const k of [...ruleKeys, ...otherKeys]) tx.delRecord(k); });
    await this.catalog.remove(name);
    log.info({ source: name, removed }, 'data source removed');
    return { removedEntries: removed };
  }

  async status(): Promise<SourceStatus[]> {
    const out: SourceStatus[] = [];
    for (const s of this.catalog.list()) {
      const runningJob = this.jobs.active(s.name);
      const [lastJob] = await this.jobs.list({ source: s.name, limit: 1 });
      out.push({ source: s, syncMode: this.modeOf(s, runningJob), ...(runningJob ? { runningJob } : {}), ...(lastJob ? { lastJob } : {}), rules: this.rules.list(s.name) });
    }
    return out;
  }

  private modeOf(s: SourceRecord, running: JobRecord | undefined): SyncModeView {
    if (s.mode === 'normal') return 'normal';
    const last = s.lastRefreshMs ?? s.resyncStartedMs ?? 0;
    return !running && Date.now() - last >= this.snapshotDeadlineMs ? 'snapshot complete' : 'synchronizing';
  }

  // ---- begin/end resynchronisation (Metadb semantics) --------------------------------

  async beginResync(name: string): Promise<SourceRecord> {
    const s = this.catalog.get(name);
    if (s.mode === 'synchronizing') throw new WharfError('EINVAL', `source ${name} is already synchronizing (since ${new Date(s.resyncStartedMs ?? 0).toISOString()})`);
    const active = this.jobs.active(name);
    if (active) throw new WharfError('EBUSY', `source ${name} has job ${active.id} ${active.state}; begin when it has ended`);
    const now = Date.now();
    const next = await this.catalog.update(name, (r) => {
      r.mode = 'synchronizing';
      r.gen = (BigInt(r.gen) + 1n).toString();
      r.resyncStartedMs = now;
      r.lastRefreshMs = now;
    });
    log.info({ source: name, gen: next.gen }, 'resynchronisation begun');
    return next;
  }

  /** Removes what the open generation did not refresh; refuses past the 20% guard unless forced. */
  async endResync(name: string, opts: { force?: boolean } = {}): Promise<{ source: SourceRecord; removed: number; total: number }> {
    const s = this.catalog.get(name);
    if (s.mode !== 'synchronizing') throw new WharfError('EINVAL', `source ${name} is not synchronizing; run sync begin first`);
    const active = this.jobs.active(name);
    if (active) throw new WharfError('EBUSY', `source ${name} has job ${active.id} ${active.state}; end when it has ended`);
    const gen = BigInt(s.gen);
    const startNs = BigInt(s.resyncStartedMs ?? 0) * 1_000_000n;
    const { stale, total } = await this.countStale(BigInt(s.rootIno), gen, startNs);
    if (!opts.force && total > 0 && stale / total > RESYNC_REMOVAL_GUARD) {
      throw new WharfError('EPERM', `ending would remove ${stale} of ${total} entries (${Math.round((100 * stale) / total)}% > ${RESYNC_REMOVAL_GUARD * 100}%); check the listing, or use --force`);
    }
    const counters = new SyncCounters();
    await sweep(this.tree, BigInt(s.rootIno), gen, startNs, counters);
    const next = await this.catalog.update(name, (r) => {
      r.mode = 'normal';
      delete r.resyncStartedMs;
      r.lastSuccessMs = Date.now();
    });
    log.info({ source: name, removed: counters.deleted, total }, 'resynchronisation ended');
    return { source: next, removed: counters.deleted, total };
  }

  private async countStale(dirIno: Ino, gen: bigint, startNs: bigint): Promise<{ stale: number; total: number }> {
    let stale = 0;
    let total = 0;
    let after: Buffer | undefined;
    do {
      const page = await this.tree.readdirNames(dirIno, after, 1000);
      for (const c of page.children) {
        const attr = await this.tree.getattr(c.ino).catch(() => undefined);
        if (!attr) continue;
        const e: Existing = { attr, state: await this.tree.getStoreState(c.ino) };
        if (e.state) total++;
        if (isStale(e, gen, startNs)) stale++;
        if (c.type === 'directory') {
          const sub = await this.countStale(c.ino, gen, startNs);
          stale += sub.stale;
          total += sub.total;
        }
      }
      after = page.next;
    } while (after);
    return { stale, total };
  }

  // ---- on-access sync (Alluxio semantics) --------------------------------------------

  /**
   * Brings directory `dirIno` up to date with its store if it is stale under the
   * interval in force (the request's, else the source's). Concurrent callers for one
   * directory share one sync. Outside every mount it does nothing.
   */
  async beforeDirectoryAccess(dirIno: Ino, intervalOverrideMs?: number): Promise<void> {
    const where = await this.catalog.locate(dirIno);
    if (!where) return;
    const interval = intervalOverrideMs ?? where.source.syncIntervalMs;
    const last = await this.lastSyncMs(where.chain);
    // Invalidations were lost: whatever was listed before then may be stale, whatever the interval.
    const lost = where.source.staleSinceMs !== undefined && last !== undefined && last < where.source.staleSinceMs;
    if (!lost && !shouldSync(interval, last, Date.now())) return;
    let p = this.inflight.get(dirIno);
    if (!p) {
      p = (async () => {
        try {
          // During begin/end nothing is removed until end: the listing only adds and updates.
          await syncDirectoryLevel(await this.catalog.mountPoint(where.source.name), dirIno, where.parts, BigInt(where.source.gen), undefined, where.source.mode === 'normal');
        } catch (e) {
          // A directory never loaded cannot be shown; one loaded before is served as it was.
          if (last === undefined) throw e instanceof WharfError ? new WharfError('EIO', `cannot list ${where.source.name}:/${where.parts.join('/')}: ${e.message}`, e) : e;
          log.warn({ err: e, source: where.source.name, dir: '/' + where.parts.join('/') }, 'on-access sync failed; serving the namespace as it was');
        } finally {
          this.inflight.delete(dirIno);
        }
      })();
      this.inflight.set(dirIno, p);
    }
    await p;
  }

  /**
   * A lookup missed in a directory that was fresh enough not to re-list: asks the
   * store for that one name (once per interval), so a new object is found without
   * re-listing a large directory.
   */
  async afterLookupMiss(dirIno: Ino, name: string): Promise<boolean> {
    const where = await this.catalog.locate(dirIno);
    if (!where) return false;
    const s = where.source;
    const k = `${s.name}\0${dirIno}\0${name}`;
    if (this.missing.has(k)) return false;
    let found: boolean;
    try {
      found = await syncOneName(await this.catalog.mountPoint(s.name), dirIno, where.parts, name, BigInt(s.gen));
    } catch (e) {
      // The store cannot be asked: the name is unknown as far as anyone can tell (ENOENT,
      // not EIO, so `touch new` still works); not remembered, so it is asked again later.
      log.warn({ err: e instanceof Error ? e.message : String(e), source: s.name, name }, 'store lookup of an unknown name failed');
      return false;
    }
    if (!found) this.missing.set(k, true, { ttl: Math.max(1_000, s.syncIntervalMs > 0 ? s.syncIntervalMs : 10_000) });
    return found;
  }

  /** The source and store key of a file (for the mount's reads and uploads). */
  async locateFile(ino: Ino): Promise<DataLocation | undefined> {
    const attr = await this.tree.getattr(ino);
    if (attr.parent === 0n) return undefined;
    const where = await this.catalog.locate(attr.type === 'directory' ? ino : attr.parent);
    if (!where) return undefined;
    const s = where.source;
    const parts = attr.type === 'directory' ? where.parts : [...where.parts, (await this.tree.pathOf(ino)).at(-1)!];
    const state = await this.tree.getStoreState(ino);
    return {
      source: s.name, uri: s.uri, ...(s.endpoint ? { endpoint: s.endpoint } : {}), ...(s.region ? { region: s.region } : {}),
      key: pathToKey(parseStoreUri(s.uri).prefix, parts, attr.type === 'directory'),
      fingerprint: state && attr.type !== 'directory' ? state.fingerprint : '', readOnly: s.readOnly, size: attr.size, version: attr.version,
    };
  }

  /** The generation an upload under `ino`'s source is stamped with. */
  async genFor(ino: Ino): Promise<bigint> {
    const attr = await this.tree.getattr(ino);
    const where = await this.catalog.locate(attr.type === 'directory' ? ino : attr.parent);
    return where ? BigInt(where.source.gen) : 0n;
  }

  /** Refuses changes below a read-only source's mount. */
  async guardWrite(dirIno: Ino): Promise<void> {
    const where = await this.catalog.locate(dirIno);
    if (where?.source.readOnly) throw new WharfError('EROFS', `source ${where.source.name} is read-only`);
  }

  private async lastSyncMs(chain: readonly Ino[]): Promise<number | undefined> {
    let last: number | undefined;
    // One read for the whole chain: this runs before every access to a directory.
    const times = await this.tree.getSyncTimesMany(chain);
    for (const [i, t] of times.entries()) {
      if (!t) continue;
      // {0, 0}: created by an on-access sync after its ancestors' full syncs, never listed itself.
      if (i === 0 && t.listedMs === 0 && t.treeMs === 0) return undefined;
      const v = i === 0 ? Math.max(t.listedMs, t.treeMs) : t.treeMs;
      if (v > 0 && (last === undefined || v > last)) last = v;
    }
    return last;
  }
}

