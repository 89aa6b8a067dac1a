// What a sync does with one name, decided purely from the inode (if any), its
// store state, and the store's entry (if known). No I/O: the executor applies it.
// After Alluxio's UfsSyncUtils.computeSyncPlan.
import type { Attr } from '../common/index.js';
import type { StoreState } from '../meta/index.js';

/** An entry as the store shows it, already mapped to a name in the namespace. */
export interface StoreEntry {
  type: 'file' | 'directory';
  /** Files: "size:etag:mtimeMs"; directories: "dir" (implied by keys below) or "marker". */
  fingerprint: string;
  size: bigint;
  mtimeMs: number;
}

export interface Existing {
  attr: Attr;
  /** Undefined: the inode is Wharf's own (written by a client, not in the store yet). */
  state: StoreState | undefined;
}

export const SYNC_ACTIONS = ['create', 'update', 'stamp', 'replace', 'delete', 'keep-local', 'keep-recent', 'skip-shadowed', 'none'] as const;
export type SyncActionKind = (typeof SYNC_ACTIONS)[number];

export interface PlanContext {
  /** When the sync started: entries changed since are left alone (a client got there first). */
  startNs: bigint;
  /** True when the store entry's absence is known (a complete one-level listing), not just unseen. */
  complete: boolean;
}

export function fileFingerprint(size: bigint, etag: string, mtimeMs: number): string {
  return `${size}:${etag}:${mtimeMs}`;
}

export function planEntry(existing: Existing | undefined, store: StoreEntry | undefined, ctx: PlanContext): SyncActionKind {
  if (!existing) return store ? 'create' : 'none';
  // Files written through Wharf that have not reached the store are never touched.
  if (!existing.state) return 'keep-local';
  if (!store) {
    if (!ctx.complete) return 'none';
    return existing.attr.ctimeNs >= ctx.startNs ? 'keep-recent' : 'delete';
  }
  const isDir = existing.attr.type === 'directory';
  if (isDir && store.type === 'file') return 'skip-shadowed'; // "a" and "a/…" both exist: the directory wins
  if (!isDir && store.type === 'directory') return existing.attr.ctimeNs >= ctx.startNs ? 'keep-recent' : 'replace';
  if (existing.attr.type === 'symlink') return 'replace';
  if (isDir) return 'stamp';
  return existing.state.fingerprint === store.fingerprint ? 'stamp' : 'update';
}

/** Whether a sweep after a complete listing at generation `gen` removes this entry. */
export function isStale(existing: Existing, gen: bigint, startNs: bigint): boolean {
  return existing.state !== undefined && existing.state.gen < gen && existing.attr.ctimeNs < startNs;
}

/** Alluxio's sync interval: -1 never re-sync after the first load, 0 always, N ms when older than N. */
export function shouldSync(intervalMs: number, lastSyncMs: number | undefined, nowMs: number): boolean {
  if (lastSyncMs === undefined) return true;
  if (intervalMs < 0) return false;
  if (intervalMs === 0) return true;
  return nowMs - lastSyncMs >= intervalMs;
}
