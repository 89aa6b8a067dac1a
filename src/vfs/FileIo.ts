// File data through the mount: open handles, reads through the block cache,
// writes staged in local files and uploaded on flush/fsync/close, and deleting a
// file's object (the rest of the store side of namespace changes: StoreObjects).
//
// Discipline: one StagedFile per inode, shared by every handle writing it; one
// upload at a time per StagedFile (later flushes wait for the running one). A
// failed upload keeps the staged bytes, fails the flush/fsync/close with EIO, and
// is retried in the background until it succeeds; a mount restarted after a crash
// finds staged files by their sidecar records and uploads them.
import { createReadStream } from 'node:fs';
import { mkdir, rename as fsRename, unlink as fsUnlink } from 'node:fs/promises';
import { join } from 'node:path';
import { WharfError, logger, type Attr, type Ino } from '../common/index.js';
import { blockFileId, ReadPattern, type BlockReader, type CachedFile } from '../cache/index.js';
import type { MetaClient } from '../meta/index.js';
import type { MetaCache } from './MetaCache.js';
import { StagedFile } from './StagedFile.js';
import type { StoreRegistry } from './StoreRegistry.js';
import { StoreObjects, s3fsMetadata } from './StoreObjects.js';

const log = logger('vfs');

/** Files up to this size (and one cache block) are uploaded from one buffer (no stream), which also fills the cache. */
const SMALL_UPLOAD = 1024 * 1024;

const O_ACCMODE = 0o3;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;

export interface FileIoOptions {
  stagingDir: string;
  /** Longest wait between retries of a failed upload. */
  uploadRetryMaxMs?: number;
}

interface Handle {
  path: string;
  ino: Ino;
  writable: boolean;
  append: boolean;
  pattern: ReadPattern;
  file?: CachedFile | 'zeros';
  size: number;
}

export class FileIo {
  private readonly handles = new Map<number, Handle>();
  private readonly staged = new Map<Ino, StagedFile>();
  private readonly retries = new Map<Ino, NodeJS.Timeout>();
  private nextFh = 10;
  private uploads = 0;
  private uploadFailures = 0;
  private closed = false;

  /** Markers, inode objects, hard-link names and renames in the store. */
  readonly objects: StoreObjects;

  constructor(
    private readonly meta: MetaClient,
    private readonly reader: BlockReader,
    private readonly stores: StoreRegistry,
    private readonly cache: MetaCache,
    private readonly o: FileIoOptions,
  ) {
    // Moving an object must wait for an upload running under its old key.
    this.objects = new StoreObjects(meta, stores, async (ino) => {
      const st = this.staged.get(ino);
      while (st?.uploading) await st.uploading.catch(() => undefined);
    });
  }

  stats(): { openHandles: number; stagedFiles: number; stagedDirty: number; uploads: number; uploadFailures: number } {
    let dirty = 0;
    for (const s of this.staged.values()) if (s.dirty || s.uploading) dirty++; // in flight: not uploaded yet
    return { openHandles: this.handles.size, stagedFiles: this.staged.size, stagedDirty: dirty, uploads: this.uploads, uploadFailures: this.uploadFailures };
  }

  withStagedSize(a: Attr): Attr {
    const s = this.staged.get(a.ino);
    return s ? { ...a, size: BigInt(s.size) } : a;
  }

  // ---- open / read / write -----------------------------------------------------------

  async open(path: string, a: Attr, flags: number, opts: { fresh?: boolean } = {}): Promise<number> {
    const writable = (flags & O_ACCMODE) !== 0;
    if (writable) await this.stage(path, a, { truncate: (flags & O_TRUNC) !== 0, fresh: opts.fresh ?? false });
    const fh = this.nextFh++;
    this.handles.set(fh, { path, ino: a.ino, writable, append: (flags & O_APPEND) !== 0, pattern: new ReadPattern(), size: Number(a.size) });
    return fh;
  }

  /** The staged file of an inode, created (and filled with the current bytes unless truncating) on first write-open. */
  private async stage(path: string, a: Attr, o: { truncate: boolean; fresh: boolean }): Promise<StagedFile> {
    let s = this.staged.get(a.ino);
    if (!s) {
      const loc = await this.meta.locate(a.ino);
      if (!loc) throw new WharfError('EROFS', `${path} is outside every data source: the namespace there holds names, not file data`);
      if (loc.readOnly) throw new WharfError('EROFS', `${path} belongs to read-only source ${loc.source}`);
      s = await StagedFile.create(this.o.stagingDir, a.ino, path);
      this.staged.set(a.ino, s);
      if (!o.truncate && !o.fresh) {
        if (a.size > 0n) {
          try {
            await this.copyIn(s, await this.cachedFile(a.ino, Number(a.size)), Number(a.size));
          } catch (e) {
            this.staged.delete(a.ino);
            await s.remove();
            throw e;
          }
        }
        s.dirty = false;
        // The staged bytes are the store's. Where every put is durable, so are they: an
        // fsync(2) before any write uploads nothing (it re-uploaded the whole file).
        // A local directory's earlier put may not have been fsynced: uploaded again, durably.
        if ((await this.stores.get(loc)).putsAreDurable) {
          s.uploaded = true;
          s.durable = true;
        }
      }
      if (o.fresh) {
        s.dirty = true; // an empty new file still becomes an object
        s.pendingMarked = true;
      }
    }
    s.refs++;
    // A truncating open changes the file even when nothing was staged yet (a new staging
    // of a non-empty synced file starts empty): marked like any change.
    if (o.truncate) {
      await this.modify(s, async () => {
        if (s.size !== 0) await s.truncate(0);
        else s.dirty = true; // already empty here, but the file it stands for may not be
      });
    }
    return s;
  }

  private async copyIn(s: StagedFile, file: CachedFile | 'zeros', size: number): Promise<void> {
    if (file === 'zeros') {
      await s.truncate(size);
      return;
    }
    const step = this.reader.blockSize;
    for (let off = 0; off < size; off += step) await s.write(await this.reader.read(file, off, step), off);
  }

  /** What a read-only handle reads from: the cache over the store, or zeros outside every source. */
  private async cachedFile(ino: Ino, size: number): Promise<CachedFile | 'zeros'> {
    const loc = await this.meta.locate(ino);
    if (!loc) return 'zeros';
    if (loc.fingerprint === '' && size > 0) throw new WharfError('EIO', `${loc.key}: its bytes were written through Wharf but never reached the store`);
    return { id: blockFileId(loc.source, loc.key, loc.fingerprint, this.reader.blockSize), source: loc.source, fingerprint: loc.fingerprint, store: await this.stores.get(loc), key: loc.key, size: Number(loc.size) };
  }

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h) throw new WharfError('EBADF', `file handle ${fh} is not open`);
    return h;
  }

  async read(fh: number, length: number, position: number): Promise<Buffer> {
    const h = this.handle(fh);
    const s = this.staged.get(h.ino);
    if (s) return s.read(length, position);
    h.file ??= await this.cachedFile(h.ino, h.size);
    if (h.file === 'zeros') return Buffer.alloc(Math.max(0, Math.min(length, h.size - position)));
    return this.reader.read(h.file, position, length, h.pattern);
  }

  /**
   * A read answered at once from blocks in memory, copied into `target`; undefined
   * when it must go the long way (read). Staged and not yet opened files never take it.
   */
  readHot(fh: number, target: Buffer, length: number, position: number): number | undefined {
    const h = this.handles.get(fh);
    if (!h || typeof h.file !== 'object' || this.staged.has(h.ino)) return undefined;
    return this.reader.readHot(h.file, position, length, h.pattern, target);
  }

  async write(fh: number, buf: Buffer, position: number): Promise<number> {
    const h = this.handle(fh);
    if (!h.writable) throw new WharfError('EBADF', `${h.path} is not open for writing`);
    const s = this.staged.get(h.ino);
    if (!s) throw new WharfError('EIO', `${h.path}: no staged data for a writable handle`);
    return this.modify(s, () => s.write(buf, h.append ? s.size : position));
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    const h = this.handle(fh);
    if (!h.writable) throw new WharfError('EBADF', `${h.path} is not open for writing`);
    const s = this.staged.get(h.ino)!;
    await this.modify(s, () => s.truncate(size));
  }

  /**
   * Changes staged bytes; the first change after an upload (or ever) tells the master
   * first, so that no sync updates or removes the file while its bytes are only here
   * (the "never deleted by a sync or a sweep"). One call per write session.
   */
  private async modify<T>(s: StagedFile, change: () => Promise<T>): Promise<T> {
    s.changes++;
    try {
      if (!s.pendingMarked) await this.markPending(s);
      return await change();
    } finally {
      s.changes++;
    }
  }

  private async markPending(s: StagedFile): Promise<void> {
    await this.meta.setattr(s.ino, { pendingWrite: true });
    s.pendingMarked = true;
    s.markSent = true;
  }

  /**
   * flush(2) (on close) and fsync(2): upload what is staged; the error reaches
   * close()/fsync(). Only fsync (`durable`) waits for stable storage where the store
   * lets us choose (a local directory): close(2) on a local file system does not
   * either, and an fsync per closed file held small-file writes to 200 a second.
   */
  async flush(fh: number, durable = false): Promise<void> {
    const h = this.handle(fh);
    if (!h.writable) return;
    // Shells and dd open a file, dup2 the descriptor and close the first one: a flush
    // before any byte is written. Uploading the empty file then cost every new file
    // a second upload; its release uploads it anyway.
    const s = this.staged.get(h.ino);
    if (!durable && s && s.size === 0 && !s.uploaded) return;
    await this.upload(h.ino, durable);
  }

  async release(fh: number): Promise<void> {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    const s = this.staged.get(h.ino);
    if (!h.writable || !s) return;
    s.refs--;
    try {
      await this.upload(h.ino);
    } catch (e) {
      this.scheduleRetry(h.ino, 1_000);
      throw e;
    } finally {
      if (s.refs === 0 && !s.dirty) {
        this.staged.delete(h.ino);
        await s.remove();
        // Marked, and nothing left to upload (every change failed): the file is the store's again.
        if (s.markSent) await this.meta.setattr(h.ino, { pendingWrite: false }).catch(() => undefined);
      }
    }
  }

  // ---- uploads -----------------------------------------------------------------------

  async upload(ino: Ino, durable = false): Promise<void> {
    const s = this.staged.get(ino);
    if (!s) return;
    while (s.uploading) await s.uploading.catch(() => undefined);
    // Clean but uploaded without fsync: an fsync(2) uploads it again, durably.
    if (!s.dirty && !(durable && !s.durable)) return;
    s.uploading = this.uploadOnce(s, durable).finally(() => { s.uploading = undefined; });
    await s.uploading;
  }

  private async uploadOnce(s: StagedFile, durable: boolean): Promise<void> {
    s.dirty = false; // writes from now on mark it dirty again
    const changesAtStart = s.changes;
    try {
      const [loc, attr] = await Promise.all([this.meta.locate(s.ino), this.meta.getattr(s.ino)]);
      if (!loc) throw new WharfError('EROFS', `inode ${s.ino} is no longer in a data source`);
      const store = await this.stores.get(loc);
      const size = s.size;
      // A small file goes up from memory, and the same bytes fill the cache after.
      const small = size <= Math.min(SMALL_UPLOAD, this.reader.blockSize) ? await s.read(size, 0) : undefined;
      const body = small ?? createReadStream(s.dataPath, { start: 0, end: size - 1 });
      const put = await store.put(loc.key, body, { size: BigInt(size), metadata: s3fsMetadata(attr), durable });
      s.durable = durable;
      s.uploaded = true;
      // The store's own etag and time are what a sync will compare against (S3 does not return the time: ask).
      const stored = put.mtimeMs !== undefined ? { etag: put.etag, mtimeMs: put.mtimeMs } : await store.head(loc.key);
      if (!stored) throw new WharfError('EIO', `${loc.key} is not in the store right after its upload`);
      const fileId = blockFileId(loc.source, loc.key, `${size}:${stored.etag}:${stored.mtimeMs}`, this.reader.blockSize);
      // The cache is filled while the master records the write (neither needs the other).
      const commit = this.meta.commitWrite(s.ino, { size: BigInt(size), etag: stored.etag, mtimeNs: BigInt(stored.mtimeMs) * 1_000_000n }).then(async (c) => {
        // The commit ended the pending state; a change that overlapped this upload
        // (begun or ended since it started) starts it again at once.
        s.pendingMarked = false;
        s.markSent = false;
        if (s.changes !== changesAtStart) await this.markPending(s).catch(() => undefined);
        return c;
      });
      const [committed] = await Promise.all([
        commit,
        small ? (size > 0 ? this.reader.adopt(fileId, 0, small).catch(() => undefined) : undefined) : this.writeThrough(s, fileId, size),
      ]);
      this.cache.put(s.path, committed);
      log.debug({ key: loc.key, size }, 'uploaded');
      this.uploads++;
      this.clearRetry(s.ino);
    } catch (e) {
      s.dirty = true;
      // The staged copy is now the only one until a retry succeeds: onto stable storage
      // with it, so a crash of the machine does not lose bytes close() reported unsaved.
      await s.sync().catch(() => undefined);
      this.uploadFailures++;
      log.warn({ ino: s.ino.toString(), err: e instanceof Error ? e.message : String(e) }, 'upload failed; the data stays staged and will be retried');
      throw e instanceof WharfError && e.errno === 'EROFS' ? e : new WharfError('EIO', `upload failed: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }

  /** Copies uploaded bytes into the block cache under the new object's identity. */
  private async writeThrough(s: StagedFile, fileId: string, size: number): Promise<void> {
    const bs = this.reader.blockSize;
    try {
      for (let i = 0; i * bs < size; i++) await this.reader.adopt(fileId, i, await s.read(bs, i * bs));
    } catch (e) {
      log.debug({ err: String(e) }, 'write-through to the block cache stopped early');
    }
  }

  private scheduleRetry(ino: Ino, delayMs: number): void {
    if (this.closed || this.retries.has(ino)) return;
    const t = setTimeout(() => {
      this.retries.delete(ino);
      const s = this.staged.get(ino);
      if (!s) return;
      // Durably: the staged copy was the only one, and goes once this succeeds.
      this.upload(ino, true).then(
        async () => {
          if (s.refs === 0 && !s.dirty) {
            this.staged.delete(ino);
            await s.remove();
          }
        },
        () => this.scheduleRetry(ino, Math.min(delayMs * 2, this.o.uploadRetryMaxMs ?? 60_000)),
      );
    }, delayMs);
    t.unref();
    this.retries.set(ino, t);
  }

  private clearRetry(ino: Ino): void {
    clearTimeout(this.retries.get(ino));
    this.retries.delete(ino);
  }

  /** Uploads what a previous run staged and never uploaded. */
  async recover(): Promise<{ recovered: number; orphaned: number }> {
    let recovered = 0;
    let orphaned = 0;
    for (const left of StagedFile.leftovers(this.o.stagingDir)) {
      const ino = BigInt(left.record.ino);
      try {
        await this.meta.getattr(ino);
      } catch {
        // The file is gone from the namespace: keep the bytes aside for an operator.
        const dir = join(this.o.stagingDir, 'orphaned');
        await mkdir(dir, { recursive: true });
        await fsRename(left.dataPath, join(dir, `${left.record.ino}.data`)).catch(() => undefined);
        await fsRename(left.recordPath, join(dir, `${left.record.ino}.json`)).catch(() => undefined);
        log.warn({ ino: left.record.ino, path: left.record.path }, 'staged data of a file that no longer exists kept in staging/orphaned');
        orphaned++;
        continue;
      }
      let s: StagedFile;
      try {
        s = await StagedFile.reopen(left.dataPath, ino, left.record.path);
      } catch (e) {
        // A record whose bytes are gone (a crash while an earlier version removed them
        // data first): nothing to upload, and no reason to refuse to mount.
        log.warn({ ino: left.record.ino, path: left.record.path, err: (e as Error).message }, 'staged record without its data dropped');
        await fsUnlink(left.recordPath).catch(() => undefined);
        // No bytes will come: the file is the store's again for syncs.
        await this.meta.setattr(ino, { pendingWrite: false }).catch(() => undefined);
        continue;
      }
      this.staged.set(ino, s);
      try {
        await this.upload(ino, true);
        this.staged.delete(ino);
        await s.remove();
        recovered++;
      } catch {
        this.scheduleRetry(ino, 1_000);
      }
    }
    return { recovered, orphaned };
  }

  // ---- store side of namespace changes -------------------------------------------

  async truncatePath(path: string, a: Attr, size: number): Promise<void> {
    // Open for writing elsewhere (the truncate the kernel sends after open(O_TRUNC)
    // of a new file): change the staged bytes; the writer's close uploads them. An
    // upload here cost every `> file` and writeFile() a second upload.
    const staged = this.staged.get(a.ino);
    if (staged && staged.refs > 0) {
      await this.modify(staged, () => staged.truncate(size));
      return;
    }
    if (!staged && !(await this.meta.locate(a.ino))) {
      await this.meta.setattr(a.ino, { size: BigInt(size) }); // outside sources: names and sizes only
      return;
    }
    const fh = await this.open(path, a, 0o1 | (size === 0 ? O_TRUNC : 0));
    try {
      await this.ftruncate(fh, size);
      await this.flush(fh);
    } finally {
      await this.release(fh).catch(() => undefined);
    }
  }

  /** Deletes a file's object before its entry goes; a failure keeps the entry (EIO). */
  async deleteObject(a: Attr): Promise<void> {
    const s = this.staged.get(a.ino);
    // An upload (or retry) still running would put the object back after our delete.
    while (s?.uploading) await s.uploading.catch(() => undefined);
    this.clearRetry(a.ino);
    const loc = await this.meta.locate(a.ino);
    if (s && s.refs === 0) {
      this.staged.delete(a.ino);
      this.clearRetry(a.ino);
      await s.remove();
    }
    if (!loc) return;
    if (loc.readOnly) throw new WharfError('EROFS', `source ${loc.source} is read-only`);
    if (loc.fingerprint === '') return; // never uploaded
    await (await this.stores.get(loc)).delete(loc.key);
  }

  /** A staged file follows its inode to the new path (for cache updates after its upload). */
  renamed(ino: Ino, to: string): void {
    const s = this.staged.get(ino);
    if (s) s.path = to;
    for (const h of this.handles.values()) if (h.ino === ino) h.path = to;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
    // Last chance for staged data; what still fails stays staged for the next start.
    for (const [ino, s] of this.staged) {
      // upload() first waits for one in flight (which cleared `dirty` when it started).
      await this.upload(ino).catch(() => undefined);
      if (!s.dirty) await s.remove();
      else await s.close();
    }
    this.staged.clear();
  }
}
