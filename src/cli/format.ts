// How the CLI prints things: `ls -l` lines, stat blocks, trees, and JSON with
// bigints as strings (inode numbers stay exact in scripts).
import { statMode, type Attr, type DirEntry } from '../common/index.js';
import type { FsckReport, TreeNode } from '../meta/index.js';

export function attrJson(a: Attr): Record<string, unknown> {
  return {
    ino: a.ino.toString(), type: a.type, mode: '0' + a.mode.toString(8).padStart(3, '0'), uid: a.uid, gid: a.gid,
    size: a.size.toString(), nlink: a.nlink, atime: nsToIso(a.atimeNs), mtime: nsToIso(a.mtimeNs), ctime: nsToIso(a.ctimeNs),
    atimeNs: a.atimeNs.toString(), mtimeNs: a.mtimeNs.toString(), ctimeNs: a.ctimeNs.toString(),
    parent: a.parent.toString(), version: a.version.toString(),
  };
}

export function nsToIso(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

export function modeString(a: Pick<Attr, 'type' | 'mode'>): string {
  const m = statMode(a);
  const t = a.type === 'directory' ? 'd' : a.type === 'symlink' ? 'l' : '-';
  const rwx = (bits: number, special: boolean, ch: string) =>
    (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (bits & 1 ? (special ? ch : 'x') : special ? ch.toUpperCase() : '-');
  return t + rwx((m >> 6) & 7, (m & 0o4000) !== 0, 's') + rwx((m >> 3) & 7, (m & 0o2000) !== 0, 's') + rwx(m & 7, (m & 0o1000) !== 0, 't');
}

export function lsLine(e: DirEntry, target?: string): string {
  const a = e.attr;
  const when = nsToIso(a.mtimeNs).replace('T', ' ').slice(0, 16);
  return `${modeString(a)} ${String(a.nlink).padStart(3)} ${String(a.uid).padStart(5)} ${String(a.gid).padStart(5)} ${a.size.toString().padStart(12)} ${when} ${e.name}${target !== undefined ? ` -> ${target}` : ''}`;
}

export function statText(path: string, a: Attr): string {
  return [
    `  File: ${path}`,
    `  Type: ${a.type}   Size: ${a.size}   Links: ${a.nlink}`,
    ` Inode: ${a.ino}   Parent: ${a.parent}   Version: ${a.version}`,
    `Access: (0${a.mode.toString(8).padStart(3, '0')}/${modeString(a)})  Uid: ${a.uid}  Gid: ${a.gid}`,
    `Access: ${nsToIso(a.atimeNs)}`,
    `Modify: ${nsToIso(a.mtimeNs)}`,
    `Change: ${nsToIso(a.ctimeNs)}`,
  ].join('\n');
}

export function treeText(root: TreeNode): string {
  const lines = [root.name];
  let dirs = 0;
  let files = 0;
  const walk = (n: TreeNode, prefix: string) => {
    const kids = n.children ?? [];
    kids.forEach((k, i) => {
      const last = i === kids.length - 1;
      lines.push(`${prefix}${last ? '└── ' : '├── '}${k.name}${k.attr.type === 'directory' ? '/' : ''}${k.truncated ? ' …' : ''}`);
      if (k.attr.type === 'directory') dirs++;
      else files++;
      walk(k, prefix + (last ? '    ' : '│   '));
    });
  };
  walk(root, '');
  lines.push('', `${dirs} directories, ${files} files`);
  return lines.join('\n');
}

export function treeJson(n: TreeNode): Record<string, unknown> {
  return { name: n.name, ...attrJson(n.attr), ...(n.truncated ? { truncated: true } : {}), ...(n.children ? { children: n.children.map(treeJson) } : {}) };
}

export function fsckText(r: FsckReport): string {
  const lines = r.findings.map((f) => `${f.repaired ? 'repaired' : 'PROBLEM '} ${f.kind}: ${f.detail}`);
  const open = r.findings.filter((f) => !f.repaired).length;
  const fixed = r.findings.length - open;
  lines.push(`${r.inodes} inodes, ${r.entries} entries checked: ${r.findings.length === 0 ? 'clean' : `${open} problem(s) left, ${fixed} repaired`}`);
  return lines.join('\n');
}
