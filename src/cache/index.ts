// src/cache — file data on local disk: the block cache (fixed-size blocks, an LRU
// index bounded in bytes, crc32c per block, rebuilt from disk at start) and the
// read-through reader over it (one ranged GET per missing block, shared by
// concurrent readers, sequential prefetch, bounded fetch time).
//
// Invariants:
//   - A block's identity includes its file's store fingerprint: a changed object is
//     never served from the old object's blocks.
//   - A block that fails its checksum is dropped and fetched again; the reader gets
//     correct bytes or an error, never damaged bytes.
//   - The index never holds more than the capacity; evicting deletes the block file.
//   - Failing to store a block (full disk, floor reached) never fails a read.
//   - A fetch that outlives its timeout fails with EIO: readers never hang on a store.
export { BlockCache, blockFileBytes, blockFileId, type BlockCacheOptions, type BlockCacheStats } from './BlockCache.js';
export { BlockReader, ReadPattern, type BlockReaderOptions, type ReaderCounters } from './BlockReader.js';
export { storeBlockSource, storeLocator, type BlockSource, type BlockLocator, type CachedFile } from './BlockSource.js';
