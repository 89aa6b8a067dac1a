// Filesystem operations by path, independent of FUSE: each returns a value or
// throws a WharfError whose errno the adapter hands to the kernel.
//
// Metadata comes from a MetaClient (in-process or gRPC) through MetaCache; file
// bytes come from the block cache (read-through from the file's under store), and
// writes are staged locally and uploaded on flush/fsync/close (FileIo).
//
// Store side effects of namespace changes go to the store first (unlink deletes the
// object, rename copies then deletes, mkdir writes a "dir/" marker), so the namespace
// never shows a state the store cannot back; a later sync repairs the rest. A hard-
// linked file has one object, at its primary name (see src/meta): its other names
// are the namespace's alone.
import { MAX_NAME_BYTES, ROOT_INO, WharfError, isSpecial, nowNs, typeOfMode, type Attr, type Ino, type StatFs } from '../common/index.js';
import { readdirAll, type MetaClient } from '../meta/index.js';
import { FileIo, type FileIoOptions } from './FileIo.js';
import { MetaCache, join, split, type MetaCacheOptions } from './MetaCache.js';
import { StoreRegistry, type OpenLocation } from './StoreRegistry.js';
import type { BlockReader } from '../cache/index.js';

/** Above this many entries a directory is not listed whole to answer one getattr. */
const LIST_ON_MISS_LIMIT = 20_000;

export interface VfsOptions extends FileIoOptions {
  meta: MetaCacheOptions;
  openLocation: OpenLocation;
  /** Owner of new files when the caller is not known (the mount's own user). */
  uid: number;
  gid: number;
}

/** Who asked for an operation (from the FUSE request): new inodes belong to them. */
export interface Caller {
  uid: number;
  gid: number;
}

const S_ISGID = 0o2000;

export class Vfs {
  readonly cache: MetaCache;
  readonly io: FileIo;
  readonly stores: StoreRegistry;

  constructor(readonly meta: MetaClient, reader: BlockReader, private readonly o: VfsOptions) {
    this.cache = new MetaCache(o.meta);
    this.stores = new StoreRegistry(o.openLocation);
    this.io = new FileIo(meta, reader, this.stores, this.cache, o);
  }

  async close(): Promise<void> {
    await this.io.close();
    await this.stores.close();
  }

  // ---- metadata --------------------------------------------------------------------

  /** Attributes from the cache alone, without waiting: the FUSE hot path answers from this when it can. */
  getattrCached(path: string): Attr | undefined {
    const a = this.cache.attr(path);
    return a ? this.io.withStagedSize(a) : undefined;
  }

  /** Attributes of a path, with the size of data staged but not yet uploaded. */
  async getattr(path: string): Promise<Attr> {
    return this.io.withStagedSize(await this.attrOf(path));
  }

  async attrOf(path: string): Promise<Attr> {
    if (path === '/') {
      const cached = this.cache.attr('/');
      if (cached) return cached;
      const a = await this.meta.getattr(ROOT_INO);
      this.cache.put('/', a);
      return a;
    }
    const cached = this.cache.attr(path);
    if (cached) return cached;
    const { dir, name } = split(path);
    // Before any cache or listing answers ENOENT: a name no directory can hold is too long (ext4's order).
    if (name.length > MAX_NAME_BYTES / 3 && Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw new WharfError('ENAMETOOLONG', `${JSON.stringify(name.slice(0, 32))}… is longer than ${MAX_NAME_BYTES} bytes`);
    if (this.cache.isAbsent(path)) throw new WharfError('ENOENT', `${path} does not exist`);
    const parent = await this.attrOf(dir);
    if (parent.type !== 'directory') throw new WharfError('ENOTDIR', `${dir} is not a directory`);
    if (this.cache.enabled && !this.cache.isListed(dir)) {
      await this.listDir(dir, parent.ino, LIST_ON_MISS_LIMIT);
      const now = this.cache.attr(path);
      if (now) return now;
    }
    // Not in the listing (or none was made): one lookup, which also asks the store about the name.
    try {
      const a = await this.meta.lookup(parent.ino, name);
      this.cache.put(path, a);
      return a;
    } catch (e) {
      if (e instanceof WharfError && e.errno === 'ENOENT') this.cache.putAbsent(path);
      throw e;
    }
  }

  /** Lists a directory into the cache; stops (without marking it listed) past `limit` entries. */
  private async listDir(dir: string, ino: Ino, limit: number): Promise<{ name: string; attr: Attr }[] | undefined> {
    const entries: { name: string; attr: Attr }[] = [];
    for await (const e of readdirAll(this.meta, ino, 8192)) {
      entries.push(e);
      if (entries.length > limit) return undefined;
    }
    this.cache.putListing(dir, entries);
    return entries;
  }

  /** Names with attributes, "." and ".." first. Always asks the master (it syncs stale directories). */
  async readdir(path: string): Promise<{ name: string; attr: Attr }[]> {
    const dir = await this.attrOf(path);
    if (dir.type !== 'directory') throw new WharfError('ENOTDIR', `${path} is not a directory`);
    const entries: { name: string; attr: Attr }[] = [];
    for await (const e of readdirAll(this.meta, dir.ino, 8192)) entries.push(e);
    this.cache.putListing(path, entries);
    const parent = path === '/' ? dir : await this.attrOf(split(path).dir).catch(() => dir);
    return [{ name: '.', attr: dir }, { name: '..', attr: parent }, ...entries.map((e) => ({ name: e.name, attr: this.io.withStagedSize(e.attr) }))];
  }

  async readlink(path: string): Promise<string> {
    const a = await this.attrOf(path);
    if (a.type !== 'symlink') throw new WharfError('EINVAL', `${path} is not a symbolic link`);
    return this.meta.readlink(a.ino);
  }

  statfs(): Promise<StatFs> {
    return this.meta.statfs();
  }

  // ---- namespace changes -------------------------------------------------------------

  private async parentOf(path: string): Promise<{ parent: Attr; name: string; dir: string }> {
    const { dir, name } = split(path);
    const parent = await this.attrOf(dir);
    if (parent.type !== 'directory') throw new WharfError('ENOTDIR', `${dir} is not a directory`);
    return { parent, name, dir };
  }

  private changed(path: string, dir: string, opts: { subtree?: boolean; gone?: boolean } = {}): void {
    this.cache.invalidate(path, opts);
    this.cache.dirChanged(dir);
  }

  /**
   * The owner and mode of a new inode, as ext4 gives them (inode_init_owner): the
   * caller's uid; the caller's gid, or the directory's when it is setgid, in which
   * case a new directory is setgid too.
   */
  private newOwner(parent: Attr, caller: Caller | undefined, mode: number, isDir: boolean): { mode: number; uid: number; gid: number } {
    const uid = caller?.uid ?? this.o.uid;
    const setgidDir = (parent.mode & S_ISGID) !== 0;
    const gid = setgidDir ? parent.gid : (caller?.gid ?? this.o.gid);
    return { mode: (mode & 0o7777) | (setgidDir && isDir ? S_ISGID : 0), uid, gid };
  }

  async mkdir(path: string, mode: number, caller?: Caller): Promise<Attr> {
    const { parent, name, dir } = await this.parentOf(path);
    const a = await this.meta.mkdir(parent.ino, name, this.newOwner(parent, caller, mode, true));
    this.changed(path, dir);
    this.cache.put(path, a);
    await this.io.objects.putMarker(a.ino);
    return a;
  }

  async rmdir(path: string): Promise<void> {
    const { parent, name, dir } = await this.parentOf(path);
    const a = await this.attrOf(path);
    if (a.type === 'directory') await this.io.objects.deleteMarker(a.ino);
    await this.meta.rmdir(parent.ino, name);
    this.changed(path, dir, { subtree: true, gone: true });
  }

  async unlink(path: string): Promise<void> {
    const { parent, name, dir } = await this.parentOf(path);
    const a = await this.attrOf(path);
    if (a.type === 'directory') throw new WharfError('EISDIR', `${path} is a directory`);
    // A hard-linked file keeps its object; if it lives under this name, it moves to the next one first.
    if (a.nlink > 1) await this.io.objects.releaseName(a, parent.ino, name);
    else await this.io.deleteObject(a);
    await this.meta.unlink(parent.ino, name);
    this.changed(path, dir, { gone: true });
  }

  async rename(from: string, to: string): Promise<void> {
    const src = await this.parentOf(from);
    const dst = await this.parentOf(to);
    const moving = await this.attrOf(from);
    const replaced = await this.attrOf(to).catch(() => undefined);
    if (replaced && replaced.ino === moving.ino) return; // two names of one file: nothing to do (POSIX)
    // Under a further name of a hard-linked file there is no object: only names move.
    const furtherName = moving.type !== 'directory' && moving.nlink > 1 && !(await this.io.objects.isPrimaryName(moving, src.parent.ino, src.name));
    if (replaced && replaced.type !== 'directory' && replaced.nlink > 1) await this.io.objects.releaseName(replaced, dst.parent.ino, dst.name);
    if (furtherName) {
      await this.io.objects.checkSameSource(moving, dst.parent.ino);
      // No copy lands on the replaced name's object: it goes now, as unlink would.
      if (replaced && replaced.type !== 'directory' && replaced.nlink <= 1) await this.io.deleteObject(replaced);
    } else {
      await this.io.objects.beforeRename(moving, dst.parent.ino, dst.name);
    }
    await this.meta.rename(src.parent.ino, src.name, dst.parent.ino, dst.name);
    if (!furtherName) {
      this.io.renamed(moving.ino, to);
      await this.io.objects.afterRename(moving);
    }
    this.changed(from, src.dir, { subtree: true, gone: true });
    this.changed(to, dst.dir, { subtree: true });
  }

  /**
   * link(2): a further name for a file (not a directory: EPERM). In a data source the
   * object stays at the file's primary name; both names must be in the same source
   * (EXDEV otherwise, as across file systems).
   */
  async link(from: string, to: string): Promise<Attr> {
    const a = await this.attrOf(from);
    if (a.type === 'directory') throw new WharfError('EPERM', `${from} is a directory: directories cannot be hard-linked`);
    const { parent, name, dir } = await this.parentOf(to);
    await this.io.objects.checkSameSource(a, parent.ino);
    const linked = await this.meta.link(a.ino, parent.ino, name);
    this.changed(to, dir);
    this.cache.invalidate(from);
    return this.io.withStagedSize(linked);
  }

  async symlink(target: string, path: string, caller?: Caller): Promise<Attr> {
    const { parent, name, dir } = await this.parentOf(path);
    const { uid, gid } = this.newOwner(parent, caller, 0o777, false);
    const a = await this.meta.symlink(parent.ino, name, target, { uid, gid });
    this.changed(path, dir);
    this.cache.put(path, a);
    await this.io.objects.putInodeObject(a, Buffer.from(target, 'utf8'));
    return a;
  }

  /**
   * mknod(2): a FIFO, socket or device node (see SPECIAL_TYPES); a regular file is
   * created and closed, as ext4 does for S_IFREG. `rdev` counts for devices only.
   */
  async mknod(path: string, mode: number, rdev: number, caller?: Caller): Promise<Attr> {
    const type = typeOfMode(mode);
    if (type === 'file') {
      await this.io.release(await this.create(path, mode & 0o7777, 0o1, caller));
      return this.attrOf(path);
    }
    if (!type || !isSpecial(type)) throw new WharfError('EINVAL', `mknod cannot make a ${type ?? `file of mode ${mode.toString(8)}`}`);
    const { parent, name, dir } = await this.parentOf(path);
    const owner = this.newOwner(parent, caller, mode, false);
    const a = await this.meta.mknod(parent.ino, name, { ...owner, type, rdev: type === 'chardev' || type === 'blockdev' ? rdev : 0 });
    this.changed(path, dir);
    this.cache.put(path, a);
    await this.io.objects.putInodeObject(a, Buffer.alloc(0));
    return a;
  }

  async setattr(path: string, changes: { mode?: number; uid?: number; gid?: number; atimeNs?: bigint; mtimeNs?: bigint }): Promise<Attr> {
    const a = await this.attrOf(path);
    const next = await this.meta.setattr(a.ino, { ...changes, ...(changes.mode !== undefined ? { mode: changes.mode & 0o7777 } : {}) });
    this.cache.put(path, next);
    return next;
  }

  async truncate(path: string, size: number): Promise<void> {
    if (size < 0) throw new WharfError('EINVAL', `size ${size} is negative`);
    const a = await this.attrOf(path);
    if (a.type === 'directory') throw new WharfError('EISDIR', `${path} is a directory`);
    await this.io.truncatePath(path, a, size);
    this.cache.invalidate(path);
  }

  // ---- file I/O ------------------------------------------------------------------

  async open(path: string, flags: number): Promise<number> {
    const a = await this.attrOf(path);
    if (a.type === 'directory') throw new WharfError('EISDIR', `${path} is a directory`);
    return this.io.open(path, a, flags);
  }

  async create(path: string, mode: number, flags = 0o1 /* O_WRONLY */, caller?: Caller): Promise<number> {
    const { parent, name, dir } = await this.parentOf(path);
    const a = await this.meta.create(parent.ino, name, this.newOwner(parent, caller, mode, false));
    this.changed(path, dir);
    this.cache.put(path, a);
    return this.io.open(path, a, flags, { fresh: true });
  }

  /**
   * utimensat(2): each time in milliseconds, 'now', or 'omit' (left as it is). ctime
   * becomes now either way, as ext4 does (even when both are omitted the kernel does
   * not ask).
   */
  utimens(path: string, atime: number | 'now' | 'omit', mtime: number | 'now' | 'omit'): Promise<Attr> {
    const now = nowNs();
    const toNs = (t: number | 'now') => (t === 'now' || !Number.isFinite(t) ? now : BigInt(Math.round(t * 1e6)));
    return this.setattr(path, { ...(atime !== 'omit' ? { atimeNs: toNs(atime) } : {}), ...(mtime !== 'omit' ? { mtimeNs: toNs(mtime) } : {}) });
  }
}

export { join, split };
