// src/sync — metadata sync: the pure plan (SyncPlan: what to do with one name, from
// the inode, its store state and the store's entry) and the executor that applies
// plans to the namespace (full sync of a subtree with a generation sweep; one-level
// sync of a directory for on-access sync).
//
// Invariants:
//   - Inodes without a store state are Wharf's own (written through Wharf,
//     not yet in the store): no sync or sweep ever modifies or deletes them.
//   - Nothing is deleted on the strength of a partial listing: a full sync sweeps
//     only after its listing completed; a one-level sync deletes only after listing
//     the whole directory.
//   - Entries a client changed after a sync started are left for the next sync.
//   - Each listing page is applied in one namespace transaction.
export { planEntry, isStale, shouldSync, fileFingerprint, objectAttrs, SYNC_ACTIONS, type SyncActionKind, type StoreEntry, type Existing, type PlanContext, type ObjectAttrs } from './SyncPlan.js';
export { SyncCounters, type SyncCountersSnapshot } from './SyncCounters.js';
export { runFullSync, syncDirectoryLevel, syncOneName, sweep, listPrefixOf, type MountPoint, type FullSyncOptions } from './SyncExecutor.js';
export { DEFAULTS as SYNC_DEFAULTS, type SyncDefaults } from './SyncWriter.js';
export { applyStoreChanges, type ChangeOutcome, type StoreChange } from './EventApply.js';
