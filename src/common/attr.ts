// Inode attributes as the rest of Wharf sees them.
import type { Ino } from './ino.js';

export const FILE_TYPES = ['file', 'directory', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev'] as const;
export type FileType = (typeof FILE_TYPES)[number];

/**
 * Special files: inodes of the namespace alone (no bytes; the kernel serves FIFOs,
 * sockets and devices itself). Under a data source each is also an empty object
 * whose s3fs metadata carries its type (and device number), so a re-import with
 * object metadata brings it back.
 */
export const SPECIAL_TYPES = ['fifo', 'socket', 'chardev', 'blockdev'] as const;
export type SpecialType = (typeof SPECIAL_TYPES)[number];

export function isSpecial(type: FileType): type is SpecialType {
  return (SPECIAL_TYPES as readonly string[]).includes(type);
}

/** S_IFMT bits of each type, as stat(2) and s3fs's x-amz-meta-mode carry them. */
export const TYPE_IFMT: Record<FileType, number> = {
  file: 0o100000, directory: 0o040000, symlink: 0o120000, fifo: 0o010000, socket: 0o140000, chardev: 0o020000, blockdev: 0o060000,
};

export const S_IFMT = 0o170000;

/** The type named by a mode's S_IFMT bits; undefined for bits that name none. */
export function typeOfMode(mode: number): FileType | undefined {
  const bits = mode & S_IFMT;
  return FILE_TYPES.find((t) => TYPE_IFMT[t] === bits);
}

export interface Attr {
  ino: Ino;
  type: FileType;
  /** Permission bits only (07777); the type lives in `type`. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes for files, target length for symlinks, 0 for directories and special files. */
  size: bigint;
  /** The device number (Linux encoding) of a chardev or blockdev; absent otherwise. */
  rdev?: number;
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

/** Mode bits for stat(2): the type's S_IFMT bits ORed with the permission bits. */
export function statMode(attr: Pick<Attr, 'type' | 'mode'>): number {
  return TYPE_IFMT[attr.type] | (attr.mode & 0o7777);
}

export function nowNs(): bigint {
  // Date.now() has millisecond resolution; hrtime is monotonic, not wall-clock.
  // Milliseconds are what object stores keep too.
  return BigInt(Date.now()) * 1_000_000n;
}
