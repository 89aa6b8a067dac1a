// Inode attributes as the rest of Wharf sees them.
import type { Ino } from './ino.js';

export const FILE_TYPES = ['file', 'directory', 'symlink'] as const;
export type FileType = (typeof FILE_TYPES)[number];

export interface Attr {
  ino: Ino;
  type: FileType;
  /** Permission bits only (07777); the type lives in `type`. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes for files, target length for symlinks, 0 for directories. */
  size: bigint;
  /** 1 for files and symlinks (no hard links); 2 + subdirectories for directories. */
  nlink: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** The directory holding this inode's one entry; 0 for the root. */
  parent: Ino;
  /** Bumped on every change to this inode; caches compare it. */
  version: bigint;
}

export interface DirEntry {
  name: string;
  attr: Attr;
}

export interface StatFs {
  blockSize: bigint;
  totalBlocks: bigint;
  freeBlocks: bigint;
  totalInodes: bigint;
  freeInodes: bigint;
  usedInodes: bigint;
  maxNameLength: number;
}

/** Mode bits for stat(2): S_IFREG / S_IFDIR / S_IFLNK ORed with the permission bits. */
export function statMode(attr: Pick<Attr, 'type' | 'mode'>): number {
  const ifmt = attr.type === 'directory' ? 0o040000 : attr.type === 'symlink' ? 0o120000 : 0o100000;
  return ifmt | (attr.mode & 0o7777);
}

export function nowNs(): bigint {
  // Date.now() has millisecond resolution; hrtime is monotonic, not wall-clock.
  // Milliseconds are what object stores keep too.
  return BigInt(Date.now()) * 1_000_000n;
}
