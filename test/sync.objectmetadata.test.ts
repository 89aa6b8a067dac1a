// Sharing a bucket with s3fs and rclone: owner, mode, time and symlinks are read
// from their object metadata (sources imported with objectMetadata), with a HEAD
// only for new or changed objects; symlinks made through the mount are written as
// s3fs symlink objects, readable by the same rules.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lstat, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { InodeTree } from '../src/meta/index.js';
import { SyncControl } from '../src/master/index.js';
import { objectAttrs } from '../src/sync/index.js';
import { FaultyStore, LocalStore } from '../src/ufs/index.js';
import { wharfUp, type MountProcess } from './helpers/mount.js';
import { tempDir } from './helpers/tmp.js';

const S_IFLNK = 0o120000;

describe('objectAttrs parses s3fs and rclone metadata', () => {
  test('s3fs: decimal st_mode, uid, gid, mtime in seconds', () => {
    assert.deepEqual(objectAttrs({ mode: String(0o100755), uid: '1000', gid: '1001', mtime: '1600000000' }),
      { mode: 0o755, uid: 1000, gid: 1001, mtimeMs: 1_600_000_000_000, symlink: false });
  });
  test('rclone: octal mode, fractional mtime', () => {
    assert.deepEqual(objectAttrs({ mode: '100600', mtime: '1600000000.25' }), { mode: 0o600, mtimeMs: 1_600_000_000_250, symlink: false });
  });
  test('a symlink mode', () => {
    assert.equal(objectAttrs({ mode: String(S_IFLNK | 0o777) }).symlink, true);
  });
  test('FIFO, socket and device modes (s3fs decimal, rclone octal), with rdev for devices only', () => {
    assert.deepEqual(objectAttrs({ mode: String(0o010640) }), { mode: 0o640, symlink: false, special: 'fifo' });
    assert.deepEqual(objectAttrs({ mode: '140755' }), { mode: 0o755, symlink: false, special: 'socket' });
    assert.deepEqual(objectAttrs({ mode: String(0o020600), rdev: '259' }), { mode: 0o600, symlink: false, special: 'chardev', rdev: 259 });
    assert.deepEqual(objectAttrs({ mode: String(0o060600), rdev: 'x' }), { mode: 0o600, symlink: false, special: 'blockdev', rdev: 0 });
    assert.equal(objectAttrs({ mode: String(0o010640), rdev: '5' }).rdev, undefined, 'a FIFO has no device number');
  });
  test('unreadable values are ignored, not guessed', () => {
    assert.deepEqual(objectAttrs({ mode: 'rwxr-xr-x', uid: '-1', gid: '99999999999', mtime: 'yesterday' }), { symlink: false });
    assert.deepEqual(objectAttrs(undefined), { symlink: false });
  });
});

describe('a source with objectMetadata', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: LocalStore;

  before(async () => {
    dir = tempDir();
    await mkdir(join(dir.path, 'bucket'));
    store = await LocalStore.open(join(dir.path, 'bucket'));
    await store.put('s3fs.txt', Buffer.from('hello'), { metadata: { mode: String(0o100751), uid: '1000', gid: '1001', mtime: '1600000000' } });
    await store.put('rclone.txt', Buffer.from('x'), { metadata: { mode: '100600', mtime: '1600000000.5' } });
    await store.put('d/link', Buffer.from('../s3fs.txt'), { metadata: { mode: String(S_IFLNK | 0o777) } });
    await store.put('plain.txt', Buffer.from('p'));
    await store.put('dev/fifo', Buffer.alloc(0), { metadata: { mode: String(0o010600), uid: '7', gid: '8' } });
    await store.put('dev/null', Buffer.alloc(0), { metadata: { mode: String(0o020666), rdev: String(0x103) } });
    // Not empty: a file, whatever its mode claims (a special file holds no bytes).
    await store.put('dev/notfifo', Buffer.from('bytes'), { metadata: { mode: String(0o010600) } });
  });
  after(async () => {
    await store.close();
    dir.remove();
  });

  async function importIt(objectMetadata: boolean): Promise<{ tree: InodeTree; control: SyncControl; faulty: FaultyStore[] }> {
    const tree = await InodeTree.open(join(dir.path, `meta-${objectMetadata}`));
    const faulty: FaultyStore[] = [];
    const control = await SyncControl.open(tree, {
      openStore: async () => {
        const f = new FaultyStore(await LocalStore.open(join(dir.path, 'bucket')));
        faulty.push(f);
        return f;
      },
    });
    const { job } = await control.importSource({ name: 'b', uri: `file://${join(dir.path, 'bucket')}`, at: '/b', objectMetadata });
    assert.equal((await control.jobs.wait(job.id)).state, 'succeeded');
    return { tree, control, faulty };
  }

  test('owner, mode, time and symlinks come from the metadata; an unchanged re-sync sends no HEAD', async () => {
    const { tree, control, faulty } = await importIt(true);
    try {
      const s3fs = await tree.resolve('/b/s3fs.txt');
      assert.deepEqual([s3fs.mode, s3fs.uid, s3fs.gid, s3fs.mtimeNs], [0o751, 1000, 1001, 1_600_000_000_000_000_000n]);
      const rclone = await tree.resolve('/b/rclone.txt');
      assert.deepEqual([rclone.mode, rclone.mtimeNs], [0o600, 1_600_000_000_500_000_000n]);
      const link = await tree.resolve('/b/d/link');
      assert.equal(link.type, 'symlink');
      assert.equal(await tree.readlink(link.ino), '../s3fs.txt');
      assert.equal((await tree.resolve('/b/d/link', { followLast: true })).ino, s3fs.ino);
      const plain = await tree.resolve('/b/plain.txt');
      assert.deepEqual([plain.mode, plain.uid], [0o644, 0]);
      const fifo = await tree.resolve('/b/dev/fifo');
      assert.deepEqual([fifo.type, fifo.mode, fifo.uid, fifo.gid, fifo.size, fifo.rdev], ['fifo', 0o600, 7, 8, 0n, undefined]);
      const nul = await tree.resolve('/b/dev/null');
      assert.deepEqual([nul.type, nul.mode, nul.rdev, nul.size], ['chardev', 0o666, 0x103, 0n]);
      assert.equal((await tree.resolve('/b/dev/notfifo')).type, 'file');

      const headsAfterImport = faulty.reduce((n, f) => n + f.calls.head, 0);
      assert.ok(headsAfterImport >= 7, `one HEAD per new object (${headsAfterImport})`);
      await control.rules.create('b', { name: 'again', type: 'manual' });
      const job = await control.rules.execute('b', 'again');
      assert.equal((await control.jobs.wait(job.id)).state, 'succeeded');
      assert.equal(faulty.reduce((n, f) => n + f.calls.head, 0), headsAfterImport, 'an unchanged re-sync sends no HEAD');
      assert.equal((await tree.resolve('/b/d/link')).ino, link.ino, 'the symlink is unchanged by the re-sync');
      assert.equal((await tree.resolve('/b/dev/null')).ino, nul.ino, 'so is the device');
    } finally {
      await control.close();
      await tree.close();
    }
  });

  test('without it, objects take the defaults and no HEAD is sent', async () => {
    const { tree, control, faulty } = await importIt(false);
    try {
      const s3fs = await tree.resolve('/b/s3fs.txt');
      assert.deepEqual([s3fs.mode, s3fs.uid], [0o644, 0]);
      assert.equal((await tree.resolve('/b/d/link')).type, 'file');
      assert.equal((await tree.resolve('/b/dev/null')).type, 'file');
      assert.equal(faulty.reduce((n, f) => n + f.calls.head, 0), 0);
    } finally {
      await control.close();
      await tree.close();
    }
  });
});

describe('symlinks through the mount', () => {
  let dir: ReturnType<typeof tempDir>;
  let up: MountProcess | undefined;

  before(() => { dir = tempDir(); });
  after(async () => {
    await up?.stop();
    dir.remove();
  });

  test('ln -s writes an s3fs symlink object, and a second mount reads it back as a symlink', async () => {
    const bucket = join(dir.path, 'bucket');
    await mkdir(bucket);
    const store = await LocalStore.open(bucket);
    await store.put('target.txt', Buffer.from('t'));
    up = await wharfUp({ store: `file://${bucket}`, mountpoint: join(dir.path, 'mnt'), cacheDir: join(dir.path, 'cache'), args: ['--object-metadata'] });
    const { sh } = await import('./helpers/mount.js');
    const r = await sh('ln -s target.txt lnk && readlink lnk', { cwd: join(dir.path, 'mnt') });
    assert.equal(r.stdout.trim(), 'target.txt', r.stderr);
    const head = await store.head('lnk');
    assert.ok(head, 'the link is an object in the store');
    assert.equal(Number(head.metadata?.['mode']) & 0o170000, S_IFLNK);
    const body: Buffer[] = [];
    for await (const c of await store.get('lnk')) body.push(c as Buffer);
    assert.equal(Buffer.concat(body).toString(), 'target.txt');
    await up.stop();
    up = await wharfUp({ store: `file://${bucket}`, mountpoint: join(dir.path, 'mnt2'), cacheDir: join(dir.path, 'cache2'), args: ['--object-metadata'] });
    assert.ok((await lstat(join(dir.path, 'mnt2', 'lnk'))).isSymbolicLink());
    assert.equal(await readlink(join(dir.path, 'mnt2', 'lnk')), 'target.txt');
    await store.close();
  });
});

describe('FIFOs, sockets and devices through the mount', () => {
  let dir: ReturnType<typeof tempDir>;
  let up: MountProcess | undefined;

  before(() => { dir = tempDir(); });
  after(async () => {
    await up?.stop();
    dir.remove();
  });

  test('mkfifo, mknod and a bound socket become empty s3fs objects, and a re-import with object metadata brings them back', async () => {
    const bucket = join(dir.path, 'bucket');
    await mkdir(bucket);
    const store = await LocalStore.open(bucket);
    up = await wharfUp({ store: `file://${bucket}`, mountpoint: join(dir.path, 'mnt'), cacheDir: join(dir.path, 'cache'), args: ['--object-metadata'] });
    const { shOk } = await import('./helpers/mount.js');
    const mnt = join(dir.path, 'mnt');
    await shOk('umask 022 && mkdir sp && mkfifo -m 0640 sp/fifo && mknod -m 0600 sp/tty c 4 64 && mknod sp/loop b 7 1 && python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind(\'sp/sock\')"', { cwd: mnt });
    const want = 'fifo 640 0:0\ncharacter special file 600 4:40\nblock special file 644 7:1\nsocket 755 0:0\n';
    const statLine = 'stat -c "%F %a %t:%T" sp/fifo sp/tty sp/loop sp/sock';
    assert.equal(await shOk(statLine, { cwd: mnt }), want);
    for (const [key, ifmt] of [['sp/fifo', 0o010000], ['sp/tty', 0o020000], ['sp/loop', 0o060000], ['sp/sock', 0o140000]] as const) {
      const head = await store.head(key);
      assert.ok(head, `${key} is an object`);
      assert.equal(head.size, 0n);
      assert.equal(Number(head.metadata?.['mode']) & 0o170000, ifmt, key);
    }
    assert.equal((await store.head('sp/tty'))?.metadata?.['rdev'], String((4 << 8) | 64));
    const before = await shOk(statLine, { cwd: mnt });
    await up.stop();
    up = await wharfUp({ store: `file://${bucket}`, mountpoint: join(dir.path, 'mnt2'), cacheDir: join(dir.path, 'cache2'), args: ['--object-metadata'] });
    assert.equal(await shOk(statLine, { cwd: join(dir.path, 'mnt2') }), before, 'the same types, modes and device numbers after a re-import');
    await shOk('rm sp/fifo sp/tty sp/loop sp/sock', { cwd: join(dir.path, 'mnt2') });
    assert.equal(await store.head('sp/tty'), undefined, 'rm deletes the object');
    await store.close();
  });
});
