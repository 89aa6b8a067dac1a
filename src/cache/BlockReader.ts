// Read-through over the block cache: a miss fetches the block from its source,
// concurrent readers of a block share one load, sequential reading prefetches the
// next blocks (runs of consecutive blocks in one request each, bounded), and random
// reads fetch only what they need.
//
// Blocks just read are kept in memory (HotBlocks, reused buffers): the kernel reads
// 128 KiB at a time, and a read whose blocks are all there is answered at once
// (readHot), without a promise.
import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import { logger } from '../common/index.js';
import { blockDataAt, blockFileBytes, type BlockCache } from './BlockCache.js';
import { storeLocator, type BlockLocator, type BlockSource, type CachedFile } from './BlockSource.js';
import { HotBlocks, type HotBlock } from './HotBlocks.js';
import { fetchSpan, type SpanFetch } from './SpanFetch.js';

const log = logger('cache');

/**
 * Random reads of a block not held here fetch just their bytes; the one that makes
 * this many loads the block whole (a region read at random again and again is worth
 * caching; a one-off read of a footer or an index is not worth 4 MiB).
 */
const RANDOM_MISSES_TO_LOAD = 4;

export interface BlockReaderOptions {
  blockSize: number;
  /** Each block of a fetch must arrive within this long, or the fetch fails with EIO: never a hang. */
  fetchTimeoutMs: number;
  /** Blocks read ahead of a sequential reader. */
  prefetchBlocks: number;
  /**
   * How far from the stream position (bytes) a read still counts as sequential: the
   * kernel's read-ahead, whose requests may arrive out of order (default 0: exact).
   */
  sequentialSlack?: number;
  /** Most consecutive blocks one prefetch request asks for (default 4). */
  spanBlocks?: number;
  /** Store requests in flight at once, prefetches included. */
  maxFetches: number;
  /** Memory for blocks just read (default: 64 MiB, or more to hold the prefetch window). */
  hotBytes?: number;
  locator?: BlockLocator;
}

export interface ReaderCounters {
  /** Block reads answered from memory (the cache's own counters see only its disk). */
  memoryHits: number;
  /** Blocks fetched from their source. */
  fetches: number;
  fetchedBytes: number;
  /** Store requests made (a prefetch request covers several blocks). */
  requests: number;
  /** Random reads answered by a ranged GET of just their bytes (not cached). */
  rangeReads: number;
  fetchFailures: number;
  prefetches: number;
}

/** Per open file: where the last read ended, to tell sequential from random reading. */
export class ReadPattern {
  nextOffset = -1;
  /** Reads in a row that continued the stream (a read from offset 0 counts as two). */
  streak = 0;
}

interface Load {
  promise: Promise<HotBlock>;
  /** Readers waiting for the block: each gets a pin, taken as the load ends. */
  waiters: number;
  resolve: (b: HotBlock) => void;
  reject: (e: unknown) => void;
}

export class BlockReader {
  private readonly inflight = new Map<string, Load>();
  private readonly hot: HotBlocks;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly span: number;
  /** Random reads that missed a block, per block, until it is loaded whole. */
  private readonly randomMisses = new LRUCache<string, number>({ max: 4096 });
  readonly counters: ReaderCounters = { memoryHits: 0, fetches: 0, fetchedBytes: 0, requests: 0, rangeReads: 0, fetchFailures: 0, prefetches: 0 };

  constructor(private readonly cache: BlockCache, private readonly o: BlockReaderOptions) {
    this.limit = pLimit(o.maxFetches);
    this.span = Math.max(1, o.spanBlocks ?? 4);
    // Room for the prefetch window and a little more, or prefetched blocks would be
    // dropped from memory before they are read.
    const hotBytes = o.hotBytes ?? Math.max(64 * 1024 * 1024, (o.prefetchBlocks + this.span + 2) * o.blockSize);
    this.hot = new HotBlocks(blockFileBytes(o.blockSize), hotBytes, (n) => cache.blockBuffer(n));
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
    if (!sequential && this.noneLoaded(file, first, last)) {
      // A random read inside one cached block reads just its chunks from disk, not the block.
      if (first === last && this.cache.has(file.id, first)) {
        const part = await this.cache.getRange(file.id, first, offset - first * bs, end - offset);
        if (part) return part.copy(target, 0);
      }
      // A random read of blocks nowhere here fetches just its bytes; a block read at
      // random this often is worth loading whole.
      if (!this.anyCached(file, first, last)) {
        for (let i = first; i <= last; i++) {
          const k = `${file.id}:${i}`;
          // (re-checked: the getRange above may have awaited while a load started)
          if (this.noteRandomMiss(k) && !this.hot.has(k) && !this.inflight.has(k)) this.startLoad(file, i, k).promise.catch(() => undefined);
        }
        return this.fetchRange(file, offset, end - offset, target);
      }
    }
    const blocks = await Promise.allSettled(Array.from({ length: last - first + 1 }, (_, i) => this.pinned(file, first + i)));
    try {
      const failed = blocks.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      return this.copyOut(blocks.map((r) => (r as PromiseFulfilledResult<HotBlock>).value), first, offset, end, target);
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
    const n = this.copyOut(parts, first, offset, end, target);
    this.readAhead(file, offset, end, last, pattern);
    return n;
  }

  /** Copies bytes [offset, end) of the file out of its consecutive blocks from `first` into target. */
  private copyOut(blocks: readonly HotBlock[], first: number, offset: number, end: number, target: Buffer): number {
    const bs = this.o.blockSize;
    let at = 0;
    for (let i = 0; i < blocks.length; i++) {
      const blockStart = (first + i) * bs;
      at += blocks[i]!.data.copy(target, at, Math.max(offset, blockStart) - blockStart, Math.min(end, blockStart + bs) - blockStart);
    }
    return at;
  }

  /**
   * Notes where this read ended; after a sequential read, loads the blocks of the
   * window ahead that are neither in memory nor loading: those on the cache disk one
   * by one, the others in runs of up to `span` blocks per request. A short run waits
   * for the window to grow unless the reader needs it next or it ends the file.
   * True if the read was sequential.
   */
  private readAhead(file: CachedFile, offset: number, end: number, lastBlock: number, p: ReadPattern): boolean {
    // The kernel reads ahead with several requests in flight, and they can arrive out
    // of order: a read within its read-ahead of where the reader is (or, on a new
    // handle, of the start) is part of the sequential stream, not a random read.
    const near = this.o.sequentialSlack ?? 0;
    const sequential = offset === 0 || (p.nextOffset < 0 ? offset < near : Math.abs(offset - p.nextOffset) <= near);
    p.nextOffset = sequential ? Math.max(p.nextOffset, end) : end;
    // Prefetch once the stream is established: a read from the start, or two in a row.
    // A random reader that lands near its last read once does not pull in 16 blocks.
    p.streak = offset === 0 ? Math.max(2, p.streak + 1) : sequential ? p.streak + 1 : 0;
    if (p.streak < 2 || this.o.prefetchBlocks <= 0) return sequential;
    const lastBlockOfFile = Math.floor((file.size - 1) / this.o.blockSize);
    const windowEnd = Math.min(lastBlock + this.o.prefetchBlocks, lastBlockOfFile);
    let run: number[] = [];
    const launch = (final: boolean) => {
      while (run.length >= this.span || (run.length > 0 && (final || run[0] === lastBlock + 1))) {
        const part = run.splice(0, this.span);
        this.counters.prefetches += part.length;
        this.startFetch(file, part[0]!, part.length);
      }
      run = [];
    };
    for (let idx = lastBlock + 1; idx <= windowEnd; idx++) {
      const k = `${file.id}:${idx}`;
      if (this.hot.has(k) || this.inflight.has(k)) {
        launch(false);
      } else if (this.cache.has(file.id, idx)) {
        launch(false);
        // Blocks on the cache disk are read ahead into memory too: a warm sequential
        // read would otherwise stall on every block file in turn.
        this.counters.prefetches++;
        this.startLoad(file, idx, k);
      } else {
        // A run is one request to one source (a cache cluster may own neighbours elsewhere).
        if (run.length > 0 && this.sourceFor(file, idx) !== this.sourceFor(file, run[0]!)) launch(true);
        run.push(idx);
      }
    }
    launch(windowEnd === lastBlockOfFile);
    return true;
  }

  /**
   * Starts loading blocks first..last (clipped at the file's end) that are neither in
   * memory nor loading: those on the cache disk one by one, the others in runs of
   * consecutive blocks, one source request per run of up to `span`. What a cache
   * node does before streaming a range a mount asked for in one request, so a run
   * costs the store one GET, not one per block. Failures surface to the readers.
   */
  warm(file: CachedFile, first: number, last: number): void {
    const lastOfFile = Math.floor((file.size - 1) / this.o.blockSize);
    let run: number[] = [];
    const flush = () => {
      for (let i = 0; i < run.length; i += this.span) {
        const part = run.slice(i, i + this.span);
        this.startFetch(file, part[0]!, part.length);
      }
      run = [];
    };
    for (let idx = first; idx <= Math.min(last, lastOfFile); idx++) {
      const k = `${file.id}:${idx}`;
      if (this.hot.has(k) || this.inflight.has(k)) flush();
      else if (this.cache.has(file.id, idx)) {
        flush();
        this.startLoad(file, idx, k);
      } else run.push(idx);
    }
    flush();
  }

  /**
   * Makes blocks first..last (clipped at the file's end) present on the cache disk and
   * resolves when they are: those already there are left alone (not read), the rest
   * fetched in runs of up to `span` blocks per store request. What a cache node does
   * for a warmup. Rejects with the first failure once every fetch has ended.
   */
  async fill(file: CachedFile, first: number, last: number): Promise<{ fetched: number; present: number; bytes: number }> {
    const lastOfFile = Math.floor((file.size - 1) / this.o.blockSize);
    const waits: Promise<HotBlock>[] = [];
    let present = 0;
    let fetched = 0;
    let bytes = 0;
    let run: number[] = [];
    const flush = () => {
      for (let i = 0; i < run.length; i += this.span) {
        const part = run.slice(i, i + this.span);
        for (const l of this.startFetch(file, part[0]!, part.length)) waits.push(l.promise);
        fetched += part.length;
        for (const idx of part) bytes += this.expectedLength(file, idx);
      }
      run = [];
    };
    for (let idx = first; idx <= Math.min(last, lastOfFile); idx++) {
      const k = `${file.id}:${idx}`;
      const loading = this.inflight.get(k);
      if (this.cache.has(file.id, idx)) {
        flush();
        present++;
      } else if (loading) {
        flush();
        waits.push(loading.promise); // someone else's fetch: counted as present once it lands
        present++;
      } else run.push(idx);
    }
    flush();
    const results = await Promise.allSettled(waits);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return { fetched, present, bytes };
  }

  /**
   * Block `index`, pinned: its bytes stay valid (the buffer is not reused) until
   * `release`, so a cache node writes them to a socket without copying them out.
   */
  async borrow(file: CachedFile, index: number): Promise<{ data: Buffer; release: () => void }> {
    const b = await this.pinned(file, index);
    let released = false;
    return { data: b.data, release: () => { if (!released) { released = true; this.hot.unpin(b); } } };
  }

  /** Whether block `index` is in memory or on the cache disk (a peer's cached-only request). */
  holds(file: CachedFile, index: number): boolean {
    return this.hot.has(`${file.id}:${index}`) || this.cache.has(file.id, index);
  }

  /** None of blocks first..last is in memory or loading. */
  private noneLoaded(file: CachedFile, first: number, last: number): boolean {
    for (let i = first; i <= last; i++) if (this.hot.has(`${file.id}:${i}`) || this.inflight.has(`${file.id}:${i}`)) return false;
    return true;
  }

  private anyCached(file: CachedFile, first: number, last: number): boolean {
    for (let i = first; i <= last; i++) if (this.cache.has(file.id, i)) return true;
    return false;
  }

  /** Counts a random read that missed block `k`; true when the block should now be loaded whole. */
  private noteRandomMiss(k: string): boolean {
    const n = (this.randomMisses.get(k) ?? 0) + 1;
    if (n < RANDOM_MISSES_TO_LOAD) {
      this.randomMisses.set(k, n);
      return false;
    }
    this.randomMisses.delete(k);
    return true;
  }

  /** Bytes [offset, offset + length) straight from the source, with one ranged GET, not cached. */
  private async fetchRange(file: CachedFile, offset: number, length: number, target: Buffer): Promise<number> {
    let got = 0;
    await this.request(file, Math.floor(offset / this.o.blockSize), {
      start: offset, blockSize: length, lengths: [length],
      take: () => target.subarray(0, length),
      onBlock: (_i, _raw, data) => { got = data.length; },
    });
    this.counters.rangeReads++;
    this.counters.fetchedBytes += got;
    return got;
  }

  /**
   * One store request (fetchSpan) in its turn among at most maxFetches; the fetch
   * timeout counts from now, its wait for a turn included. A failure is counted and
   * logged here, and rethrown.
   */
  private async request(file: CachedFile, first: number, f: Pick<SpanFetch, 'start' | 'blockSize' | 'lengths' | 'take' | 'dataAt' | 'onBlock'>): Promise<void> {
    const firstDueMs = Date.now() + this.o.fetchTimeoutMs;
    try {
      await this.limit(() => {
        this.counters.requests++;
        return fetchSpan({ ...f, source: this.sourceFor(file, first), file, first, timeoutMs: this.o.fetchTimeoutMs, firstDueMs });
      });
    } catch (e) {
      this.counters.fetchFailures++;
      log.warn({ key: file.key, block: first, offset: f.start, err: e instanceof Error ? e.message : String(e) }, 'store fetch failed');
      throw e;
    }
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

  private newLoad(k: string): Load {
    let resolve!: (b: HotBlock) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<HotBlock>((res, rej) => { resolve = res; reject = rej; });
    promise.catch(() => undefined); // a prefetch nobody waits for may fail quietly
    const load: Load = { promise, waiters: 0, resolve, reject };
    this.inflight.set(k, load);
    return load;
  }

  /**
   * Ends a load: it leaves `inflight` and pins the block for its waiters in the same
   * synchronous step, so no reader can join a finished load without its pin.
   */
  private settle(k: string, load: Load, raw: Buffer, data: Buffer): void {
    this.inflight.delete(k);
    load.resolve(this.hot.keep(k, raw, data, load.waiters));
  }

  private fail(k: string, load: Load, e: unknown): void {
    this.inflight.delete(k);
    load.reject(e);
  }

  /** Loads one block: from the cache disk if it is there, else fetched on its own. */
  private startLoad(file: CachedFile, index: number, k: string): Load {
    const load = this.newLoad(k);
    void (async () => {
      const raw = this.hot.take();
      const data = await this.cache.get(file.id, index, raw);
      if (data && data.length === this.expectedLength(file, index)) return this.settle(k, load, raw, data);
      this.hot.give(raw);
      await this.fetchRun(file, index, [load]);
    })().catch((e: unknown) => this.fail(k, load, e));
    return load;
  }

  /** Fetches `count` consecutive blocks from `first` with one request. */
  private startFetch(file: CachedFile, first: number, count: number): Load[] {
    const loads = Array.from({ length: count }, (_, i) => this.newLoad(`${file.id}:${first + i}`));
    void this.fetchRun(file, first, loads);
    return loads;
  }

  /** One request for the blocks of `loads` (consecutive from `first`); each block is stored, kept and handed to its readers as it arrives. Never rejects. */
  private async fetchRun(file: CachedFile, first: number, loads: Load[]): Promise<void> {
    let delivered = 0;
    const stored: Promise<void>[] = [];
    try {
      await this.request(file, first, {
        blockSize: this.o.blockSize,
        lengths: loads.map((_, i) => this.expectedLength(file, first + i)),
        take: () => this.hot.take(),
        // Where put() wants the data to write the block file from the buffer, with O_DIRECT.
        dataAt: blockDataAt(this.o.blockSize),
        onBlock: (i, raw, data) => {
          delivered = i + 1;
          this.counters.fetches++;
          this.counters.fetchedBytes += data.length;
          const k = `${file.id}:${first + i}`;
          // Stored before it is handed on (false — full disk, … — still serves the read).
          stored.push(this.cache.put(file.id, first + i, data, raw).then(() => this.settle(k, loads[i]!, raw, data), (e: unknown) => this.fail(k, loads[i]!, e)));
        },
      });
    } catch (e) {
      for (let i = delivered; i < loads.length; i++) this.fail(`${file.id}:${first + i}`, loads[i]!, e);
    }
    await Promise.all(stored);
  }

  private sourceFor(file: CachedFile, index: number): BlockSource {
    return (this.o.locator ?? storeLocator).sourceFor(file, index);
  }

  private expectedLength(file: CachedFile, index: number): number {
    const start = index * this.o.blockSize;
    return Math.max(0, Math.min(this.o.blockSize, file.size - start));
  }
}
