// src/fuse — the thin fuse-native adapter: FuseOps turns each FUSE callback into one
// Vfs call and its WharfError into -errno; FuseMount composes the block cache, the
// Vfs and the mount, cleans stale mountpoints, and unmounts after uploads finish;
// BusyPoll keeps the event loop awake for a moment after a request, so the next one
// of a burst is picked up without a thread wake-up.
//
// Invariants: no filesystem logic here (it lives in src/vfs); every callback is
// answered exactly once; unknown failures are logged once and answered EIO.
export { FuseMount, cleanStaleMount, type MountOptions, type MountStats } from './FuseMount.js';
export { fuseOps, errnoOf } from './FuseOps.js';
export { BusyPoll } from './BusyPoll.js';
