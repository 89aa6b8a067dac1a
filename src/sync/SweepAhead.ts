// The sweep's reading, done while the listing still runs. A re-sync's sweep must
// know, for every directory, whether the listing accounted for all its children
// (SeenInodes); done after the listing, that is a pass over every directory entry
// of the tree, ~15% of an unchanged re-sync. But a listing in key order (S3's, a
// local directory's) finishes each directory before it moves past its key prefix:
// the directory can be checked at once, on the main thread the listing leaves idle.
//
// A verdict ("every child seen; here are its subdirectories") only ever lets the
// sweep skip reading a directory; deletions still happen only after the whole
// listing succeeded. It stays true until the sweep whatever the order of the
// listing: a child stale at the sweep was unseen at the check (seen bits are never
// cleared), and a child added after the check is either this sync's (seen) or a
// client's (not stale). One conservative gap: a synced directory a client moves into
// a checked directory is not descended into by this sweep (its stale contents, if
// any, go at the next one). The order matters for usefulness alone: checked before its
// keys arrive, a directory gets no verdict. So once two keys arrive out of order
// (s3rver does not sort), checking stops and the sweep reads everything, as before.
import type { FileType, Ino } from '../common/index.js';
import type { DentryValue, InodeTree } from '../meta/index.js';
import { compareKeys } from '../ufs/index.js';
import type { SeenInodes } from './SeenInodes.js';
import type { DirScan, ScanResult } from './SyncWriter.js';

/**
 * A directory's subdirectories if every child of it is in `seen`, else undefined.
 * `after`: only the children named past it are read; `also`: entries already in
 * hand (a range read's unlisted ones) that count as children too.
 */
export async function subdirsIfAllSeen(
  tree: InodeTree, ino: Ino, seen: SeenInodes, o: { after?: string; also?: readonly DentryValue[] } = {},
): Promise<Ino[] | undefined> {
  const dirs: Ino[] = [];
  const each = (child: Ino, type: FileType): boolean => {
    if (type === 'directory') dirs.push(child);
    return seen.has(child);
  };
  if (o.also && !o.also.every((d) => each(d.ino, d.type))) return undefined;
  return (await tree.everyChild(ino, each, o.after)) ? dirs : undefined;
}

export class SweepAhead {
  /** Directories the listing has entered and not yet finished: key prefix ("a/b/") → inode. */
  private readonly open = new Map<string, Ino>();
  /** Directories whose children were all seen when checked → their subdirectories. */
  private readonly verified = new Map<Ino, Ino[]>();
  /**
   * Directories whose entries the sync reads as consecutive ranges (DirScan): how
   * far the ranges reached, and what they held that the listing did not list.
   * Such a directory needs no reading when it is finished, beyond names past the
   * last range (usually none).
   */
  private readonly scans = new Map<Ino, { through: string; unlisted: DentryValue[] } | 'too many'>();
  private lastKey: string | undefined;
  private inOrder = true;
  private checks: Promise<void> = Promise.resolve();

  constructor(
    private readonly tree: InodeTree, private readonly seen: SeenInodes, private readonly mountPrefix: string,
    /** Unlisted entries held for one directory at most (then its sweep reads it instead). */
    private readonly maxUnlisted = 10_000,
  ) {}

  /** Every listed key, in listing order (pages as they are taken). */
  listed(objects: readonly { key: string }[]): void {
    if (!this.inOrder) return;
    for (const { key: k } of objects) {
      if (this.lastKey !== undefined && compareKeys(this.lastKey, k) >= 0) {
        this.inOrder = false;
        this.open.clear();
        this.scans.clear();
        return;
      }
      this.lastKey = k;
    }
  }

  /** Where the next range read of directory `dir`'s entries starts; undefined: look names up one by one. */
  scanFrom(dir: Ino): DirScan | undefined {
    if (!this.inOrder) return undefined;
    const s = this.scans.get(dir);
    return s === 'too many' ? undefined : { after: s?.through, maxUnlisted: this.maxUnlisted - (s?.unlisted.length ?? 0) };
  }

  /** What a range read of `dir` (from scanFrom) found. */
  scanned(dir: Ino, r: ScanResult): void {
    if (!this.inOrder) return;
    const s = this.scans.get(dir) ?? { through: r.through, unlisted: [] };
    if (s === 'too many') return;
    if (r.unlisted === 'too many') {
      this.scans.set(dir, 'too many');
      return;
    }
    s.through = r.through;
    s.unlisted.push(...r.unlisted);
    // A directory the store lost most of: its sweep reads it, rather than this holding all it lost.
    this.scans.set(dir, s.unlisted.length > this.maxUnlisted ? 'too many' : s);
  }

  /**
   * After a page's transaction committed: the directories it resolved (paths below
   * the mount root, parts joined by '/'), and the last key of that page. Directories
   * whose prefix the listing has now passed are checked in the background.
   */
  written(dirs: ReadonlyMap<string, Ino | null>, lastKey: string): void {
    if (!this.inOrder) return;
    for (const [path, ino] of dirs) {
      if (ino !== null && path !== '') this.open.set(`${this.mountPrefix}${path}/`, ino);
    }
    for (const [prefix, ino] of this.open) {
      if (lastKey.startsWith(prefix) || compareKeys(lastKey, prefix) < 0) continue;
      this.open.delete(prefix);
      const scan = this.scans.get(ino);
      this.scans.delete(ino);
      this.checks = this.checks.then(() => this.check(ino, scan === 'too many' ? undefined : scan));
    }
  }

  /** With `scan`, only the entries past its ranges are read; those it found unlisted are checked from memory. */
  private async check(ino: Ino, scan: { through: string; unlisted: DentryValue[] } | undefined): Promise<void> {
    if (!this.inOrder) return;
    try {
      const dirs = await subdirsIfAllSeen(this.tree, ino, this.seen, scan ? { after: scan.through, also: scan.unlisted } : {});
      if (dirs) this.verified.set(ino, dirs);
    } catch {
      // No verdict: the sweep reads this directory itself (and meets the error there).
    }
  }

  /** Once the listing is complete: the verdicts, or none if the listing was out of order. */
  async verdicts(): Promise<ReadonlyMap<Ino, readonly Ino[]>> {
    await this.checks;
    return this.inOrder ? this.verified : new Map();
  }

  /** Waits for checks in flight (a sync that failed or was cancelled). */
  async settle(): Promise<void> {
    await this.checks;
  }
}
