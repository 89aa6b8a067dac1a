// The staging of the namespace's mutations: for each, the reads that validate it
// and the changes it puts in its transaction (Txn), with its change-stream record.
// Only ever run inside InodeTree.mutate — alone in the write queue, committed as
// one batch — which also checks the arguments first.
import { WharfError, nowNs, type Attr, type FileType, type Ino } from '../common/index.js';
import type { ChangeLog } from './ChangeLog.js';
import { refuseMoveIntoOwnSubtree } from './checks.js';
import type { CommittedWrite, NewInode, SetAttrChanges } from './MetaClient.js';
import type { Txn } from './Txn.js';

/** Names one inode may have (ext4's EXT4_LINK_MAX). */
const LINK_MAX = 65_000;

/** InodeTree.unlink's staging. */
export async function stageUnlink(tx: Txn, log: ChangeLog | undefined, parent: Ino, name: string): Promise<void> {
  await tx.mustGetDir(parent);
  const entry = await tx.getDentry(parent, name);
  if (!entry) throw new WharfError('ENOENT', `no entry ${JSON.stringify(name)} in directory ${parent}`);
  if (entry.type === 'directory') throw new WharfError('EISDIR', `${JSON.stringify(name)} is a directory; use rmdir`);
  const now = nowNs();
  const attr = await tx.mustGetAttr(entry.ino);
  await log?.stage(tx, { op: 'unlink', at: { parent, name }, attr });
  await tx.removeName(parent, name, attr, now);
  await tx.touchDir(parent, now);
}

/** InodeTree.rmdir's staging. */
export async function stageRmdir(tx: Txn, log: ChangeLog | undefined, parent: Ino, name: string): Promise<void> {
  await tx.mustGetDir(parent);
  const entry = await tx.getDentry(parent, name);
  if (!entry) throw new WharfError('ENOENT', `no entry ${JSON.stringify(name)} in directory ${parent}`);
  if (entry.type !== 'directory') throw new WharfError('ENOTDIR', `${JSON.stringify(name)} is not a directory`);
  if (!(await tx.isEmptyDir(entry.ino))) throw new WharfError('ENOTEMPTY', `directory ${JSON.stringify(name)} is not empty`);
  const attr = await tx.mustGetAttr(entry.ino);
  await log?.stage(tx, { op: 'rmdir', at: { parent, name }, attr });
  await tx.removeChild(parent, name, attr);
  await tx.touchDir(parent, nowNs(), -1);
}

/** InodeTree.rename's staging. */
export async function stageRename(tx: Txn, log: ChangeLog | undefined, parent: Ino, name: string, newParent: Ino, newName: string, options: { noReplace?: boolean }): Promise<void> {
  await tx.mustGetDir(parent);
  await tx.mustGetDir(newParent);
  const src = await tx.getDentry(parent, name);
  if (!src) throw new WharfError('ENOENT', `no entry ${JSON.stringify(name)} in directory ${parent}`);
  const dst = await tx.getDentry(newParent, newName);
  if (dst && options.noReplace) throw new WharfError('EEXIST', `${JSON.stringify(newName)} already exists in directory ${newParent}`);
  // Renaming a name onto itself, or onto another entry for the same inode, does nothing (POSIX).
  if (dst && dst.ino === src.ino) return;
  if (src.type === 'directory') await refuseMoveIntoOwnSubtree(tx, src.ino, newParent);
  if (dst) {
    if (src.type === 'directory' && dst.type !== 'directory') throw new WharfError('ENOTDIR', `cannot replace non-directory ${JSON.stringify(newName)} with a directory`);
    if (src.type !== 'directory' && dst.type === 'directory') throw new WharfError('EISDIR', `cannot replace directory ${JSON.stringify(newName)} with a non-directory`);
    if (dst.type === 'directory' && !(await tx.isEmptyDir(dst.ino))) throw new WharfError('ENOTEMPTY', `directory ${JSON.stringify(newName)} is not empty`);
  }
  const now = nowNs();
  // Paths first: the moves below change the names they are built from.
  await log?.stage(tx, { op: 'rename', at: { parent, name }, to: { parent: newParent, name: newName }, attr: await tx.mustGetAttr(src.ino) });
  if (src.type === 'directory') log?.forgetPaths();
  // The replaced name goes first: its entry key is the one the moved name takes.
  if (dst) {
    const replaced = await tx.mustGetAttr(dst.ino);
    await tx.removeName(newParent, newName, replaced, now);
    if (replaced.type === 'directory') {
      const np = await tx.mustGetAttr(newParent);
      tx.putAttr({ ...np, nlink: np.nlink - 1 });
    }
  }
  const moved = await tx.mustGetAttr(src.ino);
  if (moved.type !== 'directory' && moved.nlink > 1 && !(await tx.isPrimaryName(moved, parent, name))) {
    // A further name of a hard-linked inode: only that name moves.
    tx.moveFurtherName(moved, { parent, name }, { parent: newParent, name: newName });
    tx.putAttr({ ...moved, ctimeNs: now });
  } else {
    tx.delDentry(parent, name);
    tx.putDentry(newParent, newName, src.ino, src.type);
    tx.putAttr({ ...moved, parent: newParent, ctimeNs: now });
  }
  if (src.type === 'directory' && parent !== newParent) {
    const op = await tx.mustGetAttr(parent);
    tx.putAttr({ ...op, nlink: op.nlink - 1 });
    const np = await tx.mustGetAttr(newParent);
    tx.putAttr({ ...np, nlink: np.nlink + 1 });
  }
  for (const p of parent === newParent ? [parent] : [parent, newParent]) {
    const a = await tx.mustGetAttr(p);
    tx.putAttr({ ...a, mtimeNs: now, ctimeNs: now });
  }
}

/** InodeTree.link's staging. */
export async function stageLink(tx: Txn, log: ChangeLog | undefined, ino: Ino, newParent: Ino, newName: string): Promise<Attr> {
  const a = await tx.mustGetAttr(ino);
  if (a.type === 'directory') throw new WharfError('EPERM', `inode ${ino} is a directory: directories cannot be hard-linked`);
  await tx.mustGetDir(newParent);
  if (await tx.getDentry(newParent, newName)) throw new WharfError('EEXIST', `${JSON.stringify(newName)} already exists in directory ${newParent}`);
  if (a.nlink >= LINK_MAX) throw new WharfError('EMLINK', `inode ${ino} already has ${a.nlink} links`);
  const now = nowNs();
  await log?.stage(tx, { op: 'link', at: { ino }, to: { parent: newParent, name: newName }, attr: a });
  tx.addLink(a, newParent, newName, now);
  await tx.touchDir(newParent, now);
  return (await tx.getAttr(ino))!;
}

/** InodeTree.setattr's staging. */
export async function stageSetattr(tx: Txn, log: ChangeLog | undefined, ino: Ino, changes: SetAttrChanges): Promise<Attr> {
  const a = await tx.mustGetAttr(ino);
  const next: Attr = { ...a, ctimeNs: nowNs() };
  if (changes.size !== undefined) {
    if (a.type === 'directory') throw new WharfError('EISDIR', `inode ${ino} is a directory`);
    if (a.type !== 'file') throw new WharfError('EINVAL', `inode ${ino} is a ${a.type}, not a file`);
    tx.addBytes(changes.size - a.size);
    next.size = changes.size;
    // Its bytes now differ from the store's: the file is Wharf's own until it is uploaded again.
    if (changes.size !== a.size) tx.delStoreState(ino);
    if (changes.mtimeNs === undefined) next.mtimeNs = next.ctimeNs;
  }
  if (changes.mode !== undefined) next.mode = changes.mode & 0o7777;
  if (changes.uid !== undefined) next.uid = changes.uid;
  if (changes.gid !== undefined) next.gid = changes.gid;
  if (changes.atimeNs !== undefined) next.atimeNs = changes.atimeNs;
  if (changes.mtimeNs !== undefined) next.mtimeNs = changes.mtimeNs;
  if (changes.pendingWrite !== undefined) {
    if (a.type !== 'file') throw new WharfError('EINVAL', `inode ${ino} is not a file: only files have bytes to upload`);
    const state = await tx.getStoreState(ino);
    if (state && (state.pending ?? false) !== changes.pendingWrite) {
      tx.putStoreState(ino, { gen: state.gen, fingerprint: state.fingerprint, ...(changes.pendingWrite ? { pending: true } : {}) });
    }
  }
  tx.putAttr(next);
  const changed = (['mode', 'uid', 'gid', 'size', 'atimeNs', 'mtimeNs'] as const).filter((k) => changes[k] !== undefined).map((k) => k.replace(/Ns$/, ''));
  // The pending flag alone is an upload's bookkeeping, nothing a client sees.
  if (changed.length > 0) await log?.stage(tx, { op: 'setattr', at: { ino }, attr: next, changed });
  return (await tx.getAttr(ino))!;
}

/** InodeTree.commitWrite's staging. */
export async function stageCommitWrite(tx: Txn, log: ChangeLog | undefined, ino: Ino, w: CommittedWrite, gen: bigint): Promise<Attr> {
  const a = await tx.mustGetAttr(ino);
  if (a.type === 'directory') throw new WharfError('EISDIR', `inode ${ino} is a directory`);
  // A symlink's object holds its target, and a moved object the same bytes: only the store state changes.
  if (a.type === 'file' && !w.moved) {
    tx.addBytes(w.size - a.size);
    tx.putAttr({ ...a, size: w.size, mtimeNs: w.mtimeNs, ctimeNs: nowNs() });
  }
  tx.putStoreState(ino, { gen, fingerprint: `${w.size}:${w.etag}:${w.mtimeNs / 1_000_000n}` });
  const after = (await tx.getAttr(ino))!;
  await log?.stage(tx, { op: 'write', at: { ino }, attr: after });
  return after;
}

/** mkdir, create, symlink, mknod: what they stage. */
export async function stageCreate(tx: Txn, log: ChangeLog | undefined, op: 'mkdir' | 'create' | 'symlink' | 'mknod', parent: Ino, name: string, type: FileType, init: NewInode, target?: string, rdev?: number): Promise<Attr> {
  await tx.mustGetDir(parent);
  if (await tx.getDentry(parent, name)) throw new WharfError('EEXIST', `${JSON.stringify(name)} already exists in directory ${parent}`);
  const now = nowNs();
  const attr = tx.addChild(parent, name, {
    type, mode: init.mode & 0o7777, uid: init.uid, gid: init.gid,
    size: target === undefined ? 0n : BigInt(Buffer.byteLength(target, 'utf8')),
    atimeNs: now, mtimeNs: now, ctimeNs: now, ...(rdev !== undefined ? { rdev } : {}),
  }, target);
  await tx.touchDir(parent, now, type === 'directory' ? 1 : 0);
  await log?.stage(tx, { op, at: { parent, name }, attr });
  return attr;
}

/** setPrimaryName: what it stages (nothing a client sees, so no change-stream record). */
export async function stageSetPrimaryName(tx: Txn, ino: Ino, parent: Ino, name: string): Promise<void> {
  const a = await tx.mustGetAttr(ino);
  const d = await tx.getDentry(parent, name);
  if (!d || d.ino !== ino) throw new WharfError('EINVAL', `${JSON.stringify(name)} in directory ${parent} is not a name of inode ${ino}`);
  if (await tx.isPrimaryName(a, parent, name)) return;
  tx.makePrimary(a, await tx.ownName(ino), parent, name);
}
