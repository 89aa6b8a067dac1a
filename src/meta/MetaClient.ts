// The metadata calls a mount makes, sized to FUSE (after mountpoint-s3's Metablock).
// Two implementations: InodeTree itself (in-process, single-machine mode) and
// GrpcMetaClient in src/rpc. One conformance suite (test/conformance) runs on both,
// so the mount never knows which one it has.
import type { Attr, DirEntry, Ino, SpecialType, StatFs } from '../common/index.js';

export interface NewInode {
  mode: number;
  uid: number;
  gid: number;
}

/** mknod(2) of a FIFO, socket or device: its type and, for devices, the device number. */
export interface NewSpecial extends NewInode {
  type: SpecialType;
  rdev: number;
}

export interface SetAttrChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: bigint;
  atimeNs?: bigint;
  mtimeNs?: bigint;
  /**
   * True: a synced file is about to get bytes that are not in the store yet: syncs
   * leave it alone (no update, no removal) until commitWrite records its upload. Its
   * store state stays, so readers elsewhere keep reading the stored object meanwhile.
   * False: those bytes are gone without an upload (a mount dropped them); syncs may
   * treat the file as the store's again.
   */
  pendingWrite?: boolean;
}

/** One name of an inode: the directory and the name in it. */
export interface LinkName {
  parent: Ino;
  name: string;
}

export interface DirPage {
  entries: DirEntry[];
  /** Pass back to get the next page; null once the directory is exhausted. */
  cursor: Buffer | null;
}

/** Per-request freshness for directories under a data source (on-access sync). */
export interface AccessOptions {
  /** -1: never re-sync after the first load; 0: sync on this access; N: sync if the last sync is older than N ms. */
  syncIntervalMs?: number;
}

/** Where a file's bytes live (see Locate in proto/wharf/v1/namespace.proto). */
export interface DataLocation {
  source: string;
  uri: string;
  endpoint?: string;
  region?: string;
  key: string;
  /** "size:etag:mtimeMs"; empty when the file is Wharf's own, not yet in the store. */
  fingerprint: string;
  readOnly: boolean;
  size: bigint;
  version: bigint;
}

export interface CommittedWrite {
  size: bigint;
  etag: string;
  /** The object's time in the store (part of its fingerprint); the file's mtime too, unless `moved`. */
  mtimeNs: bigint;
  /** The same bytes under a new key (a rename, a hard link's hand-over): only the fingerprint changes, not the file's times. */
  moved?: boolean;
}

export interface MetaClient {
  lookup(parent: Ino, name: string, access?: AccessOptions): Promise<Attr>;
  /** Resolves an absolute path; intermediate symlinks are followed, the last only if asked. */
  resolve(path: string, options?: { followLast?: boolean } & AccessOptions): Promise<Attr>;
  getattr(ino: Ino): Promise<Attr>;
  readdir(ino: Ino, cursor?: Buffer | null, limit?: number, access?: AccessOptions): Promise<DirPage>;
  mkdir(parent: Ino, name: string, init: NewInode): Promise<Attr>;
  create(parent: Ino, name: string, init: NewInode): Promise<Attr>;
  symlink(parent: Ino, name: string, target: string, owner: { uid: number; gid: number }): Promise<Attr>;
  mknod(parent: Ino, name: string, init: NewSpecial): Promise<Attr>;
  readlink(ino: Ino): Promise<string>;
  unlink(parent: Ino, name: string): Promise<void>;
  rmdir(parent: Ino, name: string): Promise<void>;
  rename(parent: Ino, name: string, newParent: Ino, newName: string, options?: { noReplace?: boolean }): Promise<void>;
  /** link(2): a further name for `ino` (EPERM for a directory); its attributes after. */
  link(ino: Ino, newParent: Ino, newName: string): Promise<Attr>;
  /** Every name of an inode, the primary one (where its object lives in a data source) first. */
  linksOf(ino: Ino): Promise<LinkName[]>;
  /** Makes further name (parent, name) of hard-linked `ino` its primary name (the mount moved the object there first). */
  setPrimaryName(ino: Ino, parent: Ino, name: string): Promise<void>;
  setattr(ino: Ino, changes: SetAttrChanges): Promise<Attr>;
  statfs(): Promise<StatFs>;
  /** The data source and key of a file; undefined outside every source. */
  locate(ino: Ino): Promise<DataLocation | undefined>;
  /** Records that a file's bytes were uploaded: size, mtime, and the store fingerprint. */
  commitWrite(ino: Ino, write: CommittedWrite): Promise<Attr>;
  close(): Promise<void>;
}

/** Every entry of a directory, page by page. */
export async function* readdirAll(client: MetaClient, ino: Ino, pageSize?: number): AsyncGenerator<DirEntry> {
  let cursor: Buffer | null = null;
  do {
    const page: DirPage = await client.readdir(ino, cursor, pageSize);
    yield* page.entries;
    cursor = page.cursor;
  } while (cursor !== null);
}
