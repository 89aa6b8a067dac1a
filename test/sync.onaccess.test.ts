// On-access sync (Alluxio semantics), over gRPC against a real master whose sources
// are real local directories: a directory is listed in the store when it is read
// and stale under the sync interval in force (the source's, or the request's); a
// lookup of an unknown name asks the store about that one name; concurrent readers
// of one stale directory share one listing; a store that is down fails only what
// was never loaded; a read-only source refuses changes.
//
// Store calls are counted by the FaultyStore the fixture wraps around every
// source's store. The local store is used because s3rver's delimiter listings
// omit prefixes whose keys are all two or more levels deep (see the notes); the
// last suite uses s3rver for what only S3 can hold: an object "a" beside keys "a/…".
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Ino } from '../src/common/index.js';
import {
  DIR_INIT, FILE_INIT, SyncMaster, localBackend, names, readdirAll, rejectsErrno, s3Backend, sleep, startS3rver,
  type Backend, type S3rver,
} from './helpers/sourceFixture.js';

describe('on-access sync', () => {
  let b: Backend;
  let m: SyncMaster;
  /** Sources whose initial scan fails (the store errs on the job's listing): nothing is loaded until read. */
  const lazy = new Set<string>();

  before(async () => {
    b = await localBackend();
    m = await SyncMaster.start({
      // The import's reachability check (one list call) passes; the job's listing fails.
      faults: (s) => (lazy.has(s.name) ? { rules: [{ ops: ['list'], after: 1, times: 1, errno: 'EIO' }] } : undefined),
    });
  });

  after(async () => {
    await m?.dispose();
    await b?.close();
  });

  /** Imports `name` from store directory `name/`; lazily (nothing loaded) if asked. */
  async function source(name: string, files: string[], o: { syncIntervalMs?: number; lazy?: boolean; readOnly?: boolean } = {}): Promise<Ino> {
    await b.putMany(files.map((f) => `${name}/${f}`), (k) => `body of ${k}`);
    if (o.lazy) lazy.add(name);
    const { source: s, job } = await m.importSource({
      name, uri: b.uri(`${name}/`), at: `/${name}`,
      ...(o.syncIntervalMs !== undefined ? { syncIntervalMs: o.syncIntervalMs } : {}), ...(o.readOnly ? { readOnly: true } : {}),
    });
    assert.equal(job.state, o.lazy ? 'failed' : 'succeeded', `${name}'s import job: ${job.reason ?? ''}`);
    return BigInt(s.rootIno);
  }

  const lists = (name: string): number => m.faulty(name).calls.list;
  const heads = (name: string): number => m.faulty(name).calls.head;

  test('interval -1: loaded on first access and never re-listed; an unknown name is asked of the store once', async () => {
    const root = await source('never', ['top.txt', 'sub/a.txt', 'sub/deeper/b.txt'], { lazy: true });
    const l0 = lists('never');
    assert.deepEqual(await names(m.client, root), ['sub', 'top.txt'], 'the first readdir loads the directory');
    assert.equal(lists('never'), l0 + 1);
    const sub = (await m.client.lookup(root, 'sub')).ino;
    assert.equal(lists('never'), l0 + 1, 'a lookup in a loaded directory does not list it');
    assert.deepEqual(await names(m.client, sub), ['a.txt', 'deeper'], 'a subdirectory is loaded on its own first access');
    assert.equal(lists('never'), l0 + 2);

    await b.put('never/new.txt', 'a new object');
    await b.put('never/sub/new2.txt', 'another');
    await b.remove('never/top.txt');
    assert.deepEqual(await names(m.client, root), ['sub', 'top.txt'], 'not re-listed: the new object is not seen, the deleted one stays');
    assert.deepEqual(await names(m.client, sub), ['a.txt', 'deeper']);
    assert.equal(lists('never'), l0 + 2, 'no listing at all');

    // A lookup of a name the namespace lacks asks the store about that name.
    const h0 = heads('never');
    const found = await m.client.lookup(root, 'new.txt');
    assert.equal(found.type, 'file');
    assert.equal(found.size, BigInt('a new object'.length));
    assert.equal(heads('never'), h0 + 1);
    assert.equal(lists('never'), l0 + 3, 'one single-key listing (is it a directory?), not a re-listing');
    assert.deepEqual(await names(m.client, root), ['new.txt', 'sub', 'top.txt'], 'found names join the directory');
    assert.equal((await m.client.resolve('/never/sub/new2.txt')).size, 7n);
    assert.notEqual(await m.storeState('/never/new.txt'), undefined, 'a found name is synced (has a store state)');

    // An unknown name: asked once, then answered from memory.
    const h1 = heads('never');
    await rejectsErrno(m.client.lookup(root, 'nothing-here'), 'ENOENT', 'first miss');
    assert.equal(heads('never'), h1 + 1);
    await rejectsErrno(m.client.lookup(root, 'nothing-here'), 'ENOENT', 'second miss');
    await rejectsErrno(m.client.resolve('/never/nothing-here'), 'ENOENT', 'by path');
    assert.equal(heads('never'), h1 + 1, 'the store is asked about a missing name once');
  });

  test('interval -1: a directory found by a lookup after a full sync is loaded on its first readdir', async () => {
    const root = await source('found', ['top.txt']);
    await b.put('found/later/x.txt', 'x');
    await b.put('found/later/y/z.txt', 'z');
    const later = await m.client.lookup(root, 'later');
    assert.equal(later.type, 'directory');
    assert.deepEqual(await names(m.client, later.ino), ['x.txt', 'y'], 'its contents, not an empty directory');
    const y = (await m.client.lookup(later.ino, 'y')).ino;
    assert.deepEqual(await names(m.client, y), ['z.txt']);
    // The same for a directory that a one-level sync (this request's interval 0) brought in.
    await b.put('found/other/o.txt', 'o');
    assert.deepEqual(await names(m.client, root, { syncIntervalMs: 0 }), ['later', 'other', 'top.txt']);
    const other = (await m.client.lookup(root, 'other')).ino;
    assert.deepEqual(await names(m.client, other), ['o.txt']);
    const l = lists('found');
    await b.put('found/other/o2.txt', 'o');
    assert.deepEqual(await names(m.client, other), ['o.txt'], 'loaded once, then -1: never again');
    assert.equal(lists('found'), l);
  });

  test('interval 0: every access re-lists, new and deleted objects are seen at once', async () => {
    const root = await source('always', ['a.txt', 'b.txt', 'd/x.txt', 'gone/p', 'gone/q'], { syncIntervalMs: 0 });
    const l0 = lists('always');
    assert.deepEqual(await names(m.client, root), ['a.txt', 'b.txt', 'd', 'gone']);
    assert.equal(lists('always'), l0 + 1, 'even right after the import');
    await b.put('always/c.txt', 'new');
    await b.remove('always/a.txt');
    await b.remove('always/gone/');
    assert.deepEqual(await names(m.client, root), ['b.txt', 'c.txt', 'd'], 'created and deleted at once; a vanished directory goes with its contents');
    assert.equal(lists('always'), l0 + 2);
    await b.put('always/b.txt', 'b grew');
    assert.equal((await m.client.lookup(root, 'b.txt')).size, 6n, 'a lookup re-lists its directory: the new size');
    await b.remove('always/c.txt');
    await rejectsErrno(m.client.lookup(root, 'c.txt'), 'ENOENT', 'deleted object');
    await rejectsErrno(m.client.resolve('/always/c.txt'), 'ENOENT', 'deleted object by path');
    const d = (await m.client.lookup(root, 'd')).ino;
    await b.put('always/d/y.txt', 'y');
    assert.deepEqual(await names(m.client, d), ['x.txt', 'y.txt']);
  });

  test('interval N: re-listed only once the last sync (its own or an ancestor\'s full sync) is N ms old', async () => {
    const N = 1_500;
    const root = await source('every', ['a.txt', 'sub/s.txt', 'sub/deep/t.txt'], { syncIntervalMs: N });
    // The import's full sync of / covers the whole tree as of its start.
    const synced = async (): Promise<number> => (await m.master.tree.getSyncTimes(root))!.treeMs;
    const t0 = await synced();
    const l0 = lists('every');
    const sub = (await m.client.lookup(root, 'sub')).ino;
    const deep = (await m.client.lookup(sub, 'deep')).ino;
    await b.put('every/new.txt', 'n');
    await b.put('every/sub/deep/new.txt', 'n');
    assert.deepEqual(await names(m.client, root), ['a.txt', 'sub']);
    assert.deepEqual(await names(m.client, deep), ['t.txt'], "a subdirectory is as fresh as its ancestor's full sync");
    assert.equal(lists('every'), l0, 'nothing listed within N of the import');
    assert.ok(Date.now() - t0 < N, 'the checks above ran within N (a slow machine would make this test meaningless)');
    await sleep(t0 + N + 20 - Date.now());
    assert.deepEqual(await names(m.client, root), ['a.txt', 'new.txt', 'sub']);
    assert.deepEqual(await names(m.client, deep), ['new.txt', 't.txt']);
    assert.equal(lists('every'), l0 + 2, 'each directory listed once it was N ms old');
    assert.deepEqual(await names(m.client, root), ['a.txt', 'new.txt', 'sub']);
    assert.deepEqual(await names(m.client, deep), ['new.txt', 't.txt']);
    assert.equal(lists('every'), l0 + 2, 'and then fresh again');

    // A manual full sync of / makes every directory fresh again, for N from its start.
    await sleep(t0 + 2 * N + 20 - Date.now()); // deep's own listing is now N old too
    const job = await m.resync('every');
    assert.equal(job.state, 'succeeded');
    const t1 = await synced();
    assert.ok(t1 > t0);
    const l1 = lists('every');
    await b.put('every/sub/deep/newer.txt', 'n');
    assert.deepEqual(await names(m.client, deep), ['new.txt', 't.txt'], 'fresh by the full sync of /');
    assert.deepEqual(await names(m.client, sub), ['deep', 's.txt']);
    assert.equal(lists('every'), l1, 'no listing');
    assert.ok(Date.now() - t1 < N);
  });

  test('the per-request interval overrides the source\'s (readdir, lookup, resolve)', async () => {
    const root = await source('ovr', ['a.txt', 'b.txt', 'sub/x.txt']); // the source's interval: -1
    const l0 = lists('ovr');
    await b.put('ovr/new.txt', 'n');
    await b.remove('ovr/b.txt');
    assert.deepEqual(await names(m.client, root), ['a.txt', 'b.txt', 'sub']);
    assert.deepEqual(await names(m.client, root, { syncIntervalMs: 60_000 }), ['a.txt', 'b.txt', 'sub'], 'fresh under 60 s');
    assert.equal(lists('ovr'), l0);
    assert.deepEqual(await names(m.client, root, { syncIntervalMs: 0 }), ['a.txt', 'new.txt', 'sub'], '0: re-listed for this request');
    assert.equal(lists('ovr'), l0 + 1);
    await b.remove('ovr/a.txt');
    await rejectsErrno(m.client.lookup(root, 'a.txt', { syncIntervalMs: 0 }), 'ENOENT', 'lookup with 0');
    await b.put('ovr/sub/y.txt', 'y');
    assert.equal((await m.client.resolve('/ovr/sub/y.txt', { syncIntervalMs: 0 })).size, 1n, 'resolve with 0');
    assert.equal((await m.client.lookup(root, 'new.txt')).size, 1n);

    // And the other way: a source that re-lists on every access, asked not to.
    const r0 = await source('ovr0', ['a.txt'], { syncIntervalMs: 0 });
    await names(m.client, r0);
    const k = lists('ovr0');
    await b.put('ovr0/b.txt', 'b');
    assert.deepEqual(await names(m.client, r0, { syncIntervalMs: -1 }), ['a.txt']);
    assert.equal((await m.client.lookup(r0, 'a.txt', { syncIntervalMs: -1 })).type, 'file');
    assert.equal(lists('ovr0'), k, '-1 for these requests: not re-listed');
    assert.deepEqual(await names(m.client, r0), ['a.txt', 'b.txt']);
  });

  test('concurrent accesses to one stale directory share ONE listing', async () => {
    const root = await source('conc', ['a.txt', 'b.txt', 'sub/c.txt'], { syncIntervalMs: 0 });
    const f = m.faulty('conc');
    await b.put('conc/new.txt', 'n');
    f.setLatency(300);
    try {
      const l0 = lists('conc');
      const results = await Promise.all([
        ...Array.from({ length: 8 }, () => names(m.client, root)),
        ...['a.txt', 'b.txt', 'new.txt'].map(async (n) => [(await m.client.lookup(root, n)).type]),
        (async () => [(await m.client.resolve('/conc/new.txt')).type])(),
      ]);
      assert.equal(lists('conc') - l0, 1, 'twelve concurrent accesses, one listing');
      for (const r of results.slice(0, 8)) assert.deepEqual(r, ['a.txt', 'b.txt', 'new.txt', 'sub']);
      for (const r of results.slice(8)) assert.deepEqual(r, ['file']);
    } finally {
      f.setLatency(0);
    }
    // Accesses that come after a listing ended start the next one (interval 0).
    const l1 = lists('conc');
    await names(m.client, root);
    await names(m.client, root);
    assert.equal(lists('conc') - l1, 2);
  });

  test('store down: a directory never loaded fails with EIO; a loaded one is served as it was', async () => {
    const root = await source('down', ['top.txt', 'sub/a.txt', 'loaded/b.txt'], { syncIntervalMs: 0, lazy: true });
    assert.deepEqual(await names(m.client, root), ['loaded', 'sub', 'top.txt']);
    const loaded = (await m.client.lookup(root, 'loaded')).ino;
    assert.deepEqual(await names(m.client, loaded), ['b.txt']);
    const sub = (await m.client.lookup(root, 'sub')).ino; // an entry, never listed itself
    const f = m.faulty('down');
    f.goAway('eio');
    try {
      const e = await rejectsErrno(m.client.readdir(sub), 'EIO', 'never-loaded directory');
      assert.match(e.message, /cannot list down:\/sub/);
      await rejectsErrno(m.client.resolve('/down/sub/a.txt'), 'EIO', 'a path through it');
      assert.deepEqual(await names(m.client, root), ['loaded', 'sub', 'top.txt'], 'loaded: served as it was (interval 0 notwithstanding)');
      assert.deepEqual(await names(m.client, loaded), ['b.txt']);
      assert.equal((await m.client.lookup(loaded, 'b.txt')).type, 'file');
      assert.equal((await m.client.resolve('/down/top.txt')).type, 'file');
    } finally {
      f.comeBack();
    }
    assert.deepEqual(await names(m.client, sub), ['a.txt'], 'loaded once the store is back');
  });

  test('hard links in a source: further names survive one-level and full syncs; an object put at one does not displace it; the primary object gone takes every name', async () => {
    const root = await source('hl', ['a/f.txt', 'b/other.txt'], { syncIntervalMs: 0 });
    const a = (await m.client.lookup(root, 'a')).ino;
    const bdir = (await m.client.lookup(root, 'b')).ino;
    const f = await m.client.lookup(a, 'f.txt');
    await m.client.link(f.ino, bdir, 'g');
    await m.client.link(f.ino, a, 'h');
    // Interval 0: every readdir lists the store, which has no object at b/g or a/h.
    assert.deepEqual(await names(m.client, bdir), ['g', 'other.txt']);
    assert.deepEqual(await names(m.client, a), ['f.txt', 'h']);
    const job = await m.resync('hl');
    assert.equal(job.state, 'succeeded');
    assert.deepEqual([(await m.client.lookup(bdir, 'g')).ino, (await m.client.getattr(f.ino)).nlink], [f.ino, 3], 'a full sync keeps them');
    // Another tool puts an object where a further name is: the link stays (the client's change).
    await b.put('hl/b/g', 'planted by another tool');
    assert.deepEqual(await names(m.client, bdir), ['g', 'other.txt']);
    assert.equal((await m.client.lookup(bdir, 'g')).ino, f.ino);
    // The primary object deleted in the store: the file goes with every name, and the planted object shows.
    await b.remove('hl/a/f.txt');
    assert.deepEqual(await names(m.client, a), []);
    await rejectsErrno(m.client.getattr(f.ino), 'ENOENT', 'the inode');
    const planted = await m.client.lookup(bdir, 'g');
    assert.notEqual(planted.ino, f.ino);
    assert.deepEqual([planted.size, planted.nlink], [BigInt('planted by another tool'.length), 1]);
    assert.deepEqual((await m.master.tree.linksOf(planted.ino)).map((l) => l.name), ['g']);
  });

  test('a read-only source refuses create, mkdir, symlink, unlink, rmdir, rename and setattr with EROFS', async () => {
    const root = await source('ro', ['top.txt', 'sub/a.txt', 'empty/'], { readOnly: true });
    const sub = (await m.client.lookup(root, 'sub')).ino;
    const top = await m.client.lookup(root, 'top.txt');
    const outside = await m.client.mkdir(1n, 'ro-outside', DIR_INIT);
    const mine = await m.client.create(outside.ino, 'mine.txt', FILE_INIT);
    const ops: [string, () => Promise<unknown>][] = [
      ['create', () => m.client.create(root, 'x', FILE_INIT)],
      ['create below', () => m.client.create(sub, 'x', FILE_INIT)],
      ['mkdir', () => m.client.mkdir(root, 'x', DIR_INIT)],
      ['symlink', () => m.client.symlink(sub, 'l', '/ro/top.txt', { uid: 0, gid: 0 })],
      ['unlink', () => m.client.unlink(root, 'top.txt')],
      ['unlink below', () => m.client.unlink(sub, 'a.txt')],
      ['rmdir', () => m.client.rmdir(root, 'empty')],
      ['rename within', () => m.client.rename(root, 'top.txt', root, 'top2.txt')],
      ['rename out', () => m.client.rename(sub, 'a.txt', outside.ino, 'stolen.txt')],
      ['rename in', () => m.client.rename(outside.ino, 'mine.txt', sub, 'planted.txt')],
      ['setattr file', () => m.client.setattr(top.ino, { size: 0n })],
      ['setattr mode', () => m.client.setattr(top.ino, { mode: 0o600 })],
      ['setattr mount root', () => m.client.setattr(root, { mode: 0o700 })],
      ['link in', () => m.client.link(mine.ino, sub, 'planted-link')],
      ['link out', () => m.client.link(top.ino, outside.ino, 'stolen-link')],
    ];
    for (const [what, op] of ops) await rejectsErrno(op(), 'EROFS', what);
    assert.deepEqual(await names(m.client, root), ['empty', 'sub', 'top.txt']);
    assert.deepEqual(await names(m.client, sub), ['a.txt']);
    assert.equal((await m.client.getattr(top.ino)).size, top.size);
    assert.equal((await m.client.getattr(mine.ino)).parent, outside.ino);
    // Outside the source everything still works.
    await m.client.rename(outside.ino, 'mine.txt', outside.ino, 'renamed.txt');
    assert.deepEqual([...(await readdirAll(m.client, outside.ino)).keys()], ['renamed.txt']);
  });
});

describe('on-access sync against S3 (s3rver): an object and keys below its name', () => {
  let server: S3rver;
  let b: Backend;
  let m: SyncMaster;

  before(async () => {
    server = await startS3rver('wharf-onaccess');
    b = await s3Backend(server);
    m = await SyncMaster.start({ ...(b.masterS3 ? { s3: b.masterS3 } : {}) });
  });

  after(async () => {
    await m?.dispose();
    await b?.close();
    await server?.stop();
  });

  test('a one-level listing that has both "a" and "a/…": the directory wins, whichever came first', async () => {
    await b.putMany(['dw/x.txt'], () => 'x');
    const { source: s, job } = await m.importSource({ name: 'dw', uri: b.uri('dw/'), at: '/dw', syncIntervalMs: 0 });
    assert.equal(job.state, 'succeeded', job.reason ?? '');
    const root = BigInt(s.rootIno);
    await b.putMany(['dw/a', 'dw/a/b', 'dw/c/d', 'dw/c'], (k) => `body of ${k}`);
    assert.deepEqual(await names(m.client, root), ['a', 'c', 'x.txt']);
    for (const n of ['a', 'c']) {
      const dir = await m.client.lookup(root, n);
      assert.equal(dir.type, 'directory', `${n} is the directory, not the object`);
      assert.deepEqual(await names(m.client, dir.ino), [n === 'a' ? 'b' : 'd']);
    }
    // Only the object: it is a file again once the keys below it are gone.
    await b.remove('dw/a/b');
    assert.deepEqual(await names(m.client, root), ['a', 'c', 'x.txt']);
    assert.equal((await m.client.lookup(root, 'a')).type, 'file');
  });
});
