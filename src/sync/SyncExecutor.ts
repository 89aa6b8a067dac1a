// Runs syncs against one mount: a full sync of a subtree (flat listing, page by
// page, then a sweep of what the listing did not refresh) and the one-level sync
// of a single directory that on-access sync uses.
//
// Why a flat listing plus generations: a flat listing is one paged stream whose
// pages may come in any order (s3rver does not sort keys), so what is absent can
// only be known once the whole listing is done. Every entry the listing creates or
// changes is stamped with the job's generation, and every entry it finds unchanged
// is remembered in memory (PlanContext.seen: a bit per inode number); the sweep
// afterwards removes synced entries with an older generation that were not seen.
// A listing that fails or is cancelled part-way never sweeps, so nothing is
// deleted on the strength of a partial listing. During begin/end (no sweep until
// `end`, possibly after a restart) everything is stamped instead. What the sweep
// must read to know that, a directory at a time, is read while the listing runs
// where the listing is in key order (SweepAhead).
//
// Writes go through InodeTree.write, one transaction for the listing pages ready
// (a bounded pause for client writes); the store lists ahead meanwhile (ListingAhead).
import { WharfError, logger, nowNs, type Ino } from '../common/index.js';
import type { ChildRef, InodeTree, SyncTimes, Txn } from '../meta/index.js';
import { keyToPath, pathToKey, type ListPage, type UnderStore } from '../ufs/index.js';
import { SyncCounters } from './SyncCounters.js';
import { fileFingerprint, isStale, planEntry, type Existing, type PlanContext, type StoreEntry } from './SyncPlan.js';
import { DEFAULTS, SyncWriter, type SyncDefaults } from './SyncWriter.js';
import { ListingAhead } from './ListingAhead.js';
import { SeenInodes } from './SeenInodes.js';
import { SweepAhead, subdirsIfAllSeen } from './SweepAhead.js';
import { readObjectMetadata, type ObjectRef } from './objectMetadata.js';

const log = logger('sync');

/** Where a data source lives in the namespace and in its store. */
export interface MountPoint {
  tree: InodeTree;
  store: UnderStore;
  /** The store prefix the mount root maps to: '' or ending in '/'. */
  prefix: string;
  rootIno: Ino;
  defaults?: SyncDefaults;
  /** Read owner, mode, time and symlinks from new and changed objects' metadata (s3fs/rclone). */
  objectMetadata?: boolean;
}

export interface FullSyncOptions {
  /** Directory below the mount root to sync (path parts); [] for all of it. */
  dir: readonly string[];
  gen: bigint;
  /** False during begin/end resynchronisation: removal waits for `end`. */
  sweep: boolean;
  signal?: AbortSignal;
  pageSize?: number;
  /** Pages listed ahead of the writes at most (default 2). */
  pagesAhead?: number;
  counters?: SyncCounters;
  /** Called after each applied page (progress, "last refresh" times). */
  onPage?: (counters: SyncCounters) => void;
}

function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new WharfError('ECANCELED', 'the sync was terminated');
}

/** A listed object's place in the namespace; unmappable keys are counted as skipped, with a warning. */
function mapListed(prefix: string, key: string, counters: SyncCounters): { kind: 'file' | 'dir-marker'; parts: string[] } | undefined {
  counters.listed++;
  const mapped = keyToPath(prefix, key);
  if (mapped.kind !== 'skip') return mapped;
  counters.skipped++;
  counters.warn(`${JSON.stringify(key)}: ${mapped.reason}`);
  return undefined;
}

export function listPrefixOf(prefix: string, dir: readonly string[]): string {
  return dir.length === 0 ? prefix : `${prefix}${dir.join('/')}/`;
}

export async function runFullSync(m: MountPoint, o: FullSyncOptions): Promise<SyncCounters> {
  const counters = o.counters ?? new SyncCounters();
  const startNs = nowNs();
  const listPrefix = listPrefixOf(m.prefix, o.dir);
  const ctx: PlanContext = { startNs, complete: false };
  const defaults = m.defaults ?? DEFAULTS;

  // Make sure the job's directory exists before anything below it arrives.
  const dirIno = await m.tree.write('sync: job directory', async (tx) => new SyncWriter(tx, m.rootIno, o.gen, ctx, defaults, counters).dir(o.dir));
  if (dirIno === null) throw new WharfError('ENOTDIR', `/${o.dir.join('/')} is a file written through Wharf; cannot sync below it`);
  // Nothing below yet (an import's first scan): nothing can be stale, so no sweep is needed.
  const wasEmpty = (await m.tree.readdirNames(dirIno, undefined, 1)).children.length === 0;
  // What this listing found unchanged, for the sweep.
  if (o.sweep && !wasEmpty) ctx.seen = new SeenInodes();
  // Objects under a synced directory's name: settled after the sweep, which may remove the directory.
  if (o.sweep) ctx.shadowed = [];
  ctx.reported = new Set();

  const list = (token: string | undefined): Promise<ListPage> =>
    m.store.list(listPrefix, { ...(token ? { token } : {}), maxKeys: o.pageSize ?? 1000, ...(o.signal ? { signal: o.signal } : {}) });

  // The store lists ahead while the namespace writes; every page ready is written in
  // one transaction. The next pages are mapped to paths while the previous ones
  // commit (the main thread would otherwise wait for LevelDB's threads), and
  // transactions still run one after the other, in listing order.
  const ahead = new ListingAhead(list, o.pagesAhead ?? 2);
  // A re-sync checks finished directories for its sweep while the listing runs.
  const early = ctx.seen ? new SweepAhead(m.tree, ctx.seen, m.prefix) : undefined;
  let writing: { dirs: Promise<ReadonlyMap<string, Ino | null>>; lastKey: string | undefined } | undefined;
  const written = async () => {
    if (!writing) return;
    const dirs = await writing.dirs;
    if (writing.lastKey !== undefined) early?.written(dirs, writing.lastKey);
    o.onPage?.(counters);
  };
  try {
    for (;;) {
      checkCancelled(o.signal);
      const pages = await ahead.take();
      if (!pages) break;
      const page = pages.length === 1 ? pages[0]! : { objects: pages.flatMap((p) => p.objects), prefixes: [] };
      early?.listed(page.objects);
      const mapped = mapPage(m.prefix, page, counters);
      await written();
      checkCancelled(o.signal);
      writing = { dirs: writePage(m, mapped, o.gen, ctx, defaults, counters, early), lastKey: page.objects.at(-1)?.key };
      writing.dirs.catch(() => undefined); // awaited below; a failure must not go unheard meanwhile
    }
    await written();
  } finally {
    ahead.stop();
    await writing?.dirs.catch(() => undefined);
    await early?.settle();
  }
  checkCancelled(o.signal);
  if (o.sweep) {
    if (!wasEmpty) await sweep(m.tree, dirIno, o.gen, startNs, counters, o.signal, ctx.seen, await early?.verdicts());
    for (let i = 0; i < ctx.shadowed!.length; i += 1000) {
      checkCancelled(o.signal);
      const some = ctx.shadowed!.slice(i, i + 1000);
      await m.tree.write('sync: shadowed objects', async (tx) => {
        const w = new SyncWriter(tx, m.rootIno, o.gen, ctx, defaults, counters);
        for (const s of some) await w.settleShadowed(s);
      });
    }
    await setSyncTimes(m.tree, dirIno, (t) => ({ ...t, treeMs: Number(startNs / 1_000_000n) }));
  }
  return counters;
}

/** A page's objects by directory (paths from keys; unmappable keys counted as skipped). */
interface MappedPage {
  groups: Map<string, { parts: string[]; files: ObjectRef[] }>;
  markers: string[][];
}

function mapPage(prefix: string, page: ListPage, counters: SyncCounters): MappedPage {
  const groups = new Map<string, { parts: string[]; files: ObjectRef[] }>();
  const markers: string[][] = [];
  for (const obj of page.objects) {
    const mapped = mapListed(prefix, obj.key, counters);
    if (!mapped) continue;
    if (mapped.kind === 'dir-marker') {
      if (mapped.parts.length > 0) markers.push(mapped.parts);
      continue;
    }
    const dirParts = mapped.parts.slice(0, -1);
    const k = dirParts.join('/');
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { parts: dirParts, files: [] }));
    g.files.push({ key: obj.key, name: mapped.parts.at(-1)!, entry: { type: 'file', fingerprint: fileFingerprint(obj.size, obj.etag, obj.mtimeMs), size: obj.size, mtimeMs: obj.mtimeMs } });
  }
  return { groups, markers };
}

/** Writes one mapped page (or several) in one transaction. Resolves to the directories it resolved (SyncWriter.resolvedDirs). */
async function writePage(
  m: MountPoint, { groups, markers }: MappedPage, gen: bigint, ctx: PlanContext, defaults: SyncDefaults, counters: SyncCounters, early?: SweepAhead,
): Promise<ReadonlyMap<string, Ino | null>> {
  if (groups.size === 0 && markers.length === 0) return new Map();
  if (m.objectMetadata) {
    for (const g of groups.values()) await readObjectMetadata(m.tree, m.store, await m.tree.lookupPath(m.rootIno, g.parts), g.files);
  }
  // Paths this transaction looks up as directories: a new file at one of them must
  // be visible to the lookup (the directory wins, KEYS.md), so it cannot take the batch path.
  const dirPaths = new Set<string>();
  for (const parts of [...markers, ...[...groups.values()].map((g) => g.parts)]) {
    for (let i = 1; i <= parts.length; i++) dirPaths.add(parts.slice(0, i).join('/'));
  }
  return m.tree.write('sync: page', async (tx) => {
    const w = new SyncWriter(tx, m.rootIno, gen, ctx, defaults, counters);
    for (const parts of markers) {
      if ((await w.dir(parts, 'marker')) === null) counters.warn(`/${parts.join('/')}: a file written through Wharf has this name; the store's directory is not shown`);
    }
    for (const g of groups.values()) {
      const dir = await w.dir(g.parts);
      if (dir === null) {
        counters.skipped += g.files.length;
        counters.warn(`/${g.parts.join('/')}: a file written through Wharf has this name; ${g.files.length} key(s) below it skipped`);
        continue;
      }
      const base = g.parts.join('/');
      const scanned = await w.applyMany(dir, g.files, (name) => dirPaths.has(base === '' ? name : `${base}/${name}`), early?.scanFrom(dir));
      if (scanned) early!.scanned(dir, scanned);
    }
    return w.resolvedDirs;
  });
}

/**
 * Removes, below `dirIno`, every synced entry older than generation `gen` that no
 * client touched since `startNs`. Directories go only once empty, so a client's
 * files keep their directories. One transaction per page of one directory.
 * `verified`: directories SweepAhead found with every child seen, and their
 * subdirectories; their names are not read again.
 */
export async function sweep(
  tree: InodeTree, dirIno: Ino, gen: bigint, startNs: bigint, counters: SyncCounters,
  signal?: AbortSignal, seen?: SeenInodes, verified?: ReadonlyMap<Ino, readonly Ino[]>,
): Promise<void> {
  // The listing saw every child here (an unchanged directory): nothing to remove, so
  // no names are read, only the subdirectories to descend into; SweepAhead may
  // already know that, else the children are read without names.
  const subdirs = verified?.get(dirIno) ?? (seen ? await subdirsIfAllSeen(tree, dirIno, seen) : undefined);
  if (subdirs) {
    for (const d of subdirs) {
      checkCancelled(signal);
      await sweep(tree, d, gen, startNs, counters, signal, seen, verified);
    }
    return;
  }
  let after: Buffer | undefined;
  for (;;) {
    checkCancelled(signal);
    const { children, next } = await tree.readdirNames(dirIno, after, 1000);
    for (const c of children) if (c.type === 'directory') await sweep(tree, c.ino, gen, startNs, counters, signal, seen, verified);
    // Only what an older generation stamped, and the listing did not find unchanged,
    // can be stale: read the stamps without the write queue, and write (re-checking
    // everything) only where one is. An unchanged re-sync sweeps without a transaction.
    const unseen = seen ? children.filter((c) => !seen.has(c.ino)) : children;
    const states = await tree.getStoreStates(unseen.map((c) => c.ino));
    const candidates = unseen.filter((_, i) => states[i] !== undefined && states[i]!.gen < gen && !states[i]!.pending);
    unseen.forEach((c, i) => {
      if (states[i]?.pending) counters.warn(`${c.name}: written through Wharf and not uploaded yet (pending); kept though the store no longer lists it`);
    });
    const stale = (e: Existing) => isStale(e, gen, startNs) && !seen?.has(e.attr.ino);
    if (candidates.length > 0) await tree.write('sync: sweep', async (tx) => removeStale(tx, dirIno, candidates, stale, counters));
    if (!next) return;
    after = next;
  }
}

/** Removes the given children of `dirIno` for which `stale` holds, re-checked inside the transaction. */
async function removeStale(tx: Txn, dirIno: Ino, children: readonly ChildRef[], stale: (e: Existing) => boolean, counters: SyncCounters): Promise<void> {
  if (children.length === 0) return;
  const dvs = await tx.getDentries(dirIno, children.map((c) => c.name));
  // Changed since we looked (gone, or another inode under the name): left for the next sync.
  const same = children.filter((c, i) => dvs[i]?.ino === c.ino);
  const inos = same.map((c) => c.ino);
  // One after the other: both come from the same inode records, read once by the first.
  const attrs = await tx.getAttrs(inos);
  const states = await tx.getStoreStates(inos);
  let removedDirs = 0;
  let removed = 0;
  for (const [i, c] of same.entries()) {
    const attr = attrs[i];
    if (!attr) continue;
    if (!stale({ attr, state: states[i] })) continue;
    if (attr.type === 'directory' && !(await tx.isEmptyDir(attr.ino))) continue;
    // A further name of a hard-linked file is Wharf's own (the store has an object at
    // the primary name only): it goes with its inode, never by itself.
    if (attr.type !== 'directory' && attr.nlink > 1 && !(await tx.isPrimaryName(attr, dirIno, c.name))) continue;
    await tx.removeChild(dirIno, c.name, attr);
    if (attr.type === 'directory') removedDirs++;
    removed++;
  }
  if (removed > 0) {
    counters.deleted += removed;
    // Not touchDir: the directory's ctime must not move. ctime is how sync tells a
    // client's change since a sync started (SyncPlan); a sweep emptying a synced
    // directory would otherwise make it look client-touched, and the same sweep
    // (or one-level sync) would keep the now-empty directory until the next one.
    const dir = await tx.getAttr(dirIno);
    if (dir) tx.putAttr({ ...dir, nlink: dir.nlink - removedDirs, mtimeNs: nowNs() });
  }
}

async function setSyncTimes(tree: InodeTree, ino: Ino, change: (t: SyncTimes) => SyncTimes): Promise<void> {
  await tree.write('sync: times', async (tx) => {
    if (!(await tx.getAttr(ino))) return;
    tx.putSyncTimes(ino, change((await tx.getSyncTimes(ino)) ?? { listedMs: 0, treeMs: 0 }));
  });
}

/**
 * One-level sync of a directory (on-access sync): a delimiter listing tells exactly
 * which names the store has here, so creates, updates and deletes all happen now.
 * Synced subdirectories that vanished from the store are removed with their synced
 * contents; a client's files keep them alive.
 */
export async function syncDirectoryLevel(m: MountPoint, dirIno: Ino, dir: readonly string[], gen: bigint, signal?: AbortSignal, removals = true): Promise<SyncCounters> {
  const counters = new SyncCounters();
  const startNs = nowNs();
  const listPrefix = listPrefixOf(m.prefix, dir);
  const store = new Map<string, StoreEntry>();
  const keys = new Map<string, string>();
  let token: string | undefined;
  do {
    const page: ListPage = await m.store.list(listPrefix, { delimiter: '/', ...(token ? { token } : {}), ...(signal ? { signal } : {}) });
    for (const p of page.prefixes) {
      const mapped = keyToPath(m.prefix, p);
      if (mapped.kind === 'skip' || mapped.parts.length !== dir.length + 1) {
        counters.skipped++;
        if (mapped.kind === 'skip') counters.warn(`${JSON.stringify(p)}: ${mapped.reason}`);
        continue;
      }
      store.set(mapped.parts.at(-1)!, { type: 'directory', fingerprint: 'dir', size: 0n, mtimeMs: Date.now() });
    }
    for (const obj of page.objects) {
      const mapped = mapListed(m.prefix, obj.key, counters);
      if (!mapped) continue;
      if (mapped.kind === 'dir-marker') continue; // this directory's own marker
      const name = mapped.parts.at(-1)!;
      if (store.get(name)?.type === 'directory') {
        counters.skipped++;
        counters.warn(`${JSON.stringify(obj.key)}: an object and a directory share this name; the directory wins`);
        continue;
      }
      store.set(name, { type: 'file', fingerprint: fileFingerprint(obj.size, obj.etag, obj.mtimeMs), size: obj.size, mtimeMs: obj.mtimeMs });
      keys.set(name, obj.key);
    }
    token = page.nextToken;
  } while (token);
  if (m.objectMetadata) {
    const objs = [...keys].filter(([n]) => store.get(n)?.type === 'file').map(([name, key]) => ({ key, name, entry: store.get(name)! }));
    await readObjectMetadata(m.tree, m.store, dirIno, objs);
  }
  // Objects listed before a same-named prefix on a later page: the directory still wins.
  const ctx = { startNs, complete: true };
  const defaults = m.defaults ?? DEFAULTS;
  // What the store no longer has goes first, synced entries with their synced contents
  // (not during begin/end resynchronisation: `removals` false, removal waits for end).
  // That includes a synced directory whose name the store now has only as an object:
  // this listing would have shown the prefix had any key been left below it, so the
  // directory is stale and the object takes its place (else it stayed hidden for good).
  let after: Buffer | undefined;
  const gone: ChildRef[] = [];
  while (removals) {
    const { children, next } = await m.tree.readdirNames(dirIno, after, 1000);
    for (const c of children) {
      const there = store.get(c.name);
      if (!there || (c.type === 'directory' && there.type !== 'directory')) gone.push(c);
    }
    if (!next) break;
    after = next;
  }
  for (const c of gone) if (c.type === 'directory') await removeSyncedBelow(m.tree, c.ino, startNs, counters);
  for (let i = 0; i < gone.length; i += 1000) {
    await m.tree.write('sync: directory removals', async (tx) =>
      removeStale(tx, dirIno, gone.slice(i, i + 1000), (e) => planEntry(e, undefined, ctx) === 'delete', counters));
  }
  const entries = [...store].map(([name, entry]) => ({ name, entry }));
  for (let i = 0; i < entries.length || i === 0; i += 1000) {
    const chunk = entries.slice(i, i + 1000);
    await m.tree.write('sync: directory', async (tx) => new SyncWriter(tx, m.rootIno, gen, ctx, defaults, counters, true).applyMany(dirIno, chunk));
  }
  await setSyncTimes(m.tree, dirIno, (t) => ({ ...t, listedMs: Number(startNs / 1_000_000n) }));
  log.debug({ dir: `/${dir.join('/')}`, ...counters.snapshot() }, 'directory synced');
  return counters;
}

/**
 * Asks the store about one name in a directory (a head for the object, a one-key
 * listing for a directory of that name) and adds what it finds. True if found.
 */
export async function syncOneName(m: MountPoint, dirIno: Ino, dir: readonly string[], name: string, gen: bigint): Promise<boolean> {
  const key = pathToKey(m.prefix, [...dir, name], false);
  const [obj, below] = await Promise.all([m.store.head(key), m.store.list(key + '/', { maxKeys: 1 })]);
  const isDir = below.objects.length > 0 || below.prefixes.length > 0;
  if (!obj && !isDir) return false;
  const entry: StoreEntry = isDir
    ? { type: 'directory', fingerprint: 'dir', size: 0n, mtimeMs: Date.now() }
    : { type: 'file', fingerprint: fileFingerprint(obj!.size, obj!.etag, obj!.mtimeMs), size: obj!.size, mtimeMs: obj!.mtimeMs };
  if (!isDir && m.objectMetadata) await readObjectMetadata(m.tree, m.store, undefined, [{ key, name, entry }]);
  const counters = new SyncCounters();
  const placed = await m.tree.write('sync: one name', async (tx) =>
    new SyncWriter(tx, m.rootIno, gen, { startNs: nowNs(), complete: false }, m.defaults ?? DEFAULTS, counters, true).apply(dirIno, name, entry));
  return placed !== null;
}

/** Removes every synced entry below `dirIno` (not `dirIno` itself) that no client touched since `startNs`. */
function removeSyncedBelow(tree: InodeTree, dirIno: Ino, startNs: bigint, counters: SyncCounters): Promise<void> {
  return sweep(tree, dirIno, (1n << 64n) - 1n, startNs, counters);
}

