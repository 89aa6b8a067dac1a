// What a sync does with one name, decided purely from the inode (if any), its
// store state, and the store's entry (if known). No I/O: the executor applies it.
// After Alluxio's UfsSyncUtils.computeSyncPlan.
import { TYPE_IFMT, isSpecial, typeOfMode, type Attr, type FileType, type Ino, type SpecialType } from '../common/index.js';
import type { StoreState } from '../meta/index.js';

/** An entry as the store shows it, already mapped to a name in the namespace. */
export interface StoreEntry {
  /** What the listing shows is a file or directory; object metadata may say symlink or a special file. */
  type: FileType;
  /** Files and symlinks: "size:etag:mtimeMs"; directories: "dir" (implied by keys below) or "marker". */
  fingerprint: string;
  size: bigint;
  mtimeMs: number;
  /** Owner, mode and time the object carries (s3fs/rclone metadata), when they were read. */
  meta?: ObjectAttrs;
  /** A symlink's target (the object's body, as s3fs stores it). */
  target?: string;
  /** A device's number (x-amz-meta-rdev). */
  rdev?: number;
}

export interface ObjectAttrs {
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeMs?: number;
}

export interface Existing {
  attr: Attr;
  /** Undefined: the inode is Wharf's own (written by a client, not in the store yet). */
  state: StoreState | undefined;
}

export const SYNC_ACTIONS = ['create', 'update', 'stamp', 'replace', 'delete', 'keep-local', 'keep-recent', 'skip-shadowed', 'none'] as const;
export type SyncActionKind = (typeof SYNC_ACTIONS)[number];

import type { SeenInodes } from './SeenInodes.js';

export interface PlanContext {
  /** When the sync started: entries changed since are left alone (a client got there first). */
  startNs: bigint;
  /** True when the store entry's absence is known (a complete one-level listing), not just unseen. */
  complete: boolean;
  /**
   * A full sync that sweeps after its listing: the inodes its listing accounted for.
   * Those it found unchanged are remembered here instead of being stamped with the
   * job's generation, so an unchanged re-sync writes nothing; those it created or
   * changed are here too, so the sweep can pass over a directory whose children are
   * all here without reading their names (see SyncExecutor).
   */
  seen?: SeenInodes;
  /**
   * A full sync that sweeps: objects its listing found under the name of a synced
   * directory ('skip-shadowed'), settled after the sweep (SyncExecutor.settleShadowed):
   * the directory may turn out to be stale, and then the object takes its place in
   * the same job. Undefined: skipped at once, with a warning.
   */
  shadowed?: ShadowedEntry[];
  /** A full sync: pending files it has already reported (a warning per file and job). */
  reported?: Set<Ino>;
}

export interface ShadowedEntry {
  parent: Ino;
  name: string;
  entry: StoreEntry;
}

export function fileFingerprint(size: bigint, etag: string, mtimeMs: number): string {
  return `${size}:${etag}:${mtimeMs}`;
}

export function planEntry(existing: Existing | undefined, store: StoreEntry | undefined, ctx: PlanContext): SyncActionKind {
  if (!existing) return store ? 'create' : 'none';
  // Files written through Wharf that have not reached the store are never touched:
  // new ones (no store state) and synced ones with bytes on their way (pending).
  if (!existing.state || existing.state.pending) return 'keep-local';
  if (!store) {
    if (!ctx.complete) return 'none';
    return existing.attr.ctimeNs >= ctx.startNs ? 'keep-recent' : 'delete';
  }
  const isDir = existing.attr.type === 'directory';
  if (isDir && store.type !== 'directory') return 'skip-shadowed'; // "a" and "a/…" both exist: the directory wins
  if (!isDir && store.type === 'directory') return existing.attr.ctimeNs >= ctx.startNs ? 'keep-recent' : 'replace';
  if (isDir) return 'stamp';
  if (existing.state.fingerprint === store.fingerprint) return 'stamp';
  // A file that became a symlink (or back) is a new inode; a changed file keeps its
  // inode. A changed symlink or special file is made again from its object.
  return existing.attr.type !== store.type || existing.attr.type !== 'file' ? 'replace' : 'update';
}

const KNOWN_TYPE_BITS = new Set(Object.values(TYPE_IFMT));

function parseMode(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,7}$/.test(text)) return undefined;
  // s3fs writes st_mode in decimal ("33188"); rclone in octal ("100644"). Take the
  // reading in which the type bits name a type.
  const typed = (m: number) => KNOWN_TYPE_BITS.has(m & ~0o7777);
  const dec = Number(text);
  const oct = /^[0-7]+$/.test(text) ? parseInt(text, 8) : undefined;
  if (typed(dec)) return dec;
  if (oct !== undefined && (typed(oct) || oct <= 0o7777)) return oct; // "644": people write modes in octal
  return dec <= 0o7777 ? dec : undefined;
}

function parseId(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,10}$/.test(text)) return undefined;
  const v = Number(text);
  return v <= 0xffff_ffff ? v : undefined;
}

/**
 * Owner, mode and time from an object's user metadata, as s3fs and rclone write them
 * (x-amz-meta-mode/uid/gid/mtime; mtime in seconds, possibly fractional). Unreadable
 * values are ignored, never guessed.
 */
export function objectAttrs(metadata: Record<string, string> | undefined): ObjectAttrs & { symlink: boolean; special?: SpecialType; rdev?: number } {
  const m = metadata ?? {};
  const mode = parseMode(m['mode']);
  const mt = m['mtime'] !== undefined && /^[0-9]{1,12}(\.[0-9]{1,9})?$/.test(m['mtime']) ? Math.round(Number(m['mtime']) * 1000) : undefined;
  const uid = parseId(m['uid']);
  const gid = parseId(m['gid']);
  const type = mode === undefined || mode <= 0o7777 ? undefined : typeOfMode(mode);
  const rdev = parseId(m['rdev']);
  return {
    ...(mode !== undefined ? { mode: mode & 0o7777 } : {}),
    ...(uid !== undefined ? { uid } : {}),
    ...(gid !== undefined ? { gid } : {}),
    ...(mt !== undefined ? { mtimeMs: mt } : {}),
    symlink: type === 'symlink',
    ...(type !== undefined && isSpecial(type) ? { special: type, ...(type === 'chardev' || type === 'blockdev' ? { rdev: rdev ?? 0 } : {}) } : {}),
  };
}

/** Whether a sweep after a complete listing at generation `gen` removes this entry. */
export function isStale(existing: Existing, gen: bigint, startNs: bigint): boolean {
  return existing.state !== undefined && !existing.state.pending && existing.state.gen < gen && existing.attr.ctimeNs < startNs;
}

/** Alluxio's sync interval: -1 never re-sync after the first load, 0 always, N ms when older than N. */
export function shouldSync(intervalMs: number, lastSyncMs: number | undefined, nowMs: number): boolean {
  if (lastSyncMs === undefined) return true;
  if (intervalMs < 0) return false;
  if (intervalMs === 0) return true;
  return nowMs - lastSyncMs >= intervalMs;
}
