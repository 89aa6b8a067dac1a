// src/vfs — filesystem operations by path, independent of FUSE: metadata through a
// MetaClient with a bounded TTL cache (attributes, negative entries, whole-directory
// listings), file bytes through the block cache, writes staged locally and uploaded
// on flush/fsync/close. Every failure is a WharfError; the adapter returns its errno.
//
// Invariants:
//   - The mount's own changes invalidate what they touch in the metadata cache.
//   - Staged bytes are deleted only after their upload was committed to the master;
//     a failed upload fails flush/fsync/close with EIO and is retried.
//   - Store side effects happen before the namespace change they back (delete before
//     unlink, copy before rename), so the namespace never names bytes that are gone.
export { Vfs, type VfsOptions, type Caller, join as joinPath, split as splitPath } from './Vfs.js';
export { MetaCache, type MetaCacheOptions } from './MetaCache.js';
export { defaultOpener, StoreRegistry, type OpenLocation } from './StoreRegistry.js';
export type { FileIoOptions } from './FileIo.js';
