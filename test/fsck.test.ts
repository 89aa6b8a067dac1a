// fsck against real LevelDB namespaces: each test builds a small tree with the
// InodeTree, closes it, corrupts the raw records (key layout in src/meta/keys.ts),
// and checks what fsck reports, what --repair changes, and that the namespace is
// usable afterwards.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Level } from 'level';
import { ROOT_INO, WharfError, type Attr, type Ino } from '../src/common/index.js';
import { decodeDentry, decodeInode, decodeRecordName, decodeRecordState, decodeU64, encodeDentry, encodeRecord, encodeSyncTimes, encodeU64, type StoreState } from '../src/meta/codec.js';
import { FINDING_KINDS, LOST_AND_FOUND, fsck, fsckDataDir, type FindingKind, type FsckReport } from '../src/meta/Fsck.js';
import { InodeTree } from '../src/meta/InodeTree.js';
import { dentryKey, familyRange, inodeKey, linkKey, metaKey, symlinkKey, syncTimesKey, type MetaName } from '../src/meta/keys.js';
import { readdirAll } from '../src/meta/MetaClient.js';
import type { Db } from '../src/meta/Txn.js';
import { tempDir } from './helpers/tmp.js';

const DIR_INIT = { mode: 0o755, uid: 1000, gid: 1000 };
const FILE_INIT = { mode: 0o644, uid: 1000, gid: 1000 };

/**
 * The tree every test starts from (inode numbers are allocated in this order):
 *   1 /                 dir  (nlink 4: docs, empty)
 *   2 /docs             dir  (nlink 3: img)
 *   3 /docs/a.txt       file, 100 bytes
 *   4 /docs/img         dir
 *   5 /docs/img/p.png   file, 50 bytes
 *   6 /link -> /docs/a.txt
 *   7 /empty            dir
 */
interface Fixture {
  dir: string;
  docs: Ino;
  a: Ino;
  img: Ino;
  png: Ino;
  link: Ino;
  empty: Ino;
}

const INODES = 7;
const ENTRIES = 6;
const BYTES = 150n;

async function withFixture(fn: (fx: Fixture) => Promise<void>): Promise<void> {
  const tmp = tempDir('wharf-fsck-');
  try {
    const dir = join(tmp.path, 'meta');
    const t = await InodeTree.open(dir);
    let fx: Fixture;
    try {
      const docs = (await t.mkdir(ROOT_INO, 'docs', DIR_INIT)).ino;
      const a = (await t.create(docs, 'a.txt', FILE_INIT)).ino;
      await t.setattr(a, { size: 100n });
      const img = (await t.mkdir(docs, 'img', DIR_INIT)).ino;
      const png = (await t.create(img, 'p.png', FILE_INIT)).ino;
      await t.setattr(png, { size: 50n });
      const link = (await t.symlink(ROOT_INO, 'link', '/docs/a.txt', { uid: 1000, gid: 1000 })).ino;
      const empty = (await t.mkdir(ROOT_INO, 'empty', DIR_INIT)).ino;
      fx = { dir, docs, a, img, png, link, empty };
    } finally {
      await t.close();
    }
    assert.deepEqual([fx.docs, fx.a, fx.img, fx.png, fx.link, fx.empty], [2n, 3n, 4n, 5n, 6n, 7n]);
    await fn(fx);
  } finally {
    tmp.remove();
  }
}

/** Opens the closed namespace's LevelDB raw, runs `fn`, closes it. */
async function raw<T>(dir: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', createIfMissing: false });
  await db.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function getAttr(db: Db, ino: Ino): Promise<Attr> {
  const v = await db.get(inodeKey(ino));
  assert.ok(v, `inode ${ino} record exists`);
  return decodeInode(ino, v);
}

/** Rewrites an inode record, changing attributes, its own name or its store state and keeping the rest. */
async function patchAttr(db: Db, ino: Ino, changes: Partial<Attr>, tail: { name?: string; state?: StoreState } = {}): Promise<void> {
  const v = await db.get(inodeKey(ino));
  assert.ok(v, `inode ${ino} record exists`);
  await db.put(inodeKey(ino), encodeRecord({ ...decodeInode(ino, v), ...changes }, 'state' in tail ? tail.state : decodeRecordState(v), tail.name ?? decodeRecordName(v) ?? ''));
}

async function recordTail(db: Db, ino: Ino): Promise<{ name: string | undefined; state: StoreState | undefined }> {
  const v = await db.get(inodeKey(ino));
  assert.ok(v, `inode ${ino} record exists`);
  return { name: decodeRecordName(v), state: decodeRecordState(v) };
}

async function getCounter(db: Db, name: MetaName): Promise<bigint | undefined> {
  const v = await db.get(metaKey(name));
  return v === undefined ? undefined : decodeU64(v);
}

async function addToCounter(db: Db, name: MetaName, delta: bigint): Promise<void> {
  const v = await getCounter(db, name);
  assert.ok(v !== undefined, `counter ${name} exists`);
  await db.put(metaKey(name), encodeU64(v + delta));
}

/** Every key and value, hex-encoded, to prove a repair wrote nothing. */
async function dump(dir: string): Promise<Map<string, string>> {
  return raw(dir, async (db) => {
    const all = new Map<string, string>();
    for await (const [k, v] of db.iterator()) all.set(k.toString('hex'), v.toString('hex'));
    return all;
  });
}

function kinds(r: FsckReport): FindingKind[] {
  return r.findings.map((f) => f.kind).sort();
}

function inosOf(r: FsckReport, kind: FindingKind): string[] {
  return r.findings.filter((f) => f.kind === kind).map((f) => f.ino ?? '').sort();
}

/** Runs check, repair, check again; returns all three reports. Checks the invariants every run shares. */
async function checkRepairCheck(dir: string): Promise<{ before: FsckReport; repair: FsckReport; after: FsckReport }> {
  const before = await fsckDataDir(dir);
  assert.equal(before.clean, false, 'a corrupted namespace is not clean');
  assert.ok(before.findings.length > 0);
  assert.ok(before.findings.every((f) => !f.repaired), 'a check without --repair repairs nothing');
  for (const f of before.findings) assert.ok((FINDING_KINDS as readonly string[]).includes(f.kind), `known kind ${f.kind}`);
  const repair = await fsckDataDir(dir, { repair: true });
  assert.equal(repair.clean, repair.findings.every((f) => f.repaired), 'clean means every finding was repaired');
  const after = await fsckDataDir(dir);
  assert.ok(after.findings.every((f) => !f.repaired));
  return { before, repair, after };
}

async function withTree<T>(dir: string, fn: (t: InodeTree) => Promise<T>): Promise<T> {
  const t = await InodeTree.open(dir);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

async function names(t: InodeTree, ino: Ino): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readdirAll(t, ino)) out.push(e.name);
  return out;
}

async function assertErrno(p: Promise<unknown>, errno: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof WharfError && e.errno === errno);
}

/**
 * Proves the namespace works for writes too: a new file gets an inode number past
 * every existing one (numbers are never reused) and a later check is clean apart
 * from the findings a repair was not allowed to fix.
 */
async function assertWritable(dir: string, expectStill: FindingKind[] = []): Promise<void> {
  const maxIno = await raw(dir, async (db) => {
    let max = 0n;
    for await (const k of db.keys({ gte: Buffer.of(0x49), lt: Buffer.of(0x4a) })) {
      const ino = k.readBigUInt64BE(1);
      if (ino > max) max = ino;
    }
    return max;
  });
  await withTree(dir, async (t) => {
    const f = await t.create(ROOT_INO, 'written-after-fsck', FILE_INIT);
    assert.ok(f.ino > maxIno, `new inode ${f.ino} is past the largest existing ${maxIno}`);
    assert.equal((await t.lookup(ROOT_INO, 'written-after-fsck')).ino, f.ino);
    await t.setattr(f.ino, { size: 7n });
  });
  assert.deepEqual(kinds(await fsckDataDir(dir)), [...expectStill].sort());
}

describe('fsck', () => {
  test('a healthy tree is clean with no findings, and --repair writes nothing', async () => {
    await withFixture(async (fx) => {
      const r = await fsckDataDir(fx.dir);
      assert.deepEqual(r, { inodes: INODES, entries: ENTRIES, findings: [], clean: true });
      const before = await dump(fx.dir);
      const rr = await raw(fx.dir, (db) => fsck(db, { repair: true }));
      assert.deepEqual(rr, { inodes: INODES, entries: ENTRIES, findings: [], clean: true });
      assert.deepEqual(await dump(fx.dir), before);
      await assertWritable(fx.dir);
    });
  });

  test('a dangling entry (entry → missing inode) is reported and removed', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        // /docs/a.txt's record; counters follow so only the entry is wrong.
        await db.del(inodeKey(fx.a));
        await addToCounter(db, 'inodes', -1n);
        await addToCounter(db, 'bytes', -100n);
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['dangling-entry']);
      assert.deepEqual(inosOf(before, 'dangling-entry'), [String(fx.a)]);
      assert.deepEqual(kinds(repair), ['dangling-entry']);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      assert.equal(after.clean, true);
      assert.equal(await raw(fx.dir, (db) => db.get(dentryKey(fx.docs, 'a.txt'))), undefined);
      await withTree(fx.dir, async (t) => {
        assert.deepEqual(await names(t, fx.docs), ['img']);
        await assertErrno(t.lookup(fx.docs, 'a.txt'), 'ENOENT');
        assert.equal((await t.resolve('/docs/img/p.png')).ino, fx.png);
      });
      await assertWritable(fx.dir);
    });
  });

  test('a dangling directory entry also leaves the parent nlink wrong; both are repaired', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        await db.del(inodeKey(fx.empty));
        await addToCounter(db, 'inodes', -1n);
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['dangling-entry', 'wrong-nlink']);
      assert.deepEqual(inosOf(before, 'wrong-nlink'), [String(ROOT_INO)]);
      assert.ok(repair.findings.every((f) => f.repaired));
      assert.equal(after.clean, true);
      assert.deepEqual(after.findings, []);
      await withTree(fx.dir, async (t) => {
        assert.deepEqual(await names(t, ROOT_INO), ['docs', 'link']);
        assert.equal((await t.getattr(ROOT_INO)).nlink, 3);
      });
      await assertWritable(fx.dir);
    });
  });

  test('entries in a missing directory, or in a file, are reported and removed', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        await db.put(dentryKey(999n, 'ghost'), encodeDentry(fx.a, 'file'));
        await db.put(dentryKey(fx.a, 'inside-a-file'), encodeDentry(fx.png, 'file'));
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['entry-in-missing-dir', 'entry-in-missing-dir']);
      assert.deepEqual(inosOf(before, 'entry-in-missing-dir'), [String(fx.a), '999']);
      assert.equal(before.entries, ENTRIES + 2);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      assert.equal(after.entries, ENTRIES);
      await raw(fx.dir, async (db) => {
        assert.equal(await db.get(dentryKey(999n, 'ghost')), undefined);
        assert.equal(await db.get(dentryKey(fx.a, 'inside-a-file')), undefined);
      });
      await withTree(fx.dir, async (t) => {
        assert.equal((await t.resolve('/docs/a.txt')).ino, fx.a);
        assert.equal((await t.resolve('/docs/img/p.png')).ino, fx.png);
      });
      await assertWritable(fx.dir);
    });
  });

  test('orphan inodes (no entry) are linked into a new /lost+found as #<ino> with correct nlinks', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        await db.del(dentryKey(fx.docs, 'a.txt')); // a file orphan
        await db.del(dentryKey(ROOT_INO, 'empty')); // a directory orphan; the root's nlink follows
        await patchAttr(db, ROOT_INO, { nlink: 3 });
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['orphan-inode', 'orphan-inode']);
      assert.deepEqual(inosOf(before, 'orphan-inode'), [String(fx.a), String(fx.empty)]);
      // Creating lost+found takes a new inode, so the repair also moves the counters.
      assert.deepEqual(repair.findings.filter((f) => f.kind === 'orphan-inode').map((f) => f.repaired), [true, true]);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      assert.equal(after.clean, true);
      assert.equal(after.inodes, INODES + 1);
      await withTree(fx.dir, async (t) => {
        assert.deepEqual(await names(t, ROOT_INO), ['docs', 'link', LOST_AND_FOUND]);
        const lf = await t.lookup(ROOT_INO, LOST_AND_FOUND);
        assert.equal(lf.type, 'directory');
        assert.ok(lf.ino > fx.empty, 'lost+found gets a fresh inode number');
        assert.equal(lf.parent, ROOT_INO);
        assert.equal(lf.mode, 0o700);
        assert.equal(lf.nlink, 3, 'lost+found: 2 + the one orphaned directory');
        assert.equal((await t.getattr(ROOT_INO)).nlink, 4, 'root: 2 + docs + lost+found');
        assert.deepEqual(await names(t, lf.ino), [`#${fx.a}`, `#${fx.empty}`]);
        const a = await t.resolve(`/${LOST_AND_FOUND}/#${fx.a}`);
        assert.equal(a.ino, fx.a);
        assert.equal(a.size, 100n);
        assert.equal(a.parent, lf.ino);
        const e = await t.lookup(lf.ino, `#${fx.empty}`);
        assert.equal(e.type, 'directory');
        assert.equal(e.parent, lf.ino);
        assert.equal((await t.resolve(`/${LOST_AND_FOUND}/#${fx.empty}/..`)).ino, lf.ino);
        assert.deepEqual(await t.pathOf(fx.a), [LOST_AND_FOUND, `#${fx.a}`], 'name records follow the move');
        assert.deepEqual(await t.pathOf(lf.ino), [LOST_AND_FOUND]);
        assert.deepEqual(await names(t, fx.docs), ['img']);
        assert.equal((await t.statfs()).usedInodes, BigInt(INODES + 1));
      });
      await assertWritable(fx.dir);
    });
  });

  test('orphans go into an existing /lost+found without allocating anything', async () => {
    await withFixture(async (fx) => {
      const lfIno = await withTree(fx.dir, async (t) => (await t.mkdir(ROOT_INO, LOST_AND_FOUND, { ...DIR_INIT, mode: 0o700 })).ino);
      await raw(fx.dir, async (db) => {
        await db.del(dentryKey(fx.docs, 'img')); // a directory orphan with a file inside
        await patchAttr(db, fx.docs, { nlink: 2 });
      });
      const before = await fsckDataDir(fx.dir);
      assert.equal(before.clean, false);
      assert.deepEqual(inosOf(before, 'orphan-inode'), [String(fx.img)]);
      const repair = await fsckDataDir(fx.dir, { repair: true });
      assert.ok(repair.findings.some((f) => f.kind === 'orphan-inode' && f.repaired));
      assert.equal(repair.findings.filter((f) => f.kind === 'bad-counter').length, 0, 'no inode was allocated');
      const after = await fsckDataDir(fx.dir);
      assert.deepEqual(after.findings, []);
      assert.equal(after.inodes, INODES + 1);
      await withTree(fx.dir, async (t) => {
        const lf = await t.getattr(lfIno);
        assert.equal(lf.nlink, 3);
        assert.deepEqual(await names(t, lfIno), [`#${fx.img}`]);
        // The orphaned directory's contents came along.
        const png = await t.resolve(`/${LOST_AND_FOUND}/#${fx.img}/p.png`);
        assert.equal(png.ino, fx.png);
        assert.equal(png.size, 50n);
        assert.equal((await t.getattr(fx.img)).parent, lfIno);
      });
      await assertWritable(fx.dir);
    });
  });

  test('an entry in a deleted directory is removed and its inode goes to /lost+found', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        // /docs/img's record and entry vanish; /docs/img/p.png's entry and record remain.
        await db.del(inodeKey(fx.img));
        await db.del(dentryKey(fx.docs, 'img'));
        await patchAttr(db, fx.docs, { nlink: 2 });
        await addToCounter(db, 'inodes', -1n);
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['entry-in-missing-dir', 'orphan-inode']);
      assert.deepEqual(inosOf(before, 'entry-in-missing-dir'), [String(fx.img)]);
      assert.deepEqual(inosOf(before, 'orphan-inode'), [String(fx.png)]);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await withTree(fx.dir, async (t) => {
        const png = await t.resolve(`/${LOST_AND_FOUND}/#${fx.png}`);
        assert.equal(png.ino, fx.png);
        assert.equal((await t.lookup(ROOT_INO, LOST_AND_FOUND)).nlink, 2);
        assert.deepEqual(await names(t, fx.docs), ['a.txt']);
      });
      await assertWritable(fx.dir);
    });
  });

  test('a wrong parent pointer is reported and set to the entry\'s directory', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, (db) => patchAttr(db, fx.img, { parent: fx.empty }));
      await withTree(fx.dir, async (t) => {
        // What the corruption breaks: ".." follows the parent pointer.
        assert.equal((await t.resolve('/docs/img/..')).ino, fx.empty);
        assert.deepEqual(await t.pathOf(fx.png), ['empty', 'img', 'p.png']);
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['wrong-parent']);
      assert.deepEqual(inosOf(before, 'wrong-parent'), [String(fx.img)]);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await withTree(fx.dir, async (t) => {
        assert.equal((await t.getattr(fx.img)).parent, fx.docs);
        assert.equal((await t.resolve('/docs/img/..')).ino, fx.docs);
        assert.deepEqual(await t.pathOf(fx.png), ['docs', 'img', 'p.png']);
      });
      await assertWritable(fx.dir);
    });
  });

  test('wrong nlink on a directory and on a file are reported and recomputed', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        await patchAttr(db, fx.docs, { nlink: 2 }); // should be 3: it holds img
        await patchAttr(db, fx.a, { nlink: 5 }); // files always have 1
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['wrong-nlink', 'wrong-nlink']);
      assert.deepEqual(inosOf(before, 'wrong-nlink'), [String(fx.docs), String(fx.a)]);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await withTree(fx.dir, async (t) => {
        assert.equal((await t.getattr(fx.docs)).nlink, 3);
        assert.equal((await t.getattr(fx.a)).nlink, 1);
        // rmdir of the emptied subdirectory brings docs back to 2.
        await t.unlink(fx.img, 'p.png');
        await t.rmdir(fx.docs, 'img');
        assert.equal((await t.getattr(fx.docs)).nlink, 2);
      });
      await assertWritable(fx.dir);
    });
  });

  test('an entry whose type disagrees with its inode is rewritten', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, (db) => db.put(dentryKey(fx.docs, 'a.txt'), encodeDentry(fx.a, 'directory')));
      // What the corruption breaks: unlink trusts the entry's type.
      await withTree(fx.dir, (t) => assertErrno(t.unlink(fx.docs, 'a.txt'), 'EISDIR'));
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['entry-type-mismatch']);
      assert.deepEqual(inosOf(before, 'entry-type-mismatch'), [String(fx.a)]);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      const entry = await raw(fx.dir, (db) => db.get(dentryKey(fx.docs, 'a.txt')));
      assert.ok(entry);
      assert.deepEqual(decodeDentry(entry), { ino: fx.a, type: 'file' });
      await withTree(fx.dir, async (t) => {
        await t.unlink(fx.docs, 'a.txt');
        assert.deepEqual(await names(t, fx.docs), ['img']);
      });
      await assertWritable(fx.dir);
    });
  });

  test('hard links made by the tree are clean; a second entry for a file without its link record gets one, and nlink counts the entries', async () => {
    await withFixture(async (fx) => {
      await withTree(fx.dir, async (t) => {
        await t.link(fx.png, fx.empty, 'p2');
        await t.link(fx.png, ROOT_INO, 'p3');
        await t.unlink(fx.img, 'p.png'); // the primary name goes: p3 (root first in key order) is primary now
      });
      assert.deepEqual((await fsckDataDir(fx.dir)).findings, [], 'links made by the tree are consistent');
      await raw(fx.dir, (db) => db.put(dentryKey(fx.empty, 'again'), encodeDentry(fx.a, 'file')));
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['missing-link-record', 'wrong-nlink']);
      assert.deepEqual(inosOf(before, 'missing-link-record'), [String(fx.a)]);
      assert.match(before.findings.find((f) => f.kind === 'missing-link-record')!.detail, /"again" in directory 7/);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await withTree(fx.dir, async (t) => {
        assert.equal((await t.getattr(fx.a)).nlink, 2);
        assert.deepEqual(await t.linksOf(fx.a), [{ parent: fx.docs, name: 'a.txt' }, { parent: fx.empty, name: 'again' }]);
        // Usable as a link: unlinking the primary name leaves the other.
        await t.unlink(fx.docs, 'a.txt');
        assert.deepEqual([(await t.lookup(fx.empty, 'again')).nlink, (await t.getattr(fx.a)).parent], [1, fx.empty]);
        assert.deepEqual(await t.linksOf(fx.png), [{ parent: ROOT_INO, name: 'p3' }, { parent: fx.empty, name: 'p2' }]);
      });
      await assertWritable(fx.dir);
    });
  });

  test('link records without their entry, or for a directory, are reported and deleted', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        await db.put(linkKey(fx.a, fx.empty, 'gone'), Buffer.alloc(0));
        await db.put(linkKey(fx.img, ROOT_INO, 'img2'), Buffer.alloc(0));
        await db.put(linkKey(999n, ROOT_INO, 'x'), Buffer.alloc(0));
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['orphan-link-record', 'orphan-link-record', 'orphan-link-record']);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await raw(fx.dir, async (db) => assert.deepEqual(await db.keys(familyRange('link')).all(), []));
      await assertWritable(fx.dir);
    });
  });

  test('a multiply-linked directory is reported and left alone', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, (db) => db.put(dentryKey(fx.empty, 'again'), encodeDentry(fx.img, 'directory')));
      const corrupted = await dump(fx.dir);
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['multiply-linked', 'wrong-nlink']);
      assert.deepEqual(inosOf(before, 'multiply-linked'), [String(fx.img)]);
      const detail = before.findings.find((f) => f.kind === 'multiply-linked')!.detail;
      assert.match(detail, /2\/img/);
      assert.match(detail, /7\/again/);
      assert.deepEqual(repair.findings.map((f) => [f.kind, f.repaired]).sort(), [['multiply-linked', false], ['wrong-nlink', true]]);
      assert.equal(repair.clean, false);
      assert.notDeepEqual(await dump(fx.dir), corrupted, "the directory's nlink was repaired");
      assert.deepEqual(kinds(after), ['multiply-linked']);
      await withTree(fx.dir, async (t) => {
        assert.equal((await t.lookup(fx.empty, 'again')).ino, fx.img);
        assert.equal((await t.lookup(fx.docs, 'img')).ino, fx.img);
      });
      await assertWritable(fx.dir, ['multiply-linked']);
    });
  });

  test('a detached cycle of two directories is reported and left alone', async () => {
    await withFixture(async (fx) => {
      const [c1, c2] = await withTree(fx.dir, async (t) => {
        const x = await t.mkdir(ROOT_INO, 'c1', DIR_INIT);
        const y = await t.mkdir(x.ino, 'c2', DIR_INIT);
        return [x.ino, y.ino] as const;
      });
      await raw(fx.dir, async (db) => {
        // c1 leaves the root and is named from inside c2: c1/c2/c1/c2/... with no way in.
        await db.del(dentryKey(ROOT_INO, 'c1'));
        await db.put(dentryKey(c2, 'c1'), encodeDentry(c1, 'directory'));
        await patchAttr(db, c1, { parent: c2 });
        await patchAttr(db, c2, { nlink: 3 });
        await patchAttr(db, ROOT_INO, { nlink: 4 });
      });
      const corrupted = await dump(fx.dir);
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['unreachable-cycle', 'unreachable-cycle']);
      assert.deepEqual(inosOf(before, 'unreachable-cycle'), [String(c1), String(c2)].sort());
      assert.ok(repair.findings.every((f) => !f.repaired));
      assert.equal(repair.clean, false);
      assert.deepEqual(await dump(fx.dir), corrupted, 'repair wrote nothing');
      assert.deepEqual(kinds(after), ['unreachable-cycle', 'unreachable-cycle']);
      await withTree(fx.dir, async (t) => {
        assert.deepEqual(await names(t, ROOT_INO), ['docs', 'empty', 'link']);
        await assertErrno(t.lookup(ROOT_INO, 'c1'), 'ENOENT');
        assert.equal((await t.resolve('/docs/a.txt')).ino, fx.a);
      });
      await assertWritable(fx.dir, ['unreachable-cycle', 'unreachable-cycle']);
    });
  });

  test('a symlink without its target record is reported and left alone (the target is lost)', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, (db) => db.del(symlinkKey(fx.link)));
      const corrupted = await dump(fx.dir);
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['symlink-without-target']);
      assert.deepEqual(inosOf(before, 'symlink-without-target'), [String(fx.link)]);
      assert.equal(repair.clean, false);
      assert.ok(repair.findings.every((f) => !f.repaired));
      assert.deepEqual(await dump(fx.dir), corrupted, 'repair wrote nothing');
      assert.deepEqual(kinds(after), ['symlink-without-target']);
      await withTree(fx.dir, async (t) => {
        assert.equal((await t.lookup(ROOT_INO, 'link')).type, 'symlink');
        await assertErrno(t.readlink(fx.link), 'EIO');
        // The broken link can still be removed, which clears the finding.
        await t.unlink(ROOT_INO, 'link');
      });
      await assertWritable(fx.dir);
    });
  });

  test('target records without a symlink are reported and deleted', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        await db.put(symlinkKey(fx.a), Buffer.from('/a/file/has/no/target'));
        await db.put(symlinkKey(999n), Buffer.from('/no/such/inode'));
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['target-without-symlink', 'target-without-symlink']);
      assert.deepEqual(inosOf(before, 'target-without-symlink'), [String(fx.a), '999']);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await raw(fx.dir, async (db) => {
        assert.equal(await db.get(symlinkKey(fx.a)), undefined);
        assert.equal(await db.get(symlinkKey(999n)), undefined);
        assert.equal((await db.get(symlinkKey(fx.link)))?.toString(), '/docs/a.txt', 'the real target is kept');
      });
      await withTree(fx.dir, async (t) => {
        assert.equal(await t.readlink(fx.link), '/docs/a.txt');
        assert.equal((await t.resolve('/link', { followLast: true })).ino, fx.a);
      });
      await assertWritable(fx.dir);
    });
  });

  const counterCases: { what: string; name: MetaName; bad: bigint | undefined; want: bigint; detail: RegExp }[] = [
    { what: 'next inode number behind the largest inode', name: 'nextIno', bad: 3n, want: 8n, detail: /next inode number is 3; above 7 expected/ },
    { what: 'next inode number missing', name: 'nextIno', bad: undefined, want: 8n, detail: /next inode number is missing/ },
    { what: 'inode count', name: 'inodes', bad: 42n, want: BigInt(INODES), detail: /inode count is 42; 7 expected/ },
    { what: 'byte count', name: 'bytes', bad: 1n, want: BYTES, detail: /byte count is 1; 150 expected/ },
  ];
  for (const c of counterCases) {
    test(`a wrong counter (${c.what}) is reported and rewritten`, async () => {
      await withFixture(async (fx) => {
        await raw(fx.dir, (db) => (c.bad === undefined ? db.del(metaKey(c.name)) : db.put(metaKey(c.name), encodeU64(c.bad))));
        const { before, repair, after } = await checkRepairCheck(fx.dir);
        assert.deepEqual(kinds(before), ['bad-counter']);
        assert.match(before.findings[0]!.detail, c.detail);
        assert.equal(repair.clean, true);
        assert.deepEqual(after.findings, []);
        assert.equal(await raw(fx.dir, (db) => getCounter(db, c.name)), c.want);
        await withTree(fx.dir, async (t) => {
          const s = await t.statfs();
          assert.equal(s.usedInodes, BigInt(INODES));
          assert.equal(s.totalBlocks - s.freeBlocks, 1n, '150 bytes use one 4 KiB block');
          // After the nextIno repair a new inode must not reuse 3 (a.txt's number).
          const f = await t.create(fx.empty, 'new', FILE_INIT);
          assert.equal(f.ino, 8n);
          assert.equal((await t.resolve('/docs/a.txt')).ino, fx.a);
        });
        await assertWritable(fx.dir);
      });
    });
  }

  test('wrong and missing own names are reported and rewritten from the entries, keeping the rest of the record', async () => {
    const state: StoreState = { gen: 3n, fingerprint: '100:etag:1700000000000', pending: true };
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        await patchAttr(db, fx.a, {}, { name: 'wrong.txt', state });
        // A missing name, and a wrong parent pointer in the same record: one repair must keep both fixes.
        await patchAttr(db, fx.png, { parent: fx.docs }, { name: '' });
      });
      await withTree(fx.dir, async (t) => {
        // What the corruption breaks: paths built from own names.
        assert.deepEqual(await t.pathOf(fx.a), ['docs', 'wrong.txt']);
        assert.deepEqual(await t.pathOf(fx.png), ['docs', '']);
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['wrong-name-record', 'wrong-name-record', 'wrong-parent']);
      assert.deepEqual(inosOf(before, 'wrong-name-record'), [String(fx.a), String(fx.png)]);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await raw(fx.dir, async (db) => {
        assert.deepEqual(await recordTail(db, fx.a), { name: 'a.txt', state }, 'the store state survives the repair');
        assert.deepEqual(await recordTail(db, fx.png), { name: 'p.png', state: undefined });
        assert.equal((await getAttr(db, fx.png)).parent, fx.img);
      });
      await withTree(fx.dir, async (t) => {
        assert.deepEqual(await t.pathOf(fx.a), ['docs', 'a.txt']);
        assert.deepEqual(await t.pathOf(fx.png), ['docs', 'img', 'p.png']);
        assert.deepEqual(await t.getStoreState(fx.a), state);
      });
      await assertWritable(fx.dir);
    });
  });

  test('sync times of gone inodes and on a non-directory are reported and deleted; store states in records are kept', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, async (db) => {
        // Valid ones, which must stay.
        await patchAttr(db, fx.a, {}, { state: { gen: 1n, fingerprint: '100:etag:1700000000000' } });
        await db.put(syncTimesKey(fx.docs), encodeSyncTimes({ listedMs: 1_700_000_000_000, treeMs: 1_700_000_000_000 }));
        // Invalid ones.
        await db.put(syncTimesKey(999n), encodeSyncTimes({ listedMs: 1, treeMs: 1 }));
        await db.put(syncTimesKey(fx.a), encodeSyncTimes({ listedMs: 1, treeMs: 1 }));
      });
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['orphan-sync-record', 'orphan-sync-record']);
      assert.deepEqual(inosOf(before, 'orphan-sync-record'), [String(fx.a), '999']);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await raw(fx.dir, async (db) => {
        assert.equal(await db.get(syncTimesKey(999n)), undefined);
        assert.equal(await db.get(syncTimesKey(fx.a)), undefined);
        assert.deepEqual((await recordTail(db, fx.a)).state, { gen: 1n, fingerprint: '100:etag:1700000000000' }, 'the valid store state is kept');
      });
      await withTree(fx.dir, async (t) => assert.deepEqual(await t.getSyncTimes(fx.docs), { listedMs: 1_700_000_000_000, treeMs: 1_700_000_000_000 }));
      await assertWritable(fx.dir);
    });
  });

  test('an unreadable inode record is reported and kept, with its entry and the counters', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, (db) => db.put(inodeKey(fx.a), Buffer.from('garbage, not an inode record')));
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      // The record exists but cannot be decoded: its entry is not dangling and its name
      // record is not stale, so nothing else is reported and repair changes nothing.
      assert.deepEqual(kinds(before), ['unreadable-record']);
      assert.deepEqual(inosOf(before, 'unreadable-record'), [String(fx.a)]);
      assert.match(before.findings[0]!.detail, /unreadable record/);
      assert.deepEqual(repair.findings.map((f) => [f.kind, f.repaired]), [['unreadable-record', false]]);
      assert.equal(repair.clean, false);
      assert.deepEqual(kinds(after), ['unreadable-record']);
      await withTree(fx.dir, async (t) => {
        await assertErrno(t.getattr(fx.a), 'EIO');
        await assertErrno(t.lookup(fx.docs, 'a.txt'), 'EIO');
        assert.equal((await t.resolve('/docs/img/p.png')).size, 50n);
        assert.equal((await t.statfs()).usedInodes, BigInt(INODES));
      });
      await assertWritable(fx.dir, ['unreadable-record']);
    });
  });

  test('an unreadable directory entry is reported and deleted', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, (db) => db.put(dentryKey(fx.docs, 'broken'), Buffer.from('xyz')));
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['unreadable-record']);
      assert.deepEqual(inosOf(before, 'unreadable-record'), [String(fx.docs)]);
      assert.match(before.findings[0]!.detail, /"broken"/);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await withTree(fx.dir, async (t) => assert.deepEqual(await names(t, fx.docs), ['a.txt', 'img']));
      await assertWritable(fx.dir);
    });
  });

  test('a missing root is reported and cannot be repaired', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, (db) => db.del(inodeKey(ROOT_INO)));
      const r = await fsckDataDir(fx.dir, { repair: true });
      assert.deepEqual(r.findings.map((f) => [f.kind, f.repaired]), [['missing-root', false]]);
      assert.equal(r.clean, false);
      assert.deepEqual(kinds(await fsckDataDir(fx.dir)), ['missing-root']);
    });
  });

  test('a root with a parent pointer is repaired', async () => {
    await withFixture(async (fx) => {
      await raw(fx.dir, (db) => patchAttr(db, ROOT_INO, { parent: fx.docs }));
      const { before, repair, after } = await checkRepairCheck(fx.dir);
      assert.deepEqual(kinds(before), ['bad-root']);
      assert.equal(repair.clean, true);
      assert.deepEqual(after.findings, []);
      await withTree(fx.dir, async (t) => assert.equal((await t.resolve('/..')).ino, ROOT_INO));
      await assertWritable(fx.dir);
    });
  });

  test('fsckDataDir on a directory without a namespace fails with ENOENT', async () => {
    const tmp = tempDir('wharf-fsck-');
    try {
      await assertErrno(fsckDataDir(tmp.path), 'ENOENT');
      await assertErrno(fsckDataDir(join(tmp.path, 'no-such-dir'), { repair: true }), 'ENOENT');
      assert.ok(!existsSync(join(tmp.path, 'CURRENT')), 'no database was created');
    } finally {
      tmp.remove();
    }
  });

  test('fsckDataDir on a directory an open InodeTree holds fails with EBUSY, and works once it is closed', async () => {
    await withFixture(async (fx) => {
      const t = await InodeTree.open(fx.dir);
      try {
        await assert.rejects(fsckDataDir(fx.dir), (e: unknown) => e instanceof WharfError && e.errno === 'EBUSY' && /in use/.test(e.message));
        await assertErrno(fsckDataDir(fx.dir, { repair: true }), 'EBUSY');
        // The failed attempts did not disturb the open tree.
        assert.equal((await t.resolve('/docs/a.txt')).ino, fx.a);
        await t.create(ROOT_INO, 'while-busy', FILE_INIT);
      } finally {
        await t.close();
      }
      const r = await fsckDataDir(fx.dir);
      assert.equal(r.clean, true);
      assert.equal(r.inodes, INODES + 1);
    });
  });
});
