// src/cache — file data on local disk: the block cache (fixed-size blocks, an LRU
// index bounded in bytes, crc32c per 64 KiB chunk, rebuilt from disk at start) and
// the read-through reader over it (a missing block loaded once however many readers
// want it; a sequential reader's prefetch asks for runs of blocks in one ranged GET
// each, SpanFetch; recent blocks kept in reused memory buffers, HotBlocks; bounded
// fetch time; whole blocks written and read with O_DIRECT, DirectIo). Where a missing block comes from is a BlockSource picked by a
// BlockLocator (today the file's store; a cache cluster slots in there).
//
// Invariants:
//   - A block's identity includes its file's store fingerprint: a changed object is
//     never served from the old object's blocks.
//   - A block that fails its checksum is dropped and fetched again; the reader gets
//     correct bytes or an error, never damaged bytes.
//   - The index never holds more than the capacity; evicting deletes the block file.
//   - Failing to store a block (full disk, floor reached) never fails a read.
//   - A fetch that outlives its timeout fails with EIO: readers never hang on a store
//     (in a run of blocks, each block must arrive within the timeout).
//   - A memory buffer is reused only when no reader holds a pin on it (HotBlocks),
//     and never while a direct read or write into it is in progress (a load owns its
//     buffer until the block is kept or given back).
//   - The cache directory holds blocks of one format (FORMAT marker); others are
//     cleared at open. A block's id includes the block size.
export { BlockCache, blockDataAt, blockFileBytes, blockFileId, type BlockCacheOptions, type BlockCacheStats } from './BlockCache.js';
export { DirectIo } from './DirectIo.js';
export { BlockReader, ReadPattern, type BlockReaderOptions, type ReaderCounters } from './BlockReader.js';
export { storeBlockSource, storeLocator, type BlockSource, type BlockLocator, type CachedFile } from './BlockSource.js';
