// SweepAhead: a re-sync checks, while its listing still runs, each directory the
// key-ordered listing has finished, so that the sweep afterwards need not read the
// names of directories whose every child the listing accounted for. A verdict may
// only ever make the sweep skip reading, never delete: these tests check which
// directories get verdicts (real LevelDB), that an out-of-order listing gets none,
// and, end to end, that re-syncs listed in small pages delete exactly what the
// store lost, whether the listing is in key order or not.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ROOT_INO, nowNs, type Ino } from '../src/common/index.js';
import { InodeTree } from '../src/meta/index.js';
import { SeenInodes } from '../src/sync/SeenInodes.js';
import { SweepAhead } from '../src/sync/SweepAhead.js';
import { runFullSync, SYNC_DEFAULTS, SyncCounters, type MountPoint } from '../src/sync/index.js';
import { SyncWriter } from '../src/sync/SyncWriter.js';
import { compareKeys, LocalStore, type ListOptions, type ListPage, type UnderStore } from '../src/ufs/index.js';
import { localSource } from './helpers/sources.js';
import { tempDir } from './helpers/tmp.js';

const DIR = { mode: 0o755, uid: 0, gid: 0 };
const FILE = { mode: 0o644, uid: 0, gid: 0 };

describe('compareKeys: UTF-8 byte order without encoding', () => {
  test('agrees with Buffer.compare on any two well-formed strings', () => {
    const key = fc.string({ unit: 'binary', maxLength: 12 });
    fc.assert(fc.property(key, key, (a, b) => {
      assert.equal(Math.sign(compareKeys(a, b)), Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }), { numRuns: 5000 });
  });

  test('a character above U+FFFF sorts after U+FFFD, as its UTF-8 bytes do (UTF-16 units would put it before)', () => {
    assert.ok(compareKeys('a\u{1F600}', 'a\uFFFD') > 0);
    assert.ok(compareKeys('a/b', 'a-b') > 0);
    assert.ok(compareKeys('a', 'a/') < 0);
  });
});

describe('SweepAhead verdicts (real LevelDB)', () => {
  const tmp = tempDir('wharf-sweepahead-');
  let tree: InodeTree;
  const ino: Record<string, Ino> = {};

  before(async () => {
    tree = await InodeTree.open(tmp.path);
    // /a: a1 a2   /b: b1 s/   /b/s: x   /c: c1
    for (const d of ['a', 'b', 'c']) ino[d] = (await tree.mkdir(ROOT_INO, d, DIR)).ino;
    ino['b/s'] = (await tree.mkdir(ino['b']!, 's', DIR)).ino;
    for (const [dir, name] of [['a', 'a1'], ['a', 'a2'], ['b', 'b1'], ['b/s', 'x'], ['c', 'c1']] as const) ino[`${dir}/${name}`] = (await tree.create(ino[dir]!, name, FILE)).ino;
  });

  after(async () => {
    await tree.close();
    tmp.remove();
  });

  const seenAllBut = (...unseen: string[]): SeenInodes => {
    const seen = new SeenInodes();
    for (const [path, i] of Object.entries(ino)) if (!unseen.includes(path)) seen.add(i);
    return seen;
  };
  const keys = (...k: string[]) => k.map((key) => ({ key }));

  test('a directory is checked once the listing has passed its prefix, not before; its subdirectories come with the verdict', async () => {
    const ahead = new SweepAhead(tree, seenAllBut(), 'm/');
    ahead.listed(keys('m/a/a1', 'm/a/a2'));
    ahead.written(new Map([['a', ino['a']!]]), 'm/a/a2');
    ahead.listed(keys('m/b/b1', 'm/b/s/x'));
    ahead.written(new Map([['b', ino['b']!], ['b/s', ino['b/s']!]]), 'm/b/s/x');
    ahead.listed(keys('m/c/c1'));
    ahead.written(new Map([['c', ino['c']!]]), 'm/c/c1');
    const v = await ahead.verdicts();
    assert.deepEqual([...v.keys()].sort(), [ino['a'], ino['b'], ino['b/s']].sort());
    assert.deepEqual(v.get(ino['b']!), [ino['b/s']], 'b has one subdirectory');
    assert.deepEqual(v.get(ino['a']!), []);
    assert.equal(v.has(ino['c']!), false, 'c is where the listing stopped: not finished, not checked');
  });

  test('a directory with a child the listing did not account for gets no verdict (the sweep reads it)', async () => {
    const ahead = new SweepAhead(tree, seenAllBut('b/s/x', 'a/a2'), 'm/');
    ahead.listed(keys('m/a/a1', 'm/b/b1', 'm/c/c1', 'm/d'));
    ahead.written(new Map([['a', ino['a']!], ['b', ino['b']!], ['b/s', ino['b/s']!], ['c', ino['c']!]]), 'm/d');
    const v = await ahead.verdicts();
    assert.deepEqual([...v.keys()], [ino['b'], ino['c']], 'not a (a2 was not seen) nor b/s (x was not); b was (its children b1 and s were)');
    assert.deepEqual(v.get(ino['b']!), [ino['b/s']], 'the sweep still descends into b/s, and reads it');
  });

  test('keys out of order (s3rver does not sort): no verdicts at all', async () => {
    const ahead = new SweepAhead(tree, seenAllBut(), 'm/');
    ahead.listed(keys('m/a/a1', 'm/b/b1'));
    ahead.written(new Map([['a', ino['a']!], ['b', ino['b']!]]), 'm/b/b1');
    ahead.listed(keys('m/a/a2', 'm/c/c1'));
    ahead.written(new Map([['c', ino['c']!]]), 'm/c/c1');
    assert.equal((await ahead.verdicts()).size, 0);
  });

  test('range reads (DirScan): each continues where the last stopped; what they found unlisted is checked from memory, names past them are read', async () => {
    const dentry = (path: string) => ({ ino: ino[path]!, type: path === 'b/s' ? 'directory' as const : 'file' as const });
    const ahead = new SweepAhead(tree, seenAllBut('a/a2'), 'm/');
    assert.deepEqual(ahead.scanFrom(ino['a']!), { after: undefined, maxUnlisted: 10_000 }, 'a first read starts at the first name');
    ahead.listed(keys('m/a/a1'));
    ahead.scanned(ino['a']!, { through: 'a1', unlisted: [] });
    assert.deepEqual(ahead.scanFrom(ino['a']!), { after: 'a1', maxUnlisted: 10_000 });
    ahead.listed(keys('m/b/b1'));
    // b's one read ends at b1: s (a directory, after it) is read when b is finished.
    ahead.scanned(ino['b']!, { through: 'b1', unlisted: [] });
    // c's read reports a1 as unlisted (a stand-in for any entry a range holds that the listing lacks): checked from memory.
    ahead.listed(keys('m/c/c1', 'm/d'));
    ahead.scanned(ino['c']!, { through: 'c1', unlisted: [dentry('a/a1')] });
    ahead.written(new Map([['a', ino['a']!], ['b', ino['b']!], ['c', ino['c']!]]), 'm/d');
    const v = await ahead.verdicts();
    assert.equal(v.has(ino['a']!), false, 'a2, past the last range of a, was read and found unseen');
    assert.deepEqual(v.get(ino['b']!), [ino['b/s']], 's was read past the range, seen, and is a subdirectory');
    assert.deepEqual(v.get(ino['c']!), [], 'what the range found unlisted was seen');

    const unseen = new SweepAhead(tree, seenAllBut('a/a1'), 'm/');
    unseen.listed(keys('m/c/c1', 'm/d'));
    unseen.scanned(ino['c']!, { through: 'c1', unlisted: [dentry('a/a1')] });
    unseen.written(new Map([['c', ino['c']!]]), 'm/d');
    assert.equal((await unseen.verdicts()).has(ino['c']!), false, 'an unlisted entry that was not seen: no verdict');
  });

  test('a directory the store lost more of than the limit is read in full when finished; out of order, nothing is read as ranges', async () => {
    const ahead = new SweepAhead(tree, seenAllBut(), 'm/', 1);
    ahead.listed(keys('m/a/a1'));
    ahead.scanned(ino['a']!, { through: 'a1', unlisted: [{ ino: 999n, type: 'file' }, { ino: 998n, type: 'file' }] });
    assert.equal(ahead.scanFrom(ino['a']!), undefined, 'past the limit: names are looked up one by one');
    ahead.listed(keys('m/b/b1'));
    ahead.written(new Map([['a', ino['a']!]]), 'm/b/b1');
    assert.deepEqual((await ahead.verdicts()).get(ino['a']!), [], 'a read in full: every child of a is seen (the unseen 998, 999 were forgotten, not trusted)');

    const unordered = new SweepAhead(tree, seenAllBut(), 'm/');
    unordered.listed(keys('m/b/b1', 'm/a/a1'));
    assert.equal(unordered.scanFrom(ino['a']!), undefined);
  });

  test('a directory under the name of a listed object (keys below it too) is reported unlisted, so the sweep still descends into it', async () => {
    const x = (await tree.mkdir(ROOT_INO, 'x', DIR)).ino;
    const b = (await tree.mkdir(x, 'b', DIR)).ino;
    const object = { name: 'b', entry: { type: 'file' as const, fingerprint: '1:e:1', size: 1n, mtimeMs: 1 } };
    const r = await tree.write('range read', async (tx) =>
      new SyncWriter(tx, ROOT_INO, 2n, { startNs: nowNs(), complete: false, seen: new SeenInodes() }, SYNC_DEFAULTS, new SyncCounters()).applyMany(x, [object], () => true, { after: undefined, maxUnlisted: 10_000 }));
    assert.ok(r && r.unlisted !== 'too many');
    assert.deepEqual(r.unlisted.map((d) => d.ino), [b]);
  });

  test('the mount root and directories above the listing are never checked', async () => {
    const ahead = new SweepAhead(tree, seenAllBut(), '');
    ahead.listed(keys('a/a1', 'zz'));
    ahead.written(new Map([['', ROOT_INO], ['a', ino['a']!]]), 'zz');
    const v = await ahead.verdicts();
    assert.deepEqual([...v.keys()], [ino['a']]);
  });
});

/** A store whose listing pages come with their keys in reverse order (as s3rver's do, in no order). */
class UnsortedStore implements UnderStore {
  constructor(private readonly inner: UnderStore) {}
  async list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    const page = await this.inner.list(prefix, opts);
    return { ...page, objects: [...page.objects].reverse() };
  }
  head: UnderStore['head'] = (k, o) => this.inner.head(k, o);
  get: UnderStore['get'] = (k, r, o) => this.inner.get(k, r, o);
  put: UnderStore['put'] = (k, b, o) => this.inner.put(k, b, o);
  delete: UnderStore['delete'] = (k, o) => this.inner.delete(k, o);
  copy: UnderStore['copy'] = (s, d, o) => this.inner.copy(s, d, o);
  describe(): string { return `unsorted+${this.inner.describe()}`; }
  close(): Promise<void> { return this.inner.close(); }
}

async function pathsBelow(tree: InodeTree, ino: Ino, at = ''): Promise<string[]> {
  const out: string[] = [];
  let after: Buffer | undefined;
  do {
    const { children, next } = await tree.readdirNames(ino, after, 100);
    for (const c of children) {
      const p = at === '' ? c.name : `${at}/${c.name}`;
      out.push(c.type === 'directory' ? `${p}/` : p);
      if (c.type === 'directory') out.push(...(await pathsBelow(tree, c.ino, p)));
    }
    after = next;
  } while (after);
  return out.sort();
}

for (const order of ['in key order', 'out of order'] as const) {
  test(`re-syncs listed three keys a page, ${order}: exactly what the store lost is deleted, at every depth and position`, async () => {
    const src = localSource();
    const meta = tempDir('wharf-sweepahead-meta-');
    const tree = await InodeTree.open(meta.path);
    const local = await LocalStore.open(src.path);
    const store = order === 'in key order' ? local : new UnsortedStore(local);
    try {
      const files = [
        'a/1', 'a/2', 'a/3', 'a/4', // an early directory
        'b/c/d/1', 'b/c/d/2', 'b/c/e', 'b/f', // nested, finished mid-listing
        'g/1', 'g/2', 'g/3', // a directory whose files all go
        'h/1', 'h/2', 'top', 'z/last', 'z/only', // the end of the listing
      ];
      for (const f of files) src.write(f, f);
      const root = (await tree.mkdir(ROOT_INO, 'm', DIR)).ino;
      const m: MountPoint = { tree, store, prefix: '', rootIno: root };
      let gen = 1n;
      const resync = () => runFullSync(m, { dir: [], gen: gen++, sweep: true, pageSize: 3, pagesAhead: 1 });
      await resync();
      const all = [...files, 'a/', 'b/', 'b/c/', 'b/c/d/', 'g/', 'h/', 'z/'].sort();
      assert.deepEqual(await pathsBelow(tree, root), all);

      const unchanged = await resync();
      assert.deepEqual([unchanged.created, unchanged.updated, unchanged.deleted], [0, 0, 0]);
      assert.deepEqual(await pathsBelow(tree, root), all);

      // h/2 is the last name of h: past the range reads of h, found by reading h's remaining names.
      const gone = ['a/2', 'b/c/d/1', 'b/c/e', 'g/1', 'g/2', 'g/3', 'h/2', 'z/last'];
      for (const f of gone) src.unlink(f);
      rmSync(join(src.path, 'g'), { recursive: true }); // emptied, it would still be listed as a marker "g/"
      const c = await resync();
      assert.equal(c.deleted, gone.length + 1, 'the files and the emptied directory g');
      assert.deepEqual(await pathsBelow(tree, root), all.filter((p) => !gone.includes(p) && p !== 'g/'));

      // A file the listing never reaches again, in a directory finished early, also goes.
      src.unlink('a/1');
      src.write('a/5', 'new');
      const c2 = await resync();
      assert.deepEqual([c2.created, c2.deleted], [1, 1]);
      assert.ok((await pathsBelow(tree, root)).includes('a/5'));
      assert.ok(!(await pathsBelow(tree, root)).includes('a/1'));
    } finally {
      await store.close();
      await tree.close();
      meta.remove();
      src.remove();
    }
  });
}
