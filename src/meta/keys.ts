// The LevelDB key layout of the namespace. All keys:
//
//   'M' <name:ascii>              master records
//       'M' "format"              → u32 layout version (FORMAT_VERSION)
//       'M' "nextIno"             → u64 next inode number to hand out (never reused)
//       'M' "inodes"              → u64 live inodes, including the root
//       'M' "bytes"               → u64 sum of file sizes
//   'I' <ino:u64be>               → inode record (see codec.ts)
//   'D' <parent:u64be> <name>     → directory entry: <child:u64be> <type:u8>
//                                   name is UTF-8; all entries of one directory are
//                                   one contiguous range, ordered by name bytes
//   'L' <ino:u64be>               → symlink target, UTF-8
//
// Inode numbers are big-endian so that byte order is numeric order: a range scan
// over 'I' walks inodes in number order, and 'D' <parent> scans exactly one directory.
import type { Ino } from '../common/index.js';

export const FORMAT_VERSION = 1;

const P_META = 0x4d; // 'M'
const P_INODE = 0x49; // 'I'
const P_DENTRY = 0x44; // 'D'
const P_SYMLINK = 0x4c; // 'L'

export type MetaName = 'format' | 'nextIno' | 'inodes' | 'bytes';

export function metaKey(name: MetaName): Buffer {
  return Buffer.concat([Buffer.of(P_META), Buffer.from(name, 'ascii')]);
}

export function inodeKey(ino: Ino): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = P_INODE;
  b.writeBigUInt64BE(ino, 1);
  return b;
}

export function symlinkKey(ino: Ino): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = P_SYMLINK;
  b.writeBigUInt64BE(ino, 1);
  return b;
}

export function dentryKey(parent: Ino, name: string): Buffer {
  const nameLen = Buffer.byteLength(name, 'utf8');
  const b = Buffer.allocUnsafe(9 + nameLen);
  b[0] = P_DENTRY;
  b.writeBigUInt64BE(parent, 1);
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
  b.writeBigUInt64BE(parent, 1);
  return b;
}

/** Range of a whole key family, for scans by fsck and statistics. */
export function familyRange(family: 'inode' | 'dentry' | 'symlink'): { gte: Buffer; lt: Buffer } {
  const p = family === 'inode' ? P_INODE : family === 'dentry' ? P_DENTRY : P_SYMLINK;
  return { gte: Buffer.of(p), lt: Buffer.of(p + 1) };
}

export function parseDentryKey(key: Buffer): { parent: Ino; nameBytes: Buffer; name: string } {
  const nameBytes = key.subarray(9);
  return { parent: key.readBigUInt64BE(1), nameBytes, name: nameBytes.toString('utf8') };
}

export function parseInodeKey(key: Buffer): Ino {
  return key.readBigUInt64BE(1);
}

export function parseSymlinkKey(key: Buffer): Ino {
  return key.readBigUInt64BE(1);
}
