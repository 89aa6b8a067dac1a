// One namespace mutation in the making: reads through to LevelDB, stages every
// change in memory, and commits them as a single atomic batch. Only ever used
// inside WriteQueue.run, so the state it reads cannot change under it.
import type { Level } from 'level';
import { WharfError, type Attr, type FileType, type Ino } from '../common/index.js';
import { decodeDentry, decodeInode, encodeDentry, encodeInode, encodeU64, type DentryValue } from './codec.js';
import { dentryKey, inodeKey, metaKey, symlinkKey } from './keys.js';

export type Db = Level<Buffer, Buffer>;

/** Persistent counters a transaction may move; the tree owns their live values. */
export interface Counters {
  nextIno: Ino;
  inodes: bigint;
  bytes: bigint;
}

type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export class Txn {
  private readonly attrs = new Map<Ino, Attr | null>();
  private readonly ops = new Map<string, Op>();
  private readonly bumped = new Set<Ino>();
  readonly counters: Counters;
  private countersChanged = false;

  constructor(private readonly db: Db, committed: Counters) {
    this.counters = { ...committed };
  }

  async getAttr(ino: Ino): Promise<Attr | undefined> {
    const staged = this.attrs.get(ino);
    if (staged !== undefined) return staged === null ? undefined : { ...staged };
    const raw = await this.db.get(inodeKey(ino));
    return raw === undefined ? undefined : decodeInode(ino, raw);
  }

  async mustGetAttr(ino: Ino): Promise<Attr> {
    const a = await this.getAttr(ino);
    if (!a) throw new WharfError('ENOENT', `inode ${ino} does not exist`);
    return a;
  }

  async mustGetDir(ino: Ino): Promise<Attr> {
    const a = await this.mustGetAttr(ino);
    if (a.type !== 'directory') throw new WharfError('ENOTDIR', `inode ${ino} is not a directory`);
    return a;
  }

  async getDentry(parent: Ino, name: string): Promise<DentryValue | undefined> {
    const k = dentryKey(parent, name);
    const staged = this.ops.get(k.toString('latin1'));
    if (staged) return staged.type === 'put' ? decodeDentry(staged.value) : undefined;
    const raw = await this.db.get(k);
    return raw === undefined ? undefined : decodeDentry(raw);
  }

  async isEmptyDir(ino: Ino): Promise<boolean> {
    // Only called on directories whose entries this transaction has not touched.
    const keys = await this.db.keys({ gte: dentryKey(ino, ''), lt: dentryKey(ino + 1n, ''), limit: 1 }).all();
    return keys.length === 0;
  }

  allocIno(): Ino {
    const ino = this.counters.nextIno;
    this.counters.nextIno = ino + 1n;
    this.countersChanged = true;
    return ino;
  }

  /** Stages a changed inode record; its version goes up once per transaction. */
  putAttr(a: Attr): void {
    const next = { ...a };
    if (!this.bumped.has(a.ino)) {
      next.version = a.version + 1n;
      this.bumped.add(a.ino);
    }
    this.attrs.set(a.ino, next);
  }

  putNewAttr(a: Attr): void {
    this.bumped.add(a.ino);
    this.attrs.set(a.ino, { ...a });
    this.counters.inodes += 1n;
    this.countersChanged = true;
  }

  delInode(a: Attr): void {
    this.attrs.set(a.ino, null);
    this.counters.inodes -= 1n;
    if (a.type === 'file') this.addBytes(-a.size);
    if (a.type === 'symlink') this.del(symlinkKey(a.ino));
    this.countersChanged = true;
  }

  addBytes(delta: bigint): void {
    if (delta === 0n) return;
    this.counters.bytes += delta;
    this.countersChanged = true;
  }

  putDentry(parent: Ino, name: string, ino: Ino, type: FileType): void {
    this.put(dentryKey(parent, name), encodeDentry(ino, type));
  }

  delDentry(parent: Ino, name: string): void {
    this.del(dentryKey(parent, name));
  }

  putSymlink(ino: Ino, target: string): void {
    this.put(symlinkKey(ino), Buffer.from(target, 'utf8'));
  }

  private put(key: Buffer, value: Buffer): void {
    this.ops.set(key.toString('latin1'), { type: 'put', key, value });
  }

  private del(key: Buffer): void {
    this.ops.set(key.toString('latin1'), { type: 'del', key });
  }

  /** Writes everything as one batch. Returns the counters the tree should now hold. */
  async commit(sync: boolean): Promise<Counters> {
    const batch: Op[] = [...this.ops.values()];
    for (const [ino, a] of this.attrs) {
      batch.push(a === null ? { type: 'del', key: inodeKey(ino) } : { type: 'put', key: inodeKey(ino), value: encodeInode(a) });
    }
    if (this.countersChanged) {
      batch.push({ type: 'put', key: metaKey('nextIno'), value: encodeU64(this.counters.nextIno) });
      batch.push({ type: 'put', key: metaKey('inodes'), value: encodeU64(this.counters.inodes) });
      batch.push({ type: 'put', key: metaKey('bytes'), value: encodeU64(this.counters.bytes < 0n ? 0n : this.counters.bytes) });
    }
    if (batch.length > 0) await this.db.batch(batch, { sync });
    return this.counters;
  }
}
