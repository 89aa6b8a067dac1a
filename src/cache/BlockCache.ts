// Fixed-size blocks of files on local disk, indexed in memory by an LRU bounded
// in bytes. Evicting an index entry deletes its block file. The index is rebuilt
// from the directory at start, so the cache survives restarts.
//
// On disk: <dir>/blocks/<id[0..2]>/<id>-<index>: a 16-byte header ("WBLK",
// version 3, 3 reserved bytes, data length u32, chunk size u32), a table of one
// crc32c per 64 KiB chunk, zeros up to the next 4 KiB boundary, then the data.
// Per-chunk checksums let a small random read fetch and verify 64 KiB of a block
// instead of all of it; data on a 4 KiB boundary lets a block be written and read
// with O_DIRECT (DirectIo). A FORMAT file in the directory names the version; a
// cache of another (or unmarked) version is cleared at open.
// Blocks are written to a temporary name and renamed, so a reader never sees a
// half-written block; leftovers of a crash (temporaries, short or damaged
// files) are discarded at start or on first read.
//
// A block's id includes its file's store fingerprint (see blockFileId), so a
// changed object can never be served from the old object's blocks.
import { crc32c } from '@node-rs/crc32';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, rename, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { logger } from '../common/index.js';
import { DirectIo, alignUp } from './DirectIo.js';

const log = logger('cache');

const MAGIC = Buffer.from('WBLK');
const HEADER = 16;
const VERSION = 3;
const CHUNK = 64 * 1024;

function tableBytes(length: number): number {
  return 4 * Math.ceil(length / CHUNK);
}

/** Where the data of a block holding `length` bytes starts in its file, and in a buffer put() writes whole (see put). */
export function blockDataAt(length: number): number {
  return alignUp(HEADER + tableBytes(length));
}

/** Bytes of the file of a block holding `length` bytes (header, checksum table and padding included). */
export function blockFileBytes(length: number): number {
  return blockDataAt(length) + length;
}

export interface BlockCacheOptions {
  /** Most bytes of blocks kept (headers included). */
  capacityBytes: number;
  /** Leave at least this much free on the cache's file system; blocks are not stored below it. */
  minFreeBytes?: number;
  /** Read and write whole blocks with O_DIRECT where the file system allows it (default true; see DirectIo). */
  directIo?: boolean;
}

interface OpenBlock {
  fh: FileHandle;
  /** Data bytes in the block. */
  total: number;
  /** The crc32c of each chunk. */
  table: Buffer;
  refs: number;
  gone: boolean;
}

export interface BlockCacheStats {
  blocks: number;
  bytes: number;
  hits: number;
  misses: number;
  stored: number;
  refused: number;
  evicted: number;
  corrupt: number;
  /** Whole blocks are read and written with O_DIRECT. */
  directIo: boolean;
}

/**
 * The stable name of a file's blocks: changes whenever the object's fingerprint does,
 * and with the block size (block n of another size is other bytes).
 */
export function blockFileId(source: string, key: string, fingerprint: string, blockSize: number): string {
  return createHash('sha256').update(`${source}\0${key}\0${fingerprint}\0${blockSize}`).digest('hex').slice(0, 40);
}

export class BlockCache {
  private readonly index: LRUCache<string, number>;
  private readonly blocksDir: string;
  private tmpSeq = 0;
  private freeSpace: { bytes: number; at: number } | undefined;
  /** Shard directories known to exist. */
  private readonly shards = new Set<string>();
  /** Block files kept open for random reads; closed when dropped and no read is using them. */
  private readonly open = new LRUCache<string, OpenBlock>({
    max: 256, // a 1 GiB file of 4 MiB blocks; well under a default 1,024-descriptor limit
    dispose: (b) => {
      b.gone = true;
      if (b.refs === 0) b.fh.close().catch(() => undefined);
    },
  });
  private readonly counters = { hits: 0, misses: 0, stored: 0, refused: 0, evicted: 0, corrupt: 0 };
  private limit: { limitBytes: number; high: number; low: number; keep?: (fileId: string) => boolean } | undefined;
  /** Off (page cache only) when not wanted or not possible. */
  private direct!: DirectIo;

  private constructor(readonly dir: string, private readonly options: BlockCacheOptions) {
    this.blocksDir = join(dir, 'blocks');
    this.index = new LRUCache<string, number>({
      maxSize: Math.max(1, options.capacityBytes),
      sizeCalculation: (size) => Math.max(1, size),
      dispose: (_size, name, reason) => {
        if (reason === 'set') return; // replaced by a new write of the same block
        if (reason === 'evict') this.counters.evicted++;
        this.open.delete(name);
        unlink(this.pathOf(name)).catch(() => undefined);
      },
    });
  }

  /** Opens (creating) the cache in `dir` and rebuilds its index from the blocks there. */
  static open(dir: string, options: BlockCacheOptions): BlockCache {
    const cache = new BlockCache(dir, options);
    // Blocks of another format (or of a cache from before the format was marked) are
    // cleared at once: read one by one they would each count as damaged and hold
    // capacity until then.
    const marker = join(dir, 'FORMAT');
    const format = `wharf block cache ${VERSION}\n`;
    if (existsSync(cache.blocksDir) && (readFileIfThere(marker) ?? '') !== format) {
      log.info({ dir }, 'clearing cache blocks of an older format');
      rmSync(cache.blocksDir, { recursive: true, force: true });
    }
    mkdirSync(cache.blocksDir, { recursive: true });
    writeFileSync(marker, format);
    cache.direct = DirectIo.open(dir, options.directIo ?? true);
    const found: { name: string; size: number; mtime: number }[] = [];
    for (const shard of readdirSync(cache.blocksDir)) {
      const shardDir = join(cache.blocksDir, shard);
      for (const file of readdirSync(shardDir)) {
        const p = join(shardDir, file);
        const st = statSync(p, { throwIfNoEntry: false });
        if (!st || file.includes('.tmp') || !/^[0-9a-f]{40}-[0-9]+$/.test(file) || st.size < HEADER) {
          rmSync(p, { force: true }); // a crash's leftover or a stranger
          continue;
        }
        found.push({ name: file, size: st.size, mtime: st.mtimeMs });
      }
    }
    // Oldest first, so the LRU order approximates last use before the restart.
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) cache.index.set(f.name, f.size);
    log.info({ dir, blocks: cache.index.size, bytes: cache.index.calculatedSize, directIo: cache.direct.enabled }, 'block cache opened');
    return cache;
  }

  private pathOf(name: string): string {
    return join(this.blocksDir, name.slice(0, 2), name);
  }

  /**
   * A buffer to read a whole block file of up to `fileBytes` into (get's `into`):
   * one that direct reads accept while the cache uses them. Callers pool these.
   */
  blockBuffer(fileBytes: number): Buffer {
    return this.direct.alloc(fileBytes);
  }

  /**
   * The block's bytes, or undefined on a miss. A damaged block is dropped and
   * reported as a miss. With `into` (from blockBuffer(blockFileBytes(block size)))
   * the block is read into it and the answer is a view of it.
   */
  async get(fileId: string, index: number, into?: Buffer): Promise<Buffer | undefined> {
    const name = `${fileId}-${index}`;
    const size = this.index.peek(name);
    if (size === undefined) {
      this.counters.misses++;
      return undefined;
    }
    // One read of the whole file (readFile would read it 512 KiB at a time and
    // allocate for each step); a file of another size than indexed is damaged.
    const raw = into && into.length >= size ? into : Buffer.allocUnsafeSlow(size);
    let got: number;
    try {
      got = await this.direct.read(this.pathOf(name), raw, size);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.index.delete(name);
        this.counters.misses++;
        return undefined;
      }
      got = -1;
    }
    const data = got === size ? decodeBlock(raw.subarray(0, size)) : undefined;
    return data ? this.hit(name, data) : this.damaged(name);
  }

  /**
   * Bytes [offset, offset + length) of a block, reading and verifying only the
   * 64 KiB chunks they fall in. Undefined on a miss or damage (the block is dropped).
   * The block files of recent random reads stay open with their checksum tables in
   * memory, so a random read costs one pread (it cost five calls: a third of its time).
   */
  async getRange(fileId: string, index: number, offset: number, length: number): Promise<Buffer | undefined> {
    const name = `${fileId}-${index}`;
    if (!this.index.has(name)) {
      this.counters.misses++;
      return undefined;
    }
    let ob = this.open.get(name);
    if (!ob) {
      const opened = await this.openBlock(name);
      if (opened === 'gone') {
        this.index.delete(name);
        this.counters.misses++;
        return undefined;
      }
      if (opened === 'damaged') return this.damaged(name);
      ob = opened;
      if (!this.index.has(name)) { // evicted while we opened it
        await ob.fh.close().catch(() => undefined);
        this.counters.misses++;
        return undefined;
      }
      this.open.set(name, ob);
    }
    if (offset + length > ob.total) return this.damaged(name);
    ob.refs++;
    try {
      const first = Math.floor(offset / CHUNK);
      const last = Math.floor((offset + Math.max(1, length) - 1) / CHUNK);
      const start = first * CHUNK;
      const end = Math.min(ob.total, (last + 1) * CHUNK);
      const data = Buffer.allocUnsafe(end - start);
      const { bytesRead } = await ob.fh.read(data, 0, data.length, blockDataAt(ob.total) + start);
      if (bytesRead !== data.length) return this.damaged(name);
      for (let c = first; c <= last; c++) {
        const from = (c - first) * CHUNK;
        if (crc32c(data.subarray(from, Math.min(data.length, from + CHUNK))) !== ob.table.readUInt32BE(4 * c)) return this.damaged(name);
      }
      return this.hit(name, data.subarray(offset - start, offset - start + length));
    } catch {
      return this.damaged(name);
    } finally {
      if (--ob.refs === 0 && ob.gone) await ob.fh.close().catch(() => undefined);
    }
  }

  /** Opens a block file and reads its header and checksum table. */
  private async openBlock(name: string): Promise<OpenBlock | 'gone' | 'damaged'> {
    let fh: FileHandle;
    try {
      fh = await open(this.pathOf(name), 'r');
    } catch {
      return 'gone';
    }
    try {
      const head = Buffer.alloc(HEADER);
      if ((await fh.read(head, 0, HEADER, 0)).bytesRead !== HEADER || !headerHolds(head)) throw new Error('bad header');
      const total = head.readUInt32BE(8);
      const table = Buffer.alloc(tableBytes(total));
      if ((await fh.read(table, 0, table.length, HEADER)).bytesRead !== table.length) throw new Error('short table');
      return { fh, total, table, refs: 0, gone: false };
    } catch {
      await fh.close().catch(() => undefined);
      return 'damaged';
    }
  }

  private hit(name: string, data: Buffer): Buffer {
    this.index.get(name); // mark as recently used
    this.counters.hits++;
    return data;
  }

  private damaged(name: string): undefined {
    log.warn({ block: name }, 'damaged cache block dropped; it will be fetched again');
    this.counters.corrupt++;
    this.counters.misses++;
    this.index.delete(name);
    this.open.delete(name);
    return undefined;
  }

  has(fileId: string, index: number): boolean {
    return this.index.has(`${fileId}-${index}`);
  }

  /**
   * Stores a block. False when it cannot be kept (larger than the cache, free
   * space below the floor, disk full): the caller serves the bytes anyway.
   * `raw`: the buffer from blockBuffer() that `data` lies in, at blockDataAt(); the
   * block file is then written from it in one direct write (its first bytes become
   * the header), instead of through the page cache.
   */
  async put(fileId: string, index: number, data: Buffer, raw?: Buffer): Promise<boolean> {
    const name = `${fileId}-${index}`;
    const size = blockFileBytes(data.length);
    if (size > this.options.capacityBytes || !(await this.roomFor(size))) {
      this.counters.refused++;
      return false;
    }
    const final = this.pathOf(name);
    const tmp = `${final}.tmp${process.pid}-${++this.tmpSeq}`;
    try {
      const shard = name.slice(0, 2);
      if (!this.shards.has(shard)) {
        mkdirSync(join(this.blocksDir, shard), { recursive: true });
        this.shards.add(shard);
      }
      const whole = raw && data.buffer === raw.buffer && data.byteOffset - raw.byteOffset === blockDataAt(data.length) && raw.length >= alignUp(size);
      if (whole) {
        encodeHeader(data).copy(raw);
        await this.direct.write(tmp, raw, size);
      } else {
        const fh = await open(tmp, 'w');
        try {
          await fh.writev([encodeHeader(data), data]);
        } finally {
          await fh.close();
        }
      }
      await rename(tmp, final);
      this.open.delete(name); // an open handle would still read the file this one replaced
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      this.shards.delete(name.slice(0, 2)); // in case it was removed under us
      this.counters.refused++;
      log.warn({ err: e, block: name }, 'could not store a cache block; serving from the store');
      return false;
    }
    this.index.set(name, size);
    this.counters.stored++;
    this.trim();
    return true;
  }

  /**
   * Frees space down to the floor by evicting least recently used blocks; false if it
   * cannot. The free space is asked of the file system at most every 250 ms and
   * counted down by what is stored in between (a statfs per block cost a cold read
   * a few percent), and always asked again when it looks short.
   */
  private async roomFor(size: number): Promise<boolean> {
    const floor = this.options.minFreeBytes ?? 0;
    if (floor <= 0) return true;
    const known = this.freeSpace;
    if (known && Date.now() - known.at < 250 && known.bytes - size >= floor) {
      known.bytes -= size;
      return true;
    }
    for (;;) {
      let free: number;
      try {
        const s = await statfs(this.blocksDir);
        free = s.bavail * s.bsize;
      } catch {
        this.freeSpace = undefined;
        return false;
      }
      this.freeSpace = { bytes: free - size, at: Date.now() };
      if (free - size >= floor) return true;
      const oldest = [...this.index.rkeys()][0];
      if (oldest === undefined) return false;
      this.index.delete(oldest);
      this.counters.evicted++;
      await unlink(this.pathOf(oldest)).catch(() => undefined);
    }
  }

  /** Drops every block of a file (its object changed or was deleted). */
  dropFile(fileId: string): void {
    for (const name of [...this.index.keys()]) if (name.startsWith(`${fileId}-`)) this.index.delete(name);
  }

  /** Drops every block of the files given (every block when `ids` is 'all'), in one pass over the index. */
  dropFiles(ids: ReadonlySet<string> | 'all'): { blocks: number; bytes: number } {
    let blocks = 0;
    let bytes = 0;
    for (const [name, size] of [...this.index.entries()]) {
      if (ids !== 'all' && !ids.has(name.slice(0, name.lastIndexOf('-')))) continue;
      this.index.delete(name);
      blocks++;
      bytes += size;
    }
    return { blocks, bytes };
  }

  /** The ids of the files that have blocks here. */
  fileIds(): Set<string> {
    const out = new Set<string>();
    for (const name of this.index.keys()) out.add(name.slice(0, name.lastIndexOf('-')));
    return out;
  }

  /**
   * A soft limit below the capacity (a cache instance's share of this disk): once the
   * blocks pass `high` × limit, the least recently used are evicted down to `low` ×
   * limit, skipping the files `keep` holds (pinned). The capacity stays the hard limit,
   * which evicts in LRU order whatever it must.
   */
  setLimit(l: { limitBytes: number; high: number; low: number; keep?: (fileId: string) => boolean } | undefined): void {
    this.limit = l;
    this.trim();
  }

  private trim(): void {
    const l = this.limit;
    if (!l || this.index.calculatedSize <= l.high * l.limitBytes) return;
    const target = l.low * l.limitBytes;
    for (const name of [...this.index.rkeys()]) {
      if (this.index.calculatedSize <= target) break;
      if (l.keep?.(name.slice(0, name.lastIndexOf('-')))) continue;
      this.index.delete(name);
      this.counters.evicted++;
    }
  }

  stats(): BlockCacheStats {
    return { blocks: this.index.size, bytes: this.index.calculatedSize, ...this.counters, directIo: this.direct.enabled };
  }
}

function readFileIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Header, checksum table and padding: the first blockDataAt(data.length) bytes of the block's file. */
function encodeHeader(data: Buffer): Buffer {
  const h = Buffer.alloc(blockDataAt(data.length));
  MAGIC.copy(h, 0);
  h[4] = VERSION;
  h.writeUInt32BE(data.length, 8);
  h.writeUInt32BE(CHUNK, 12);
  for (let c = 0, off = 0; off < data.length; c++, off += CHUNK) h.writeUInt32BE(crc32c(data.subarray(off, Math.min(data.length, off + CHUNK))), HEADER + 4 * c);
  return h;
}

/** Whether `raw` starts with a header of this format (magic, version, chunk size). */
function headerHolds(raw: Buffer): boolean {
  return raw.length >= HEADER && raw.subarray(0, 4).equals(MAGIC) && raw[4] === VERSION && raw.readUInt32BE(12) === CHUNK;
}

/** The block's data if its header and every chunk checksum hold, else undefined. */
function decodeBlock(raw: Buffer): Buffer | undefined {
  if (!headerHolds(raw)) return undefined;
  const len = raw.readUInt32BE(8);
  if (raw.length !== blockFileBytes(len)) return undefined;
  const data = raw.subarray(blockDataAt(len));
  for (let c = 0, off = 0; off < len; c++, off += CHUNK) {
    if (crc32c(data.subarray(off, Math.min(len, off + CHUNK))) !== raw.readUInt32BE(HEADER + 4 * c)) return undefined;
  }
  return data;
}
