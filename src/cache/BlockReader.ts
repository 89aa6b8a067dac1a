// Read-through over the block cache: a miss fetches the block with one ranged GET,
// concurrent readers of a block share one fetch, sequential reading prefetches the
// next blocks in parallel (bounded), and random reads fetch only what they need.
//
// Where a missing block comes from is a BlockSource chosen by a BlockLocator: today
// always the file's under store; a cache cluster adds a locator that answers "the
// node that owns this block by consistent hashing" without changing this reader.
import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import { WharfError, logger } from '../common/index.js';
import type { UnderStore } from '../ufs/index.js';
import type { BlockCache } from './BlockCache.js';

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
  /** The bytes of block `index` (exactly `length` of them), or a WharfError. */
  fetch(file: CachedFile, index: number, offset: number, length: number, signal: AbortSignal): Promise<Buffer>;
}

export interface BlockLocator {
  sourceFor(file: CachedFile, index: number): BlockSource;
}

/** One ranged GET from the file's under store. */
export const storeBlockSource: BlockSource = {
  async fetch(file, _index, offset, length, signal) {
    const stream = await file.store.get(file.key, { start: BigInt(offset), end: BigInt(offset + length - 1) }, { signal });
    const chunks: Buffer[] = [];
    let got = 0;
    for await (const c of stream) {
      chunks.push(c as Buffer);
      got += (c as Buffer).length;
    }
    if (got !== length) throw new WharfError('EIO', `${file.key}: got ${got} bytes of block at ${offset}, expected ${length} (changed or truncated in the store)`);
    return Buffer.concat(chunks, got);
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

export class BlockReader {
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private readonly hot: LRUCache<string, Buffer>;
  private readonly limit: ReturnType<typeof pLimit>;
  readonly counters: ReaderCounters = { memoryHits: 0, fetches: 0, fetchedBytes: 0, fetchFailures: 0, prefetches: 0 };

  constructor(private readonly cache: BlockCache, private readonly o: BlockReaderOptions) {
    this.limit = pLimit(o.maxFetches);
    this.hot = new LRUCache<string, Buffer>({ maxSize: Math.max(1, o.hotBytes ?? 64 * 1024 * 1024), sizeCalculation: (b) => Math.max(1, b.length) });
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
    for (const k of [...this.hot.keys()]) if (k.startsWith(`${fileId}:`)) this.hot.delete(k);
  }

  get blockSize(): number {
    return this.o.blockSize;
  }

  /** Bytes [offset, offset + length) of the file, clipped at its end. */
  async read(file: CachedFile, offset: number, length: number, pattern?: ReadPattern): Promise<Buffer> {
    const end = Math.min(offset + length, file.size);
    if (end <= offset) return Buffer.alloc(0);
    const bs = this.o.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((end - 1) / bs);
    const sequential = pattern ? this.readAhead(file, offset, end, last, pattern) : true;
    // A random read inside one cached block reads just its chunks from disk, not the block.
    if (!sequential && first === last && !this.hot.has(`${file.id}:${first}`) && !this.inflight.has(`${file.id}:${first}`)) {
      const part = await this.cache.getRange(file.id, first, offset - first * bs, end - offset);
      if (part) return part;
    }
    const blocks = await Promise.all(Array.from({ length: last - first + 1 }, (_, i) => this.block(file, first + i)));
    const joined = blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks);
    const from = offset - first * bs;
    return joined.subarray(from, from + (end - offset));
  }

  /** Notes where this read ended; prefetches after sequential reads. True if the read was sequential. */
  private readAhead(file: CachedFile, offset: number, end: number, lastBlock: number, p: ReadPattern): boolean {
    const sequential = offset === p.nextOffset || offset === 0;
    p.nextOffset = end;
    if (!sequential || this.o.prefetchBlocks <= 0) return sequential;
    const lastBlockOfFile = Math.floor((file.size - 1) / this.o.blockSize);
    for (let i = 1; i <= this.o.prefetchBlocks && lastBlock + i <= lastBlockOfFile; i++) {
      const idx = lastBlock + i;
      // Blocks on the cache disk are read ahead into memory too: a warm sequential read
      // would otherwise stall on every block file in turn.
      if (this.hot.has(`${file.id}:${idx}`) || this.inflight.has(`${file.id}:${idx}`)) continue;
      this.counters.prefetches++;
      this.block(file, idx).catch(() => undefined); // a failed prefetch is retried by the read that needs it
    }
    return true;
  }

  /** One block, from the cache or fetched (once, however many readers want it). */
  private block(file: CachedFile, index: number): Promise<Buffer> {
    const k = `${file.id}:${index}`;
    const warm = this.hot.get(k);
    if (warm) {
      this.counters.memoryHits++;
      return Promise.resolve(warm);
    }
    const running = this.inflight.get(k);
    if (running) return running;
    const p = (async () => {
      const cached = await this.cache.get(file.id, index);
      if (cached && cached.length === this.expectedLength(file, index)) {
        this.hot.set(k, cached);
        return cached;
      }
      const data = await this.limit(() => this.fetch(file, index));
      await this.cache.put(file.id, index, data); // false (full disk, …) still serves the read
      this.hot.set(k, data);
      return data;
    })().finally(() => this.inflight.delete(k));
    this.inflight.set(k, p);
    return p;
  }

  private expectedLength(file: CachedFile, index: number): number {
    const start = index * this.o.blockSize;
    return Math.max(0, Math.min(this.o.blockSize, file.size - start));
  }

  private async fetch(file: CachedFile, index: number): Promise<Buffer> {
    const offset = index * this.o.blockSize;
    const length = this.expectedLength(file, index);
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), this.o.fetchTimeoutMs);
    const source = (this.o.locator ?? storeLocator).sourceFor(file, index);
    try {
      const data = await Promise.race([
        source.fetch(file, index, offset, length, ctrl.signal),
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
