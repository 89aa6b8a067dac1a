// Layout 2 of the namespace (src/meta/keys.ts): an inode record holds its attributes,
// its store state and its own name. Tested here on real LevelDB:
//   - the migration of a layout-1 data directory (names and store states in records
//     of their own), whole, interrupted half-way, and with layout-1 leftovers;
//   - every change that touches one part of a record keeps the other two (a rename
//     keeps the store state, a pending mark keeps the name, …).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Level } from 'level';
import { ROOT_INO, type Attr, type Ino } from '../src/common/index.js';
import { encodeDentry, encodeInodeV1, encodeRecord, encodeStoreStateV1, encodeU64, type StoreState } from '../src/meta/codec.js';
import { fsck, fsckDataDir } from '../src/meta/Fsck.js';
import { InodeTree } from '../src/meta/InodeTree.js';
import { dentryKey, familyRange, inodeKey, metaKey, nameKey, storeStateKey, symlinkKey } from '../src/meta/keys.js';
import { readdirAll } from '../src/meta/MetaClient.js';
import type { Db } from '../src/meta/Txn.js';
import { tempDir } from './helpers/tmp.js';

const T = 1_700_000_000_000_000_000n;

function attr(ino: Ino, type: Attr['type'], parent: Ino, size = 0n, nlink = type === 'directory' ? 2 : 1): Attr {
  return { ino, type, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, nlink, size, atimeNs: T, mtimeNs: T, ctimeNs: T, parent, version: 1n };
}

/**
 * A layout-1 namespace, written record by record:
 *   1 /                 (nlink 3)
 *   2 /data             dir, synced ("dir", gen 1)
 *   3 /data/a.txt       file, synced, 1 byte
 *   4 /data/ü p.txt     file, synced, a write pending
 *   5 /own.txt          file, Wharf's own (no store state), 2 bytes
 *   6 /lnk -> data/a.txt
 * plus a name record and a store state record of inodes that are gone (99, 98).
 */
const STATES: Record<string, StoreState> = {
  '2': { gen: 1n, fingerprint: 'dir' },
  '3': { gen: 1n, fingerprint: '1:e1:1700000000000' },
  '4': { gen: 1n, fingerprint: '1:e2:1700000000000', pending: true },
};

function layout1Ops(): { key: Buffer; value: Buffer }[] {
  const records: [Attr, Ino, string][] = [
    [attr(1n, 'directory', 0n, 0n, 3), 0n, ''],
    [attr(2n, 'directory', 1n), 1n, 'data'],
    [attr(3n, 'file', 2n, 1n), 2n, 'a.txt'],
    [attr(4n, 'file', 2n, 1n), 2n, 'ü p.txt'],
    [attr(5n, 'file', 1n, 2n), 1n, 'own.txt'],
    [attr(6n, 'symlink', 1n, 10n), 1n, 'lnk'],
  ];
  const ops: { key: Buffer; value: Buffer }[] = [];
  for (const [a, parent, name] of records) {
    ops.push({ key: inodeKey(a.ino), value: encodeInodeV1(a) });
    if (a.ino === ROOT_INO) continue;
    ops.push({ key: dentryKey(parent, name), value: encodeDentry(a.ino, a.type) });
    ops.push({ key: nameKey(a.ino), value: Buffer.from(name, 'utf8') });
    const s = STATES[String(a.ino)];
    if (s) ops.push({ key: storeStateKey(a.ino), value: encodeStoreStateV1(s) });
  }
  ops.push({ key: symlinkKey(6n), value: Buffer.from('data/a.txt') });
  ops.push({ key: nameKey(99n), value: Buffer.from('gone') });
  ops.push({ key: storeStateKey(98n), value: encodeStoreStateV1({ gen: 1n, fingerprint: 'dir' }) });
  const fmt = Buffer.alloc(4);
  fmt.writeUInt32BE(1);
  ops.push({ key: metaKey('nextIno'), value: encodeU64(7n) }, { key: metaKey('inodes'), value: encodeU64(6n) },
    { key: metaKey('bytes'), value: encodeU64(4n) }, { key: metaKey('format'), value: fmt });
  return ops;
}

async function withDb<T>(dir: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** A layout-1 data directory (the fixture, then `extra` in a second batch) in a temporary directory. */
type RawOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

async function withLayout1Dir(fn: (dir: string) => Promise<void>, extra: RawOp[] = []): Promise<void> {
  const tmp = tempDir('wharf-layout-');
  try {
    const dir = join(tmp.path, 'meta');
    await withDb(dir, async (db) => {
      await db.batch(layout1Ops().map((o) => ({ type: 'put' as const, ...o })));
      if (extra.length > 0) await db.batch(extra);
    });
    await fn(dir);
  } finally {
    tmp.remove();
  }
}

async function familySize(db: Db, family: 'name' | 'storeState'): Promise<number> {
  return (await db.keys(familyRange(family)).all()).length;
}

/** What a migrated layout-1 fixture must look like, through the tree and to fsck. */
async function assertMigrated(dir: string): Promise<void> {
  const tree = await InodeTree.open(dir);
  try {
    assert.equal((await tree.resolve('/data/a.txt')).ino, 3n);
    assert.deepEqual(await tree.pathOf(4n), ['data', 'ü p.txt']);
    assert.deepEqual(await tree.namesOf([1n, 2n, 5n]), ['', 'data', 'own.txt']);
    for (const ino of [2n, 3n, 4n]) assert.deepEqual(await tree.getStoreState(ino), STATES[String(ino)], `inode ${ino}'s store state`);
    assert.equal(await tree.getStoreState(5n), undefined, "Wharf's own file stays its own");
    assert.equal(await tree.readlink(6n), 'data/a.txt');
    const names: string[] = [];
    for await (const e of readdirAll(tree, ROOT_INO)) names.push(e.name);
    assert.deepEqual(names.sort(), ['data', 'lnk', 'own.txt']);
    // The namespace takes writes, and new inode numbers continue after the old ones.
    const made = await tree.create(2n, 'new.txt', { mode: 0o644, uid: 0, gid: 0 });
    assert.equal(made.ino, 7n);
    assert.deepEqual(await tree.pathOf(made.ino), ['data', 'new.txt']);
  } finally {
    await tree.close();
  }
  await withDb(dir, async (db) => {
    const report = await fsck(db);
    assert.deepEqual(report.findings, []);
    assert.equal(report.inodes, 7);
    assert.equal(await familySize(db, 'name'), 0, 'no name records are left');
    assert.equal(await familySize(db, 'storeState'), 0, 'no store state records are left');
    assert.equal((await db.get(metaKey('format')))!.readUInt32BE(0), 2);
  });
}

describe('layout 1 → 2 migration', () => {
  test('a layout-1 namespace opens migrated: names and store states in the records, the old records and leftovers gone', async () => {
    await withLayout1Dir(async (dir) => {
      await assertMigrated(dir);
      // Opening again is a no-op (the marker says 2).
      await assertMigrated2(dir);
    });
  });

  test('a migration interrupted half-way (some records new, the marker still 1) completes on the next open', async () => {
    // What one completed batch of the migration leaves: inodes 2 and 3 rewritten, their old records gone.
    await withLayout1Dir((dir) => assertMigrated(dir), [
      { type: 'put', key: inodeKey(2n), value: encodeRecord(attr(2n, 'directory', 1n), STATES['2'], 'data') },
      { type: 'put', key: inodeKey(3n), value: encodeRecord(attr(3n, 'file', 2n, 1n), STATES['3'], 'a.txt') },
      { type: 'del', key: nameKey(2n) }, { type: 'del', key: storeStateKey(2n) },
      { type: 'del', key: nameKey(3n) }, { type: 'del', key: storeStateKey(3n) },
    ]);
  });

  test('fsck refuses a layout-1 data directory (a repair would drop its store states) and leaves it as it was', async () => {
    await withLayout1Dir(async (dir) => {
      for (const repair of [false, true]) {
        await assert.rejects(fsckDataDir(dir, { repair }), (e: Error & { errno?: string }) => e.errno === 'EINVAL' && /layout version 1: start a master on it once/.test(e.message));
      }
      await withDb(dir, async (db) => {
        assert.equal(await familySize(db, 'storeState'), 4, 'the store state records are all still there');
        assert.equal((await db.get(metaKey('format')))!.readUInt32BE(0), 1);
      });
      await assertMigrated(dir);
    });
  });

  test('damage is left as it was: an unreadable record keeps its name and state records; an unreadable state leaves its inode Wharf\'s own', async () => {
    await withLayout1Dir(async (dir) => {
      const tree = await InodeTree.open(dir);
      try {
        assert.equal(await tree.getStoreState(3n), undefined, 'an unreadable state: Wharf\'s own (no sync may delete it)');
        assert.deepEqual(await tree.pathOf(3n), ['data', 'a.txt']);
        assert.deepEqual(await tree.getStoreState(4n), STATES['4']);
      } finally {
        await tree.close();
      }
      await withDb(dir, async (db) => {
        assert.ok(await db.get(nameKey(7n)), "the unreadable record's name record stays");
        assert.ok(await db.get(storeStateKey(7n)), "and its store state record");
        assert.equal(await db.get(nameKey(99n)), undefined, 'leftovers of gone inodes still go');
        assert.equal(await db.get(storeStateKey(98n)), undefined);
        const report = await fsck(db);
        assert.deepEqual(report.findings.map((f) => [f.kind, f.ino]), [['unreadable-record', '7']]);
      });
    }, [
      // Inode 7, /bad: a record cut short (version 1, 10 bytes), with its entry, name and state.
      { type: 'put', key: inodeKey(7n), value: encodeInodeV1(attr(7n, 'file', 1n)).subarray(0, 10) },
      { type: 'put', key: dentryKey(1n, 'bad'), value: encodeDentry(7n, 'file') },
      { type: 'put', key: nameKey(7n), value: Buffer.from('bad') },
      { type: 'put', key: storeStateKey(7n), value: encodeStoreStateV1({ gen: 1n, fingerprint: '0:e:0' }) },
      // Inode 3's store state record cut short.
      { type: 'put', key: storeStateKey(3n), value: Buffer.from([0, 1, 2]) },
      { type: 'put', key: metaKey('nextIno'), value: encodeU64(8n) },
      { type: 'put', key: metaKey('inodes'), value: encodeU64(7n) },
    ]);
  });

  test('a data directory of an unknown layout is refused with EIO, untouched', async () => {
    const tmp = tempDir('wharf-layout-');
    try {
      const dir = join(tmp.path, 'meta');
      const fmt = Buffer.alloc(4);
      fmt.writeUInt32BE(3);
      await withDb(dir, (db) => db.put(metaKey('format'), fmt));
      await assert.rejects(InodeTree.open(dir), (e: Error & { errno?: string }) => e.errno === 'EIO' && /layout version 3; this Wharf reads 2/.test(e.message));
      await withDb(dir, async (db) => assert.equal((await db.get(metaKey('format')))!.readUInt32BE(0), 3));
    } finally {
      tmp.remove();
    }
  });
});

/** After a second open: still exactly the migrated namespace (plus the file assertMigrated made). */
async function assertMigrated2(dir: string): Promise<void> {
  const tree = await InodeTree.open(dir);
  try {
    assert.deepEqual(await tree.pathOf(7n), ['data', 'new.txt']);
    assert.deepEqual(await tree.getStoreState(4n), STATES['4']);
  } finally {
    await tree.close();
  }
}

describe('one record, three parts', () => {
  async function withTree(fn: (t: InodeTree) => Promise<void>): Promise<void> {
    const tmp = tempDir('wharf-record-');
    try {
      const dir = join(tmp.path, 'meta');
      const t = await InodeTree.open(dir);
      try {
        await fn(t);
      } finally {
        await t.close();
      }
      await withDb(dir, async (db) => assert.deepEqual((await fsck(db)).findings, []));
    } finally {
      tmp.remove();
    }
  }
  const NEW = { mode: 0o644, uid: 0, gid: 0 };
  const upload = { size: 3n, etag: 'e', mtimeNs: 5_000_000n };

  test('a rename keeps the store state and moves the name; a pending mark keeps the name; a truncate drops only the state', async () => {
    await withTree(async (t) => {
      const d = await t.mkdir(ROOT_INO, 'd', { ...NEW, mode: 0o755 });
      const f = await t.create(d.ino, 'f', NEW);
      await t.commitWrite(f.ino, upload, 4n);
      const synced: StoreState = { gen: 4n, fingerprint: '3:e:5' };
      assert.deepEqual(await t.getStoreState(f.ino), synced);

      await t.rename(d.ino, 'f', ROOT_INO, 'g');
      assert.deepEqual(await t.pathOf(f.ino), ['g']);
      assert.deepEqual(await t.getStoreState(f.ino), synced, 'a rename keeps the store state');

      await t.setattr(f.ino, { pendingWrite: true });
      assert.deepEqual(await t.getStoreState(f.ino), { ...synced, pending: true });
      assert.deepEqual(await t.pathOf(f.ino), ['g'], 'a pending mark keeps the name');
      await t.setattr(f.ino, { mode: 0o600 });
      assert.deepEqual(await t.getStoreState(f.ino), { ...synced, pending: true }, 'a mode change keeps the state');

      await t.setattr(f.ino, { size: 1n });
      assert.equal(await t.getStoreState(f.ino), undefined, 'changed bytes: Wharf\'s own until uploaded');
      assert.deepEqual(await t.pathOf(f.ino), ['g']);
      assert.equal((await t.getattr(f.ino)).mode, 0o600);

      // A directory renamed keeps its children's paths right (they hold only their own names).
      await t.rename(ROOT_INO, 'g', d.ino, 'h');
      await t.rename(ROOT_INO, 'd', ROOT_INO, 'e');
      assert.deepEqual(await t.pathOf(f.ino), ['e', 'h']);
    });
  });

  test('an inode made on the batch path and changed again in the same transaction keeps its name; one removed again leaves nothing', async () => {
    await withTree(async (t) => {
      const init = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 0n, atimeNs: 1n, mtimeNs: 1n, ctimeNs: 1n };
      const [f, g, l] = await t.write('test', async (tx) => {
        const f = tx.addChild(ROOT_INO, 'f', init, undefined, true);
        tx.putAttr({ ...f, mode: 0o600 });
        tx.putStoreState(f.ino, { gen: 1n, fingerprint: '0:e:1' });
        const g = tx.addChild(ROOT_INO, 'g', init, undefined, true);
        tx.delDentry(ROOT_INO, 'g');
        tx.putDentry(ROOT_INO, 'g2', g.ino, 'file');
        const l = tx.addChild(ROOT_INO, 'l', { ...init, type: 'symlink', size: 1n }, 'x', true);
        tx.removeChild(ROOT_INO, 'l', l);
        await tx.touchDir(ROOT_INO, 2n, 0);
        return [f, g, l];
      });
      assert.deepEqual(await t.pathOf(f.ino), ['f']);
      assert.equal((await t.getattr(f.ino)).mode, 0o600);
      assert.deepEqual(await t.getStoreState(f.ino), { gen: 1n, fingerprint: '0:e:1' });
      assert.deepEqual(await t.pathOf(g.ino), ['g2']);
      assert.equal((await t.resolve('/g2')).ino, g.ino);
      await assert.rejects(t.getattr(l.ino), (e: Error & { errno?: string }) => e.errno === 'ENOENT');
      // withTree's fsck then finds no symlink target without its symlink, and every name right.
    });
  });

  test('a store state no record can hold is refused when staged (EINVAL), and nothing of its transaction lands', async () => {
    await withTree(async (t) => {
      const f = await t.create(ROOT_INO, 'f', NEW);
      await t.commitWrite(f.ino, upload, 1n);
      await assert.rejects(t.commitWrite(f.ino, { size: 9n, etag: 'e'.repeat(70_000), mtimeNs: 0n }, 2n),
        (e: Error & { errno?: string }) => e.errno === 'EINVAL' && /fingerprint of \d+ bytes is too long/.test(e.message));
      assert.deepEqual(await t.getStoreState(f.ino), { gen: 1n, fingerprint: '3:e:5' });
      assert.equal((await t.getattr(f.ino)).size, 3n);
    });
  });

  test('a symlink\'s upload changes only its store state; concurrent changes to one record each land', async () => {
    await withTree(async (t) => {
      const l = await t.symlink(ROOT_INO, 'l', 'target', { uid: 0, gid: 0 });
      await t.commitWrite(l.ino, { size: 6n, etag: 'x', mtimeNs: 0n }, 2n);
      assert.deepEqual(await t.getStoreState(l.ino), { gen: 2n, fingerprint: '6:x:0' });
      assert.equal(await t.readlink(l.ino), 'target');
      assert.deepEqual(await t.pathOf(l.ino), ['l']);

      const f = await t.create(ROOT_INO, 'f', NEW);
      await t.commitWrite(f.ino, upload, 1n);
      // Issued together: each is a read-modify-write of the same record, serialised by the write queue.
      await Promise.all([
        t.setattr(f.ino, { pendingWrite: true }),
        t.rename(ROOT_INO, 'f', ROOT_INO, 'f2'),
        t.setattr(f.ino, { uid: 7 }),
      ]);
      assert.deepEqual(await t.getStoreState(f.ino), { gen: 1n, fingerprint: '3:e:5', pending: true });
      assert.deepEqual(await t.pathOf(f.ino), ['f2']);
      assert.equal((await t.getattr(f.ino)).uid, 7);
    });
  });
});
