// Offline consistency check of a namespace (`wharf fsck`). It scans every inode,
// entry and symlink record and checks the invariants the InodeTree keeps:
//   - every entry sits in a live directory and points to a live inode of the type it records;
//   - every directory but the root has exactly one entry, and its parent pointer names
//     that entry's directory; the root has none and parent 0;
//   - every other inode has one entry or more (hard links): its record's parent and own
//     name name one of them (the primary name) and each other one has an 'H' key, and
//     each 'H' key names an entry for its inode;
//   - everything is reachable from the root (so there are no cycles);
//   - link counts: the entries for files, symlinks and special files, 2 + subdirectories for directories;
//   - symlinks have targets and targets have symlinks; the counters match the records;
//   - the own name in each inode record repeats the name of its one entry.
// `repair` fixes only what has one right answer. Left alone and reported: multiply-
// linked directories, detached cycles, symlinks without targets, unreadable inode records
// (their entries are kept), and a missing root.
import { NO_INO, ROOT_INO, WharfError, nowNs, type Attr, type FileType, type Ino } from '../common/index.js';
import { decodeDentry, decodeInode, decodeRecordName, decodeRecordState, decodeU64, encodeDentry, encodeRecord, encodeU64, type StoreState } from './codec.js';
import { FORMAT_VERSION, dentryKey, familyRange, inodeKey, linkKey, metaKey, parseDentryKey, parseInodeKey, parseLinkKey, parseSymlinkKey, parseInoKey } from './keys.js';
import { Level } from 'level';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './Txn.js';
import { isPostgresUrl, metaTarget } from './KvStore.js';

export const FINDING_KINDS = [
  'missing-root', 'bad-root', 'unreadable-record', 'entry-in-missing-dir', 'dangling-entry', 'entry-type-mismatch',
  'orphan-inode', 'multiply-linked', 'wrong-parent', 'unreachable-cycle', 'wrong-nlink',
  'symlink-without-target', 'target-without-symlink', 'orphan-sync-record', 'wrong-name-record', 'bad-counter',
  'orphan-link-record', 'missing-link-record',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  kind: FindingKind;
  ino?: string;
  detail: string;
  repaired: boolean;
}

export interface FsckReport {
  inodes: number;
  entries: number;
  findings: Finding[];
  /** True when no problem is left (none found, or all repaired). */
  clean: boolean;
}

interface InodeInfo {
  attr: Attr;
  /** The own name and store state the record holds (written back as they are by a repair). */
  name: string;
  state: StoreState | undefined;
  refs: { parent: Ino; name: string }[];
  subdirs: number;
}

type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export const LOST_AND_FOUND = 'lost+found';

export async function fsck(db: Db, options: { repair?: boolean } = {}): Promise<FsckReport> {
  const repair = options.repair ?? false;
  // Another layout's records would all look wrong here, and a repair would rewrite
  // them in this layout without what the old one kept elsewhere (layout 1's names and
  // store states): refuse instead. The master migrates a layout-1 directory on start.
  const format = await db.get(metaKey('format'));
  if (format !== undefined && (format.length !== 4 || format.readUInt32BE(0) !== FORMAT_VERSION)) {
    const version = format.length === 4 ? format.readUInt32BE(0) : NaN;
    throw new WharfError('EINVAL', version === 1
      ? 'this data directory has layout version 1: start a master on it once (it migrates the namespace to layout 2), stop it, then run fsck'
      : `this data directory has layout version ${version}; this Wharf checks layout ${FORMAT_VERSION}`);
  }
  const findings: Finding[] = [];
  const ops: Op[] = [];
  /** Inodes a repair changed: their records are rewritten whole, once, at the end. */
  const dirty = new Set<InodeInfo>();
  const note = (kind: FindingKind, detail: string, ino?: Ino, fix?: () => void): void => {
    const repaired = repair && fix !== undefined;
    if (repaired) fix!();
    findings.push({ kind, detail, repaired, ...(ino !== undefined ? { ino: ino.toString() } : {}) });
  };

  const inodes = new Map<Ino, InodeInfo>();
  /** Records that exist but cannot be decoded: never "missing", never repaired (a person decides). */
  const unreadable = new Set<Ino>();
  let maxIno = 0n;
  let bytes = 0n;
  for await (const [k, v] of db.iterator(familyRange('inode'))) {
    const ino = parseInodeKey(k);
    try {
      const attr = decodeInode(ino, v);
      inodes.set(ino, { attr, name: decodeRecordName(v) ?? '', state: decodeRecordState(v), refs: [], subdirs: 0 });
      if (attr.type === 'file') bytes += attr.size;
    } catch (e) {
      unreadable.add(ino);
      note('unreadable-record', (e as WharfError).message, ino);
    }
    if (ino > maxIno) maxIno = ino;
  }

  const root = inodes.get(ROOT_INO);
  if (!root) {
    note('missing-root', 'the root inode is missing; repair cannot rebuild it', ROOT_INO);
    return { inodes: inodes.size, entries: 0, findings, clean: false };
  }
  if (root.attr.type !== 'directory' || root.attr.parent !== NO_INO) {
    note('bad-root', `the root is a ${root.attr.type} with parent ${root.attr.parent}`, ROOT_INO, root.attr.type === 'directory' ? () => {
      root.attr.parent = NO_INO;
      dirty.add(root);
    } : undefined);
  }

  const children = new Map<Ino, Ino[]>();
  let entries = 0;
  for await (const [k, v] of db.iterator(familyRange('dentry'))) {
    entries++;
    const { parent, name } = parseDentryKey(k);
    const where = `entry ${JSON.stringify(name)} in directory ${parent}`;
    let dv: { ino: Ino; type: FileType };
    try {
      dv = decodeDentry(v);
    } catch (e) {
      note('unreadable-record', `${where}: ${(e as Error).message}`, parent, () => ops.push({ type: 'del', key: k }));
      continue;
    }
    const dir = inodes.get(parent);
    if (!dir || dir.attr.type !== 'directory') {
      note('entry-in-missing-dir', `${where}: the directory does not exist`, parent, () => ops.push({ type: 'del', key: k }));
      continue;
    }
    if (unreadable.has(dv.ino)) continue; // its entry stays: the record is there, only unreadable
    const child = inodes.get(dv.ino);
    if (!child) {
      note('dangling-entry', `${where} points to missing inode ${dv.ino}`, dv.ino, () => ops.push({ type: 'del', key: k }));
      continue;
    }
    if (child.attr.type !== dv.type) {
      note('entry-type-mismatch', `${where} says ${dv.type}, inode ${dv.ino} is a ${child.attr.type}`, dv.ino,
        () => ops.push({ type: 'put', key: k, value: encodeDentry(dv.ino, child.attr.type) }));
    }
    child.refs.push({ parent, name });
    if (child.attr.type === 'directory') dir.subdirs++;
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(dv.ino);
  }

  const symlinkTargets = new Set<Ino>();
  for await (const k of db.keys(familyRange('symlink'))) {
    const ino = parseSymlinkKey(k);
    symlinkTargets.add(ino);
    if (unreadable.has(ino)) continue;
    if (inodes.get(ino)?.attr.type !== 'symlink') {
      note('target-without-symlink', `symlink target record for inode ${ino}, which is not a symlink`, ino, () => ops.push({ type: 'del', key: k }));
    }
  }

  // Hard links: each further name has an 'H' key, and each 'H' key names an entry.
  const linkKeys = new Map<Ino, Set<string>>();
  const refKey = (parent: Ino, name: string) => `${parent}/${name}`;
  for await (const k of db.keys(familyRange('link'))) {
    const { ino, parent, name } = parseLinkKey(k);
    if (unreadable.has(ino)) continue;
    const info = inodes.get(ino);
    const named = info?.refs.some((r) => r.parent === parent && r.name === name) ?? false;
    const primary = info !== undefined && info.attr.parent === parent && info.name === name;
    if (!info || info.attr.type === 'directory' || !named || primary) {
      const why = !info ? 'which is gone' : info.attr.type === 'directory' ? 'a directory' : !named ? 'with no such entry' : 'for its primary name';
      note('orphan-link-record', `link record ${JSON.stringify(name)} in directory ${parent} for inode ${ino}, ${why}`, ino, () => ops.push({ type: 'del', key: k }));
      continue;
    }
    let set = linkKeys.get(ino);
    if (!set) linkKeys.set(ino, (set = new Set()));
    set.add(refKey(parent, name));
  }
  for (const [ino, info] of inodes) {
    if (ino === ROOT_INO || info.attr.type === 'directory' || info.refs.length < 2) continue;
    let primary = info.refs.find((r) => r.parent === info.attr.parent && r.name === info.name);
    if (!primary) {
      const first = info.refs[0]!;
      note('wrong-parent', `inode ${ino} says ${info.attr.parent}/${JSON.stringify(info.name)}, which is none of its ${info.refs.length} entries`, ino, () => {
        info.attr.parent = first.parent;
        info.name = first.name;
        dirty.add(info);
        if (linkKeys.get(ino)?.delete(refKey(first.parent, first.name))) ops.push({ type: 'del', key: linkKey(ino, first.parent, first.name) });
      });
      primary = first;
    }
    for (const r of info.refs) {
      if (r === primary || linkKeys.get(ino)?.has(refKey(r.parent, r.name))) continue;
      note('missing-link-record', `inode ${ino}'s entry ${JSON.stringify(r.name)} in directory ${r.parent} has no link record`, ino,
        () => ops.push({ type: 'put', key: linkKey(ino, r.parent, r.name), value: Buffer.alloc(0) }));
    }
  }

  // Each inode's record repeats the name of its one entry.
  for (const [ino, info] of inodes) {
    if (ino === ROOT_INO || info.refs.length !== 1) continue;
    const want = info.refs[0]!.name;
    if (info.name !== want) {
      note('wrong-name-record', `inode ${ino} has own name ${JSON.stringify(info.name)}; its entry is ${JSON.stringify(want)}`, ino, () => {
        info.name = want;
        dirty.add(info);
      });
    }
  }

  // Sync times belong to live directories.
  for await (const k of db.keys(familyRange('syncTimes'))) {
    const ino = parseInoKey(k);
    if (unreadable.has(ino)) continue;
    const info = inodes.get(ino);
    if (!info || info.attr.type !== 'directory') {
      note('orphan-sync-record', `sync times record for inode ${ino}, which is ${info ? 'not a directory' : 'gone'}`, ino,
        () => ops.push({ type: 'del', key: k }));
    }
  }

  // Reachability through entries found valid above: from the root, and from each
  // orphan (whose subtree comes back with it), so only true cycles stay unreached.
  const starts = [ROOT_INO, ...[...inodes].filter(([ino, i]) => ino !== ROOT_INO && i.refs.length === 0).map(([ino]) => ino)];
  const reached = new Set<Ino>(starts);
  const queue: Ino[] = [...starts];
  while (queue.length > 0) {
    const at = queue.pop()!;
    for (const c of children.get(at) ?? []) {
      if (reached.has(c)) continue;
      reached.add(c);
      if (inodes.get(c)!.attr.type === 'directory') queue.push(c);
    }
  }

  const orphans: InodeInfo[] = [];
  for (const [ino, info] of inodes) {
    const a = info.attr;
    if (ino === ROOT_INO) {
      if (info.refs.length > 0) note('multiply-linked', `the root is named by ${info.refs.length} entries`, ino);
    } else if (info.refs.length === 0) {
      note('orphan-inode', `inode ${ino} (${a.type}) has no entry`, ino, () => orphans.push(info));
    } else if (info.refs.length > 1 && a.type === 'directory') {
      note('multiply-linked', `inode ${ino} is named by ${info.refs.map((r) => `${r.parent}/${r.name}`).join(', ')}`, ino);
    } else if (info.refs.length > 1) {
      if (!reached.has(ino)) note('unreachable-cycle', `inode ${ino} is not reachable from the root (a detached cycle)`, ino);
    } else {
      const ref = info.refs[0]!;
      if (a.parent !== ref.parent) {
        note('wrong-parent', `inode ${ino} says parent ${a.parent}; its entry is in ${ref.parent}`, ino, () => {
          a.parent = ref.parent;
          dirty.add(info);
        });
      }
      if (!reached.has(ino)) note('unreachable-cycle', `inode ${ino} is not reachable from the root (a detached cycle)`, ino);
    }
    const want = a.type === 'directory' ? 2 + info.subdirs : Math.max(1, info.refs.length);
    if (a.nlink !== want) {
      note('wrong-nlink', `inode ${ino} has nlink ${a.nlink}; ${want} expected`, ino, () => {
        a.nlink = want;
        dirty.add(info);
      });
    }
    if (a.type === 'symlink' && !symlinkTargets.has(ino)) note('symlink-without-target', `symlink ${ino} has no target record`, ino);
  }

  const [nextRaw, countRaw, bytesRaw] = await db.getMany([metaKey('nextIno'), metaKey('inodes'), metaKey('bytes')]);
  const have = (raw: Buffer | undefined) => (raw ? decodeU64(raw) : undefined);
  // The truth as found; checked before any repair changes it.
  const nextOnDisk = have(nextRaw);
  const live = BigInt(inodes.size + unreadable.size);
  const findingsBefore = findings.length;
  if (nextOnDisk === undefined || nextOnDisk <= maxIno) note('bad-counter', `next inode number is ${nextOnDisk ?? 'missing'}; above ${maxIno} expected`, undefined, () => undefined);
  if (have(countRaw) !== live) note('bad-counter', `inode count is ${have(countRaw) ?? 'missing'}; ${live} expected`, undefined, () => undefined);
  // A file's size is unknown while its record is unreadable: the byte count cannot be judged.
  if (unreadable.size === 0 && have(bytesRaw) !== bytes) note('bad-counter', `byte count is ${have(bytesRaw) ?? 'missing'}; ${bytes} expected`, undefined, () => undefined);

  // Inode numbers are never reused, so a new lost+found takes the larger of the counter and max+1.
  let next = nextOnDisk !== undefined && nextOnDisk > maxIno ? nextOnDisk : maxIno + 1n;
  if (orphans.length > 0) {
    attachOrphans(orphans, inodes, root, ops, dirty, () => {
      const ino = next;
      next += 1n;
      return ino;
    });
  }
  const countersWrong = findings.length > findingsBefore;
  for (const info of dirty) ops.push({ type: 'put', key: inodeKey(info.attr.ino), value: encodeRecord(info.attr, info.state, info.name) });
  if (repair && (ops.length > 0 || countersWrong)) {
    // Whatever was repaired, the counters are rewritten to match the repaired records.
    ops.push({ type: 'put', key: metaKey('nextIno'), value: encodeU64(next) });
    ops.push({ type: 'put', key: metaKey('inodes'), value: encodeU64(BigInt(inodes.size + unreadable.size)) });
    if (unreadable.size === 0) ops.push({ type: 'put', key: metaKey('bytes'), value: encodeU64(bytes) });
  }

  if (repair && ops.length > 0) await db.batch(ops, { sync: true });
  return { inodes: inodes.size, entries, findings, clean: findings.every((f) => f.repaired) };
}

/** Links each orphan into /lost+found as "#<ino>", creating the directory if needed. */
function attachOrphans(orphans: InodeInfo[], inodes: Map<Ino, InodeInfo>, root: InodeInfo, ops: Op[], dirty: Set<InodeInfo>, allocIno: () => Ino): void {
  const now = nowNs();
  let lf = [...inodes.values()].find((i) => i.refs.length === 1 && i.refs[0]!.parent === ROOT_INO && i.refs[0]!.name === LOST_AND_FOUND && i.attr.type === 'directory');
  if (!lf) {
    const attr: Attr = { ino: allocIno(), type: 'directory', mode: 0o700, uid: 0, gid: 0, size: 0n, nlink: 2, atimeNs: now, mtimeNs: now, ctimeNs: now, parent: ROOT_INO, version: 1n };
    lf = { attr, name: LOST_AND_FOUND, state: undefined, refs: [{ parent: ROOT_INO, name: LOST_AND_FOUND }], subdirs: 0 };
    inodes.set(attr.ino, lf);
    ops.push({ type: 'put', key: dentryKey(ROOT_INO, LOST_AND_FOUND), value: encodeDentry(attr.ino, 'directory') });
    root.attr.nlink += 1;
    dirty.add(root);
  }
  for (const o of orphans) {
    o.attr.parent = lf.attr.ino;
    o.name = `#${o.attr.ino}`;
    dirty.add(o);
    ops.push({ type: 'put', key: dentryKey(lf.attr.ino, o.name), value: encodeDentry(o.attr.ino, o.attr.type) });
    if (o.attr.type === 'directory') lf.attr.nlink += 1;
  }
  dirty.add(lf);
}

/** Opens the data directory without creating anything, checks it, closes it. */
export async function fsckDataDir(location: string, options: { repair?: boolean } = {}): Promise<FsckReport> {
  const dir = metaTarget(location);
  if (isPostgresUrl(dir)) {
    // The database's one-master lock: EBUSY while a master runs on it, as LevelDB's LOCK.
    const pgKv = await (await import('./PostgresKv.js')).PostgresKv.open(dir);
    try {
      return await fsck(pgKv, options);
    } finally {
      await pgKv.close();
    }
  }
  // LevelDB creates the directory and its LOCK even when told not to create a database: look first.
  if (!existsSync(join(dir, 'CURRENT'))) throw new WharfError('ENOENT', `no namespace at ${dir} (no LevelDB CURRENT file there)`);
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', createIfMissing: false });
  try {
    await db.open();
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') throw new WharfError('EBUSY', `data directory ${dir} is in use (a master is running on it); stop it before fsck`, e);
    throw new WharfError('ENOENT', `no namespace at ${dir}: ${cause?.message ?? (e as Error).message}`, e);
  }
  try {
    return await fsck(db, options);
  } finally {
    await db.close();
  }
}
