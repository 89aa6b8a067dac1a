// Wire messages ↔ domain types. bigint ↔ decimal string happens only here.
import { WharfError, parseIno, parseInt64, type Attr, type DirEntry, type FileType, type StatFs } from '../common/index.js';
import type { Attr as WireAttrIn, Attr__Output as WireAttr } from './gen/wharf/v1/Attr.js';
import type { Entry__Output as WireEntry } from './gen/wharf/v1/Entry.js';
import type { FileType__Output as WireFileType } from './gen/wharf/v1/FileType.js';
import type { StatFsReply, StatFsReply__Output } from './gen/wharf/v1/StatFsReply.js';

const WIRE_TYPE: Record<FileType, WireFileType> = {
  file: 'FILE_TYPE_FILE', directory: 'FILE_TYPE_DIRECTORY', symlink: 'FILE_TYPE_SYMLINK',
  fifo: 'FILE_TYPE_FIFO', socket: 'FILE_TYPE_SOCKET', chardev: 'FILE_TYPE_CHARDEV', blockdev: 'FILE_TYPE_BLOCKDEV',
};
const TYPE_OF_WIRE = new Map<string, FileType>(Object.entries(WIRE_TYPE).map(([t, w]) => [w, t as FileType]));

export function fileTypeToWire(t: FileType): WireFileType {
  return WIRE_TYPE[t];
}

export function typeFromWire(t: WireFileType | string): FileType {
  const type = TYPE_OF_WIRE.get(t);
  if (!type) throw new WharfError('EIO', `unknown file type ${String(t)} on the wire`);
  return type;
}

export function attrToWire(a: Attr): WireAttrIn {
  return {
    ino: a.ino.toString(), type: WIRE_TYPE[a.type], mode: a.mode, uid: a.uid, gid: a.gid,
    size: a.size.toString(), nlink: a.nlink, atime_ns: a.atimeNs.toString(), mtime_ns: a.mtimeNs.toString(),
    ctime_ns: a.ctimeNs.toString(), parent: a.parent.toString(), version: a.version.toString(), rdev: a.rdev ?? 0,
  };
}

export function attrFromWire(w: WireAttr | null | undefined): Attr {
  if (!w) throw new WharfError('EIO', 'reply carried no attributes');
  const type = typeFromWire(w.type);
  return {
    ino: parseIno(w.ino), type, mode: w.mode, uid: w.uid, gid: w.gid,
    size: BigInt(w.size), nlink: w.nlink, atimeNs: BigInt(w.atime_ns), mtimeNs: BigInt(w.mtime_ns),
    ctimeNs: BigInt(w.ctime_ns), parent: BigInt(w.parent), version: BigInt(w.version),
    ...(type === 'chardev' || type === 'blockdev' ? { rdev: w.rdev } : {}),
  };
}

export function entryFromWire(w: WireEntry): DirEntry {
  return { name: w.name, attr: attrFromWire(w.attr) };
}

export function statFsToWire(s: StatFs): StatFsReply {
  return {
    block_size: s.blockSize.toString(), total_blocks: s.totalBlocks.toString(), free_blocks: s.freeBlocks.toString(),
    total_inodes: s.totalInodes.toString(), free_inodes: s.freeInodes.toString(), used_inodes: s.usedInodes.toString(),
    max_name_length: s.maxNameLength,
  };
}

export function statFsFromWire(w: StatFsReply__Output): StatFs {
  return {
    blockSize: BigInt(w.block_size), totalBlocks: BigInt(w.total_blocks), freeBlocks: BigInt(w.free_blocks),
    totalInodes: BigInt(w.total_inodes), freeInodes: BigInt(w.free_inodes), usedInodes: BigInt(w.used_inodes),
    maxNameLength: w.max_name_length,
  };
}

export { parseIno, parseInt64 };
