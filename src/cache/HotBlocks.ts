// Recently read blocks held in memory, in buffers that are reused instead of being
// left to the garbage collector. Every 4 MiB buffer dropped is external memory V8
// has to account for: letting them go made a warm 1 GiB read spend a third of its
// time in full garbage collections.
//
// Discipline (Node interleaves at every await): a buffer belongs to exactly one of
// the free list, a load in progress (taken, not yet kept), or a HotBlock. A HotBlock
// evicted from the LRU goes back to the free list only once nobody holds a pin on it:
// an async reader pins the blocks it waits for before any other code can run (see
// BlockReader.load) and unpins them after copying their bytes out. Synchronous
// readers (readHot) need no pin.
import { LRUCache } from 'lru-cache';

export interface HotBlock {
  /** The block's bytes (a view into raw, or a buffer of the source's own). */
  readonly data: Buffer;
  /** The pooled buffer the block was read into. */
  readonly raw: Buffer;
  pins: number;
  /** Evicted from the LRU: raw returns to the pool at the last unpin. */
  gone: boolean;
}

export class HotBlocks {
  private readonly lru: LRUCache<string, HotBlock>;
  private readonly free: Buffer[] = [];
  private readonly maxFree: number;

  /**
   * `rawSize`: bytes of one pooled buffer (a whole block file); `maxBytes`: memory to
   * keep blocks in; `alloc` makes a new buffer (of rawSize bytes, or more).
   */
  constructor(private readonly rawSize: number, maxBytes: number, private readonly alloc: (size: number) => Buffer = Buffer.allocUnsafeSlow) {
    const slots = Math.max(2, Math.floor(maxBytes / rawSize));
    this.maxFree = slots;
    this.lru = new LRUCache<string, HotBlock>({
      max: slots,
      dispose: (b) => {
        b.gone = true;
        if (b.pins === 0) this.give(b.raw);
      },
    });
  }

  /** A buffer to read a block into: a reused one when there is one. */
  take(): Buffer {
    return this.free.pop() ?? this.alloc(this.rawSize);
  }

  /** Returns a taken buffer that is not kept (its load failed). */
  give(raw: Buffer): void {
    if (raw.length >= this.rawSize && this.free.length < this.maxFree) this.free.push(raw);
  }

  /** Keeps a loaded block, with `pins` pins already held by its waiters. */
  keep(key: string, raw: Buffer, data: Buffer, pins: number): HotBlock {
    const b: HotBlock = { data, raw, pins, gone: false };
    this.lru.set(key, b);
    return b;
  }

  /**
   * Without touching recency: memory drops blocks in the order they were loaded. A
   * sequential reader touches the blocks behind it last, and true LRU would drop the
   * prefetched blocks ahead of it, not yet read, first.
   */
  get(key: string): HotBlock | undefined {
    return this.lru.peek(key);
  }

  has(key: string): boolean {
    return this.lru.has(key);
  }

  unpin(b: HotBlock): void {
    if (--b.pins === 0 && b.gone) this.give(b.raw);
  }

  /** Drops every block whose key starts with `prefix`. */
  dropPrefix(prefix: string): void {
    for (const k of [...this.lru.keys()]) if (k.startsWith(prefix)) this.lru.delete(k);
  }
}
