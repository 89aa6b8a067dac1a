// The namespace: an inode tree in LevelDB, and the in-process MetaClient.
//
// Concurrency discipline (see WriteQueue): mutations run one at a time through a
// FIFO queue, each as read → validate → one atomic batch; reads go straight to
// LevelDB and never wait. Inode numbers come from a persisted counter and are never
// reused, so a stale handle can never name a different file.
import { Level } from 'level';
import { LRUCache } from 'lru-cache';
import { GroupCommit } from './GroupCommit.js';
import { KnownFingerprints } from './KnownFingerprints.js';
import {
  MAX_INO, MAX_NAME_BYTES, READDIR_DEFAULT_PAGE, READDIR_MAX_PAGE, ROOT_INO, NO_INO, WharfError,
  checkName, checkSymlinkTarget, isSpecial, logger, nowNs,
  type Attr, type DirEntry, type FileType, type Ino, type StatFs,
} from '../common/index.js';
import { decodeDentry, decodeInode, decodeRecordName, decodeRecordState, decodeSyncTimes, decodeU64, encodeRecord, encodeU64, type StoreState, type SyncTimes } from './codec.js';
import { FORMAT_VERSION, dentryKey, dentryRange, inodeKey, linkRange, metaKey, parseDentryKey, parseLinkKey, symlinkKey, syncTimesKey } from './keys.js';
import { migrateLayout1 } from './migrateLayout1.js';
import type { CommittedWrite, DataLocation, DirPage, LinkName, MetaClient, NewInode, NewSpecial, SetAttrChanges } from './MetaClient.js';
import { Txn, type Counters, type Db } from './Txn.js';
import { checkIno, checkMode, checkOwner } from './checks.js';
import { resolvePath } from './resolvePath.js';
import { bulkInsert, type BulkItem } from './bulkInsert.js';

export type { BulkItem };
import { WriteQueue } from './WriteQueue.js';
import { ChangeLog } from './ChangeLog.js';
import { stageCommitWrite, stageCreate, stageLink, stageSetPrimaryName, stageRename, stageRmdir, stageSetattr, stageUnlink } from './stageMutations.js';
import { isPostgresUrl, metaTarget } from './KvStore.js';

const log = logger('meta');

const MAX_FILE_SIZE = (1n << 63n) - 1n;
/** What statfs reports as capacity: an object store has no fixed size (s3fs reports 256 TiB). */
const VIRTUAL_CAPACITY_BYTES = 1n << 50n;
const STATFS_BLOCK = 4096n;

export interface InodeTreeOptions {
  /**
   * Make every mutation durable before it is acknowledged (group commit: see
   * `durable`). Without it a killed process loses nothing; a power cut may lose the
   * last acknowledged writes.
   */
  fsync?: boolean;
  /** Tests: runs before each durability sync; throwing fails it (an injected fsync failure). */
  beforeSync?: () => void;
  /** Write every client mutation to the change-stream outbox, in its own batch (ChangeLog). */
  changeLog?: boolean;
}

export interface ChildRef {
  name: string;
  ino: Ino;
  type: FileType;
}


export class InodeTree implements MetaClient {
  private readonly writes = new WriteQueue();
  /**
   * Decoded inode records, kept current by every commit (getattr is the hottest call).
   * A read fills it only when no commit happened during the read, so it never goes stale.
   */
  private readonly records = new LRUCache<Ino, Attr>({ max: 100_000 });
  /** Store-state fingerprints of synced files, kept exact by commits (KnownFingerprints). */
  private readonly fingerprints = new KnownFingerprints();
  private commits = 0;
  private counters: Counters = { nextIno: ROOT_INO + 1n, inodes: 1n, bytes: 0n };
  /**
   * A batch failed: its outcome may be unknown (a database connection cut during the
   * commit), so the persisted counters are read again before the next mutation — an
   * inode number must never be handed out twice.
   */
  private countersSuspect = false;
  private closed = false;
  /** --fsync: mutations are acknowledged once durable, sharing fsyncs. */
  private readonly groupCommit: GroupCommit;
  /** The change-stream outbox, when this tree keeps one. */
  changes: ChangeLog | undefined;

  private constructor(readonly db: Db, readonly location: string, private readonly fsync: boolean, beforeSync?: () => void) {
    this.groupCommit = new GroupCommit(db, () => this.writes.depth, beforeSync);
  }

  /** Syncs done and mutations acknowledged by them under --fsync. */
  get durability(): { syncs: number; waiters: number } {
    return { ...this.groupCommit.counters };
  }

  /**
   * Opens (creating if needed) the namespace in `where`: a LevelDB directory, or a
   * PostgreSQL database (`postgres://…`, PostgresKv). A second opener gets EBUSY.
   */
  static async open(location: string, options: InodeTreeOptions = {}): Promise<InodeTree> {
    const where = metaTarget(location);
    // Loaded only for a database: a LevelDB master never loads pg.
    const pgKv = isPostgresUrl(where) ? await (await import('./PostgresKv.js')).PostgresKv.open(where) : undefined;
    const db = pgKv ?? (await openLevel(where));
    // On PostgreSQL every commit is durable when acknowledged: no group commit of our own (--fsync is a no-op there).
    const tree = new InodeTree(db, pgKv ? pgKv.location : where, !pgKv && (options.fsync ?? false), options.beforeSync);
    try {
      await tree.init();
      if (options.changeLog) tree.changes = await ChangeLog.open(db);
    } catch (e) {
      await db.close();
      throw e;
    }
    return tree;
  }

  private async reloadCounters(): Promise<void> {
    const [nextIno, inodes, bytes] = await this.db.getMany([metaKey('nextIno'), metaKey('inodes'), metaKey('bytes')]);
    this.counters = { nextIno: nextIno ? decodeU64(nextIno) : this.counters.nextIno, inodes: inodes ? decodeU64(inodes) : this.counters.inodes, bytes: bytes ? decodeU64(bytes) : this.counters.bytes };
    // Whatever was cached may have been committed after all, or not: read afresh.
    this.records.clear();
    await this.changes?.reload();
    this.countersSuspect = false;
  }

  private async init(): Promise<void> {
    const [format, nextIno, inodes, bytes] = await this.db.getMany([metaKey('format'), metaKey('nextIno'), metaKey('inodes'), metaKey('bytes')]);
    if (format === undefined) {
      const now = nowNs();
      const root: Attr = { ino: ROOT_INO, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0n, nlink: 2, atimeNs: now, mtimeNs: now, ctimeNs: now, parent: NO_INO, version: 1n };
      const fmt = Buffer.allocUnsafe(4);
      fmt.writeUInt32BE(FORMAT_VERSION);
      await this.db.batch([
        { type: 'put', key: inodeKey(ROOT_INO), value: encodeRecord(root, undefined, '') },
        { type: 'put', key: metaKey('nextIno'), value: encodeU64(this.counters.nextIno) },
        { type: 'put', key: metaKey('inodes'), value: encodeU64(1n) },
        { type: 'put', key: metaKey('bytes'), value: encodeU64(0n) },
        // The format marker goes last in the same batch: its presence means "initialised".
        { type: 'put', key: metaKey('format'), value: fmt },
      ], { sync: true });
      log.info({ dir: this.location }, 'initialised a new namespace');
      return;
    }
    let version = format.readUInt32BE(0);
    if (version === 1) {
      await migrateLayout1(this.db, this.location);
      version = FORMAT_VERSION;
    }
    if (version !== FORMAT_VERSION) throw new WharfError('EIO', `data directory ${this.location} has layout version ${version}; this Wharf reads ${FORMAT_VERSION}`);
    this.counters = {
      nextIno: nextIno ? decodeU64(nextIno) : ROOT_INO + 1n,
      inodes: inodes ? decodeU64(inodes) : 1n,
      bytes: bytes ? decodeU64(bytes) : 0n,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes.drain();
    // Mutations already applied wait for their sync: make it before the log closes.
    await this.groupCommit.flush();
    await this.db.close();
  }

  /** Mutations waiting or running. */
  get writeQueueDepth(): number {
    return this.writes.depth;
  }

  // ---- reads: straight to LevelDB, never queued --------------------------------

  async getattr(ino: Ino): Promise<Attr> {
    checkIno(ino);
    const hit = this.records.get(ino);
    if (hit) return { ...hit };
    const seq = this.commits;
    const raw = await this.db.get(inodeKey(ino));
    if (raw === undefined) throw new WharfError('ENOENT', `inode ${ino} does not exist`);
    const a = decodeInode(ino, raw);
    // Only if no commit landed while we read: otherwise `a` may already be older than the cache should hold.
    if (seq === this.commits) this.records.set(ino, a);
    return { ...a };
  }

  async lookup(parent: Ino, name: string): Promise<Attr> {
    checkIno(parent);
    checkName(name);
    const raw = await this.db.get(dentryKey(parent, name));
    if (raw === undefined) {
      const dir = await this.getattr(parent);
      if (dir.type !== 'directory') throw new WharfError('ENOTDIR', `inode ${parent} is not a directory`);
      throw new WharfError('ENOENT', `no entry ${JSON.stringify(name)} in directory ${parent}`);
    }
    const { ino } = decodeDentry(raw);
    // The inode from the records cache when it is there (kept current by commits; on
    // PostgreSQL it saves the second round trip of every lookup).
    const hit = this.records.get(ino);
    if (hit) return { ...hit };
    const seq = this.commits;
    const attr = await this.db.get(inodeKey(ino));
    // Entry and inode are written in one batch, but our two gets may straddle an unlink.
    if (attr === undefined) throw new WharfError('ENOENT', `no entry ${JSON.stringify(name)} in directory ${parent}`);
    const a = decodeInode(ino, attr);
    if (seq === this.commits) this.records.set(ino, a);
    return { ...a };
  }

  /**
   * Resolves an absolute path. `lookup` lets a layer above (on-access sync) see each
   * step; by default it is this tree's own lookup.
   */
  resolve(path: string, options: { followLast?: boolean } = {}, lookup: (parent: Ino, name: string) => Promise<Attr> = (p, n) => this.lookup(p, n)): Promise<Attr> {
    return resolvePath(path, options, { getattr: (i) => this.getattr(i), readlink: (i) => this.readlink(i), lookup });
  }

  async readdir(ino: Ino, cursor?: Buffer | null, limit?: number): Promise<DirPage> {
    const dir = await this.getattr(ino);
    if (dir.type !== 'directory') throw new WharfError('ENOTDIR', `inode ${ino} is not a directory`);
    if (cursor && cursor.length > MAX_NAME_BYTES) throw new WharfError('EINVAL', 'readdir cursor is not one this server issued');
    const pageSize = Math.min(Math.max(limit && limit > 0 ? limit : READDIR_DEFAULT_PAGE, 1), READDIR_MAX_PAGE);
    // One extra row tells whether this is the last page without a second scan.
    const rows = await this.db.iterator({ ...dentryRange(ino, cursor ?? undefined), limit: pageSize + 1 }).all();
    const more = rows.length > pageSize;
    const page = more ? rows.slice(0, pageSize) : rows;
    const targets = page.map(([, v]) => decodeDentry(v).ino);
    const attrs = targets.length > 0 ? await this.db.getMany(targets.map(inodeKey)) : [];
    const entries: DirEntry[] = [];
    for (let i = 0; i < page.length; i++) {
      const raw = attrs[i];
      if (raw === undefined) continue; // unlinked between the scan and the get
      entries.push({ name: parseDentryKey(page[i]![0]).name, attr: decodeInode(targets[i]!, raw) });
    }
    const last = page[page.length - 1];
    return { entries, cursor: more && last ? parseDentryKey(last[0]).nameBytes : null };
  }

  /** One page of a directory's entries without attributes: for walks that re-check inside a transaction. */
  async readdirNames(ino: Ino, after: Buffer | undefined, limit: number): Promise<{ children: ChildRef[]; next: Buffer | undefined }> {
    const rows = await this.db.iterator({ ...dentryRange(ino, after), limit: limit + 1 }).all();
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const children = page.map(([k, v]) => {
      const { ino: child, type } = decodeDentry(v);
      return { name: parseDentryKey(k).name, ino: child, type };
    });
    return { children, next: more ? parseDentryKey(page[page.length - 1]![0]).nameBytes : undefined };
  }

  /**
   * Calls `each` with every child of a directory (inode and type, without names: a
   * sweep that finds every child accounted for never decodes one), stopping at the
   * first false. True if `each` held for all of them. `after`: only the children
   * whose names sort after it.
   */
  async everyChild(ino: Ino, each: (child: Ino, type: FileType) => boolean, after?: string): Promise<boolean> {
    const it = this.db.values(dentryRange(ino, after === undefined ? undefined : Buffer.from(after, 'utf8')));
    try {
      for (;;) {
        const batch = await it.nextv(1000);
        if (batch.length === 0) return true;
        for (const v of batch) {
          const d = decodeDentry(v);
          if (!each(d.ino, d.type)) return false;
        }
      }
    } finally {
      await it.close();
    }
  }

  /** The own names of several inodes, in one read (the root has none: ''). */
  async namesOf(inos: readonly Ino[]): Promise<string[]> {
    if (inos.length === 0) return [];
    const raws = await this.db.getMany(inos.map(inodeKey));
    return raws.map((r, i) => {
      if (r === undefined) throw new WharfError('ENOENT', `inode ${inos[i]} does not exist`);
      return decodeRecordName(r) ?? '';
    });
  }

  /** The names from the root down to `ino` ([] for the root), from the parent pointers and own names in inode records. */
  async pathOf(ino: Ino): Promise<string[]> {
    const parts: string[] = [];
    for (let at = ino; at !== ROOT_INO; ) {
      const rec = await this.db.get(inodeKey(at));
      if (rec === undefined) throw new WharfError('ENOENT', `inode ${at} does not exist`);
      const parent = decodeInode(at, rec).parent;
      parts.push(decodeRecordName(rec) ?? '');
      at = parent;
      if (parts.length > 2048) throw new WharfError('EIO', 'parent chain does not reach the root; run wharf fsck');
    }
    return parts.reverse();
  }

  /** The inodes several names of one directory point to (undefined where absent). */
  async lookupMany(parent: Ino, names: readonly string[]): Promise<(Ino | undefined)[]> {
    if (names.length === 0) return [];
    const raws = await this.db.getMany(names.map((n) => dentryKey(parent, n)));
    return raws.map((r) => (r === undefined ? undefined : decodeDentry(r).ino));
  }

  /** The directory at `parts` below `from`, or undefined if a part is missing or not a directory. */
  async lookupPath(from: Ino, parts: readonly string[]): Promise<Ino | undefined> {
    let at = from;
    for (const p of parts) {
      const raw = await this.db.get(dentryKey(at, p));
      if (raw === undefined) return undefined;
      const d = decodeDentry(raw);
      if (d.type !== 'directory') return undefined;
      at = d.ino;
    }
    return at;
  }

  async getStoreStates(inos: readonly Ino[]): Promise<(StoreState | undefined)[]> {
    if (inos.length === 0) return [];
    const raws = await this.db.getMany(inos.map(inodeKey));
    return raws.map((r) => (r === undefined ? undefined : decodeRecordState(r)));
  }

  /** An inode's store state; undefined for inodes that exist only in Wharf. */
  async getStoreState(ino: Ino): Promise<StoreState | undefined> {
    const raw = await this.db.get(inodeKey(ino));
    return raw === undefined ? undefined : decodeRecordState(raw);
  }

  /** A directory's sync times; undefined if it was never synced. */
  async getSyncTimes(ino: Ino): Promise<SyncTimes | undefined> {
    const raw = await this.db.get(syncTimesKey(ino));
    return raw === undefined ? undefined : decodeSyncTimes(raw);
  }

  /** The sync times of several directories in one read. */
  async getSyncTimesMany(inos: readonly Ino[]): Promise<(SyncTimes | undefined)[]> {
    if (inos.length === 0) return [];
    const raws = await this.db.getMany(inos.map(syncTimesKey));
    return raws.map((raw) => (raw === undefined ? undefined : decodeSyncTimes(raw)));
  }

  async readlink(ino: Ino): Promise<string> {
    const attr = await this.getattr(ino);
    if (attr.type !== 'symlink') throw new WharfError('EINVAL', `inode ${ino} is not a symbolic link`);
    const raw = await this.db.get(symlinkKey(ino));
    if (raw === undefined) throw new WharfError('EIO', `symlink ${ino} has no target record`);
    return raw.toString('utf8');
  }

  async statfs(): Promise<StatFs> {
    const { inodes, bytes } = this.counters;
    const totalBlocks = VIRTUAL_CAPACITY_BYTES / STATFS_BLOCK;
    const usedBlocks = (bytes + STATFS_BLOCK - 1n) / STATFS_BLOCK;
    const totalInodes = MAX_INO >> 1n;
    return {
      blockSize: STATFS_BLOCK,
      totalBlocks,
      freeBlocks: usedBlocks >= totalBlocks ? 0n : totalBlocks - usedBlocks,
      totalInodes,
      freeInodes: totalInodes - inodes,
      usedInodes: inodes,
      maxNameLength: MAX_NAME_BYTES,
    };
  }

  // ---- mutations: one at a time, one batch each ---------------------------------

  /**
   * Runs `fn` as one mutation: alone in the write queue, committed as one batch.
   * For modules that build on the tree (sync, data sources); `fn` must not await
   * anything but `tx` reads, or it holds every writer up.
   */
  write<T>(what: string, fn: (tx: Txn) => Promise<T>): Promise<T> {
    return this.mutate(what, fn);
  }

  // Public methods are `async` so that argument checks reject rather than throw.
  private mutate<T>(what: string, fn: (tx: Txn) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new WharfError('ENOTCONN', 'the namespace is closed'));
    const poisoned = this.groupCommit.poisoned;
    if (poisoned) return Promise.reject(poisoned);
    const applied = this.writes.run(() => this.apply(what, fn));
    // --fsync: acknowledged once a sync that started after the batch was written has
    // ended; the queue meanwhile goes on to the next mutation (GroupCommit).
    return this.fsync ? applied.then(async (r) => { await this.groupCommit.durable(); return r; }) : applied;
  }

  /** One mutation, alone in the write queue: `fn` stages, then one batch. */
  private async apply<T>(what: string, fn: (tx: Txn) => Promise<T>): Promise<T> {
    {
      if (this.countersSuspect) await this.reloadCounters();
      const tx = new Txn(this.db, this.counters, this.fingerprints);
      this.changes?.begin();
      const result = await fn(tx);
      try {
        this.counters = await tx.commit(false);
        this.commits++;
        this.changes?.committed();
        tx.committedStates();
        // Refresh what is cached; do not add: a sync writing a million inodes must not
        // fill the cache (and the heap) with records nobody asked for.
        for (const [ino, a] of tx.changedAttrs) {
          if (a === null) this.records.delete(ino);
          else if (this.records.has(ino)) this.records.set(ino, { ...a });
        }
      } catch (e) {
        this.commits++;
        this.countersSuspect = true;
        for (const ino of tx.changedAttrs.keys()) this.records.delete(ino);
        tx.failedStates();
        log.error({ err: e, op: what }, 'namespace batch write failed (LevelDB: nothing applied; PostgreSQL: a cut commit may have been applied, so the counters are read again)');
        // An engine's own errno (PostgreSQL: ENOTCONN when unreachable, EROFS when fenced) goes through.
        const errno = e instanceof WharfError && ['ENOTCONN', 'EROFS', 'ENOSPC'].includes(e.errno) ? e.errno : /ENOSPC|No space/i.test(String(e)) ? 'ENOSPC' : 'EIO';
        throw new WharfError(errno, `${what}: the metadata write failed: ${(e as Error).message}`, e);
      }
      return result;
    }
  }

  async mkdir(parent: Ino, name: string, init: NewInode): Promise<Attr> {
    return this.createInode('mkdir', parent, name, 'directory', init);
  }

  async create(parent: Ino, name: string, init: NewInode): Promise<Attr> {
    return this.createInode('create', parent, name, 'file', init);
  }

  async symlink(parent: Ino, name: string, target: string, owner: { uid: number; gid: number }): Promise<Attr> {
    checkSymlinkTarget(target);
    return this.createInode('symlink', parent, name, 'symlink', { mode: 0o777, ...owner }, target);
  }

  async mknod(parent: Ino, name: string, init: NewSpecial): Promise<Attr> {
    if (!isSpecial(init.type)) throw new WharfError('EINVAL', `mknod makes FIFOs, sockets and devices, not a ${String(init.type)}`);
    if (!Number.isInteger(init.rdev) || init.rdev < 0 || init.rdev > 0xffff_ffff) throw new WharfError('EINVAL', `device number ${init.rdev} is out of range`);
    const device = init.type === 'chardev' || init.type === 'blockdev';
    return this.createInode('mknod', parent, name, init.type, init, undefined, device ? init.rdev : undefined);
  }

  private async createInode(op: 'mkdir' | 'create' | 'symlink' | 'mknod', parent: Ino, name: string, type: FileType, init: NewInode, target?: string, rdev?: number): Promise<Attr> {
    checkIno(parent);
    checkName(name);
    checkOwner(init);
    checkMode(init.mode);
    return this.mutate(op, (tx) => stageCreate(tx, this.changes, op, parent, name, type, init, target, rdev));
  }

  async unlink(parent: Ino, name: string): Promise<void> {
    checkIno(parent);
    checkName(name);
    return this.mutate('unlink', (tx) => stageUnlink(tx, this.changes, parent, name));
  }

  async rmdir(parent: Ino, name: string): Promise<void> {
    checkIno(parent);
    checkName(name);
    return this.mutate('rmdir', (tx) => stageRmdir(tx, this.changes, parent, name));
  }

  async rename(parent: Ino, name: string, newParent: Ino, newName: string, options: { noReplace?: boolean } = {}): Promise<void> {
    checkIno(parent);
    checkIno(newParent);
    checkName(name);
    checkName(newName);
    return this.mutate('rename', (tx) => stageRename(tx, this.changes, parent, name, newParent, newName, options));
  }

  /**
   * link(2): a further name for a file, symlink or special file (a directory: EPERM,
   * as on Linux). The inode's ctime and the new name's directory's times move.
   */
  async link(ino: Ino, newParent: Ino, newName: string): Promise<Attr> {
    checkIno(ino);
    checkIno(newParent);
    checkName(newName);
    return this.mutate('link', (tx) => stageLink(tx, this.changes, ino, newParent, newName));
  }

  /** Every name of an inode, its primary name (the one its record holds) first; [] for the root. */
  async linksOf(ino: Ino): Promise<LinkName[]> {
    checkIno(ino);
    const raw = await this.db.get(inodeKey(ino));
    if (raw === undefined) throw new WharfError('ENOENT', `inode ${ino} does not exist`);
    if (ino === ROOT_INO) return [];
    const a = decodeInode(ino, raw);
    const names = [{ parent: a.parent, name: decodeRecordName(raw) ?? '' }];
    if (a.type === 'directory' || a.nlink <= 1) return names;
    for (const k of await this.db.keys(linkRange(ino)).all()) {
      const { parent, name } = parseLinkKey(k);
      names.push({ parent, name });
    }
    return names;
  }

  /**
   * Makes entry (parent, name), a further name of hard-linked `ino`, its primary name:
   * before the primary name is unlinked or replaced, a mount moves the object there
   * and says so with this. Nothing a client sees changes. EINVAL if the entry is not
   * a name of `ino`.
   */
  async setPrimaryName(ino: Ino, parent: Ino, name: string): Promise<void> {
    checkIno(ino);
    checkIno(parent);
    checkName(name);
    return this.mutate('setPrimaryName', (tx) => stageSetPrimaryName(tx, ino, parent, name));
  }

  async setattr(ino: Ino, changes: SetAttrChanges): Promise<Attr> {
    checkIno(ino);
    if (changes.mode !== undefined) checkMode(changes.mode);
    checkOwner({ uid: changes.uid ?? 0, gid: changes.gid ?? 0 });
    if (changes.size !== undefined) {
      if (changes.size < 0n) throw new WharfError('EINVAL', `size ${changes.size} is negative`);
      if (changes.size > MAX_FILE_SIZE) throw new WharfError('EFBIG', `size ${changes.size} is too large`);
    }
    return this.mutate('setattr', (tx) => stageSetattr(tx, this.changes, ino, changes));
  }

  /** Outside the master there are no data sources: no file has a store location. */
  async locate(ino: Ino): Promise<DataLocation | undefined> {
    checkIno(ino);
    await this.getattr(ino);
    return undefined;
  }

  /**
   * Records an upload of a file's bytes: size and mtime as uploaded, and the store
   * state (fingerprint, generation `gen`), which makes the file a synced one again.
   */
  async commitWrite(ino: Ino, w: CommittedWrite, gen = 0n): Promise<Attr> {
    checkIno(ino);
    if (w.size < 0n || w.size > MAX_FILE_SIZE) throw new WharfError('EINVAL', `size ${w.size} is out of range`);
    return this.mutate('commitWrite', (tx) => stageCommitWrite(tx, this.changes, ino, w, gen));
  }

  /**
   * The in-process batch path: adds many entries to one directory in a few large
   * batches (bulk imports, the 1M-inode benchmark). See bulkInsert.ts.
   */
  bulkInsert(parent: Ino, items: readonly BulkItem[]): Promise<Ino[]> {
    return bulkInsert(this, parent, items);
  }

}

async function openLevel(dir: string): Promise<Db> {
  // A 16 MiB write buffer (LevelDB's default is 4 MiB): a sync writes two records per
  // object (four in layout 1, when this was measured), and fewer, larger flushes and
  // compactions took a tenth off the CPU of a 100,000-object sync. Snappy stays on: without it a 1M-object re-sync's
  // master grew from 263 to 380 MB RSS (LevelDB maps its table files, and every page
  // a sync reads counts), for no measurable speed.
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', writeBufferSize: 16 * 1024 * 1024 });
  try {
    await db.open();
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new WharfError('EBUSY', `data directory ${dir} is in use by another process (its LevelDB LOCK is held); stop that master first`, e);
    }
    throw new WharfError('EIO', `cannot open data directory ${dir}: ${(e as Error).message}${cause ? ` (${String((cause as Error).message ?? cause.code)})` : ''}`, e);
  }
  return db;
}
