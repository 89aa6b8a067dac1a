// Whole-block reads and writes on the cache disk with O_DIRECT: the disk's DMA
// lands in (and leaves from) our buffer, with no copy through the kernel's page cache.
//
// Why: a warm read through the mount is CPU-bound on two cores, and the kernel's
// copy of every block from its page cache into our buffer was a sixth of all CPU
// time in a profile (`perf`, 1 GiB warm read). The block files in the page cache
// were a second copy of what the kernel already caches for the FUSE file, so
// bypassing it doubles the memory the machine has for caching, too. Writing a
// fetched block through the page cache was 13% of all CPU of a cold read. Random reads
// of a few KiB (BlockCache.getRange) stay buffered: those the page cache serves well.
//
// O_DIRECT wants the buffer's address, the file offset and the length aligned to
// the device's block size. JavaScript cannot see a buffer's address, so a buffer is
// allocated 4 KiB larger and the view that an O_DIRECT read accepts is found by
// trying (once per buffer; buffers are pooled, see HotBlocks). Offsets are 0 and
// lengths rounded up to 4 KiB. A file system that refuses O_DIRECT (EINVAL) turns
// it off for the cache: reads fall back to the page cache, once and for good.
import { closeSync, constants, openSync, readSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from '../common/index.js';

const log = logger('cache');

const ALIGN = 4096;

export function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

function isEinval(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'EINVAL';
}

export class DirectIo {
  /** Buffers whose address O_DIRECT accepts. */
  private readonly aligned = new WeakSet<Buffer>();

  private constructor(private readonly probePath: string, private on: boolean) {}

  /** Direct I/O for files in `dir`, if wanted and its file system allows it (tested with a probe file). */
  static open(dir: string, wanted = true): DirectIo {
    const probe = join(dir, 'direct-io-probe');
    const d = new DirectIo(probe, false);
    if (!wanted) return d;
    try {
      writeFileSync(probe, Buffer.alloc(ALIGN));
      d.on = d.findAligned(ALIGN) !== undefined;
    } catch (e) {
      log.info({ dir, err: e instanceof Error ? e.message : String(e) }, 'direct I/O unavailable; the cache reads through the page cache');
    }
    return d;
  }

  /** A buffer of at least `size` bytes; aligned for O_DIRECT while direct I/O is on. */
  alloc(size: number): Buffer {
    const n = alignUp(size);
    return (this.on ? this.findAligned(n) : undefined) ?? Buffer.allocUnsafeSlow(n);
  }

  get enabled(): boolean {
    return this.on;
  }

  /**
   * Reads the first `size` bytes of the file at `path` into `into` (which must hold
   * alignUp(size)): directly when `into` came from alloc() and direct I/O is on,
   * else through the page cache. Returns the bytes read (fewer: the file is short).
   */
  async read(path: string, into: Buffer, size: number): Promise<number> {
    const direct = await this.attempt('read', path, into, size, async () => {
      const fh = await open(path, constants.O_RDONLY | constants.O_DIRECT);
      try {
        // Past the end of the file a direct read simply stops: `size` is the file's length.
        return (await fh.read(into, 0, alignUp(size), 0)).bytesRead;
      } finally {
        await fh.close().catch(() => undefined);
      }
    });
    if (direct !== undefined) return direct;
    const fh = await open(path, 'r');
    try {
      return (await fh.read(into, 0, size, 0)).bytesRead;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * Writes the first `length` bytes of `raw` (from alloc()) as the new file `path`:
   * directly while direct I/O is on (rounded up to 4 KiB, then cut to `length`),
   * else through the page cache.
   */
  async write(path: string, raw: Buffer, length: number): Promise<void> {
    const direct = await this.attempt('write', path, raw, length, async () => {
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o644);
      try {
        const n = alignUp(length);
        // A short direct write (a full disk) is the block's failure, not a reason to
        // continue at an unaligned offset (EINVAL) and turn direct I/O off for good.
        const { bytesWritten } = await fh.write(raw, 0, n, 0);
        if (bytesWritten !== n) throw Object.assign(new Error(`short write: ${bytesWritten} of ${n} bytes`), { code: 'ENOSPC' });
        if (n !== length) await fh.truncate(length);
      } finally {
        await fh.close();
      }
      return true;
    });
    if (direct) return;
    const fh = await open(path, 'w');
    try {
      for (let at = 0; at < length; ) at += (await fh.write(raw, at, length - at, at)).bytesWritten;
    } finally {
      await fh.close();
    }
  }

  /**
   * Runs `io` (a direct read or write of `length` bytes with `buf`) if direct I/O
   * applies: undefined when it does not, or when the file system refused it (EINVAL:
   * then it is off for good, and the caller goes through the page cache).
   */
  private async attempt<T>(what: 'read' | 'write', path: string, buf: Buffer, length: number, io: () => Promise<T>): Promise<T | undefined> {
    if (!this.on || !this.aligned.has(buf) || buf.length < alignUp(length)) return undefined;
    try {
      return await io();
    } catch (e) {
      if (!isEinval(e)) throw e;
      this.on = false;
      log.warn({ path, err: (e as Error).message }, `the cache disk refused a direct ${what}; going through the page cache from now on`);
      return undefined;
    }
  }

  /** A view of `n` bytes (n aligned) that an O_DIRECT read accepts, or undefined if none does. */
  private findAligned(n: number): Buffer | undefined {
    const raw = Buffer.allocUnsafeSlow(n + ALIGN);
    let fd: number;
    try {
      fd = openSync(this.probePath, constants.O_RDONLY | constants.O_DIRECT);
    } catch {
      return undefined;
    }
    try {
      // Array buffers are at least 8-byte aligned; one of these offsets is 4 KiB aligned.
      for (let off = 0; off < ALIGN; off += 8) {
        try {
          readSync(fd, raw, off, ALIGN, 0);
        } catch (e) {
          if (isEinval(e)) continue;
          return undefined;
        }
        const view = raw.subarray(off, off + n);
        this.aligned.add(view);
        return view;
      }
      return undefined;
    } finally {
      closeSync(fd);
    }
  }
}
