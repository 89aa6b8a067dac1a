// Applies sync decisions to the namespace inside one transaction: resolving (and
// creating) directories on the way down, and creating, updating, stamping or
// replacing entries as SyncPlan says. Everything here runs inside InodeTree.write,
// so the state it reads cannot change before its batch commits.
import { WharfError, nowNs, type Attr, type Ino } from '../common/index.js';
import type { DentryValue, StoreState, Txn } from '../meta/index.js';
import { compareKeys } from '../ufs/index.js';
import { planEntry, type Existing, type PlanContext, type ShadowedEntry, type StoreEntry } from './SyncPlan.js';
import type { SyncCounters } from './SyncCounters.js';

export interface SyncDefaults {
  fileMode: number;
  dirMode: number;
  uid: number;
  gid: number;
}

/** A read of a directory's entries as one range, continuing where the last one for it stopped (SweepAhead). */
export interface DirScan {
  /** Names up to and including this one were read before; undefined: from the directory's first name. */
  after: string | undefined;
  /** Unlisted entries the read may hold at most (memory: a store that lost most of a huge directory). */
  maxUnlisted: number;
}

export interface ScanResult {
  /** The greatest name read. */
  through: string;
  /**
   * Entries in the range read that were not listed (committed ones; what this
   * transaction staged is not here); 'too many' when the range held more than
   * DirScan.maxUnlisted of them and was not read.
   */
  unlisted: DentryValue[] | 'too many';
}

/** The store state says the stored object is this one, and no write through Wharf is on its way (planEntry: 'stamp'). */
function isUnchanged(state: StoreState | undefined, fingerprint: string): boolean {
  return state !== undefined && !state.pending && state.fingerprint === fingerprint;
}

/** Objects under a synced directory's name settled after a sweep, at most (more are skipped at once, as before). */
const MAX_SHADOWED = 10_000;

export const DEFAULTS: SyncDefaults = { fileMode: 0o644, dirMode: 0o755, uid: 0, gid: 0 };

export class SyncWriter {
  /** Directory path (parts joined by '/') → inode, valid for this transaction only. */
  private readonly dirs = new Map<string, Ino | null>();

  constructor(
    private readonly tx: Txn,
    private readonly rootIno: Ino,
    private readonly gen: bigint,
    private readonly ctx: PlanContext,
    private readonly defaults: SyncDefaults,
    private readonly counters: SyncCounters,
    /**
     * On-access syncs (one level, one name): directories they create were not listed,
     * so they get "not loaded" sync times ({0, 0}) and do not count as fresh by an
     * older full sync of an ancestor (SyncControl.lastSyncMs).
     */
    private readonly newDirsUnloaded = false,
  ) {}

  /** The directories resolved so far (paths below the mount root, parts joined by '/'; null: skipped). */
  get resolvedDirs(): ReadonlyMap<string, Ino | null> {
    return this.dirs;
  }

  /**
   * The directory at `parts` below the mount root, created (as a synced directory)
   * where missing. Null when a name on the way is Wharf's own non-directory: keys
   * below it are skipped rather than clobbering a client's file.
   */
  async dir(parts: readonly string[], fingerprint = 'dir'): Promise<Ino | null> {
    const key = parts.join('/');
    const cached = this.dirs.get(key);
    if (cached !== undefined && fingerprint === 'dir') return cached;
    let at = this.rootIno;
    for (let i = 0; i < parts.length; i++) {
      const sub = parts.slice(0, i + 1).join('/');
      const known = this.dirs.get(sub);
      const last = i === parts.length - 1;
      if (known !== undefined && !(last && fingerprint !== 'dir')) {
        if (known === null) return null;
        at = known;
        continue;
      }
      const next = await this.apply(at, parts[i]!, { type: 'directory', fingerprint: last ? fingerprint : 'dir', size: 0n, mtimeMs: Date.now() });
      this.dirs.set(sub, next);
      if (next === null) return null;
      at = next;
    }
    return at;
  }

  /**
   * Settles an object found under a synced directory's name (PlanContext.shadowed),
   * after the sweep: if the directory is gone, the object takes its place; if it
   * stays (keys below it, or a client's files), the directory wins.
   */
  async settleShadowed(s: ShadowedEntry): Promise<void> {
    const parent = await this.tx.getAttr(s.parent);
    const [dv] = parent?.type === 'directory' ? await this.tx.getDentries(s.parent, [s.name]) : [undefined];
    if (parent?.type === 'directory' && dv === undefined) {
      this.create(s.parent, s.name, s.entry);
      await this.tx.touchDir(s.parent, nowNs(), 0);
      this.counters.created++;
      return;
    }
    // An on-access sync got there first, with this very object: nothing left to do.
    if (dv?.type === 'file' && (await this.tx.getStoreState(dv.ino))?.fingerprint === s.entry.fingerprint) {
      this.counters.unchanged++;
      return;
    }
    this.counters.skipped++;
    this.counters.warn(dv?.type === 'directory'
      ? `${s.name}: an object and a directory share this name; the directory wins`
      : `${s.name}: changed in Wharf while the sync ran; left for the next sync`);
  }

  /** Plans and applies one store entry under directory `parent`. Returns the inode now there (null if skipped). */
  async apply(parent: Ino, name: string, entry: StoreEntry): Promise<Ino | null> {
    const [dv] = await this.tx.getDentries(parent, [name]);
    const existing = dv ? await this.existing(dv.ino) : undefined;
    return this.applyPlanned(parent, name, entry, existing);
  }

  /**
   * Applies many entries of one directory with batched reads. A new file whose name
   * `readBack` does not claim (nothing later in this transaction looks it up) takes
   * the batch path, and the directory's times are bumped once for all of them: an
   * initial sync is mostly such files. With `scan` (SweepAhead: a listing in key
   * order), the entries are read as one range of the directory, and what the range
   * held that was not listed is returned, for the sweep.
   */
  async applyMany(
    parent: Ino, entries: readonly { name: string; entry: StoreEntry }[], readBack: (name: string) => boolean = () => true, scan?: DirScan,
  ): Promise<ScanResult | undefined> {
    const scanned = scan && entries.length > 0 ? await this.scan(parent, entries, scan) : undefined;
    const dvs = scanned?.dvs ?? await this.tx.getDentries(parent, entries.map((e) => e.name));
    // In a sync that sweeps, an unchanged file is only marked seen: where its store
    // state is known to hold this fingerprint (KnownFingerprints), it is not even read.
    const known = dvs.map((d, i) =>
      this.ctx.seen !== undefined && d !== undefined && d.type === 'file' && entries[i]!.entry.type === 'file' && this.tx.knownFingerprint(d.ino, entries[i]!.entry.fingerprint));
    const inos: Ino[] = [];
    dvs.forEach((d, i) => { if (d && !known[i]) inos.push(d.ino); });
    const states = new Map<Ino, StoreState | undefined>();
    (await this.tx.getStoreStates(inos)).forEach((s, i) => states.set(inos[i]!, s));
    // A file still a file with its fingerprint unchanged needs nothing more: planEntry
    // says 'stamp' from the entry's type (the directory entry has it) and the store
    // state alone. Only the others need their inode records (an unchanged re-sync is
    // almost all the former: a third fewer reads, no records decoded).
    const unchanged = dvs.map((d, i) =>
      known[i]! || (d !== undefined && d.type === 'file' && entries[i]!.entry.type === 'file' && isUnchanged(states.get(d.ino), entries[i]!.entry.fingerprint)));
    const needAttr: Ino[] = [];
    dvs.forEach((d, i) => { if (d && !unchanged[i]) needAttr.push(d.ino); });
    const attrs = await this.tx.getAttrs(needAttr);
    const byIno = new Map<Ino, Existing>();
    needAttr.forEach((ino, i) => { if (attrs[i]) byIno.set(ino, { attr: attrs[i]!, state: states.get(ino) }); });
    let fresh = 0;
    for (const [i, e] of entries.entries()) {
      const d = dvs[i];
      if (!d && e.entry.type === 'file' && !readBack(e.name)) {
        this.create(parent, e.name, e.entry, true); // planEntry(nothing, a file) is 'create'
        this.counters.created++;
        fresh++;
        continue;
      }
      if (d && unchanged[i]) {
        if (known[i]) this.ctx.seen!.add(d.ino); // what stamp() does for it in a sync that sweeps
        else this.stamp(d.ino, states.get(d.ino), e.entry.fingerprint);
        this.counters.unchanged++;
        continue;
      }
      await this.applyPlanned(parent, e.name, e.entry, d ? byIno.get(d.ino) : undefined);
    }
    if (fresh > 0) await this.tx.touchDir(parent, nowNs(), 0);
    return scanned && { through: scanned.through, unlisted: scanned.unlisted };
  }

  /**
   * The entries' directory entries from one range read of the directory, names
   * (scan.after, greatest listed name]; with what that range holds that was not
   * listed. Undefined (look each name up instead) when a name is not past
   * scan.after: the range would miss it, and a name missed would be created twice.
   */
  private async scan(parent: Ino, entries: readonly { name: string }[], scan: DirScan) {
    let through = entries[0]!.name;
    for (const { name } of entries) {
      if (scan.after !== undefined && compareKeys(name, scan.after) <= 0) return undefined;
      if (compareKeys(name, through) > 0) through = name;
    }
    // A range the store lost much of is not read in one go: the names are looked up instead.
    const found = await this.tx.scanDentries(parent, scan.after, through, entries.length + scan.maxUnlisted);
    if (!found) return { dvs: undefined, through, unlisted: 'too many' as const };
    const dvs = entries.map((e) => {
      const staged = this.tx.stagedDentry(parent, e.name);
      const d = staged === undefined ? found.get(e.name) : staged ?? undefined;
      // A directory under a listed object's name (keys below it too: the directory
      // wins) stays among the unlisted: the sweep must still learn of it, and descend.
      if (found.get(e.name)?.type !== 'directory') found.delete(e.name);
      return d;
    });
    const unlisted = [...found.values()];
    return { dvs, through, unlisted };
  }

  private async existing(ino: Ino): Promise<Existing | undefined> {
    const attr = await this.tx.getAttr(ino);
    return attr ? { attr, state: await this.tx.getStoreState(ino) } : undefined;
  }

  private async applyPlanned(parent: Ino, name: string, entry: StoreEntry, existing: Existing | undefined): Promise<Ino | null> {
    // An object at a further name of a hard-linked file (put there by another tool):
    // the link is a client's change, kept; the inode's object is at its primary name.
    const further = existing !== undefined && existing.attr.type !== 'directory' && existing.attr.nlink > 1 &&
      !(await this.tx.isPrimaryName(existing.attr, parent, name));
    const action = further ? 'keep-local' : planEntry(existing, entry, this.ctx);
    const c = this.counters;
    switch (action) {
      case 'create': {
        const a = this.create(parent, name, entry);
        await this.tx.touchDir(parent, nowNs(), entry.type === 'directory' ? 1 : 0);
        c.created++;
        return a.ino;
      }
      case 'update': {
        const a = existing!.attr;
        const mtimeNs = BigInt(entry.meta?.mtimeMs ?? entry.mtimeMs) * 1_000_000n;
        this.tx.addBytes(entry.size - a.size);
        this.tx.putAttr({
          ...a, size: entry.size, mtimeNs, ctimeNs: nowNs(),
          ...(entry.meta?.mode !== undefined ? { mode: entry.meta.mode } : {}),
          ...(entry.meta?.uid !== undefined ? { uid: entry.meta.uid } : {}),
          ...(entry.meta?.gid !== undefined ? { gid: entry.meta.gid } : {}),
        });
        this.stamp(a.ino, existing!.state, entry.fingerprint);
        c.updated++;
        return a.ino;
      }
      case 'stamp':
        this.stamp(existing!.attr.ino, existing!.state, entry.fingerprint);
        if (entry.type === 'file') c.unchanged++;
        return existing!.attr.ino;
      case 'replace': {
        const old = existing!.attr;
        if (old.type === 'directory') throw new WharfError('EIO', 'sync plan replaced a directory');
        await this.tx.removeChild(parent, name, old);
        const a = this.create(parent, name, entry);
        await this.tx.touchDir(parent, nowNs(), entry.type === 'directory' ? 1 : 0);
        c.updated++;
        return a.ino;
      }
      case 'skip-shadowed':
        // In a sweeping full sync the directory may be stale: decided after the sweep.
        if (this.ctx.shadowed && this.ctx.shadowed.length < MAX_SHADOWED && entry.type !== 'directory') {
          this.ctx.shadowed.push({ parent, name, entry });
          return null;
        }
        c.skipped++;
        this.counters.warn(`${name}: an object and a directory share this name; the directory wins`);
        return null;
      case 'keep-local':
        // A directory the client made: keys below it still belong there.
        if (existing!.attr.type === 'directory' && entry.type === 'directory') return existing!.attr.ino;
        c.skipped++;
        // Said every time, so that a file whose mount never came back to upload it is seen (job warnings, wharf status).
        // Once per job (a pending file where the store has a directory is met on every page).
        if (existing!.state?.pending && !this.ctx.reported?.has(existing!.attr.ino)) {
          this.ctx.reported?.add(existing!.attr.ino);
          c.warn(`${name}: written through Wharf and not uploaded yet (pending); the store's object is not applied`);
          this.ctx.seen?.add(existing!.attr.ino); // accounted for: the sweep neither removes nor reports it
        }
        return existing!.attr.type === 'directory' ? existing!.attr.ino : null;
      case 'keep-recent':
        // An object this very sync placed (its generation), and now keys below its
        // name: the directory wins whatever the listing order (KEYS.md); the object
        // is skipped as if the directory had come first.
        if (entry.type === 'directory' && existing!.attr.type === 'file' && existing!.state?.gen === this.gen) {
          await this.tx.removeChild(parent, name, existing!.attr);
          const a = this.create(parent, name, entry);
          await this.tx.touchDir(parent, nowNs(), 1);
          c.created++;
          c.skipped++;
          c.warn(`${name}: an object and a directory share this name; the directory wins`);
          return a.ino;
        }
        c.skipped++;
        return existing!.attr.type === 'directory' ? existing!.attr.ino : null;
      case 'delete':
      case 'none':
        return null;
    }
  }

  private create(parent: Ino, name: string, entry: StoreEntry, fresh = false): Attr {
    const now = nowNs();
    const mtimeNs = entry.type !== 'directory' ? BigInt(entry.meta?.mtimeMs ?? entry.mtimeMs) * 1_000_000n : now;
    const d = this.defaults;
    const m = entry.meta ?? {};
    const a = this.tx.addChild(parent, name, {
      type: entry.type, mode: m.mode ?? (entry.type === 'directory' ? d.dirMode : entry.type === 'symlink' ? 0o777 : d.fileMode),
      uid: m.uid ?? d.uid, gid: m.gid ?? d.gid,
      size: entry.type === 'file' ? entry.size : entry.type === 'symlink' ? BigInt(Buffer.byteLength(entry.target ?? '', 'utf8')) : 0n,
      atimeNs: mtimeNs, mtimeNs, ctimeNs: now, ...(entry.rdev !== undefined ? { rdev: entry.rdev } : {}),
    }, entry.type === 'symlink' ? (entry.target ?? '') : undefined, fresh);
    this.tx.putStoreState(a.ino, { gen: this.gen, fingerprint: entry.fingerprint });
    this.ctx.seen?.add(a.ino);
    if (entry.type === 'directory' && this.newDirsUnloaded) this.tx.putSyncTimes(a.ino, { listedMs: 0, treeMs: 0 });
    return a;
  }

  /** Marks an entry as seen by this sync. Generations only go up (see SyncExecutor on concurrent jobs). */
  private stamp(ino: Ino, state: StoreState | undefined, fingerprint: string): void {
    this.ctx.seen?.add(ino);
    const gen = state && state.gen > this.gen ? state.gen : this.gen;
    if (state && state.gen === gen && state.fingerprint === fingerprint) return;
    // Unchanged, in a sync that sweeps: the sweep asks the set, nothing is written.
    if (this.ctx.seen && state && state.fingerprint === fingerprint) return;
    this.tx.putStoreState(ino, { gen, fingerprint, ...(state?.pending ? { pending: true } : {}) });
  }
}
