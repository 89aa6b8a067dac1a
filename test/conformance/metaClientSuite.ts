// The MetaClient conformance suite: every implementation (in-process InodeTree,
// GrpcMetaClient over a real socket) must behave identically, errnos included.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ROOT_INO, WharfError, type Errno } from '../../src/common/index.js';
import { readdirAll, type MetaClient } from '../../src/meta/index.js';

export interface ClientFixture {
  client: MetaClient;
  teardown: () => Promise<void>;
}

const o = { mode: 0o755, uid: 1000, gid: 1000 };

export async function rejectsWith(p: Promise<unknown>, errno: Errno): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof WharfError, `expected a WharfError, got ${String(e)}`);
    assert.equal(e.errno, errno, `expected ${errno}, got ${e.errno}: ${e.message}`);
    return true;
  });
}

export function metaClientConformance(name: string, setup: () => Promise<ClientFixture>): void {
  describe(`MetaClient conformance: ${name}`, () => {
    let fx: ClientFixture;
    let c: MetaClient;
    let n = 0;
    /** A fresh directory under the root for each test, so tests do not see each other. */
    const fresh = async () => c.mkdir(ROOT_INO, `t${++n}`, o);

    before(async () => {
      fx = await setup();
      c = fx.client;
    });
    after(async () => fx.teardown());

    test('the root is directory 1 with no parent', async () => {
      const root = await c.getattr(ROOT_INO);
      assert.equal(root.type, 'directory');
      assert.equal(root.ino, 1n);
      assert.equal(root.parent, 0n);
    });

    test('mkdir, create, lookup and getattr agree', async () => {
      const d = await fresh();
      const sub = await c.mkdir(d.ino, 'sub', { mode: 0o750, uid: 7, gid: 8 });
      assert.deepEqual([sub.type, sub.mode, sub.uid, sub.gid, sub.nlink, sub.parent], ['directory', 0o750, 7, 8, 2, d.ino]);
      const f = await c.create(d.ino, 'f.txt', { mode: 0o640, uid: 9, gid: 10 });
      assert.deepEqual([f.type, f.mode, f.size, f.nlink], ['file', 0o640, 0n, 1]);
      assert.deepEqual(await c.lookup(d.ino, 'f.txt'), f);
      assert.deepEqual(await c.getattr(f.ino), f);
      const parent = await c.getattr(d.ino);
      assert.equal(parent.nlink, 3, 'a subdirectory adds one link to its parent');
      assert.ok(parent.version > d.version, 'a change bumps the parent version');
      assert.ok(f.ino > sub.ino, 'inode numbers only grow');
    });

    test('name errors: EEXIST, ENOENT, ENOTDIR', async () => {
      const d = await fresh();
      const f = await c.create(d.ino, 'a', o);
      await rejectsWith(c.create(d.ino, 'a', o), 'EEXIST');
      await rejectsWith(c.mkdir(d.ino, 'a', o), 'EEXIST');
      await rejectsWith(c.lookup(d.ino, 'missing'), 'ENOENT');
      await rejectsWith(c.lookup(f.ino, 'x'), 'ENOTDIR');
      await rejectsWith(c.create(f.ino, 'x', o), 'ENOTDIR');
      await rejectsWith(c.create(123456789n, 'x', o), 'ENOENT');
      await rejectsWith(c.getattr(987654321n), 'ENOENT');
    });

    test('64-bit inode numbers keep every bit', async () => {
      await rejectsWith(c.getattr((1n << 64n) - 1n), 'ENOENT');
      await rejectsWith(c.getattr((1n << 53n) + 1n), 'ENOENT');
      await rejectsWith(c.getattr(0n), 'EINVAL');
    });

    test('readdir pages by cursor, in name order, with attributes', async () => {
      const d = await fresh();
      const names = Array.from({ length: 25 }, (_, i) => `e${String(i).padStart(2, '0')}`);
      for (const nm of [...names].reverse()) await c.create(d.ino, nm, o);
      await c.mkdir(d.ino, 'zdir', o);
      const seen: string[] = [];
      let cursor: Buffer | null = null;
      let pages = 0;
      do {
        const page: Awaited<ReturnType<MetaClient['readdir']>> = await c.readdir(d.ino, cursor, 7);
        assert.ok(page.entries.length <= 7);
        for (const e of page.entries) {
          seen.push(e.name);
          assert.equal(e.attr.parent, d.ino);
        }
        cursor = page.cursor;
        pages++;
      } while (cursor !== null);
      assert.deepEqual(seen, [...names, 'zdir']);
      assert.equal(pages, 4);
      const all = [];
      for await (const e of readdirAll(c, d.ino)) all.push(e);
      assert.equal(all.length, 26);
      assert.equal(all.at(-1)!.attr.type, 'directory');
      await rejectsWith(c.readdir((await c.lookup(d.ino, 'e00')).ino), 'ENOTDIR');
      const empty = await c.readdir((await c.lookup(d.ino, 'zdir')).ino);
      assert.deepEqual([empty.entries.length, empty.cursor], [0, null]);
    });

    test('unlink and rmdir', async () => {
      const d = await fresh();
      const sub = await c.mkdir(d.ino, 'sub', o);
      await c.create(sub.ino, 'f', o);
      await rejectsWith(c.unlink(d.ino, 'sub'), 'EISDIR');
      await rejectsWith(c.rmdir(sub.ino, 'f'), 'ENOTDIR');
      await rejectsWith(c.rmdir(d.ino, 'sub'), 'ENOTEMPTY');
      await rejectsWith(c.unlink(d.ino, 'nothing'), 'ENOENT');
      await rejectsWith(c.rmdir(d.ino, 'nothing'), 'ENOENT');
      const f = await c.lookup(sub.ino, 'f');
      await c.unlink(sub.ino, 'f');
      await rejectsWith(c.getattr(f.ino), 'ENOENT');
      await c.rmdir(d.ino, 'sub');
      await rejectsWith(c.getattr(sub.ino), 'ENOENT');
      assert.equal((await c.getattr(d.ino)).nlink, 2);
    });

    test('rename: move, replace, no-replace, and the refusals', async () => {
      const d = await fresh();
      const a = await c.mkdir(d.ino, 'a', o);
      const b = await c.mkdir(d.ino, 'b', o);
      const f = await c.create(a.ino, 'f', o);
      await c.rename(a.ino, 'f', b.ino, 'g');
      assert.equal((await c.lookup(b.ino, 'g')).ino, f.ino);
      assert.equal((await c.getattr(f.ino)).parent, b.ino);
      await rejectsWith(c.lookup(a.ino, 'f'), 'ENOENT');

      const h = await c.create(b.ino, 'h', o);
      await rejectsWith(c.rename(b.ino, 'g', b.ino, 'h', { noReplace: true }), 'EEXIST');
      await c.rename(b.ino, 'g', b.ino, 'h');
      assert.equal((await c.lookup(b.ino, 'h')).ino, f.ino, 'the target name now names the source');
      await rejectsWith(c.getattr(h.ino), 'ENOENT');

      await c.rename(b.ino, 'h', b.ino, 'h'); // onto itself: nothing happens
      assert.equal((await c.lookup(b.ino, 'h')).ino, f.ino);

      const inner = await c.mkdir(a.ino, 'inner', o);
      await rejectsWith(c.rename(d.ino, 'a', inner.ino, 'x'), 'EINVAL');
      await rejectsWith(c.rename(d.ino, 'a', a.ino, 'x'), 'EINVAL');
      await rejectsWith(c.rename(d.ino, 'a', b.ino, 'h'), 'ENOTDIR');
      await rejectsWith(c.rename(b.ino, 'h', a.ino, 'inner'), 'EISDIR');
      await c.create(inner.ino, 'keep', o);
      const e = await c.mkdir(d.ino, 'e', o);
      await rejectsWith(c.rename(d.ino, 'e', a.ino, 'inner'), 'ENOTEMPTY');
      await rejectsWith(c.rename(d.ino, 'missing', a.ino, 'x'), 'ENOENT');

      // A directory moving between parents moves a link count with it.
      await c.rename(d.ino, 'e', a.ino, 'e2');
      assert.equal((await c.getattr(a.ino)).nlink, 4);
      assert.equal((await c.getattr(d.ino)).nlink, 4);
      assert.equal((await c.getattr(e.ino)).parent, a.ino);
      // Replacing an empty directory with a directory.
      const empty = await c.mkdir(b.ino, 'empty', o);
      await c.rename(a.ino, 'e2', b.ino, 'empty');
      await rejectsWith(c.getattr(empty.ino), 'ENOENT');
      assert.equal((await c.getattr(b.ino)).nlink, 3);
      assert.equal((await c.getattr(a.ino)).nlink, 3);
    });

    test('setattr changes what it is given and nothing else', async () => {
      const d = await fresh();
      const f = await c.create(d.ino, 'f', o);
      const a1 = await c.setattr(f.ino, { mode: 0o600 });
      assert.deepEqual([a1.mode, a1.uid, a1.size], [0o600, o.uid, 0n]);
      assert.ok(a1.version > f.version);
      const a2 = await c.setattr(f.ino, { size: 12345n, uid: 0, gid: 5 });
      assert.deepEqual([a2.mode, a2.uid, a2.gid, a2.size], [0o600, 0, 5, 12345n]);
      const when = 1_600_000_000_123_456_789n;
      const a3 = await c.setattr(f.ino, { atimeNs: when, mtimeNs: when + 1n });
      assert.deepEqual([a3.atimeNs, a3.mtimeNs, a3.size], [when, when + 1n, 12345n]);
      assert.deepEqual(await c.getattr(f.ino), a3);
      await rejectsWith(c.setattr(f.ino, { size: -1n }), 'EINVAL');
      await rejectsWith(c.setattr(d.ino, { size: 0n }), 'EISDIR');
      await rejectsWith(c.setattr(f.ino, { mode: 0o10000 }), 'EINVAL');
      await rejectsWith(c.setattr(555555555n, { mode: 0o600 }), 'ENOENT');
      assert.deepEqual(await c.getattr(f.ino), a3, 'refused changes changed nothing');
    });

    test('symlinks: readlink, and path resolution through them', async () => {
      const d = await fresh();
      const real = await c.mkdir(d.ino, 'real', o);
      await c.create(real.ino, 'f', o);
      const l = await c.symlink(d.ino, 'link', 'real', { uid: 1, gid: 2 });
      assert.deepEqual([l.type, l.size, l.mode, l.uid], ['symlink', 4n, 0o777, 1]);
      assert.equal(await c.readlink(l.ino), 'real');
      await rejectsWith(c.readlink(real.ino), 'EINVAL');
      await rejectsWith(c.symlink(d.ino, 'empty', '', o), 'EINVAL');
      await rejectsWith(c.symlink(d.ino, 'long', 'x'.repeat(4097), o), 'ENAMETOOLONG');
      const dn = `/t${n}`;
      assert.equal((await c.resolve(`${dn}/link/f`)).parent, real.ino);
      assert.equal((await c.resolve(`${dn}/link`)).type, 'symlink');
      assert.equal((await c.resolve(`${dn}/link`, { followLast: true })).ino, real.ino);
      await c.symlink(d.ino, 'abs', `${dn}/real`, o);
      assert.equal((await c.resolve(`${dn}/abs/f`)).parent, real.ino);
      assert.equal((await c.resolve(`${dn}/real/../real/./f`)).parent, real.ino);
      await c.symlink(d.ino, 'loop1', 'loop2', o);
      await c.symlink(d.ino, 'loop2', 'loop1', o);
      await rejectsWith(c.resolve(`${dn}/loop1/x`), 'ELOOP');
      await rejectsWith(c.resolve(`${dn}/real/f/x`), 'ENOTDIR');
      await rejectsWith(c.resolve(`${dn}/nope`), 'ENOENT');
      await rejectsWith(c.resolve('relative/path'), 'EINVAL');
      assert.equal((await c.resolve('/')).ino, ROOT_INO);
      assert.equal((await c.resolve('/..')).ino, ROOT_INO);
    });

    test('mknod: FIFOs, sockets and devices, with device numbers for devices only; anything else is EINVAL', async () => {
      const d = await fresh();
      const fifo = await c.mknod(d.ino, 'fifo', { type: 'fifo', mode: 0o640, uid: 3, gid: 4, rdev: 99 });
      assert.deepEqual([fifo.type, fifo.mode, fifo.uid, fifo.gid, fifo.size, fifo.nlink, fifo.rdev], ['fifo', 0o640, 3, 4, 0n, 1, undefined]);
      const sock = await c.mknod(d.ino, 'sock', { type: 'socket', mode: 0o755, uid: 0, gid: 0, rdev: 0 });
      assert.equal(sock.type, 'socket');
      const dev = await c.mknod(d.ino, 'tty', { type: 'chardev', mode: 0o620, uid: 0, gid: 5, rdev: (4 << 8) | 1 });
      assert.deepEqual([dev.type, dev.rdev, dev.size], ['chardev', 0x401, 0n]);
      const blk = await c.mknod(d.ino, 'sda', { type: 'blockdev', mode: 0o660, uid: 0, gid: 6, rdev: 0xffff_ffff });
      assert.equal(blk.rdev, 0xffff_ffff);
      assert.deepEqual(await c.lookup(d.ino, 'tty'), dev);
      const listed = new Map<string, string>();
      for await (const e of readdirAll(c, d.ino)) listed.set(e.name, `${e.attr.type}:${e.attr.rdev ?? '-'}`);
      assert.deepEqual([...listed].sort(), [['fifo', 'fifo:-'], ['sda', 'blockdev:4294967295'], ['sock', 'socket:-'], ['tty', 'chardev:1025']]);
      await rejectsWith(c.mknod(d.ino, 'fifo', { type: 'fifo', mode: 0o600, uid: 0, gid: 0, rdev: 0 }), 'EEXIST');
      await rejectsWith(c.mknod(d.ino, 'f', { type: 'file' as never, mode: 0o600, uid: 0, gid: 0, rdev: 0 }), 'EINVAL');
      await rejectsWith(c.mknod(d.ino, 'dir', { type: 'directory' as never, mode: 0o600, uid: 0, gid: 0, rdev: 0 }), 'EINVAL');
      await rejectsWith(c.mknod(fifo.ino, 'x', { type: 'fifo', mode: 0o600, uid: 0, gid: 0, rdev: 0 }), 'ENOTDIR');
      // A special file holds no bytes: no size, no pending write.
      await rejectsWith(c.setattr(fifo.ino, { size: 1n }), 'EINVAL');
      await rejectsWith(c.setattr(dev.ino, { pendingWrite: true }), 'EINVAL');
      const chmodded = await c.setattr(dev.ino, { mode: 0o600, uid: 7 });
      assert.deepEqual([chmodded.mode, chmodded.uid, chmodded.rdev], [0o600, 7, 0x401]);
      await c.rename(d.ino, 'tty', d.ino, 'tty0');
      assert.equal((await c.lookup(d.ino, 'tty0')).rdev, 0x401);
      await c.unlink(d.ino, 'tty0');
      await c.unlink(d.ino, 'fifo');
      await rejectsWith(c.lookup(d.ino, 'fifo'), 'ENOENT');
    });

    test('hard links: nlink counts names, a change through one is seen through all, unlink and rename work on one name', async () => {
      const d = await fresh();
      const e = await c.mkdir(d.ino, 'e', o);
      const f = await c.create(d.ino, 'f', { mode: 0o640, uid: 5, gid: 6 });
      const linked = await c.link(f.ino, e.ino, 'g');
      assert.deepEqual([linked.ino, linked.nlink, linked.parent], [f.ino, 2, d.ino], 'the primary name stays');
      assert.ok(linked.ctimeNs >= f.ctimeNs);
      assert.equal((await c.lookup(e.ino, 'g')).ino, f.ino);
      assert.ok((await c.getattr(e.ino)).mtimeNs >= linked.ctimeNs, "the new name's directory changed");
      await c.link(f.ino, d.ino, 'h');
      assert.deepEqual(await c.linksOf(f.ino), [{ parent: d.ino, name: 'f' }, { parent: d.ino, name: 'h' }, { parent: e.ino, name: 'g' }]);
      await c.setattr(f.ino, { mode: 0o600 });
      assert.deepEqual([(await c.lookup(e.ino, 'g')).mode, (await c.lookup(d.ino, 'h')).nlink], [0o600, 3]);
      // Errors: a directory cannot be linked, a name taken is EEXIST, a missing inode ENOENT.
      await rejectsWith(c.link(e.ino, d.ino, 'edir'), 'EPERM');
      await rejectsWith(c.link(f.ino, d.ino, 'h'), 'EEXIST');
      await rejectsWith(c.link(987654321n, d.ino, 'x'), 'ENOENT');
      await rejectsWith(c.link(f.ino, f.ino, 'x'), 'ENOTDIR');
      await rejectsWith(c.link(f.ino, d.ino, 'a/b'), 'EINVAL');
      // Unlinking the primary name promotes the first further name (key order: d/h before e/g).
      await c.unlink(d.ino, 'f');
      await rejectsWith(c.lookup(d.ino, 'f'), 'ENOENT');
      const after1 = await c.getattr(f.ino);
      assert.deepEqual([after1.nlink, after1.parent], [2, d.ino]);
      assert.deepEqual(await c.linksOf(f.ino), [{ parent: d.ino, name: 'h' }, { parent: e.ino, name: 'g' }]);
      // A further name renamed: only that name moves.
      await c.rename(e.ino, 'g', d.ino, 'g2');
      assert.deepEqual(await c.linksOf(f.ino), [{ parent: d.ino, name: 'h' }, { parent: d.ino, name: 'g2' }]);
      // Renaming one name onto another of the same file does nothing (POSIX).
      await c.rename(d.ino, 'g2', d.ino, 'h');
      assert.equal((await c.getattr(f.ino)).nlink, 2);
      // A rename replacing a hard-linked name takes that one name only.
      const other = await c.create(d.ino, 'other', o);
      await c.rename(d.ino, 'other', d.ino, 'g2');
      assert.equal((await c.lookup(d.ino, 'g2')).ino, other.ino);
      assert.deepEqual([(await c.getattr(f.ino)).nlink, (await c.lookup(d.ino, 'h')).ino], [1, f.ino]);
      assert.deepEqual(await c.linksOf(f.ino), [{ parent: d.ino, name: 'h' }]);
      // setPrimaryName: only a name of the inode; then unlink of the old primary leaves the new one.
      await c.link(f.ino, e.ino, 'k');
      await rejectsWith(c.setPrimaryName(f.ino, d.ino, 'g2'), 'EINVAL');
      await c.setPrimaryName(f.ino, e.ino, 'k');
      assert.deepEqual(await c.linksOf(f.ino), [{ parent: e.ino, name: 'k' }, { parent: d.ino, name: 'h' }]);
      await c.unlink(d.ino, 'h');
      assert.deepEqual([(await c.getattr(f.ino)).nlink, (await c.getattr(f.ino)).parent], [1, e.ino]);
      await c.unlink(e.ino, 'k');
      await rejectsWith(c.getattr(f.ino), 'ENOENT');
      // Special files and symlinks link too.
      const fifo = await c.mknod(d.ino, 'p', { type: 'fifo', mode: 0o600, uid: 0, gid: 0, rdev: 0 });
      assert.equal((await c.link(fifo.ino, e.ino, 'p2')).type, 'fifo');
      const sl = await c.symlink(d.ino, 's', '/target', { uid: 0, gid: 0 });
      await c.link(sl.ino, e.ino, 's2');
      assert.equal(await c.readlink((await c.lookup(e.ino, 's2')).ino), '/target');
    });

    test('hard links under concurrent link and unlink: the link count always equals the names', async () => {
      const d = await fresh();
      const f = await c.create(d.ino, 'f', o);
      const names = Array.from({ length: 20 }, (_, i) => `l${i}`);
      await Promise.all(names.map((n) => c.link(f.ino, d.ino, n)));
      assert.equal((await c.getattr(f.ino)).nlink, 21);
      // Half go, some twice at once (one of each pair is ENOENT), while others are made.
      const results = await Promise.allSettled([
        ...names.slice(0, 10).flatMap((n) => [c.unlink(d.ino, n), c.unlink(d.ino, n)]),
        c.unlink(d.ino, 'f'),
        ...['m0', 'm1', 'm2'].map((n) => c.link(f.ino, d.ino, n)),
      ]);
      const failed = results.filter((r) => r.status === 'rejected');
      assert.equal(failed.length, 10);
      for (const r of failed) assert.equal(((r as PromiseRejectedResult).reason as WharfError).errno, 'ENOENT');
      const links = await c.linksOf(f.ino);
      assert.equal(links.length, 13);
      assert.equal((await c.getattr(f.ino)).nlink, 13);
      let listed = 0;
      for await (const e of readdirAll(c, d.ino)) if (e.attr.ino === f.ino) listed++;
      assert.equal(listed, 13);
    });

    test('bad names get precise errors and change nothing', async () => {
      const d = await fresh();
      const before = await c.getattr(d.ino);
      await rejectsWith(c.create(d.ino, '', o), 'EINVAL');
      await rejectsWith(c.create(d.ino, '.', o), 'EINVAL');
      await rejectsWith(c.mkdir(d.ino, '..', o), 'EINVAL');
      await rejectsWith(c.create(d.ino, 'a/b', o), 'EINVAL');
      await rejectsWith(c.create(d.ino, 'a\0b', o), 'EINVAL');
      await rejectsWith(c.create(d.ino, 'x'.repeat(256), o), 'ENAMETOOLONG');
      await rejectsWith(c.create(d.ino, 'é'.repeat(128), o), 'ENAMETOOLONG'); // 256 bytes in UTF-8
      await rejectsWith(c.rename(d.ino, 'x', d.ino, 'y'.repeat(300)), 'ENAMETOOLONG');
      await rejectsWith(c.resolve('/' + 'a/'.repeat(2100)), 'ENAMETOOLONG');
      await rejectsWith(c.mkdir(d.ino, 'm', { mode: -1, uid: 0, gid: 0 }), 'EINVAL');
      assert.deepEqual(await c.getattr(d.ino), before);
      assert.equal((await c.readdir(d.ino)).entries.length, 0);
      const ok = await c.create(d.ino, 'x'.repeat(255), o);
      assert.equal(ok.type, 'file');
      const uni = await c.mkdir(d.ino, 'données 数据 🚀', o);
      assert.equal((await c.lookup(d.ino, 'données 数据 🚀')).ino, uni.ino);
    });

    test('statfs counts inodes', async () => {
      const s0 = await c.statfs();
      const d = await fresh();
      await c.create(d.ino, 'one', o);
      const s1 = await c.statfs();
      assert.equal(s1.usedInodes, s0.usedInodes + 2n);
      assert.equal(s1.maxNameLength, 255);
      assert.ok(s1.freeInodes > 0n && s1.totalBlocks > 0n);
    });
  });
}
