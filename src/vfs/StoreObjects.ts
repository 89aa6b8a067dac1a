// The store side of namespace changes in a data source, beside the file data of
// FileIo: directory markers, the objects of symlinks and special files, hard-link
// names (the object lives under one name; it moves when that name goes), and
// renames (copy, namespace, delete — an object store has no rename).
//
// Discipline: an object is moved only once no upload of its file is running (the
// upload would land under the old key after the copy); a rename's delete waits for
// the namespace change (afterRename), so a failed rename leaves the object where
// the namespace still says it is.
import { WharfError, logger, nowNs, statMode, type Attr, type Ino } from '../common/index.js';
import type { DataLocation, MetaClient } from '../meta/index.js';
import type { StoreRegistry } from './StoreRegistry.js';

const log = logger('vfs');

export class StoreObjects {
  private readonly pendingDeletes = new Map<Ino, { store: DataLocation; key: string }>();

  constructor(private readonly meta: MetaClient, private readonly stores: StoreRegistry, private readonly waitForUpload: (ino: Ino) => Promise<void>) {}

  async putMarker(dirIno: Ino): Promise<void> {
    const loc = await this.meta.locate(dirIno).catch(() => undefined);
    if (!loc || loc.readOnly || loc.key === '') return;
    const store = await this.stores.get(loc);
    await store.put(loc.key, Buffer.alloc(0)).catch((e: unknown) => log.warn({ key: loc.key, err: String(e) }, 'could not write a directory marker'));
  }

  /**
   * A symlink in a data source becomes an object holding its target with S_IFLNK in
   * x-amz-meta-mode, as s3fs writes it; a FIFO, socket or device an empty object with
   * its type in the mode (and x-amz-meta-rdev). Best effort: the inode exists in the
   * namespace either way (Wharf's own until its object is there).
   */
  async putInodeObject(a: Attr, body: Buffer): Promise<void> {
    const loc = await this.meta.locate(a.ino).catch(() => undefined);
    if (!loc || loc.readOnly) return;
    try {
      const store = await this.stores.get(loc);
      await store.put(loc.key, body, { metadata: s3fsMetadata(a) });
      const head = await store.head(loc.key);
      if (head) await this.meta.commitWrite(a.ino, { size: head.size, etag: head.etag, mtimeNs: BigInt(head.mtimeMs) * 1_000_000n });
    } catch (e) {
      log.warn({ key: loc.key, err: String(e) }, `could not write the object of a ${a.type}`);
    }
  }

  async deleteMarker(dirIno: Ino): Promise<void> {
    const loc = await this.meta.locate(dirIno).catch(() => undefined);
    if (!loc || loc.readOnly || loc.key === '') return;
    const store = await this.stores.get(loc);
    await store.delete(loc.key).catch((e: unknown) => log.warn({ key: loc.key, err: String(e) }, 'could not delete a directory marker'));
  }

  /** True unless (parent, name) is in a data source and is not the name `a`'s object lives under. */
  async isPrimaryName(a: Attr, parent: Ino, name: string, loc?: DataLocation): Promise<boolean> {
    const [at, dir] = await Promise.all([loc ?? this.meta.locate(a.ino), this.meta.locate(parent)]);
    if (!at || !dir) return true;
    return at.key === `${dir.key}${name}`;
  }

  /** EXDEV unless `a` and directory `dir` are in the same data source (or both outside every one). */
  async checkSameSource(a: Attr, dir: Ino): Promise<void> {
    const [loc, dirLoc] = await Promise.all([this.meta.locate(a.ino), this.meta.locate(dir)]);
    if ((loc?.source ?? '') !== (dirLoc?.source ?? '')) throw new WharfError('EXDEV', 'a hard link across data sources');
    if (loc?.readOnly) throw new WharfError('EROFS', `source ${loc.source} is read-only`);
  }

  /**
   * Before name (parent, name) of hard-linked `a` goes (unlink, or replaced by a
   * rename): if the object lives under it, the object moves to the next name (copy,
   * namespace, delete), so the names left still have their bytes.
   */
  async releaseName(a: Attr, parent: Ino, name: string): Promise<void> {
    const loc = await this.meta.locate(a.ino);
    if (!loc) return; // outside every source: the namespace alone promotes a name
    if (loc.readOnly) throw new WharfError('EROFS', `source ${loc.source} is read-only`);
    if (!(await this.isPrimaryName(a, parent, name, loc))) return;
    const next = (await this.meta.linksOf(a.ino)).find((l) => l.parent !== parent || l.name !== name);
    if (!next) return;
    // An upload running now would land under the old name after our copy.
    await this.waitForUpload(a.ino);
    const nextDir = await this.meta.locate(next.parent);
    if (!nextDir) return;
    const store = await this.stores.get(loc);
    const nextKey = `${nextDir.key}${next.name}`;
    if (loc.fingerprint !== '') await store.copy(loc.key, nextKey);
    await this.meta.setPrimaryName(a.ino, next.parent, next.name);
    if (loc.fingerprint === '') return; // never uploaded: nothing was there to move
    const head = await store.head(nextKey);
    if (head) await this.meta.commitWrite(a.ino, { size: head.size, etag: head.etag, mtimeNs: BigInt(head.mtimeMs) * 1_000_000n, moved: true });
    await store.delete(loc.key).catch((e: unknown) => log.warn({ key: loc.key, err: String(e) }, 'old object left after a hard link took it over'));
  }

  /** Renames in a store are copy + delete: copy now, delete after the namespace moved. */
  async beforeRename(moving: Attr, dstParent: Ino, dstName: string): Promise<void> {
    const src = await this.meta.locate(moving.ino);
    const dstDir = await this.meta.locate(dstParent);
    if (!src && !dstDir) return; // names only, on both sides
    if (!src || !dstDir || src.source !== dstDir.source) throw new WharfError('EXDEV', 'rename across data sources (mv copies instead)');
    if (src.readOnly) throw new WharfError('EROFS', `source ${src.source} is read-only`);
    if (moving.type === 'directory') throw new WharfError('EXDEV', 'a directory in a data source is renamed by copying (mv does this on EXDEV)');
    if (src.fingerprint === '') return; // never uploaded: nothing to copy
    const store = await this.stores.get(src);
    await store.copy(src.key, `${dstDir.key}${dstName}`);
    this.pendingDeletes.set(moving.ino, { store: src, key: src.key });
  }

  async afterRename(moving: Attr): Promise<void> {
    const d = this.pendingDeletes.get(moving.ino);
    if (!d) return;
    this.pendingDeletes.delete(moving.ino);
    const loc = await this.meta.locate(moving.ino);
    if (loc && loc.fingerprint !== '') {
      // Re-point the namespace at the copy: same bytes, new key, the store's new etag/time.
      const store = await this.stores.get(loc);
      const head = await store.head(loc.key);
      if (head) await this.meta.commitWrite(moving.ino, { size: head.size, etag: head.etag, mtimeNs: BigInt(head.mtimeMs) * 1_000_000n, moved: true });
    }
    await (await this.stores.get(d.store)).delete(d.key).catch((e: unknown) => log.warn({ key: d.key, err: String(e) }, 'old object left after rename'));
  }
}

/** s3fs's object metadata: other tools sharing the bucket see the same owner, mode and time. */
export function s3fsMetadata(a: Attr): Record<string, string> {
  const m: Record<string, string> = { mode: String(statMode(a)), uid: String(a.uid), gid: String(a.gid), mtime: String(Number(nowNs() / 1_000_000_000n)) };
  if (a.rdev !== undefined) m['rdev'] = String(a.rdev);
  return m;
}
