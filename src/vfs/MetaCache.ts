// The mount's metadata cache: attributes by path with a TTL, names known to be
// absent (negative entries), and which directories were listed whole. Bounded
// (lru-cache). The mount's own changes invalidate what they touch. Hard-linked
// files are not kept (see cacheable).
//
// A miss for a name in a directory lists that whole directory once (pages of
// attributes), so `stat` of every file in a 10,000-entry directory costs a few
// round trips rather than 10,000.
import { LRUCache } from 'lru-cache';
import type { Attr } from '../common/index.js';

export interface MetaCacheOptions {
  attrTtlMs: number;
  negativeTtlMs: number;
  maxEntries: number;
}

export class MetaCache {
  private readonly attrs: LRUCache<string, Attr>;
  private readonly absent: LRUCache<string, true>;
  /** Directory path → the set of its names, when listed whole within the TTL. */
  private readonly listed: LRUCache<string, Set<string>>;

  constructor(private readonly o: MetaCacheOptions) {
    this.attrs = new LRUCache({ max: o.maxEntries, ttl: Math.max(1, o.attrTtlMs) });
    this.absent = new LRUCache({ max: o.maxEntries, ttl: Math.max(1, o.negativeTtlMs) });
    this.listed = new LRUCache({ max: Math.max(16, Math.floor(o.maxEntries / 100)), ttl: Math.max(1, o.attrTtlMs) });
  }

  get enabled(): boolean {
    return this.o.attrTtlMs > 0;
  }

  attr(path: string): Attr | undefined {
    return this.o.attrTtlMs > 0 ? this.attrs.get(path) : undefined;
  }

  /** True when the name is known not to exist (a negative entry, or absent from a whole listing). */
  isAbsent(path: string): boolean {
    if (this.o.negativeTtlMs <= 0) return false;
    if (this.absent.has(path)) return true;
    const { dir, name } = split(path);
    const names = this.listed.get(dir);
    return names !== undefined && !names.has(name);
  }

  isListed(dir: string): boolean {
    return this.o.attrTtlMs > 0 && this.listed.has(dir);
  }

  put(path: string, a: Attr): void {
    if (this.o.attrTtlMs <= 0) return;
    if (cacheable(a)) this.attrs.set(path, a);
    else this.attrs.delete(path);
    this.absent.delete(path);
    const { dir, name } = split(path);
    this.listed.get(dir)?.add(name);
  }

  putAbsent(path: string): void {
    if (this.o.negativeTtlMs > 0) this.absent.set(path, true);
    this.attrs.delete(path);
  }

  putListing(dir: string, entries: readonly { name: string; attr: Attr }[]): void {
    if (this.o.attrTtlMs <= 0) return;
    for (const e of entries) if (cacheable(e.attr)) this.attrs.set(join(dir, e.name), e.attr);
    this.listed.set(dir, new Set(entries.map((e) => e.name)));
  }

  /**
   * Forgets what is known of a path (and, for a directory, everything below it) after a
   * change. With `gone`, the name itself no longer exists (unlink, rmdir, a rename's
   * source); otherwise it still does and only its attributes are unknown.
   */
  invalidate(path: string, opts: { subtree?: boolean; gone?: boolean } = {}): void {
    this.attrs.delete(path);
    this.absent.delete(path);
    this.listed.delete(path);
    const { dir, name } = split(path);
    if (opts.gone) this.listed.get(dir)?.delete(name);
    else this.listed.get(dir)?.add(name); // e.g. a rename's new name: looked up, not absent
    if (opts.subtree) {
      const prefix = path === '/' ? '/' : `${path}/`;
      for (const k of [...this.attrs.keys()]) if (k.startsWith(prefix)) this.attrs.delete(k);
      for (const k of [...this.listed.keys()]) if (k.startsWith(prefix)) this.listed.delete(k);
      for (const k of [...this.absent.keys()]) if (k.startsWith(prefix)) this.absent.delete(k);
    }
  }

  /** A directory's entries changed (create, remove, rename): its own attributes (mtime, nlink) are stale. */
  dirChanged(dir: string): void {
    this.attrs.delete(dir);
  }
}

/**
 * A hard-linked file's attributes are never kept: a change through one of its names
 * (chmod, a link count) would leave the others stale, and paths do not know each other.
 */
function cacheable(a: Attr): boolean {
  return a.type === 'directory' || a.nlink <= 1;
}

export function split(path: string): { dir: string; name: string } {
  const i = path.lastIndexOf('/');
  return { dir: i <= 0 ? '/' : path.slice(0, i), name: path.slice(i + 1) };
}

export function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}
