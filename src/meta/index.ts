// src/meta — the namespace: an inode tree in an ordered key-value store — LevelDB
// (embedded, the default) or PostgreSQL (PostgresKv, one bytea-keyed table) —
// behind one interface (KvStore).
//
// Owns: the key layout (keys.ts, documented there in one block), record codecs,
// the write discipline, the InodeTree (which is also the in-process MetaClient),
// and the offline checker (fsck).
//
// Invariants:
//   - Every change to the namespace is one atomic batch (a LevelDB batch, or one
//     PostgreSQL transaction); one master per store (LevelDB's LOCK, an advisory lock).
//   - Mutations are serialised through one FIFO WriteQueue; reads never queue.
//   - With fsync on, no mutation is acknowledged before a sync write that followed
//     its batch has ended (GroupCommit); after a failed sync none is acknowledged.
//   - Inode numbers are bigint, big-endian in keys, allocated from a persisted
//     counter and never reused. The root is inode 1; 0 means "none".
//   - Each directory but the root has exactly one directory entry and its `parent`
//     names that entry's directory. Another inode has one entry or more (hard links):
//     its record's `parent` and own name name one (the primary name, where its object
//     lives in a data source), each other one has an 'H' key, and nlink counts them.
export { isPostgresUrl, metaTarget, type KvStore, type KvRange, type KvOp } from './KvStore.js';
export { InodeTree, type InodeTreeOptions, type BulkItem, type ChildRef } from './InodeTree.js';
export { readdirAll, type AccessOptions, type DataLocation, type CommittedWrite, type MetaClient, type DirPage, type LinkName, type NewInode, type NewSpecial, type SetAttrChanges } from './MetaClient.js';
export { fsck, fsckDataDir, FINDING_KINDS, LOST_AND_FOUND, type Finding, type FindingKind, type FsckReport } from './Fsck.js';
export { WriteQueue } from './WriteQueue.js';
export { ChangeLog, CHANGE_OPS, type ChangeOp, type NamespaceChange } from './ChangeLog.js';
export { Txn } from './Txn.js';
export type { DentryValue, StoreState, SyncTimes } from './codec.js';
export { familyRange, sourceKey, nodeKey, instanceKey, groupKey, userKey, accessKeyKey, eventKey, eventRange, ruleKey, ruleRange, jobKey, cacheJobKey, metaKey, type RuleBookName } from './keys.js';
export { resolveParent, mkdirp, removeTree, walkTree, type TreeNode } from './PathOps.js';
