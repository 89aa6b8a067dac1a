// The LevelDB key layout of the namespace. All keys:
//
//   'M' <name:ascii>              master records
//       'M' "format"              → u32 layout version (FORMAT_VERSION)
//       'M' "nextIno"             → u64 next inode number to hand out (never reused)
//       'M' "inodes"              → u64 live inodes, including the root
//       'M' "bytes"               → u64 sum of file sizes
//   'I' <ino:u64be>               → inode record (codec.ts): attributes, the store state
//                                   of an inode that mirrors an under-store entry (sync
//                                   generation, fingerprint, pending-write flag; absent:
//                                   the inode exists only in Wharf, created by a client and
//                                   not yet in the store, and no sync may delete it), and
//                                   the inode's own name (with the parent pointer, an
//                                   inode's path without a scan)
//   'D' <parent:u64be> <name>     → directory entry: <child:u64be> <type:u8>
//                                   name is UTF-8; all entries of one directory are
//                                   one contiguous range, ordered by name bytes
//   'L' <ino:u64be>               → symlink target, UTF-8
//   'H' <ino:u64be> <parent:u64be> <name>
//                                 → empty: a further name of a hard-linked inode (not a
//                                   directory). The inode record names one entry, its
//                                   primary name (where its object lives in a data
//                                   source); every other entry for it has an 'H' key, so
//                                   nlink = 1 + its 'H' keys and unlink of the primary
//                                   name can promote another
//   'N' <ino:u64be>               → layout 1 only: the own name, now in the inode record
//   'F' <ino:u64be>               → layout 1 only: the store state, now in the inode record
//                                   (InodeTree.init migrates a layout-1 namespace)
//   'T' <ino:u64be>               → sync times of a directory: last one-level listing,
//                                   last whole-subtree sync (ms since the epoch)
//   'S' <name>                    → data source record (JSON; src/master)
//   'R' <source> 0x00 <rule>      → sync rule record (JSON; src/master)
//   'J' <job:u64be>               → sync job record (JSON; src/master)
//   'M' "nextJob"                 → u64 next sync job number
//   'C' <node id>                 → cache node record (JSON; src/master NodeRegistry)
//   'K' <instance>                → cache instance record (JSON; src/master CacheInstances)
//   'W' <source> 0x00 <rule>      → cache (warmup/eviction) rule record (JSON; src/master)
//   'X' <job:u64be>               → cache job record (JSON; src/master CacheJobs)
//   'G' <instance> 0x00 <group>   → permission group record (JSON; src/master PermissionGroups)
//   'U' <user>                    → IAM user record (JSON; src/master Identities)
//   'A' <key id>                  → access key record, the secret as an scrypt hash (JSON; src/master Identities)
//   'Q' <source> 0x00 <key>       → the last store event applied for a key, or its tombstone (JSON; src/events EventLedger)
//   'O' <seq:u64be>               → the change-stream outbox: one namespace mutation a client made (JSON; ChangeLog),
//                                   written in the mutation's own batch, deleted once published
//   'M' "changeSeq"               → u64 the last outbox sequence number handed out (never reused)
//   'M' "changeEpoch"             → u64 the relay's epoch: one more at every start of a publishing master
//   'M' "invalidationFeed"        → the invalidation subscriber's positions and publishers' chains (JSON; src/events)
//   'M' "nextCacheJob"            → u64 next cache job number
//   'M' "sync"                    → empty: written with sync=true to fsync LevelDB's log (--fsync group commit)
//
// Inode numbers are big-endian so that byte order is numeric order: a range scan
// over 'I' walks inodes in number order, and 'D' <parent> scans exactly one directory.
import type { Ino } from '../common/index.js';

const TWO_32 = 2 ** 32;

/**
 * Buffer.writeBigUInt64BE, without BigInt arithmetic for values below 2^53 (inode
 * numbers, sizes, times): a sync writes about ten per file, and Node's BigInt path
 * cost 8% of an initial sync's main thread.
 */
export function writeU64BE(b: Buffer, v: bigint, at: number): void {
  if (v >= 0n && v <= 0x1f_ffff_ffff_ffffn) {
    const n = Number(v);
    b.writeUInt32BE(Math.floor(n / TWO_32), at);
    b.writeUInt32BE(n >>> 0, at + 4);
  } else {
    b.writeBigUInt64BE(v, at);
  }
}

/** Buffer.writeBigInt64BE, the same way (negative values take the BigInt path). */
export function writeI64BE(b: Buffer, v: bigint, at: number): void {
  if (v >= 0n) writeU64BE(b, v, at);
  else b.writeBigInt64BE(v, at);
}

/**
 * Layout 2 folded the 'N' and 'F' records into the inode record: a synced file is two
 * records (inode, entry) instead of four, which took a third off an initial sync's
 * namespace writes.
 */
export const FORMAT_VERSION = 2;

const P_META = 0x4d; // 'M'
const P_INODE = 0x49; // 'I'
const P_DENTRY = 0x44; // 'D'
const P_SYMLINK = 0x4c; // 'L'
const P_NAME = 0x4e; // 'N'
const P_STORE_STATE = 0x46; // 'F'
const P_SYNC_TIMES = 0x54; // 'T'
const P_SOURCE = 0x53; // 'S'
const P_RULE = 0x52; // 'R'
const P_JOB = 0x4a; // 'J'
const P_LINK = 0x48; // 'H'
const P_NODE = 0x43; // 'C': cache nodes (JSON records by node id)
const P_INSTANCE = 0x4b; // 'K': cache instances
const P_CACHE_RULE = 0x57; // 'W': cache rules
const P_CACHE_JOB = 0x58; // 'X': cache jobs
const P_GROUP = 0x47; // 'G': permission groups
const P_USER = 0x55; // 'U': IAM users
const P_ACCESS_KEY = 0x41; // 'A': access keys
const P_EVENT = 0x51; // 'Q': store events applied, per key
const P_CHANGE = 0x4f; // 'O': the change-stream outbox

export type MetaName = 'format' | 'nextIno' | 'inodes' | 'bytes' | 'nextJob' | 'nextCacheJob' | 'sync' | 'changeSeq' | 'changeEpoch' | 'invalidationFeed';

export function metaKey(name: MetaName): Buffer {
  return Buffer.concat([Buffer.of(P_META), Buffer.from(name, 'ascii')]);
}

export function inodeKey(ino: Ino): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = P_INODE;
  writeU64BE(b, ino, 1);
  return b;
}

function inoKey(prefix: number, ino: Ino): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = prefix;
  writeU64BE(b, ino, 1);
  return b;
}

export function symlinkKey(ino: Ino): Buffer {
  return inoKey(P_SYMLINK, ino);
}

/** Layout 1's name record (read and removed by the migration). */
export function nameKey(ino: Ino): Buffer {
  return inoKey(P_NAME, ino);
}

/** Layout 1's store-state record (read and removed by the migration). */
export function storeStateKey(ino: Ino): Buffer {
  return inoKey(P_STORE_STATE, ino);
}

export function syncTimesKey(ino: Ino): Buffer {
  return inoKey(P_SYNC_TIMES, ino);
}

export function sourceKey(name: string): Buffer {
  return Buffer.concat([Buffer.of(P_SOURCE), Buffer.from(name, 'utf8')]);
}

export function nodeKey(id: string): Buffer {
  return Buffer.concat([Buffer.of(P_NODE), Buffer.from(id, 'utf8')]);
}

export function instanceKey(name: string): Buffer {
  return Buffer.concat([Buffer.of(P_INSTANCE), Buffer.from(name, 'utf8')]);
}

/** The two books of rules: metadata sync rules and cache (warmup/eviction) rules. */
export type RuleBookName = 'sync' | 'cache';

export function ruleKey(source: string, rule: string, book: RuleBookName = 'sync'): Buffer {
  return Buffer.concat([Buffer.of(book === 'sync' ? P_RULE : P_CACHE_RULE), Buffer.from(source, 'utf8'), Buffer.of(0), Buffer.from(rule, 'utf8')]);
}

export function ruleRange(source: string, book: RuleBookName = 'sync'): { gte: Buffer; lt: Buffer } {
  const p = Buffer.concat([Buffer.of(book === 'sync' ? P_RULE : P_CACHE_RULE), Buffer.from(source, 'utf8')]);
  return { gte: Buffer.concat([p, Buffer.of(0)]), lt: Buffer.concat([p, Buffer.of(1)]) };
}

export function jobKey(id: bigint): Buffer {
  return inoKey(P_JOB, id);
}

export function eventKey(source: string, key: string): Buffer {
  return Buffer.concat([Buffer.of(P_EVENT), Buffer.from(source, 'utf8'), Buffer.of(0), Buffer.from(key, 'utf8')]);
}

export function changeKey(seq: bigint): Buffer {
  return inoKey(P_CHANGE, seq);
}

export function parseChangeKey(key: Buffer): bigint {
  return key.readBigUInt64BE(1);
}

/** Every event-ledger key of one source. */
export function eventRange(source: string): { gte: Buffer; lt: Buffer } {
  const p = Buffer.concat([Buffer.of(P_EVENT), Buffer.from(source, 'utf8')]);
  return { gte: Buffer.concat([p, Buffer.of(0)]), lt: Buffer.concat([p, Buffer.of(1)]) };
}

export function userKey(name: string): Buffer {
  return Buffer.concat([Buffer.of(P_USER), Buffer.from(name, 'utf8')]);
}

export function accessKeyKey(id: string): Buffer {
  return Buffer.concat([Buffer.of(P_ACCESS_KEY), Buffer.from(id, 'utf8')]);
}

export function groupKey(instance: string, group: string): Buffer {
  return Buffer.concat([Buffer.of(P_GROUP), Buffer.from(instance, 'utf8'), Buffer.of(0), Buffer.from(group, 'utf8')]);
}

export function cacheJobKey(id: bigint): Buffer {
  return inoKey(P_CACHE_JOB, id);
}

/** A further name (parent, name) of hard-linked inode `ino`. */
export function linkKey(ino: Ino, parent: Ino, name: string): Buffer {
  const nameLen = Buffer.byteLength(name, 'utf8');
  const b = Buffer.allocUnsafe(17 + nameLen);
  b[0] = P_LINK;
  writeU64BE(b, ino, 1);
  writeU64BE(b, parent, 9);
  b.write(name, 17, 'utf8');
  return b;
}

/** Bounds of one inode's further names. */
export function linkRange(ino: Ino): { gte: Buffer; lt: Buffer } {
  const gte = inoKey(P_LINK, ino);
  if (ino === (1n << 64n) - 1n) return { gte, lt: Buffer.of(P_LINK + 1) };
  const lt = Buffer.from(gte);
  lt.writeBigUInt64BE(ino + 1n, 1);
  return { gte, lt };
}

export function parseLinkKey(key: Buffer): { ino: Ino; parent: Ino; name: string } {
  return { ino: key.readBigUInt64BE(1), parent: key.readBigUInt64BE(9), name: key.toString('utf8', 17) };
}

export function dentryKey(parent: Ino, name: string): Buffer {
  const nameLen = Buffer.byteLength(name, 'utf8');
  const b = Buffer.allocUnsafe(9 + nameLen);
  b[0] = P_DENTRY;
  writeU64BE(b, parent, 1);
  b.write(name, 9, 'utf8');
  return b;
}

/** Bounds of one directory's entries: [gte, lt). `after` starts past that name. */
export function dentryRange(parent: Ino, after?: Buffer): { gt?: Buffer; gte?: Buffer; lt: Buffer } {
  const lt = Buffer.allocUnsafe(9);
  lt[0] = P_DENTRY;
  if (parent === (1n << 64n) - 1n) {
    lt[0] = P_DENTRY + 1;
    lt.writeBigUInt64BE(0n, 1);
  } else {
    lt.writeBigUInt64BE(parent + 1n, 1);
  }
  if (after && after.length > 0) return { gt: Buffer.concat([dentryPrefix(parent), after]), lt };
  return { gte: dentryPrefix(parent), lt };
}

export function dentryPrefix(parent: Ino): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = P_DENTRY;
  writeU64BE(b, parent, 1);
  return b;
}

/** Range of a whole key family, for scans by fsck and statistics. */
const FAMILY = { inode: P_INODE, dentry: P_DENTRY, symlink: P_SYMLINK, name: P_NAME, storeState: P_STORE_STATE, syncTimes: P_SYNC_TIMES, source: P_SOURCE, rule: P_RULE, job: P_JOB, link: P_LINK, node: P_NODE, instance: P_INSTANCE, cacheRule: P_CACHE_RULE, cacheJob: P_CACHE_JOB, group: P_GROUP, user: P_USER, accessKey: P_ACCESS_KEY, event: P_EVENT, change: P_CHANGE } as const;

export function familyRange(family: keyof typeof FAMILY): { gte: Buffer; lt: Buffer } {
  const p = FAMILY[family];
  return { gte: Buffer.of(p), lt: Buffer.of(p + 1) };
}

export function parseDentryKey(key: Buffer): { parent: Ino; nameBytes: Buffer; name: string } {
  const nameBytes = key.subarray(9);
  return { parent: key.readBigUInt64BE(1), nameBytes, name: nameBytes.toString('utf8') };
}

export function parseInodeKey(key: Buffer): Ino {
  return key.readBigUInt64BE(1);
}

/** The inode number in any 'L', 'F', 'T' or 'J' key. */
export function parseInoKey(key: Buffer): Ino {
  return key.readBigUInt64BE(1);
}

export const parseSymlinkKey = parseInoKey;
