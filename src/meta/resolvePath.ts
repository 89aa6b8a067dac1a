// Path resolution over lookups: "..", intermediate symlinks (relative or absolute,
// at most 40 of them), and the last symlink only when asked.
import { NO_INO, ROOT_INO, WharfError, splitPath, type Attr, type Ino } from '../common/index.js';

const MAX_SYMLINK_FOLLOWS = 40;

export interface PathSteps {
  getattr(ino: Ino): Promise<Attr>;
  readlink(ino: Ino): Promise<string>;
  lookup(parent: Ino, name: string): Promise<Attr>;
}

export async function resolvePath(path: string, options: { followLast?: boolean }, steps: PathSteps): Promise<Attr> {
  const pending = splitPath(path).reverse(); // a stack: next component on top
  let current = await steps.getattr(ROOT_INO);
  let follows = 0;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (current.type !== 'directory') throw new WharfError('ENOTDIR', `${path}: a component is not a directory`);
    if (part === '..') {
      current = await steps.getattr(current.parent === NO_INO ? ROOT_INO : current.parent);
      continue;
    }
    const next = await steps.lookup(current.ino, part);
    const isLast = pending.length === 0;
    if (next.type === 'symlink' && (!isLast || options.followLast)) {
      if (++follows > MAX_SYMLINK_FOLLOWS) throw new WharfError('ELOOP', `${path}: too many levels of symbolic links`);
      const target = await steps.readlink(next.ino);
      const targetParts = target.split('/').filter((p) => p !== '' && p !== '.');
      for (let i = targetParts.length - 1; i >= 0; i--) pending.push(targetParts[i]!);
      if (target.startsWith('/')) current = await steps.getattr(ROOT_INO);
      continue;
    }
    current = next;
  }
  return current;
}
