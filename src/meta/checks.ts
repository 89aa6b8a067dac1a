// Argument checks of the namespace calls: each failure is a precise EINVAL.
import { MAX_INO, NO_INO, WharfError, type Ino } from '../common/index.js';
import type { Txn } from './Txn.js';

export function checkIno(ino: Ino): void {
  if (typeof ino !== 'bigint') throw new WharfError('EINVAL', 'inode numbers are bigint');
  if (ino <= 0n || ino > MAX_INO) throw new WharfError('EINVAL', `inode number ${ino} is out of range`);
}

export function checkMode(mode: number): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new WharfError('EINVAL', `mode ${mode} is not a permission mode (0..07777)`);
}

export function checkOwner(o: { uid: number; gid: number }): void {
  for (const [k, v] of [['uid', o.uid], ['gid', o.gid]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new WharfError('EINVAL', `${k} ${v} is out of range`);
  }
}

/** A directory may not move below itself: walk up from the destination to the root. */
export async function refuseMoveIntoOwnSubtree(tx: Txn, dir: Ino, newParent: Ino): Promise<void> {
  let at = newParent;
  for (let hops = 0; at !== NO_INO; hops++) {
    if (at === dir) throw new WharfError('EINVAL', `cannot move directory ${dir} into its own subtree`);
    if (hops > 1_000_000) throw new WharfError('EIO', 'parent chain does not reach the root; run wharf fsck');
    at = (await tx.mustGetAttr(at)).parent;
  }
}
