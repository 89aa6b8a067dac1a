// The namespace as clients see it: the InodeTree with data sources folded in.
// Directory reads under a source first bring the directory up to date with its
// store (on-access sync), a lookup miss asks the store about that one name, and
// changes under a read-only source are refused with EROFS. Outside every source
// this is the InodeTree, call for call. The master serves this over gRPC; an
// embedded master hands it to the mount as its in-process MetaClient.
import { WharfError, type Attr, type Ino, type StatFs } from '../common/index.js';
import type { AccessOptions, CommittedWrite, DataLocation, DirPage, InodeTree, LinkName, MetaClient, NewInode, NewSpecial, SetAttrChanges } from '../meta/index.js';
import type { SyncControl } from './SyncControl.js';

export class Namespace implements MetaClient {
  constructor(readonly tree: InodeTree, readonly sync: SyncControl) {}

  async lookup(parent: Ino, name: string, access: AccessOptions = {}): Promise<Attr> {
    await this.sync.beforeDirectoryAccess(parent, access.syncIntervalMs);
    try {
      return await this.tree.lookup(parent, name);
    } catch (e) {
      if (!(e instanceof WharfError) || e.errno !== 'ENOENT') throw e;
      if (!(await this.sync.afterLookupMiss(parent, name))) throw e;
      return this.tree.lookup(parent, name);
    }
  }

  resolve(path: string, options: { followLast?: boolean } & AccessOptions = {}): Promise<Attr> {
    return this.tree.resolve(path, options, (p, n) => this.lookup(p, n, options));
  }

  getattr(ino: Ino): Promise<Attr> {
    return this.tree.getattr(ino);
  }

  async readdir(ino: Ino, cursor?: Buffer | null, limit?: number, access: AccessOptions = {}): Promise<DirPage> {
    // Only the first page syncs: later pages continue the listing the client started.
    if (!cursor || cursor.length === 0) await this.sync.beforeDirectoryAccess(ino, access.syncIntervalMs);
    return this.tree.readdir(ino, cursor, limit);
  }

  async mkdir(parent: Ino, name: string, init: NewInode): Promise<Attr> {
    await this.sync.guardWrite(parent);
    return this.tree.mkdir(parent, name, init);
  }

  async create(parent: Ino, name: string, init: NewInode): Promise<Attr> {
    await this.sync.guardWrite(parent);
    return this.tree.create(parent, name, init);
  }

  async symlink(parent: Ino, name: string, target: string, owner: { uid: number; gid: number }): Promise<Attr> {
    await this.sync.guardWrite(parent);
    return this.tree.symlink(parent, name, target, owner);
  }

  async mknod(parent: Ino, name: string, init: NewSpecial): Promise<Attr> {
    await this.sync.guardWrite(parent);
    return this.tree.mknod(parent, name, init);
  }

  readlink(ino: Ino): Promise<string> {
    return this.tree.readlink(ino);
  }

  async unlink(parent: Ino, name: string): Promise<void> {
    await this.sync.guardWrite(parent);
    return this.tree.unlink(parent, name);
  }

  async rmdir(parent: Ino, name: string): Promise<void> {
    await this.sync.guardWrite(parent);
    await this.tree.rmdir(parent, name);
    this.sync.catalog.forgetLocations();
  }

  async rename(parent: Ino, name: string, newParent: Ino, newName: string, options?: { noReplace?: boolean }): Promise<void> {
    await this.sync.guardWrite(parent);
    if (newParent !== parent) await this.sync.guardWrite(newParent);
    await this.tree.rename(parent, name, newParent, newName, options);
    this.sync.catalog.forgetLocations(); // a moved directory takes its subtree to another path
  }

  async link(ino: Ino, newParent: Ino, newName: string): Promise<Attr> {
    await this.sync.guardWrite(ino);
    await this.sync.guardWrite(newParent);
    // As the mount refuses it (src/vfs): a name in one source for another's object would
    // make it that source's file for every check by parent (permission groups, scopes).
    const attr = await this.tree.getattr(ino);
    const [from, to] = await Promise.all([this.sync.catalog.locate(attr.parent), this.sync.catalog.locate(newParent)]);
    if ((from?.source.name ?? '') !== (to?.source.name ?? '')) throw new WharfError('EXDEV', 'a hard link across data sources');
    return this.tree.link(ino, newParent, newName);
  }

  linksOf(ino: Ino): Promise<LinkName[]> {
    return this.tree.linksOf(ino);
  }

  async setPrimaryName(ino: Ino, parent: Ino, name: string): Promise<void> {
    await this.sync.guardWrite(ino);
    await this.tree.setPrimaryName(ino, parent, name);
    this.sync.catalog.forgetLocations(); // its key is the new primary name's
  }

  async setattr(ino: Ino, changes: SetAttrChanges): Promise<Attr> {
    await this.sync.guardWrite(ino);
    return this.tree.setattr(ino, changes);
  }

  statfs(): Promise<StatFs> {
    return this.tree.statfs();
  }

  locate(ino: Ino): Promise<DataLocation | undefined> {
    return this.sync.locateFile(ino);
  }

  async commitWrite(ino: Ino, write: CommittedWrite): Promise<Attr> {
    await this.sync.guardWrite(ino);
    return this.tree.commitWrite(ino, write, await this.sync.genFor(ino));
  }

  async close(): Promise<void> {
    // The master owns the tree and the sync control and closes them.
  }
}
