// Binary codecs for inode records and directory entries. Fixed offsets keep
// encoding cheap (the 1M-inode build encodes a record in well under a microsecond);
// the leading version byte tells the layouts apart.
//
// Inode record, version 2 (layout 2; 77 bytes + fingerprint + name):
//   0 u8 codec version   1 u8 type (1 file, 2 dir, 3 symlink, 4 fifo, 5 socket, 6 chardev, 7 blockdev)
//   2 u32 mode   6 u32 uid   10 u32 gid   14 u32 nlink
//  18 u64 size (a chardev's or blockdev's device number)  26 i64 atime_ns  34 i64 mtime_ns  42 i64 ctime_ns
//  50 u64 parent  58 u64 version
//  66 u8 store flags (bit 0: the inode mirrors an under-store entry; bit 1: a write
//     through Wharf is pending)   67 u64 sync generation   75 u16 fingerprint length
//  77 fingerprint (UTF-8), then the inode's own name (UTF-8) to the end ('' for the root)
//
// Layout 1 kept the name and the store state in records of their own ('N', 'F'):
// four records per synced file where two do. Version-1 records (the first 66 bytes
// above) are read only by the migration (InodeTree.init).
//
// Directory entry value (9 bytes): u64 child ino, u8 type.
import { WharfError, type Attr, type FileType, type Ino } from '../common/index.js';
import { writeI64BE, writeU64BE } from './keys.js';

const RECORD_V1 = 1;
const RECORD_V1_LEN = 66;
const RECORD_V2 = 2;
const HEAD_LEN = 77;
const HAS_STATE = 1;
const PENDING = 2;
const MAX_FINGERPRINT_BYTES = 0xffff;

const TYPE_CODE: Record<FileType, number> = { file: 1, directory: 2, symlink: 3, fifo: 4, socket: 5, chardev: 6, blockdev: 7 };
const CODE_TYPE: Record<number, FileType> = Object.fromEntries(Object.entries(TYPE_CODE).map(([t, c]) => [c, t as FileType]));

/** Devices have no size: their record's size field holds the device number. */
function isDevice(type: FileType): boolean {
  return type === 'chardev' || type === 'blockdev';
}

export function typeCode(type: FileType): number {
  return TYPE_CODE[type];
}

/**
 * Refuses a store state no record can hold (checked when it is staged, not when the
 * batch is written). Returns the fingerprint's length in bytes.
 */
export function checkStoreState(ino: Ino, state: StoreState): number {
  if (state.gen < 0n || state.gen > 0xffff_ffff_ffff_ffffn) throw new WharfError('EINVAL', `sync generation ${state.gen} is out of range`);
  const fpLen = Buffer.byteLength(state.fingerprint, 'utf8');
  if (fpLen > MAX_FINGERPRINT_BYTES) throw new WharfError('EINVAL', `inode ${ino}: a store fingerprint of ${fpLen} bytes is too long`);
  return fpLen;
}

/** An inode record with its store state (undefined: Wharf's own) and own name. */
export function encodeRecord(a: Attr, state: StoreState | undefined, name: string): Buffer {
  const fpLen = state === undefined ? 0 : checkStoreState(a.ino, state);
  const b = Buffer.allocUnsafe(HEAD_LEN + fpLen + Buffer.byteLength(name, 'utf8'));
  b[0] = RECORD_V2;
  b[1] = TYPE_CODE[a.type];
  b.writeUInt32BE(a.mode, 2);
  b.writeUInt32BE(a.uid, 6);
  b.writeUInt32BE(a.gid, 10);
  b.writeUInt32BE(a.nlink, 14);
  writeU64BE(b, isDevice(a.type) ? BigInt(a.rdev ?? 0) : a.size, 18);
  writeI64BE(b, a.atimeNs, 26);
  writeI64BE(b, a.mtimeNs, 34);
  writeI64BE(b, a.ctimeNs, 42);
  writeU64BE(b, a.parent, 50);
  writeU64BE(b, a.version, 58);
  if (state === undefined) {
    b.fill(0, 66, HEAD_LEN);
  } else {
    b[66] = state.pending ? HAS_STATE | PENDING : HAS_STATE;
    writeU64BE(b, state.gen, 67);
    b.writeUInt16BE(fpLen, 75);
    b.write(state.fingerprint, HEAD_LEN, 'utf8');
  }
  b.write(name, HEAD_LEN + fpLen, 'utf8');
  return b;
}

/** A layout-1 inode record (the migration's input, and fsck tests' corrupt records). */
export function encodeInodeV1(a: Attr): Buffer {
  const b = encodeRecord(a, undefined, '').subarray(0, RECORD_V1_LEN);
  b[0] = RECORD_V1;
  return b;
}

/** The attributes of a record of either version. */
export function decodeInode(ino: Ino, b: Buffer): Attr {
  if (!(b[0] === RECORD_V2 ? b.length >= HEAD_LEN : b[0] === RECORD_V1 && b.length >= RECORD_V1_LEN)) {
    throw new WharfError('EIO', `inode ${ino}: unreadable record (version ${b[0]}, ${b.length} bytes)`);
  }
  const type = CODE_TYPE[b[1]!];
  if (!type) throw new WharfError('EIO', `inode ${ino}: unknown type code ${b[1]}`);
  const size = b.readBigUInt64BE(18);
  return {
    ino,
    type,
    mode: b.readUInt32BE(2),
    uid: b.readUInt32BE(6),
    gid: b.readUInt32BE(10),
    nlink: b.readUInt32BE(14),
    size: isDevice(type) ? 0n : size,
    atimeNs: b.readBigInt64BE(26),
    mtimeNs: b.readBigInt64BE(34),
    ctimeNs: b.readBigInt64BE(42),
    parent: b.readBigUInt64BE(50),
    version: b.readBigUInt64BE(58),
    ...(isDevice(type) ? { rdev: Number(size & 0xffff_ffffn) } : {}),
  };
}

/** The store state in a record; undefined for an inode that exists only in Wharf (and in version-1 records). */
export function decodeRecordState(b: Buffer): StoreState | undefined {
  if (b[0] !== RECORD_V2) return undefined;
  if (b.length < HEAD_LEN) throw new WharfError('EIO', `unreadable inode record (${b.length} bytes)`);
  if ((b[66]! & HAS_STATE) === 0) return undefined;
  const fpLen = b.readUInt16BE(75);
  if (b.length < HEAD_LEN + fpLen) throw new WharfError('EIO', `unreadable inode record (fingerprint of ${fpLen} bytes in ${b.length})`);
  const gen = b.readBigUInt64BE(67);
  const fingerprint = b.toString('utf8', HEAD_LEN, HEAD_LEN + fpLen);
  return (b[66]! & PENDING) !== 0 ? { gen, fingerprint, pending: true } : { gen, fingerprint };
}

/** The own name in a record ('' for the root; undefined in version-1 records). */
export function decodeRecordName(b: Buffer): string | undefined {
  if (b[0] !== RECORD_V2) return undefined;
  const at = b.length >= HEAD_LEN ? HEAD_LEN + b.readUInt16BE(75) : Infinity;
  if (at > b.length) throw new WharfError('EIO', `unreadable inode record (${b.length} bytes)`);
  return b.toString('utf8', at);
}

export function isRecordV1(b: Buffer): boolean {
  return b[0] === RECORD_V1;
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
 * Store state of an inode that mirrors an under-store entry (in its record):
 * the generation of the sync that last saw it, and its fingerprint. The fingerprint
 * of a file is "size:etag:mtimeMs"; of a directory "dir" (implied by keys below it)
 * or "marker" (an explicit "name/" object). Pending: bytes written through Wharf are
 * on their way to the store (SetAttrChanges.pendingWrite), so syncs leave the file alone.
 */
export interface StoreState {
  gen: bigint;
  fingerprint: string;
  pending?: boolean;
}

const PENDING_BIT_V1 = 1n << 63n;

/** Layout 1's 'F' record: u64 generation (top bit: pending), then the fingerprint. */
export function encodeStoreStateV1(s: StoreState): Buffer {
  const fp = Buffer.from(s.fingerprint, 'utf8');
  const b = Buffer.allocUnsafe(8 + fp.length);
  writeU64BE(b, s.pending ? s.gen | PENDING_BIT_V1 : s.gen, 0);
  fp.copy(b, 8);
  return b;
}

export function decodeStoreStateV1(b: Buffer): StoreState {
  if (b.length < 8) throw new WharfError('EIO', `unreadable store state record (${b.length} bytes)`);
  const word = b.readBigUInt64BE(0);
  const fingerprint = b.subarray(8).toString('utf8');
  return word >= PENDING_BIT_V1 ? { gen: word - PENDING_BIT_V1, fingerprint, pending: true } : { gen: word, fingerprint };
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
