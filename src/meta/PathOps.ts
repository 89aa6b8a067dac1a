// Path-level operations composed from MetaClient calls: what `wharf fs`, the
// demo and tests share. Each works on either MetaClient implementation.
import { ROOT_INO, WharfError, checkName, splitPath, type Attr, type Ino } from '../common/index.js';
import { readdirAll, type MetaClient, type NewInode } from './MetaClient.js';

/** The parent directory's attributes and the last component of an absolute path. */
export async function resolveParent(client: MetaClient, path: string): Promise<{ parent: Attr; name: string }> {
  const parts = splitPath(path);
  const name = parts.pop();
  if (name === undefined) throw new WharfError('EINVAL', `${path}: the root has no parent entry`);
  checkName(name);
  const parent = await client.resolve('/' + parts.join('/'), { followLast: true });
  if (parent.type !== 'directory') throw new WharfError('ENOTDIR', `${path}: the parent is not a directory`);
  return { parent, name };
}

/** mkdir -p: creates missing directories; existing directories are fine, anything else is not. */
export async function mkdirp(client: MetaClient, path: string, init: NewInode): Promise<Attr> {
  let at = await client.getattr(ROOT_INO);
  for (const part of splitPath(path)) {
    if (part === '..') {
      at = await client.getattr(at.parent === 0n ? ROOT_INO : at.parent);
      continue;
    }
    try {
      at = await client.lookup(at.ino, part);
    } catch (e) {
      if (!(e instanceof WharfError) || e.errno !== 'ENOENT') throw e;
      try {
        at = await client.mkdir(at.ino, part, init);
      } catch (e2) {
        // Another client created it between our lookup and mkdir: take theirs.
        if (!(e2 instanceof WharfError) || e2.errno !== 'EEXIST') throw e2;
        at = await client.lookup(at.ino, part);
      }
    }
    if (at.type !== 'directory') throw new WharfError('ENOTDIR', `${path}: ${part} is not a directory`);
  }
  return at;
}

/** rm -r: removes a file, symlink or whole directory tree, depth first. Returns entries removed. */
export async function removeTree(client: MetaClient, parent: Ino, name: string): Promise<number> {
  const target = await client.lookup(parent, name);
  if (target.type !== 'directory') {
    await client.unlink(parent, name);
    return 1;
  }
  let removed = 0;
  // Collect first: removing while paging would move the cursor under us.
  const children: string[] = [];
  for await (const e of readdirAll(client, target.ino)) children.push(e.name);
  for (const child of children) removed += await removeTree(client, target.ino, child);
  await client.rmdir(parent, name);
  return removed + 1;
}

export interface TreeNode {
  name: string;
  attr: Attr;
  children?: TreeNode[];
  /** True where `maxDepth` cut the walk short. */
  truncated?: boolean;
}

/** Walks a subtree breadth-first per directory, to `maxDepth` levels below `root`. */
export async function walkTree(client: MetaClient, name: string, root: Attr, maxDepth = Infinity): Promise<TreeNode> {
  const node: TreeNode = { name, attr: root };
  if (root.type !== 'directory') return node;
  if (maxDepth <= 0) return { ...node, truncated: true };
  node.children = [];
  for await (const e of readdirAll(client, root.ino)) node.children.push(await walkTree(client, e.name, e.attr, maxDepth - 1));
  return node;
}
