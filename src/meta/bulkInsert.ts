// The in-process batch path: many entries added to one directory in one batch.
// Names are checked first, then refused with EEXIST (duplicates in the request, or
// names that exist) before anything is written; new records skip the transaction's
// staging maps (Txn.addChild fresh), which is what makes 1M inodes take seconds.
import { WharfError, checkName, checkSymlinkTarget, nowNs, type FileType, type Ino } from '../common/index.js';
import { checkIno, checkMode } from './checks.js';
import type { InodeTree } from './InodeTree.js';

export interface BulkItem {
  name: string;
  type: Exclude<FileType, 'directory'> | 'directory';
  mode: number;
  uid?: number;
  gid?: number;
  size?: bigint;
  mtimeNs?: bigint;
  /** Symlink target, for type 'symlink'. */
  target?: string;
}

export async function bulkInsert(tree: InodeTree, parent: Ino, items: readonly BulkItem[]): Promise<Ino[]> {
  checkIno(parent);
  for (const it of items) {
    checkName(it.name);
    checkMode(it.mode);
    if (it.type === 'symlink') checkSymlinkTarget(it.target);
  }
  return tree.write('bulkInsert', async (tx) => {
    await tx.mustGetDir(parent);
    const seen = new Set<string>();
    for (const it of items) {
      if (seen.has(it.name)) throw new WharfError('EEXIST', `${JSON.stringify(it.name)} appears twice in one bulk insert`);
      seen.add(it.name);
    }
    const existing = await tx.getDentries(parent, items.map((it) => it.name));
    const clash = existing.findIndex((v) => v !== undefined);
    if (clash >= 0) throw new WharfError('EEXIST', `${JSON.stringify(items[clash]!.name)} already exists in directory ${parent}`);
    const now = nowNs();
    let subdirs = 0;
    const inos = items.map((it) => {
      const size = it.type === 'symlink' ? BigInt(Buffer.byteLength(it.target!, 'utf8')) : it.type === 'file' ? (it.size ?? 0n) : 0n;
      if (it.type === 'directory') subdirs++;
      return tx.addChild(parent, it.name, {
        type: it.type, mode: it.mode & 0o7777, uid: it.uid ?? 0, gid: it.gid ?? 0, size,
        atimeNs: it.mtimeNs ?? now, mtimeNs: it.mtimeNs ?? now, ctimeNs: now,
      }, it.type === 'symlink' ? it.target! : undefined, true).ino;
    });
    await tx.touchDir(parent, now, subdirs);
    return inos;
  });
}
