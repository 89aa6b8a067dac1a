// Metadata sync, end to end: a real master (LevelDB, gRPC on loopback), sources on
// a real local directory and on a real S3 protocol server (s3rver in a child
// process), clients over gRPC. The namespace must be what the store holds after an
// import and after every re-sync; client writes must survive syncs; a sync that is
// terminated or whose listing fails must delete nothing.
//
// s3rver's bugs are kept out of the way (see /work/shared/notes/s3rver.md): keys of
// directories that page are uniform (obj-NNNNN); ordering never matters; keys no
// local directory or s3rver can hold ("a//b", ".", "..", 256-byte segments) come
// from ExtraKeysStore, which adds them to a real store's listing as real S3 would.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Ino } from '../src/common/index.js';
import type { JobRecord } from '../src/master/index.js';
import { fsckDataDir } from '../src/meta/index.js';
import { parseStoreUri, type ObjectInfo } from '../src/ufs/index.js';
import {
  DIR_INIT, ExtraKeysStore, FILE_INIT, SyncMaster, assertMatchesStore, listAll, localBackend, names, readdirAll, rejectsErrno, s3Backend, startS3rver, until, walk,
  type Backend, type S3rver,
} from './helpers/sourceFixture.js';
import { runCli, runCliInTerminal } from './helpers/processes.js';

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** Keys that only a real S3 holds, relative to a mount prefix, and the reason each is skipped. */
const ODD_KEYS: { key: string; reason: RegExp }[] = [
  { key: 'odd//double', reason: /empty path segment/ },
  { key: 'lead/./dot', reason: /"\." path segment/ },
  { key: 'up/../escape', reason: /"\.\." path segment/ },
  { key: '..', reason: /"\.\." path segment/ },
  { key: `long/${'x'.repeat(256)}`, reason: /256 bytes/ },
  { key: `utf8/${'é'.repeat(128)}`, reason: /256 bytes/ },
];

function assertJob(job: JobRecord, state: JobRecord['state'], what: string): void {
  assert.equal(job.state, state, `${what}: job ${job.id} ended ${job.state} (${job.reason ?? ''}); counters ${JSON.stringify(job.counters)}`);
}

interface BackendDef {
  name: string;
  open: () => Promise<{ backend: Backend; server?: S3rver }>;
}

const BACKENDS: BackendDef[] = [
  { name: 'a local directory', open: async () => ({ backend: await localBackend() }) },
  {
    name: 'S3 (s3rver)',
    open: async () => {
      const server = await startS3rver('wharf-sync');
      return { backend: await s3Backend(server), server };
    },
  },
];

for (const def of BACKENDS) {
  describe(`sync against ${def.name}`, () => {
    let b: Backend;
    let server: S3rver | undefined;
    let m: SyncMaster;

    before(async () => {
      ({ backend: b, server } = await def.open());
      m = await SyncMaster.start({
        ...(b.masterS3 ? { s3: b.masterS3 } : {}),
        faults: (s) => (s.name === 'busy2' ? { latencyMs: 800 } : undefined),
        // Sources whose name starts with "odd" also list keys no local directory or s3rver can hold.
        wrap: (s, store) => {
          if (!s.name.startsWith('odd')) return store;
          const prefix = parseStoreUri(s.uri).prefix;
          const extra: ObjectInfo[] = ODD_KEYS.map((o, i) => ({ key: prefix + o.key, size: BigInt(i + 1), etag: `odd${i}`, mtimeMs: 1_700_000_000_000 }));
          return new ExtraKeysStore(store, extra);
        },
      });
    });

    after(async () => {
      await m?.dispose();
      await b?.close();
      await server?.stop();
    });

    test('import: the tree is the store (names, types, sizes, store mtimes); reads after it do not list the store', async () => {
      const files: Record<string, string> = {
        'imp/a.txt': 'alpha', 'imp/empty.bin': '', 'imp/b/c.bin': 'x'.repeat(1000), 'imp/b/d/e f.txt': 'spaced name',
        'imp/ü/ñ.txt': 'utf-8 names', 'imp/x/y/z.txt': 'only deep: no object at x/ or x/y/', 'imp/sym+b=l&s%~.txt': 'odd characters',
      };
      for (const [k, v] of Object.entries(files)) await b.put(k, v);
      const { source, job } = await m.importSource({ name: 'imp', uri: b.uri('imp/'), at: '/imp' });
      assertJob(job, 'succeeded', 'import');
      assert.equal(job.trigger, 'import');
      assert.equal(job.counters.listed, 7);
      // 7 files and the directories b, b/d, ü, x, x/y.
      assert.equal(job.counters.created, 12);
      assert.equal(job.counters.deleted, 0);
      assert.equal(job.counters.skipped, 0);
      assert.equal(job.counters.warningCount, 0);
      const listsBefore = m.faulty('imp').calls.list;
      const tree = await assertMatchesStore(m.client, BigInt(source.rootIno), b.store, 'imp/', 'import');
      assert.equal(tree.get('b/d/e f.txt')?.size, 11n);
      assert.equal(tree.get('x/y')?.type, 'directory');
      assert.equal((await m.client.resolve('/imp/x/y/z.txt')).size, BigInt(files['imp/x/y/z.txt']!.length));
      // Every file is synced (has a store state) with the job's generation.
      const st = await m.storeState('/imp/b/c.bin');
      assert.equal(st?.gen, BigInt(job.gen));
      assert.match(st?.fingerprint ?? '', /^1000:/);
      // The job listed the tree as of its start: walking it afterwards (interval -1) lists nothing more.
      assert.equal(m.faulty('imp').calls.list, listsBefore, 'no store listing for reads after a complete import');
    });

    test('re-sync (a manual rule): creates, updates (size visible, version bumped), deletes, unchanged entries untouched', async () => {
      await b.put('rs/keep.txt', 'keep');
      await b.put('rs/upd.txt', 'small');
      await b.put('rs/del.txt', 'to be deleted');
      await b.put('rs/gone/a', 'a');
      await b.put('rs/gone/b', 'b');
      await b.put('rs/stay/s', 's');
      // Deep below directories whose every child is still listed (the sweep passes them without reading names).
      await b.put('rs/deep/1/2/kept.txt', 'k');
      await b.put('rs/deep/1/2/gone.txt', 'g');
      const { source, job: first } = await m.importSource({ name: 'rs', uri: b.uri('rs/'), at: '/rs' });
      assertJob(first, 'succeeded', 'import');
      const root = BigInt(source.rootIno);
      const before1 = await walk(m.client, root);

      await b.put('rs/new.txt', 'brand new');
      await b.put('rs/stay/n/deep.txt', 'new below an existing directory');
      await b.put('rs/upd.txt', 'a larger body now');
      await b.remove('rs/del.txt');
      await b.remove('rs/deep/1/2/gone.txt');
      if (b.kind === 's3') { await b.remove('rs/gone/a'); await b.remove('rs/gone/b'); } else await b.remove('rs/gone/');

      // Interval -1: the store's changes are not seen until a sync.
      assert.deepEqual(await names(m.client, root), ['deep', 'del.txt', 'gone', 'keep.txt', 'stay', 'upd.txt']);

      const job = await m.resync('rs');
      assertJob(job, 'succeeded', 're-sync');
      assert.equal(job.trigger, 'manual');
      assert.ok(BigInt(job.gen) > BigInt(first.gen), 'each normal-mode job opens a new generation');
      assert.equal(job.counters.created, 3, 'new.txt, stay/n, stay/n/deep.txt');
      assert.equal(job.counters.updated, 1, 'upd.txt');
      assert.equal(job.counters.deleted, 5, 'del.txt, gone/a, gone/b, the directory gone, deep/1/2/gone.txt');
      const after1 = await assertMatchesStore(m.client, root, b.store, 'rs/', 're-sync');
      assert.equal(after1.has('gone'), false, 'a directory whose keys all went is removed');
      assert.equal(after1.has('del.txt'), false);
      assert.equal(after1.has('deep/1/2/gone.txt'), false, 'deleted three levels below directories with nothing to remove');
      assert.equal(after1.has('deep/1/2/kept.txt'), true);
      const upd0 = before1.get('upd.txt')!;
      const upd1 = after1.get('upd.txt')!;
      assert.equal(upd1.size, 17n);
      assert.equal(upd1.ino, upd0.ino, 'an update keeps the inode');
      assert.ok(upd1.version > upd0.version, 'an update bumps the version');
      const keep0 = before1.get('keep.txt')!;
      const keep1 = after1.get('keep.txt')!;
      assert.deepEqual(keep1, keep0, 'an unchanged file is not modified (same inode, version, attributes)');
      // Not even its generation stamp is rewritten: the job remembers what it found
      // unchanged, and its sweep (which removed del.txt) asks that instead.
      assert.equal((await m.storeState('/rs/keep.txt'))?.gen, BigInt(first.gen), 'nor its store state (the sweep knows it was seen)');
      // A second re-sync with no store change changes nothing.
      const again = await m.resync('rs');
      assertJob(again, 'succeeded', 'second re-sync');
      assert.deepEqual([again.counters.created, again.counters.updated, again.counters.deleted], [0, 0, 0]);
      assert.deepEqual(await walk(m.client, root), after1);
    });

    test('a deep tree (depth 10): every level, resolved by path and listed', async () => {
      const dirs = Array.from({ length: 10 }, (_, i) => `l${i + 1}`);
      const keys: string[] = [];
      for (let d = 1; d <= dirs.length; d++) keys.push(`deep/${dirs.slice(0, d).join('/')}/f${d}.txt`);
      keys.push(`deep/only/${dirs.join('/')}/leaf.txt`); // a branch whose one key is 11 levels down
      await b.putMany(keys, (k) => k);
      const { source, job } = await m.importSource({ name: 'deep', uri: b.uri('deep/'), at: '/deep' });
      assertJob(job, 'succeeded', 'import');
      const tree = await assertMatchesStore(m.client, BigInt(source.rootIno), b.store, 'deep/', 'deep import');
      assert.equal(tree.size, keys.length + 10 + 11);
      const leaf = await m.client.resolve(`/deep/only/${dirs.join('/')}/leaf.txt`);
      assert.equal(leaf.size, BigInt(`deep/only/${dirs.join('/')}/leaf.txt`.length));
      const bottom = await m.client.resolve(`/deep/${dirs.join('/')}`);
      assert.deepEqual(await names(m.client, bottom.ino), ['f10.txt']);
    });

    test('a 10,000-entry directory: all of it, in pages, with the right sizes', async () => {
      const N = 10_000;
      const keys = Array.from({ length: N }, (_, i) => `wide/big/obj-${pad(i, 5)}`);
      await b.putMany(keys, (k) => 'y'.repeat(Number(k.slice(-5)) % 97));
      await b.put('wide/top.txt', 'top');
      const { source, job } = await m.importSource({ name: 'wide', uri: b.uri('wide/'), at: '/wide' });
      assertJob(job, 'succeeded', 'import');
      assert.equal(job.counters.listed, N + 1);
      assert.equal(job.counters.created, N + 2);
      const big = await m.client.lookup(BigInt(source.rootIno), 'big');
      const all = await readdirAll(m.client, big.ino, {}, 777);
      assert.equal(all.size, N);
      for (const i of [0, 1, 96, 97, 4_321, 9_998, 9_999]) {
        const a = all.get(`obj-${pad(i, 5)}`);
        assert.ok(a, `obj-${pad(i, 5)} listed`);
        assert.equal(a.size, BigInt(i % 97));
        assert.equal(a.type, 'file');
      }
      assert.equal((await m.client.resolve('/wide/big/obj-05000')).size, BigInt(5000 % 97));
      assert.equal((await m.client.getattr(big.ino)).nlink, 2, 'no subdirectories');
    });

    test('a prefix imports only the keys under it (not the prefix object, not a longer name sharing its start)', async () => {
      await b.putMany(['pfx/data/in1.txt', 'pfx/data/sub/in2.txt', 'pfx/database/x', 'pfx/other.txt', 'pfx/data-2/y'], (k) => k);
      if (b.kind === 's3') await b.put('pfx/data', 'an object named like the prefix');
      const { source, job } = await m.importSource({ name: 'pfx', uri: b.uri('pfx/data'), at: '/pfx' });
      assertJob(job, 'succeeded', 'import');
      const tree = await walk(m.client, BigInt(source.rootIno));
      assert.deepEqual([...tree.keys()].sort(), ['in1.txt', 'sub', 'sub/in2.txt']);
      assert.equal(tree.get('sub/in2.txt')?.size, BigInt('pfx/data/sub/in2.txt'.length));
      assert.equal(job.counters.skipped, 0);
    });

    test('directory markers become empty directories; a marker of a non-empty directory is that directory', async () => {
      await b.put('mk/empty/');
      await b.put('mk/a/b/empty2/');
      await b.put('mk/a/file', 'f');
      await b.put('mk/full/x', 'x');
      if (b.kind === 's3') await b.put('mk/full/');
      const { source, job } = await m.importSource({ name: 'mk', uri: b.uri('mk/'), at: '/mk' });
      assertJob(job, 'succeeded', 'import');
      const tree = await walk(m.client, BigInt(source.rootIno));
      assert.deepEqual([...tree.keys()].sort(), ['a', 'a/b', 'a/b/empty2', 'a/file', 'empty', 'full', 'full/x']);
      for (const d of ['empty', 'a/b/empty2', 'full']) assert.equal(tree.get(d)?.type, 'directory', d);
      assert.deepEqual(await names(m.client, tree.get('empty')!.ino), []);
      assert.equal(job.counters.skipped, 0);
      assert.equal(job.counters.warningCount, 0);
      // Marker fingerprints are kept apart from implied directories.
      assert.equal((await m.storeState('/mk/empty'))?.fingerprint, 'marker');
      assert.equal((await m.storeState('/mk/a'))?.fingerprint, 'dir');
    });

    test('keys that map to no path ("a//b", ".", "..", a 256-byte segment) are skipped and counted, each with a warning', async () => {
      await b.put('odd/fine.txt', 'fine');
      await b.put('odd/lead/ok.txt', 'ok');
      const { source, job } = await m.importSource({ name: 'odd', uri: b.uri('odd/'), at: '/odd' });
      assertJob(job, 'succeeded', 'import');
      const tree = await walk(m.client, BigInt(source.rootIno));
      assert.deepEqual([...tree.keys()].sort(), ['fine.txt', 'lead', 'lead/ok.txt'], 'nothing of a skipped key appears, not even its directories');
      assert.equal(job.counters.listed, 2 + ODD_KEYS.length);
      assert.equal(job.counters.skipped, ODD_KEYS.length);
      assert.equal(job.counters.warningCount, ODD_KEYS.length);
      assert.equal(job.counters.created, 3);
      const prefix = parseStoreUri(b.uri('odd/')).prefix;
      for (const o of ODD_KEYS) {
        const w = job.counters.warnings.find((x) => x.includes(JSON.stringify(prefix + o.key)));
        assert.ok(w, `a warning names ${o.key.slice(0, 40)}`);
        assert.match(w, o.reason);
      }
      // Over gRPC too (status and job show).
      const shown = await m.admin.showJob(job.id);
      assert.equal(Number(shown.counters?.skipped), ODD_KEYS.length);
      assert.equal(Number(shown.counters?.warning_count), ODD_KEYS.length);
      // A re-sync skips them again and deletes nothing.
      const again = await m.resync('odd');
      assertJob(again, 'succeeded', 're-sync');
      assert.equal(again.counters.skipped, ODD_KEYS.length);
      assert.equal(again.counters.deleted, 0);
    });

    if (def.name.startsWith('S3')) {
      test('an object "a" and keys below "a/": the directory wins, the object is skipped with a warning (any listing order)', async () => {
        // Eight pairs: s3rver lists in its on-disk order, so some pairs come object first and some directory first.
        const pairs = Array.from({ length: 8 }, (_, i) => `c${i}`);
        for (const p of pairs) {
          await b.put(`conf/${p}`, `object ${p}`);
          await b.put(`conf/${p}/inner.txt`, 'below');
        }
        await b.put('conf/m', 'object m');
        await b.put('conf/m/', ''); // an object and a marker of the same name
        const { source, job } = await m.importSource({ name: 'conf', uri: b.uri('conf/'), at: '/conf' });
        assertJob(job, 'succeeded', 'import');
        const tree = await walk(m.client, BigInt(source.rootIno));
        for (const p of [...pairs, 'm']) assert.equal(tree.get(p)?.type, 'directory', `${p} is a directory`);
        for (const p of pairs) assert.equal(tree.get(`${p}/inner.txt`)?.type, 'file', `${p}/inner.txt is reachable`);
        assert.equal(job.counters.skipped, pairs.length + 1);
        assert.equal(job.counters.warningCount, pairs.length + 1);
        for (const w of job.counters.warnings) assert.match(w, /directory wins/);
        // Stable: a re-sync keeps the directories.
        const again = await m.resync('conf');
        assertJob(again, 'succeeded', 're-sync');
        const tree2 = await walk(m.client, BigInt(source.rootIno));
        for (const p of [...pairs, 'm']) assert.equal(tree2.get(p)?.type, 'directory', `${p} is still a directory`);
      });
    }

    test('a synced directory whose keys went, replaced by an object of its name: one full sync makes it the file; a client\'s file keeps its directory', async () => {
      await b.putMany(['rep/d/x', 'rep/d/y', 'rep/keep/z', 'rep/other.txt'], (k) => `body of ${k}`);
      const { source, job: imp } = await m.importSource({ name: 'rep', uri: b.uri('rep/'), at: '/rep' });
      assertJob(imp, 'succeeded', 'import');
      const root: Ino = BigInt(source.rootIno);
      const keep = (await m.client.lookup(root, 'keep')).ino;
      await m.client.create(keep, 'client.txt', FILE_INIT);
      for (const k of ['rep/d/x', 'rep/d/y', 'rep/d/', 'rep/keep/z', 'rep/keep/']) await b.remove(k);
      await b.put('rep/d', 'now an object');
      await b.put('rep/keep', 'an object under a directory a client still uses');

      const job = await m.resync('rep');
      assertJob(job, 'succeeded', 're-sync');
      const tree = await walk(m.client, root);
      assert.equal(tree.get('d')?.type, 'file', 'the object took the directory\'s place in the same job');
      assert.equal(tree.get('d')?.size, BigInt('now an object'.length));
      assert.equal(tree.get('keep')?.type, 'directory', 'a client\'s file keeps its directory, which wins');
      assert.ok(tree.has('keep/client.txt'));
      assert.deepEqual([...tree.keys()].sort(), ['d', 'keep', 'keep/client.txt', 'other.txt']);
      assert.equal(job.counters.created, 1);
      assert.equal(job.counters.deleted, 4, 'd/x, d/y, the directory d, keep/z');
      assert.equal(job.counters.skipped, 1);
      assert.deepEqual(job.counters.warnings.filter((w) => /directory wins/.test(w)).length, 1);
      assert.ok((await m.storeState('/rep/d')) !== undefined, 'the new file is a synced one');

      const again = await m.resync('rep');
      assertJob(again, 'succeeded', 'second re-sync');
      assert.deepEqual([again.counters.created, again.counters.deleted, again.counters.updated], [0, 0, 0]);
      assert.equal((await walk(m.client, root)).get('d')?.type, 'file');
    });

    test('client writes during a slow sync survive it; a client file named like a store object is not overwritten', async () => {
      for (const k of ['busy/one.txt', 'busy/dir/two.txt', 'busy/clash.txt', 'busy/old.txt']) await b.put(k, `store body of ${k}`);
      const { source, job: imp } = await m.importSource({ name: 'busy', uri: b.uri('busy/'), at: '/busy' });
      assertJob(imp, 'succeeded', 'import');
      const root: Ino = BigInt(source.rootIno);
      const dir = (await m.client.lookup(root, 'dir')).ino;
      await b.put('busy/new-obj.txt', 'a new object the client also creates');
      await b.put('busy/dir/later.txt', 'another new object');
      await b.remove('busy/old.txt');

      const f = m.faulty('busy');
      f.setLatency(1_500); // every store call of this source is slow: the job's listing takes 1.5 s
      try {
        const listsBefore = f.calls.list;
        const started = await m.startRule('busy');
        // The job has started (its start time is set) and is waiting for the store's listing.
        await until('the job is listing', () => f.calls.list > listsBefore);
        const c1 = await m.client.create(root, 'client.txt', FILE_INIT);
        const cdir = await m.client.mkdir(root, 'client-dir', DIR_INIT);
        await m.client.create(cdir.ino, 'inner.txt', FILE_INIT);
        const clash = await m.client.create(root, 'new-obj.txt', FILE_INIT);
        await m.client.create(dir, 'mine.txt', FILE_INIT);
        await m.client.setattr(c1.ino, { size: 5n });
        assert.equal((await m.master.sync.jobs.get(started.id)).state, 'executing', 'the writes happened while the job ran');
        const job = await m.waitJob(started.id);
        assertJob(job, 'succeeded', 're-sync');
        assert.equal(job.counters.deleted, 1, 'old.txt, and only it');

        assert.deepEqual(await names(m.client, root, { syncIntervalMs: -1 }), ['clash.txt', 'client-dir', 'client.txt', 'dir', 'new-obj.txt', 'one.txt']);
        assert.deepEqual(await names(m.client, dir, { syncIntervalMs: -1 }), ['later.txt', 'mine.txt', 'two.txt']);
        assert.deepEqual(await names(m.client, cdir.ino, { syncIntervalMs: -1 }), ['inner.txt']);
        const c = await m.client.lookup(root, 'new-obj.txt', { syncIntervalMs: -1 });
        assert.equal(c.ino, clash.ino, 'the client file is the same inode');
        assert.equal(c.size, 0n, "the client file's size, not the object's");
        assert.equal(await m.storeState('/busy/new-obj.txt'), undefined, 'still Wharf\'s own (no store state)');
        assert.equal((await m.client.getattr(c1.ino)).size, 5n);
        assert.equal(await m.storeState('/busy/client-dir'), undefined);
        assert.ok(job.counters.skipped >= 1, 'the clashing object is counted as skipped');
      } finally {
        f.setLatency(0);
      }
    });

    test('a synced file with a write on its way (pendingWrite) is neither updated nor removed by re-syncs until its upload is committed; readers keep its store state', async () => {
      await b.put('pend/upd.txt', 'v1');
      await b.put('pend/gone.txt', 'will be deleted in the store');
      await b.put('pend/plain.txt', 'a control');
      const { source, job: imp } = await m.importSource({ name: 'pend', uri: b.uri('pend/'), at: '/pend' });
      assertJob(imp, 'succeeded', 'import');
      const root: Ino = BigInt(source.rootIno);
      const upd = await m.client.lookup(root, 'upd.txt');
      const gone = await m.client.lookup(root, 'gone.txt');
      const before = await m.storeState('/pend/upd.txt');
      for (const a of [upd, gone]) await m.client.setattr(a.ino, { pendingWrite: true });
      assert.deepEqual(await m.client.locate(upd.ino).then((l) => l?.fingerprint), before?.fingerprint, 'readers elsewhere still read the stored object');
      await rejectsErrno(m.client.setattr(root, { pendingWrite: true }), 'EINVAL', 'a directory has no bytes to upload');

      await b.put('pend/upd.txt', 'v2, changed by someone else');
      await b.remove('pend/gone.txt');
      await b.remove('pend/plain.txt');
      const job = await m.resync('pend');
      assertJob(job, 'succeeded', 're-sync with writes on their way');
      assert.equal(job.counters.deleted, 1, 'plain.txt only');
      assert.equal(job.counters.updated, 0);
      assert.deepEqual(await names(m.client, root, { syncIntervalMs: -1 }), ['gone.txt', 'upd.txt']);
      assert.equal((await m.client.getattr(upd.ino)).size, 2n, 'not updated to the store\'s object');
      // Reported, so a file whose mount never comes back to upload it is seen by an operator.
      assert.deepEqual(job.counters.warnings.filter((w) => /pending/.test(w)).sort(), [
        'gone.txt: written through Wharf and not uploaded yet (pending); kept though the store no longer lists it',
        "upd.txt: written through Wharf and not uploaded yet (pending); the store's object is not applied",
      ]);

      // The uploads land: each file is an ordinary synced file again, and the next sync treats it so.
      await m.client.commitWrite(upd.ino, { size: 2n, etag: 'not-what-the-store-has', mtimeNs: 1_000_000n });
      await m.client.setattr(gone.ino, { pendingWrite: false }); // its bytes were dropped without an upload: the store's again
      assert.equal((await m.storeState('/pend/upd.txt'))?.fingerprint, '2:not-what-the-store-has:1');
      const after = await m.resync('pend');
      assertJob(after, 'succeeded', 're-sync after the commits');
      assert.equal(after.counters.updated, 1, 'upd.txt now follows the store');
      assert.deepEqual(after.counters.warnings.filter((w) => /pending/.test(w)), [], 'nothing pending is left to report');
      assert.equal(after.counters.deleted, 1, 'gone.txt, which the store does not have, once no longer pending');
      assert.deepEqual(await names(m.client, root, { syncIntervalMs: -1 }), ['upd.txt']);
      assert.equal((await m.client.getattr(upd.ino)).size, BigInt('v2, changed by someone else'.length));
    });

    test('client writes during a slow import: at the mount root before anything was listed', async () => {
      await b.put('busy2/top.txt', 'store top');
      await b.put('busy2/sub/x', 'x');
      // busy2's store is slow from the start (see faults above): the import's listing takes 800 ms.
      const { source, job: started } = await m.importSource({ name: 'busy2', uri: b.uri('busy2/'), at: '/busy2' }, false);
      const f = m.faulty('busy2');
      await until('the import job is listing', () => f.calls.list >= 2);
      const root = BigInt(source.rootIno);
      const top = await m.client.create(root, 'top.txt', FILE_INIT);
      const sub = await m.client.mkdir(root, 'sub', DIR_INIT);
      const own = await m.client.create(root, 'own.txt', FILE_INIT);
      const job = await m.waitJob(started.id);
      f.setLatency(0);
      assertJob(job, 'succeeded', 'import');
      const tree = await walk(m.client, root, { syncIntervalMs: -1 });
      assert.deepEqual([...tree.keys()].sort(), ['own.txt', 'sub', 'sub/x', 'top.txt']);
      assert.equal(tree.get('top.txt')?.ino, top.ino);
      assert.equal(tree.get('top.txt')?.size, 0n, 'the client file is not overwritten by the object');
      assert.equal(tree.get('own.txt')?.ino, own.ino);
      assert.equal(tree.get('sub')?.ino, sub.ino, "the client's directory takes the store's keys below it");
      assert.equal(tree.get('sub/x')?.size, 1n);
      assert.equal(await m.storeState('/busy2/top.txt'), undefined);
      assert.equal(await m.storeState('/busy2/sub'), undefined, "the client's directory stays Wharf's own");
      assert.notEqual(await m.storeState('/busy2/sub/x'), undefined);
    });
  });
}

describe('sync jobs that do not finish: termination, listing failures; the CLI', () => {
  let b: Backend;
  let m: SyncMaster;
  const N = 2_500; // three listing pages of 1,000
  let slowImport = true;

  before(async () => {
    b = await localBackend();
    m = await SyncMaster.start({ faults: (s) => (s.name === 'slowimp' && slowImport ? { latencyMs: 400 } : undefined) });
    const keys = Array.from({ length: N }, (_, i) => `many/f-${pad(i, 4)}`);
    await b.putMany(keys, () => 'z');
    await b.putMany(['many/zz/a', 'many/zz/b', 'many/top.txt'], () => 'q');
  });

  after(async () => {
    await m?.dispose();
    await b?.close();
  });

  test('an import terminated mid-way leaves a consistent partial tree; a later sync completes it', async () => {
    const { job: started } = await m.importSource({ name: 'slowimp', uri: b.uri('many/'), at: '/slowimp' }, false);
    await until('the first page is applied', async () => (await m.master.sync.jobs.get(started.id)).counters.listed >= 1000, 20_000);
    await m.master.sync.jobs.terminate(started.id);
    const job = await m.waitJob(started.id);
    assertJob(job, 'terminated', 'terminated import');
    const root = (await m.client.resolve('/slowimp')).ino;
    // Counted in the tree itself: a readdir would load the never-synced directory (on-access sync).
    const partial = (await m.master.tree.readdirNames(root, undefined, 10_000)).children.length;
    assert.ok(partial >= 1000 && partial < N, `a partial tree: ${partial} entries`);
    await m.stop();
    const report = await fsckDataDir(m.dataDir);
    assert.deepEqual(report.findings, []);
    assert.equal(report.clean, true);
    slowImport = false;
    await m.startAgain();
    const done = await m.resync('slowimp');
    assertJob(done, 'succeeded', 'the next sync');
    await assertMatchesStore(m.client, root, b.store, 'many/', 'after completing');
  });

  test('a re-sync terminated mid-way deletes nothing, and the data directory is fsck-clean', async () => {
    await m.importSource({ name: 'term', uri: b.uri('many/'), at: '/term' });
    const root = (await m.client.resolve('/term')).ino;
    const before1 = await walk(m.client, root);
    // The store loses objects on the first page, the last page and in a subdirectory.
    await b.remove('many/f-0003');
    await b.remove('many/f-2400');
    await b.remove('many/zz/');
    const f = m.faulty('term');
    f.setLatency(500);
    let job: JobRecord;
    try {
      const started = await m.startRule('term');
      await until('the first page is applied', async () => (await m.master.sync.jobs.get(started.id)).counters.listed >= 1000, 20_000);
      const t = await m.admin.terminateRule('term', started.rule);
      assert.equal(t.state, 'terminating');
      job = await m.waitJob(started.id);
    } finally {
      f.setLatency(0);
    }
    assertJob(job, 'terminated', 'terminated re-sync');
    assert.equal(job.counters.deleted, 0);
    const after1 = await walk(m.client, root);
    assert.deepEqual([...after1.keys()].sort(), [...before1.keys()].sort(), 'nothing deleted on the strength of a partial listing');
    await m.stop();
    const report = await fsckDataDir(m.dataDir);
    assert.deepEqual(report.findings, []);
    assert.equal(report.clean, true);
    await m.startAgain();
    // Restore the store for the next test.
    await b.putMany(['many/f-0003', 'many/f-2400', 'many/zz/a', 'many/zz/b'], () => 'z');
  });

  test('the store failing mid-listing fails the job and deletes NOTHING, although the store lost objects', async () => {
    await m.importSource({ name: 'flaky', uri: b.uri('many/'), at: '/flaky' });
    const root = (await m.client.resolve('/flaky')).ino;
    const before1 = await walk(m.client, root);
    assert.equal(before1.size, N + 4);
    const lost = ['many/f-0000', 'many/f-0999', 'many/f-1500', 'many/f-2499', 'many/zz/a', 'many/top.txt'];
    for (const k of lost) await b.remove(k);
    const f = m.faulty('flaky');
    f.inject({ ops: ['list'], after: 1, times: 1, errno: 'EIO' }); // the second listing page fails
    const job = await m.resync('flaky');
    assertJob(job, 'failed', 'listing failed');
    assert.match(job.reason ?? '', /EIO/);
    assert.equal(job.counters.errors, 1, 'the failure is counted');
    assert.match(job.counters.errorMessages[0] ?? '', /EIO/, 'and kept as the first error');
    assert.equal(job.counters.deleted, 0);
    assert.ok(job.counters.listed >= 900 && job.counters.listed < N, `one page applied (${job.counters.listed} listed)`);
    const after1 = await walk(m.client, root);
    for (const k of lost) assert.ok(after1.has(k.slice('many/'.length)), `${k} is still in the namespace`);
    assert.equal(after1.size, before1.size);
    assert.equal((await m.admin.status()).sources.find((s) => s.source?.name === 'flaky')?.last_job?.state, 'failed');
    // Once the store answers again, a sync removes exactly what it lost: the test sees deletions when they happen.
    f.clear();
    const ok = await m.resync('flaky');
    assertJob(ok, 'succeeded', 'retry');
    assert.equal(ok.counters.deleted, lost.length);
    await assertMatchesStore(m.client, root, b.store, 'many/', 'after the retry');
    for (const k of lost) await b.put(k, 'z');
  });

  test('a store that fails on the first listing page: job failed, nothing deleted', async () => {
    await m.importSource({ name: 'flaky0', uri: b.uri('many/'), at: '/flaky0' });
    const root = (await m.client.resolve('/flaky0')).ino;
    const count = (await readdirAll(m.client, root)).size;
    await b.remove('many/f-0001');
    m.faulty('flaky0').inject({ ops: ['list'], times: 1, errno: 'ETIMEDOUT' });
    const job = await m.resync('flaky0');
    assertJob(job, 'failed', 'first page failed');
    assert.match(job.reason ?? '', /ETIMEDOUT/);
    assert.equal((await readdirAll(m.client, root)).size, count);
    await rejectsErrno(m.client.lookup(root, 'no-such', { syncIntervalMs: -1 }).then(() => undefined), 'ENOENT', 'lookup still works');
    await b.put('many/f-0001', 'z');
  });

  test('CLI: wharf source import / remove on a local store; remove never touches the store', async () => {
    const env = { WHARF_MASTER: m.address };
    const imp = await runCli(['source', 'import', 'cli', '--uri', b.uri('many/'), '--at', '/cli', '--wait'], env);
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /^imported cli: file:\/\/.*many at \/cli; initial scan is job \d+/);
    assert.match(imp.stdout, /succeeded/);
    const root = (await m.client.resolve('/cli')).ino;
    assert.equal((await readdirAll(m.client, root)).size, N + 2);

    // list and show: status and the last job's counts, as text and --json.
    const [listed, listedJson, shown] = await Promise.all([runCli(['source', 'list'], env), runCli(['--json', 'source', 'list'], env), runCli(['source', 'show', 'cli'], env)]);
    assert.equal(listed.code, 0, listed.stderr);
    const keys = (await listAll(b.store, 'many/')).length;
    assert.match(listed.stdout, new RegExp(`^cli +/cli +file://\\S+ +normal +last job \\d+ succeeded: listed ${keys}, created \\d+, updated 0, deleted 0$`, 'm'));
    const one = (JSON.parse(listedJson.stdout) as { source: { name: string }; sync_mode: string; last_job: { state: string; counters: { listed: string | number } } }[]).find((s) => s.source.name === 'cli')!;
    assert.deepEqual([one.sync_mode, one.last_job.state, Number(one.last_job.counters.listed)], ['normal', 'succeeded', keys]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^Source: +cli$/m);
    assert.match(shown.stdout, /^Sync mode: +normal$/m);
    assert.match(shown.stdout, new RegExp(`listed ${keys}, created \\d+`));

    // Without a terminal, remove needs --yes.
    const noYes = await runCli(['source', 'remove', 'cli'], env);
    assert.equal(noYes.code, 1);
    assert.match(noYes.stderr, /refusing to remove without --yes.*\(EINVAL\)|\(EINVAL\).*refusing to remove without --yes/);
    assert.ok(await m.client.resolve('/cli'), 'still there');

    // While a job runs: refused (EBUSY) unless --force, which terminates the job.
    const f = m.faulty('cli');
    f.setLatency(3_000);
    const started = await m.startRule('cli');
    await until('the job is executing', async () => (await m.master.sync.jobs.get(started.id)).state === 'executing');
    const busy = await runCli(['source', 'remove', 'cli', '--yes'], env);
    assert.equal(busy.code, 1, busy.stdout);
    assert.match(busy.stderr, /\(EBUSY\)/);
    assert.match(busy.stderr, /--force/);
    const forced = await runCli(['source', 'remove', 'cli', '--yes', '--force'], env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, new RegExp(`^removed cli \\(${N + 5} namespace entries\\)`));
    assert.equal((await m.master.sync.jobs.get(started.id)).state, 'terminated');
    await rejectsErrno(m.client.resolve('/cli'), 'ENOENT', 'the mount is gone');
    const list = await runCli(['source', 'list'], env);
    assert.equal(list.code, 0);
    assert.doesNotMatch(list.stdout, /^cli /m);
    // The store is untouched.
    const root2 = join(b.uri('many/').slice('file://'.length));
    assert.equal(readdirSync(root2).filter((n) => n.startsWith('f-')).length, N);
    assert.ok(existsSync(join(root2, 'zz', 'a')));
    // Removing an unknown source: ENOENT.
    const unknown = await runCli(['source', 'remove', 'cli', '--yes'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /\(ENOENT\)/);
  });

  test('CLI in a terminal: remove asks first (no keeps everything, yes removes); --wait shows a live progress line only there', async () => {
    const env = { WHARF_MASTER: m.address };
    await m.importSource({ name: 'tty', uri: b.uri('many/'), at: '/tty' });
    const prompt = /Remove source tty and its namespace at \/tty\? The store is not touched\. \[y\/N\] /;
    const no = await runCliInTerminal(['source', 'remove', 'tty'], env, { prompt, answer: 'n' });
    assert.equal(no.code, 0, no.output);
    assert.match(no.output, /\bnot removed\r?$/m);
    assert.ok(await m.client.resolve('/tty'), 'answering no keeps the source');

    // A job slow enough for the bar to draw while it runs (it polls every 500 ms).
    await m.master.sync.rules.create('tty', { name: 'slow', type: 'manual' });
    const bar = /job (\d+) (executing|succeeded) \| (\d+) listed, [\d.,]+\/s \| created \d+ updated \d+ deleted \d+/g;
    m.faulty('tty').setLatency(1_000);
    const waited = await runCliInTerminal(['sync', 'rule', 'execute', 'slow', '--source', 'tty', '--wait'], env, undefined, 60_000)
      .finally(() => m.faulty('tty').setLatency(0));
    assert.equal(waited.code, 0, waited.output);
    const frames = [...waited.output.matchAll(bar)];
    assert.ok(frames.some((f) => f[2] === 'executing'), `a frame while the job runs:\n${waited.output}`);
    assert.equal(frames.at(-1)?.[2], 'succeeded', 'the last frame is the outcome');
    assert.equal(Number(frames.at(-1)?.[3]), (await listAll(b.store, 'many/')).length);
    // Without a terminal: the outcome only, no bar.
    const plain = await runCli(['sync', 'rule', 'execute', 'slow', '--source', 'tty', '--wait'], env, 60_000);
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stdout + plain.stderr, bar);
    assert.match(plain.stdout, /succeeded/);

    const yes = await runCliInTerminal(['source', 'remove', 'tty'], env, { prompt, answer: 'y' });
    assert.equal(yes.code, 0, yes.output);
    assert.match(yes.output, /\bremoved tty \(\d+ namespace entries\)\r?$/m);
    await rejectsErrno(m.client.resolve('/tty'), 'ENOENT', 'answering yes removes it');
  });
});
