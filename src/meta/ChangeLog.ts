// The namespace's change stream, on the write side: an outbox of the mutations
// clients make (create, delete, rename, setattr, a file's new bytes …), each
// written as an 'O' record in the very batch that makes the change. A crash
// between the commit and the publishing loses nothing: the relay (src/master
// ChangeStream) reads the outbox, publishes, and only then deletes.
//
// Sequence numbers come from a persisted counter ('M' changeSeq) and are never
// reused; a failed batch burns the numbers it took (a gap, never a repeat).
// Mutations run one at a time (WriteQueue), so one "staged in this transaction"
// count is enough.
//
// What is not in it: changes sync or store events make (they came from the store,
// whose own events carry them), and bookkeeping that changes nothing a client sees
// (a hard link's primary name, an upload's pending flag).
import { LRUCache } from 'lru-cache';
import { ROOT_INO, type Attr, type FileType, type Ino } from '../common/index.js';
import { decodeU64, encodeU64 } from './codec.js';
import { changeKey, familyRange, metaKey, parseChangeKey } from './keys.js';
import type { Db, Txn } from './Txn.js';

export const CHANGE_OPS = ['create', 'mkdir', 'symlink', 'mknod', 'unlink', 'rmdir', 'rename', 'link', 'setattr', 'write'] as const;
export type ChangeOp = (typeof CHANGE_OPS)[number];

export interface NamespaceChange {
  seq: bigint;
  op: ChangeOp;
  /** The absolute namespace path the change is about (for a rename, where it came from). */
  path: string;
  /** rename: where it went; link: the new name. */
  toPath?: string;
  ino: Ino;
  type: FileType;
  timeMs: number;
  /** setattr, write: the file's size afterwards. */
  size?: bigint;
  /** setattr: which attributes it set (mode, uid, gid, size, atime, mtime). */
  changed?: string[];
}

interface Encoded { op: ChangeOp; path: string; toPath?: string; ino: string; type: FileType; timeMs: number; size?: string; changed?: string[] }

function encode(c: Omit<NamespaceChange, 'seq'>): Buffer {
  const e: Encoded = { op: c.op, path: c.path, ino: c.ino.toString(), type: c.type, timeMs: c.timeMs };
  if (c.toPath !== undefined) e.toPath = c.toPath;
  if (c.size !== undefined) e.size = c.size.toString();
  if (c.changed) e.changed = c.changed;
  return Buffer.from(JSON.stringify(e));
}

function decode(seq: bigint, raw: Buffer): NamespaceChange {
  const e = JSON.parse(raw.toString('utf8')) as Encoded;
  return {
    seq, op: e.op, path: e.path, ino: BigInt(e.ino), type: e.type, timeMs: e.timeMs,
    ...(e.toPath !== undefined ? { toPath: e.toPath } : {}), ...(e.size !== undefined ? { size: BigInt(e.size) } : {}), ...(e.changed ? { changed: e.changed } : {}),
  };
}

/** A change as a mutation describes it: names by directory, resolved to paths here. */
export interface StagedChange {
  op: ChangeOp;
  /** The entry it is about: (parent, name), or the inode itself (setattr, write). */
  at: { parent: Ino; name: string } | { ino: Ino };
  to?: { parent: Ino; name: string };
  attr: Attr;
  changed?: string[];
}

export class ChangeLog {
  /** Directory paths by inode, for changes deep in the tree; cleared when a directory moves. */
  private readonly dirPaths = new LRUCache<Ino, string>({ max: 20_000 });
  private stagedInTx = 0;
  private waiters: (() => void)[] = [];
  private constructor(private readonly db: Db, private last: bigint, private count: number) {}

  static async open(db: Db): Promise<ChangeLog> {
    const raw = await db.get(metaKey('changeSeq'));
    let count = 0;
    for await (const _ of db.keys(familyRange('change'))) count++;
    return new ChangeLog(db, raw ? decodeU64(raw) : 0n, count);
  }

  /** After a batch whose outcome is unknown: the counter and the count as the store has them. */
  async reload(): Promise<void> {
    const raw = await this.db.get(metaKey('changeSeq'));
    // Never lower: numbers a failed batch took stay burned (a gap, never a repeat).
    if (raw && decodeU64(raw) > this.last) this.last = decodeU64(raw);
    let count = 0;
    for await (const _ of this.db.keys(familyRange('change'))) count++;
    this.count = count;
  }

  /** Changes written and not yet published. */
  get pending(): number {
    return this.count;
  }

  /** The last sequence number handed out. */
  get lastSeq(): bigint {
    return this.last;
  }

  // ---- the write side (inside a mutation's transaction) ------------------------------

  /** Before a mutation runs (InodeTree.apply). */
  begin(): void {
    this.stagedInTx = 0;
  }

  /** Writes `c` to the outbox in `tx`'s batch. */
  async stage(tx: Txn, c: StagedChange): Promise<void> {
    const path = 'ino' in c.at ? await this.inodePath(tx, c.at.ino, c.attr) : join(await this.dirPath(tx, c.at.parent), c.at.name);
    const toPath = c.to ? join(await this.dirPath(tx, c.to.parent), c.to.name) : undefined;
    const seq = ++this.last;
    tx.putRecord(changeKey(seq), encode({
      op: c.op, path, ino: c.attr.ino, type: c.attr.type, timeMs: Date.now(),
      ...(toPath !== undefined ? { toPath } : {}),
      ...((c.op === 'setattr' || c.op === 'write') && c.attr.type === 'file' ? { size: c.attr.size } : {}),
      ...(c.changed ? { changed: c.changed } : {}),
    }));
    tx.putRecord(metaKey('changeSeq'), encodeU64(seq));
    this.stagedInTx++;
  }

  /** A directory moved: every cached path below it may be wrong. */
  forgetPaths(): void {
    this.dirPaths.clear();
  }

  /** The mutation's batch is in LevelDB: wake the relay. */
  committed(): void {
    if (this.stagedInTx === 0) return;
    this.count += this.stagedInTx;
    this.stagedInTx = 0;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async dirPath(tx: Txn, ino: Ino): Promise<string> {
    if (ino === ROOT_INO) return '';
    const hit = this.dirPaths.get(ino);
    if (hit !== undefined) return hit;
    const a = await tx.mustGetAttr(ino);
    const p = join(await this.dirPath(tx, a.parent), await tx.ownName(ino));
    this.dirPaths.set(ino, p);
    return p;
  }

  private async inodePath(tx: Txn, ino: Ino, a: Attr): Promise<string> {
    if (ino === ROOT_INO) return '/';
    if (a.type === 'directory') return this.dirPath(tx, ino);
    return join(await this.dirPath(tx, a.parent), await tx.ownName(ino));
  }

  // ---- the read side (the relay) -----------------------------------------------------

  /** Up to `limit` unpublished changes, oldest first. */
  async read(limit: number): Promise<NamespaceChange[]> {
    const rows = await this.db.iterator({ ...familyRange('change'), limit }).all();
    return rows.map(([k, v]) => decode(parseChangeKey(k), v));
  }

  /** Resolves when a change is committed, or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters = this.waiters.filter((f) => f !== done); resolve(); }, ms);
      const done = () => { clearTimeout(t); resolve(); };
      this.waiters.push(done);
    });
  }

  /** Deletes published changes (in `tx`, with whatever else the relay writes). */
  remove(tx: Txn, seqs: readonly bigint[]): void {
    for (const s of seqs) tx.delRecord(changeKey(s));
  }

  /** After the batch that removed `n` published changes committed. */
  removed(n: number): void {
    this.count = Math.max(0, this.count - n);
  }
}

function join(dir: string, name: string): string {
  return `${dir}/${name}`;
}
