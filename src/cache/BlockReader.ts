// Read-through over the block cache: a miss fetches the block with one ranged GET,
// concurrent readers of a block share one fetch, sequential reading prefetches the
// next blocks in parallel (bounded), and random reads fetch only what they need.
//
// Where a missing block comes from is a BlockSource chosen by a BlockLocator: today
// always the file's under store; a cache cluster adds a locator that answers "the
// node that owns this block by consistent hashing" without changing this reader.
import pLimit from 'p-limit';
import { WharfError, logger } from '../common/index.js';
import type { UnderStore } from '../ufs/index.js';
import { blockFileBytes, type BlockCache } from './BlockCache.js';
import { HotBlocks, type HotBlock } from './HotBlocks.js';

const log = logger('cache');

/** A file as the cache knows it: the store object at one fingerprint. */
export interface CachedFile {
  /** blockFileId(source, key, fingerprint). */
  id: string;
  store: UnderStore;
  key: string;
  size: number;
}

export interface BlockSource {
  /**
   * The bytes of block `index` (exactly `length` of them), or a WharfError. `into`
   * (at least `length` long) is a buffer the answer may be read into and be a view of.
   */
  fetch(file: CachedFile, index: number, offset: number, length: number, signal: AbortSignal, into?: Buffer): Promise<Buffer>;
}

export interface BlockLocator {
  sourceFor(file: CachedFile, index: number): BlockSource;
}

/** One ranged GET from the file's under store. */
export const storeBlockSource: BlockSource = {
  async fetch(file, _index, offset, length, signal, into) {
    const stream = await file.store.get(file.key, { start: BigInt(offset), end: BigInt(offset + length - 1) }, { signal });
    const out = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let got = 0;
    for await (const c of stream) {
      const chunk = c as Buffer;
      if (got + chunk.length > length) throw new WharfError('EIO', `${file.key}: the store sent more than the ${length} bytes asked for at ${offset} (changed in the store)`);
      got += chunk.copy(out, got);
    }
    if (got !== length) throw new WharfError('EIO', `${file.key}: got ${got} bytes of block at ${offset}, expected ${length} (changed or truncated in the store)`);
    return out;
  },
};

export const storeLocator: BlockLocator = { sourceFor: () => storeBlockSource };

export interface BlockReaderOptions {
  blockSize: number;
  /** A fetch that takes longer fails with EIO: never a hang. */
  fetchTimeoutMs: number;
  /** Blocks read ahead of a sequential reader. */
  prefetchBlocks: number;
  /** Fetches in flight at once, prefetches included. */
  maxFetches: number;
  /**
   * Recently read blocks kept in memory: the kernel reads 128 KiB at a time, and
   * without this each of those would read and checksum a whole block file again.
   */
  hotBytes?: number;
  locator?: BlockLocator;
}

export interface ReaderCounters {
  /** Block reads answered from memory (the cache's own counters see only its disk). */
  memoryHits: number;
  fetches: number;
  fetchedBytes: number;
  fetchFailures: number;
  prefetches: number;
}

/** Per open file: where the last read ended, to tell sequential from random reading. */
export class ReadPattern {
  nextOffset = -1;
}

interface Load {
  promise: Promise<HotBlock>;
  /** Readers waiting for the block: each gets a pin, taken as the load ends. */
  waiters: number;
}

export class BlockReader {
  private readonly inflight = new Map<string, Load>();
  private readonly hot: HotBlocks;
  private readonly limit: ReturnType<typeof pLimit>;
  readonly counters: ReaderCounters = { memoryHits: 0, fetches: 0, fetchedBytes: 0, fetchFailures: 0, prefetches: 0 };

  constructor(private readonly cache: BlockCache, private readonly o: BlockReaderOptions) {
    this.limit = pLimit(o.maxFetches);
    this.hot = new HotBlocks(blockFileBytes(o.blockSize), o.hotBytes ?? 64 * 1024 * 1024);
  }

  /**
   * Write-through: keeps bytes just uploaded as the blocks of the new object, so the
   * first read after a write is a cache hit. Best effort, like every cache store.
   */
  async adopt(fileId: string, index: number, data: Buffer): Promise<void> {
    await this.cache.put(fileId, index, data);
  }

  /** Forgets a file's blocks held in memory (its object changed). */
  forget(fileId: string): void {
    this.hot.dropPrefix(`${fileId}:`);
  }

  get blockSize(): number {
    return this.o.blockSize;
  }

  /** Bytes [offset, offset + length) of the file, clipped at its end, in a buffer of the caller's own. */
  async read(file: CachedFile, offset: number, length: number, pattern?: ReadPattern): Promise<Buffer> {
    const out = Buffer.allocUnsafe(Math.max(0, Math.min(offset + length, file.size) - offset));
    const n = await this.readInto(file, offset, length, out, pattern);
    return out.subarray(0, n);
  }

  /** Copies bytes [offset, offset + length) of the file, clipped at its end and at target's size, into target; answers how many. */
  async readInto(file: CachedFile, offset: number, length: number, target: Buffer, pattern?: ReadPattern): Promise<number> {
    const end = Math.min(offset + length, file.size, offset + target.length);
    if (end <= offset) return 0;
    const bs = this.o.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((end - 1) / bs);
    const sequential = pattern ? this.readAhead(file, offset, end, last, pattern) : true;
    // A random read inside one cached block reads just its chunks from disk, not the block.
    if (!sequential && first === last && !this.hot.has(`${file.id}:${first}`) && !this.inflight.has(`${file.id}:${first}`)) {
      const part = await this.cache.getRange(file.id, first, offset - first * bs, end - offset);
      if (part) return part.copy(target, 0);
    }
    const blocks = await Promise.allSettled(Array.from({ length: last - first + 1 }, (_, i) => this.pinned(file, first + i)));
    try {
      let at = 0;
      for (let i = 0; i < blocks.length; i++) {
        const r = blocks[i]!;
        if (r.status === 'rejected') throw r.reason;
        const blockStart = (first + i) * bs;
        at += r.value.data.copy(target, at, Math.max(offset, blockStart) - blockStart, Math.min(end, blockStart + bs) - blockStart);
      }
      return at;
    } finally {
      for (const r of blocks) if (r.status === 'fulfilled') this.hot.unpin(r.value);
    }
  }

  /**
   * The fast path of a read whose blocks are all in memory: copies the bytes into
   * `target` at once and answers how many, or undefined when the read needs the
   * disk or the store (then call readInto). A FUSE read is served without a promise,
   * which is most of what a warm sequential read costs in JS.
   */
  readHot(file: CachedFile, offset: number, length: number, pattern: ReadPattern, target: Buffer): number | undefined {
    const end = Math.min(offset + length, file.size, offset + target.length);
    if (end <= offset) return 0;
    const bs = this.o.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((end - 1) / bs);
    const parts: HotBlock[] = [];
    for (let i = first; i <= last; i++) {
      const b = this.hot.get(`${file.id}:${i}`);
      if (!b) return undefined;
      parts.push(b);
    }
    this.counters.memoryHits += parts.length;
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      const blockStart = (first + i) * bs;
      at += parts[i]!.data.copy(target, at, Math.max(offset, blockStart) - blockStart, Math.min(end, blockStart + bs) - blockStart);
    }
    this.readAhead(file, offset, end, last, pattern);
    return at;
  }

  /** Notes where this read ended; prefetches after sequential reads. True if the read was sequential. */
  private readAhead(file: CachedFile, offset: number, end: number, lastBlock: number, p: ReadPattern): boolean {
    const sequential = offset === p.nextOffset || offset === 0;
    p.nextOffset = end;
    if (!sequential || this.o.prefetchBlocks <= 0) return sequential;
    const lastBlockOfFile = Math.floor((file.size - 1) / this.o.blockSize);
    for (let i = 1; i <= this.o.prefetchBlocks && lastBlock + i <= lastBlockOfFile; i++) {
      const idx = lastBlock + i;
      const k = `${file.id}:${idx}`;
      // Blocks on the cache disk are read ahead into memory too: a warm sequential read
      // would otherwise stall on every block file in turn.
      if (this.hot.has(k) || this.inflight.has(k)) continue;
      this.counters.prefetches++;
      this.startLoad(file, idx, k).promise.catch(() => undefined); // a failed prefetch is retried by the read that needs it
    }
    return true;
  }

  /** One block, pinned for the caller (who unpins it), from memory, the cache disk or its source. */
  private pinned(file: CachedFile, index: number): Promise<HotBlock> {
    const k = `${file.id}:${index}`;
    const warm = this.hot.get(k);
    if (warm) {
      this.counters.memoryHits++;
      warm.pins++;
      return Promise.resolve(warm);
    }
    const load = this.inflight.get(k) ?? this.startLoad(file, index, k);
    load.waiters++;
    return load.promise;
  }

  /**
   * Loads a block once, however many readers want it. The load leaves `inflight`
   * and pins the block for its waiters in the same synchronous step as it settles,
   * so no reader can join a finished load without its pin.
   */
  private startLoad(file: CachedFile, index: number, k: string): Load {
    const load: Load = { waiters: 0, promise: undefined as unknown as Promise<HotBlock> };
    load.promise = (async () => {
      const raw = this.hot.take();
      try {
        let data = await this.cache.get(file.id, index, raw);
        if (!data || data.length !== this.expectedLength(file, index)) {
          data = await this.limit(() => this.fetch(file, index, raw.subarray(raw.length - this.o.blockSize)));
          await this.cache.put(file.id, index, data); // false (full disk, …) still serves the read
        }
        this.inflight.delete(k);
        return this.hot.keep(k, raw, data, load.waiters);
      } catch (e) {
        // raw is not given back: a fetch that timed out may still be writing into it.
        this.inflight.delete(k);
        throw e;
      }
    })();
    this.inflight.set(k, load);
    return load;
  }

  private expectedLength(file: CachedFile, index: number): number {
    const start = index * this.o.blockSize;
    return Math.max(0, Math.min(this.o.blockSize, file.size - start));
  }

  private async fetch(file: CachedFile, index: number, into: Buffer): Promise<Buffer> {
    const offset = index * this.o.blockSize;
    const length = this.expectedLength(file, index);
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), this.o.fetchTimeoutMs);
    const source = (this.o.locator ?? storeLocator).sourceFor(file, index);
    try {
      const data = await Promise.race([
        source.fetch(file, index, offset, length, ctrl.signal, into),
        new Promise<never>((_, reject) => ctrl.signal.addEventListener('abort', () => reject(new WharfError('EIO', `${file.key}: the store did not deliver block ${index} within ${this.o.fetchTimeoutMs} ms`)), { once: true })),
      ]);
      this.counters.fetches++;
      this.counters.fetchedBytes += data.length;
      return data;
    } catch (e) {
      this.counters.fetchFailures++;
      log.warn({ key: file.key, block: index, err: e instanceof Error ? e.message : String(e) }, 'block fetch failed');
      throw e instanceof WharfError ? (e.errno === 'ENOENT' ? new WharfError('ESTALE', `${file.key} is gone from the store`, e) : new WharfError('EIO', e.message, e)) : new WharfError('EIO', String(e), e);
    } finally {
      clearTimeout(timer);
    }
  }
}
