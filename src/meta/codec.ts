// Binary codecs for inode records and directory entries. Fixed offsets keep
// encoding cheap (the 1M-inode build encodes a record in well under a microsecond);
// the leading version byte lets later layouts append fields.
//
// Inode record, version 1 (66 bytes):
//   0 u8 codec version   1 u8 type (1 file, 2 dir, 3 symlink)
//   2 u32 mode   6 u32 uid   10 u32 gid   14 u32 nlink
//  18 u64 size  26 i64 atime_ns  34 i64 mtime_ns  42 i64 ctime_ns
//  50 u64 parent  58 u64 version
//
// Directory entry value (9 bytes): u64 child ino, u8 type.
import { WharfError, type Attr, type FileType, type Ino } from '../common/index.js';
import { writeI64BE, writeU64BE } from './keys.js';

const RECORD_V1 = 1;
const RECORD_V1_LEN = 66;

const TYPE_CODE: Record<FileType, number> = { file: 1, directory: 2, symlink: 3 };
const CODE_TYPE: Record<number, FileType> = { 1: 'file', 2: 'directory', 3: 'symlink' };

export function typeCode(type: FileType): number {
  return TYPE_CODE[type];
}

export function encodeInode(a: Attr): Buffer {
  const b = Buffer.allocUnsafe(RECORD_V1_LEN);
  b[0] = RECORD_V1;
  b[1] = TYPE_CODE[a.type];
  b.writeUInt32BE(a.mode, 2);
  b.writeUInt32BE(a.uid, 6);
  b.writeUInt32BE(a.gid, 10);
  b.writeUInt32BE(a.nlink, 14);
  writeU64BE(b, a.size, 18);
  writeI64BE(b, a.atimeNs, 26);
  writeI64BE(b, a.mtimeNs, 34);
  writeI64BE(b, a.ctimeNs, 42);
  writeU64BE(b, a.parent, 50);
  writeU64BE(b, a.version, 58);
  return b;
}

export function decodeInode(ino: Ino, b: Buffer): Attr {
  if (b.length < RECORD_V1_LEN || b[0] !== RECORD_V1) {
    throw new WharfError('EIO', `inode ${ino}: unreadable record (version ${b[0]}, ${b.length} bytes)`);
  }
  const type = CODE_TYPE[b[1]!];
  if (!type) throw new WharfError('EIO', `inode ${ino}: unknown type code ${b[1]}`);
  return {
    ino,
    type,
    mode: b.readUInt32BE(2),
    uid: b.readUInt32BE(6),
    gid: b.readUInt32BE(10),
    nlink: b.readUInt32BE(14),
    size: b.readBigUInt64BE(18),
    atimeNs: b.readBigInt64BE(26),
    mtimeNs: b.readBigInt64BE(34),
    ctimeNs: b.readBigInt64BE(42),
    parent: b.readBigUInt64BE(50),
    version: b.readBigUInt64BE(58),
  };
}

export interface DentryValue {
  ino: Ino;
  type: FileType;
}

export function encodeDentry(ino: Ino, type: FileType): Buffer {
  const b = Buffer.allocUnsafe(9);
  writeU64BE(b, ino, 0);
  b[8] = TYPE_CODE[type];
  return b;
}

export function decodeDentry(b: Buffer): DentryValue {
  const type = CODE_TYPE[b[8]!];
  if (b.length !== 9 || !type) throw new WharfError('EIO', `unreadable directory entry (${b.length} bytes)`);
  return { ino: b.readBigUInt64BE(0), type };
}

export function encodeU64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v);
  return b;
}

export function decodeU64(b: Buffer): bigint {
  return b.readBigUInt64BE(0);
}

/**
 * Store state of an inode that mirrors an under-store entry ('F' records):
 *   u64 generation of the sync that last saw it, its top bit the pending flag;
 *   then the fingerprint in UTF-8.
 * The fingerprint of a file is "size:etag:mtimeMs"; of a directory "dir" (implied by
 * keys below it) or "marker" (an explicit "name/" object). Pending: bytes written
 * through Wharf are on their way to the store (SetAttrChanges.pendingWrite), so syncs
 * leave the file alone; records written before the flag existed read as not pending.
 */
export interface StoreState {
  gen: bigint;
  fingerprint: string;
  pending?: boolean;
}

const PENDING_BIT = 1n << 63n;

export function encodeStoreState(s: StoreState): Buffer {
  if (s.gen < 0n || s.gen >= PENDING_BIT) throw new WharfError('EINVAL', `sync generation ${s.gen} is out of range`);
  const fp = Buffer.from(s.fingerprint, 'utf8');
  const b = Buffer.allocUnsafe(8 + fp.length);
  writeU64BE(b, s.pending ? s.gen | PENDING_BIT : s.gen, 0);
  fp.copy(b, 8);
  return b;
}

export function decodeStoreState(b: Buffer): StoreState {
  if (b.length < 8) throw new WharfError('EIO', `unreadable store state record (${b.length} bytes)`);
  const word = b.readBigUInt64BE(0);
  const fingerprint = b.subarray(8).toString('utf8');
  return word >= PENDING_BIT ? { gen: word - PENDING_BIT, fingerprint, pending: true } : { gen: word, fingerprint };
}

/** Sync times of a directory ('T' records): last one-level listing, last whole-subtree sync (ms). */
export interface SyncTimes {
  listedMs: number;
  treeMs: number;
}

export function encodeSyncTimes(t: SyncTimes): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(t.listedMs))), 0);
  b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(t.treeMs))), 8);
  return b;
}

export function decodeSyncTimes(b: Buffer): SyncTimes {
  if (b.length !== 16) throw new WharfError('EIO', `unreadable sync times record (${b.length} bytes)`);
  return { listedMs: Number(b.readBigUInt64BE(0)), treeMs: Number(b.readBigUInt64BE(8)) };
}
