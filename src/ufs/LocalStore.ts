// A local directory as an under-store: for tests, single-node set-ups and data
// already on a shared file system. Layout and key rules: localLayout.ts.
//
// Semantics that differ from S3, by necessity of a directory tree:
//   - A key ending in '/' is a directory (a marker). Its body must be empty.
//   - An object "a" and keys under "a/" cannot coexist: putting "a/b" when "a"
//     is an object fails with ENOTDIR, putting "a" when "a/" exists with EISDIR.
//   - Only empty directories are listed as markers; deleting the marker of a
//     non-empty directory does nothing (its children still imply it, as on S3).
//     Deleting the last object in a directory leaves the directory, now listed
//     as a marker: a file system user expects the directory to stay.
//   - Keys with empty, "." or ".." segments, absolute keys and segments over 255
//     bytes are refused (EINVAL / ENAMETOOLONG); "/.wharf/" at the root is reserved.
// Puts are atomic: the body goes to ROOT/.wharf/tmp, is fsynced (unless the put
// says it need not be durable, or the store was opened with fsync off), and is
// renamed into place (a crash may lose the rename, leaving the old version, but
// never tears an object; open() sweeps temporary files over an hour old). User
// metadata lives in a sidecar tagged with the etag it belongs to, so a sidecar
// left from an older version is ignored, never misapplied.
// Symlinks are never followed out of the root: listing skips them, and reads and
// writes check that the parent directory resolves inside the root.
import { randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, readFile, realpath, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isErrno, logger, type Logger, WharfError } from '../common/index.js';
import { checkListOptions, checkMetadata, checkPrefix, checkRange, throwIfAborted } from './checks.js';
import { absPath, dirEtag, fileEtag, metaPath, mtimeMs, parseLocalKey, tmpDir, type LocalKey } from './localLayout.js';
import { listInWorker } from './LocalLister.js';
import { emptyStream, guardStream, isAbortError } from './streams.js';
import type { ByteRange, ListOptions, ListPage, ObjectInfo, PutOptions, PutResult, UnderStore } from './UnderStore.js';

export interface LocalStoreOptions {
  /** fsync each put before renaming it into place (default true). */
  fsync?: boolean;
  log?: Logger;
}

interface Sidecar { etag: string; metadata: Record<string, string> }

export class LocalStore implements UnderStore {
  private closed = false;
  private readonly log: Logger;

  private constructor(readonly root: string, private readonly options: LocalStoreOptions) {
    this.log = options.log ?? logger('ufs.local');
  }

  /** Opens an existing directory (ENOENT / ENOTDIR otherwise). */
  static async open(root: string, options: LocalStoreOptions = {}): Promise<LocalStore> {
    let real: string;
    try {
      real = await realpath(root);
      if (!(await stat(real)).isDirectory()) throw new WharfError('ENOTDIR', `${root} is not a directory`);
    } catch (e) {
      throw mapFsError(e, 'open', root);
    }
    const store = new LocalStore(real, options);
    await store.sweepTmp();
    return store;
  }

  describe(): string {
    return `file://${this.root}`;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    this.checkOpen();
    checkPrefix(prefix);
    const maxKeys = checkListOptions(opts);
    throwIfAborted(opts.signal, 'list');
    try {
      return await listInWorker({ root: this.root, prefix, delimited: opts.delimiter === '/', maxKeys, token: opts.token }, opts.signal);
    } catch (e) {
      throw mapFsError(e, 'list', prefix);
    }
  }

  async head(key: string, opts: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    this.checkOpen();
    const k = parseLocalKey(key);
    throwIfAborted(opts.signal, 'head');
    try {
      const path = await this.resolve(k);
      const st = await lstat(path, { bigint: true });
      if (k.isDir ? !st.isDirectory() : !st.isFile()) return undefined;
      const etag = k.isDir ? dirEtag(st) : fileEtag(st);
      const info: ObjectInfo = { key, size: k.isDir ? 0n : st.size, etag, mtimeMs: mtimeMs(st) };
      const meta = await this.readSidecar(key, etag);
      if (meta) info.metadata = meta;
      return info;
    } catch (e) {
      const err = mapFsError(e, 'head', key);
      if (err.errno === 'ENOENT' || err.errno === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  async get(key: string, range?: ByteRange, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    this.checkOpen();
    const k = parseLocalKey(key);
    checkRange(range);
    throwIfAborted(opts.signal, 'get');
    try {
      const path = await this.resolve(k);
      if (k.isDir) {
        if (!(await lstat(path)).isDirectory()) throw new WharfError('ENOENT', `no object ${JSON.stringify(key)}`);
        return emptyStream();
      }
      // O_NOFOLLOW: a symlink planted at the key is not an object.
      const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      const st = await fh.stat({ bigint: true }).catch(async (e: unknown) => { await fh.close(); throw e; });
      if (!st.isFile()) { await fh.close(); throw new WharfError('ENOENT', `no object ${JSON.stringify(key)}`); }
      const start = range?.start ?? 0n;
      let end = st.size - 1n;
      if (range?.end !== undefined && range.end < end) end = range.end;
      if (start > end) { await fh.close(); return emptyStream(); }
      // 1 MiB reads: a 4 MiB cache block is then 4 reads, not 64.
      const src = createReadStream('', { fd: fh, start: Number(start), end: Number(end), highWaterMark: 1024 * 1024 });
      return guardStream(src, (e) => mapFsError(e, 'get', key), opts.signal);
    } catch (e) {
      const err = mapFsError(e, 'get', key);
      // A parent that is an object means this key does not exist, as on S3.
      throw err.errno === 'ENOTDIR' ? new WharfError('ENOENT', `no object ${JSON.stringify(key)}`) : err;
    }
  }

  async put(key: string, body: Readable | Buffer, opts: PutOptions = {}): Promise<PutResult> {
    this.checkOpen();
    const k = parseLocalKey(key);
    const metadata = checkMetadata(opts.metadata);
    throwIfAborted(opts.signal, 'put');
    try {
      if (k.isDir) return await this.putMarker(k, body, opts, metadata);
      const path = await this.resolve(k, true);
      const tmp = await this.tmpFile();
      try {
        const st = await this.writeTmp(tmp, body, opts, key);
        const etag = fileEtag(st);
        await this.writeSidecar(key, etag, metadata);
        await rename(tmp, path);
        return { etag, mtimeMs: mtimeMs(st) }; // rename keeps the file's mtime
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
    } catch (e) {
      throw mapFsError(e, 'put', key);
    }
  }

  async delete(key: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkOpen();
    const k = parseLocalKey(key);
    throwIfAborted(opts.signal, 'delete');
    try {
      const path = await this.resolve(k);
      if (k.isDir) await rmdir(path);
      else if ((await lstat(path)).isFile()) await unlink(path);
    } catch (e) {
      const err = mapFsError(e, 'delete', key);
      // Missing, not a directory, or a directory that still has children: S3 would
      // leave nothing (or only the implied prefix) behind, so there is nothing to do.
      if (err.errno !== 'ENOENT' && err.errno !== 'ENOTDIR' && err.errno !== 'ENOTEMPTY' && err.errno !== 'EEXIST') throw err;
    }
    await rm(metaPath(this.root, key), { force: true }).catch(() => undefined);
  }

  async copy(srcKey: string, dstKey: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkOpen();
    const src = parseLocalKey(srcKey);
    const dst = parseLocalKey(dstKey);
    throwIfAborted(opts.signal, 'copy');
    const info = await this.head(srcKey);
    if (!info) throw new WharfError('ENOENT', `copy: no object ${JSON.stringify(srcKey)}`);
    if (src.isDir || dst.isDir) {
      // A marker copies to a marker; content cannot move between a file and a directory.
      if (!src.isDir || !dst.isDir) throw new WharfError('EINVAL', 'copy between a directory marker and an object');
      await this.put(dstKey, Buffer.alloc(0), { metadata: info.metadata ?? {} });
      return;
    }
    try {
      const from = await this.resolve(src);
      const to = await this.resolve(dst, true);
      const tmp = await this.tmpFile();
      try {
        await copyFile(from, tmp);
        if (this.options.fsync ?? true) await syncFile(tmp);
        const etag = fileEtag(await lstat(tmp, { bigint: true }));
        await this.writeSidecar(dstKey, etag, info.metadata);
        await rename(tmp, to);
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
    } catch (e) {
      throw mapFsError(e, 'copy', `${srcKey} -> ${dstKey}`);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new WharfError('EIO', `${this.describe()} is closed`);
  }

  /**
   * The absolute path of a key. The parent must resolve (through any symlinks)
   * to the same place inside the root; `create` makes missing parents first.
   */
  private async resolve(k: LocalKey, create = false): Promise<string> {
    const path = absPath(this.root, k.segs);
    const parent = dirname(path);
    // Find the deepest existing ancestor and insist it resolves to itself: a symlink
    // anywhere on the way could lead outside the root (and mkdir would follow it).
    let existing = parent;
    for (;;) {
      let real: string;
      try {
        real = await realpath(existing);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTDIR') throw new WharfError(create ? 'ENOTDIR' : 'ENOENT', `key ${JSON.stringify(k.key)}: a parent is an object`);
        if (code !== 'ENOENT' || existing === this.root) throw e;
        if (!create) throw new WharfError('ENOENT', `no object ${JSON.stringify(k.key)}`);
        existing = dirname(existing);
        continue;
      }
      if (real !== existing) throw new WharfError('EACCES', `key ${JSON.stringify(k.key)} leads through a symlink`);
      break;
    }
    if (existing !== this.root && !existing.startsWith(this.root + sep)) throw new WharfError('EACCES', `key ${JSON.stringify(k.key)} resolves outside the root`);
    if (create && existing !== parent) {
      try {
        await mkdir(parent, { recursive: true });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' || code === 'ENOTDIR') throw new WharfError('ENOTDIR', `key ${JSON.stringify(k.key)}: a parent is an object`);
        throw e;
      }
    }
    return path;
  }

  private async putMarker(k: LocalKey, body: Readable | Buffer, opts: PutOptions, metadata: Record<string, string> | undefined): Promise<PutResult> {
    const size = Buffer.isBuffer(body) ? body.length : await countBytes(body, opts.signal);
    if (size !== 0 || (opts.size !== undefined && opts.size !== 0n)) throw new WharfError('EINVAL', `directory marker ${JSON.stringify(k.key)} must have an empty body`);
    const path = await this.resolve(k, true);
    try {
      await mkdir(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (!(await lstat(path)).isDirectory()) throw new WharfError('ENOTDIR', `${JSON.stringify(k.key)}: an object has that name`);
    }
    const etag = dirEtag(await lstat(path, { bigint: true }));
    await this.writeSidecar(k.key, etag, metadata);
    return { etag };
  }

  /** Removes temporary files a crashed put left behind (older than an hour: others may be in progress). */
  private async sweepTmp(): Promise<void> {
    const dir = tmpDir(this.root);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    const cutoff = Date.now() - 3_600_000;
    for (const name of names) {
      const path = join(dir, name);
      try {
        if ((await lstat(path)).mtimeMs < cutoff) await rm(path, { force: true });
      } catch (e) {
        this.log.warn({ path, error: (e as Error).message }, 'could not remove a stale temporary file');
      }
    }
  }

  private async tmpFile(): Promise<string> {
    const dir = tmpDir(this.root);
    await mkdir(dir, { recursive: true });
    return join(dir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
  }

  private async writeTmp(tmp: string, body: Readable | Buffer, opts: PutOptions, key: string) {
    const durable = opts.durable ?? this.options.fsync ?? true;
    if (Buffer.isBuffer(body)) {
      // One open, write, (fsync,) stat and close: a stream pipeline, a second open to
      // fsync and a stat by path were most of a small file's put.
      if (opts.size !== undefined && BigInt(body.length) !== opts.size) {
        throw new WharfError('EIO', `put ${JSON.stringify(key)}: body has ${body.length} bytes, expected ${opts.size}`);
      }
      const fh = await open(tmp, 'wx');
      try {
        for (let at = 0; at < body.length; ) {
          throwIfAborted(opts.signal, 'put');
          at += (await fh.write(body, at, body.length - at)).bytesWritten;
        }
        if (durable) await fh.sync();
        return await fh.stat({ bigint: true });
      } finally {
        await fh.close();
      }
    }
    let written = 0n;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) { written += BigInt(chunk.length); cb(null, chunk); },
    });
    await pipeline(body, counter, createWriteStream(tmp, { flags: 'wx' }), opts.signal ? { signal: opts.signal } : {});
    if (opts.size !== undefined && written !== opts.size) {
      throw new WharfError('EIO', `put ${JSON.stringify(key)}: body has ${written} bytes, expected ${opts.size}`);
    }
    if (durable) await syncFile(tmp);
    return lstat(tmp, { bigint: true });
  }

  private async writeSidecar(key: string, etag: string, metadata: Record<string, string> | undefined): Promise<void> {
    const path = metaPath(this.root, key);
    if (metadata === undefined || Object.keys(metadata).length === 0) {
      await unlinkIfThere(path);
      return;
    }
    await mkdir(dirname(path), { recursive: true });
    const tmp = await this.tmpFile();
    const record: Sidecar = { etag, metadata };
    await writeFile(tmp, JSON.stringify(record), { flag: 'wx' });
    await rename(tmp, path);
  }

  private async readSidecar(key: string, etag: string): Promise<Record<string, string> | undefined> {
    let text: string;
    try {
      text = await readFile(metaPath(this.root, key), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const record = JSON.parse(text) as Sidecar;
      return record.etag === etag ? record.metadata : undefined;
    } catch {
      this.log.warn({ key }, 'unreadable metadata sidecar ignored');
      return undefined;
    }
  }
}

/** Deletes a file that may not exist (rm() would lstat it twice first). */
async function unlinkIfThere(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

async function countBytes(body: Readable, signal: AbortSignal | undefined): Promise<number> {
  let n = 0;
  for await (const chunk of body) {
    throwIfAborted(signal, 'put');
    n += (chunk as Buffer).length;
  }
  return n;
}

/** Node fs errors keep their errno when Wharf knows it; anything else is EIO. */
export function mapFsError(e: unknown, op: string, key: string): WharfError {
  if (e instanceof WharfError) return e;
  if (isAbortError(e)) return new WharfError('EINTR', `${op} ${JSON.stringify(key)}: aborted`);
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EPERM') return new WharfError('EACCES', `${op} ${JSON.stringify(key)}: permission denied`, e);
  if (code === 'ELOOP') return new WharfError('ENOENT', `${op} ${JSON.stringify(key)}: a symlink is not an object`, e);
  if (code !== undefined && isErrno(code)) return new WharfError(code, `${op} ${JSON.stringify(key)}: ${code}`, e);
  return new WharfError('EIO', `${op} ${JSON.stringify(key)}: ${e instanceof Error ? e.message : String(e)}`, e);
}
