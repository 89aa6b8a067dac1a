// LocalStore specifics: S3 listing order and paging over a directory tree (the
// ordering edge cases s3rver cannot check), object/prefix conflicts, markers,
// the reserved .wharf/ directory, metadata sidecars and symlinks.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isWharfError } from '../src/common/index.js';
import { compareKeys, LocalStore, openStore } from '../src/ufs/index.js';
import { tempDir } from './helpers/tmp.js';

async function listAll(store: LocalStore, prefix: string, opts: { delimiter?: '/'; maxKeys?: number } = {}) {
  const items: string[] = [];
  let token: string | undefined;
  do {
    const page = await store.list(prefix, { ...opts, ...(token ? { token } : {}) });
    // Objects and prefixes interleaved in key order, as one sequence.
    items.push(...[...page.objects.map((o) => o.key), ...page.prefixes].sort(compareKeys));
    token = page.nextToken;
  } while (token);
  return items;
}

async function rejectsWith(p: Promise<unknown>, errno: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isWharfError(e) && e.errno === errno);
}

describe('LocalStore', () => {
  let dir: { path: string; remove: () => void };
  let store: LocalStore;
  before(async () => {
    dir = tempDir('wharf-ufs-local-');
    store = (await openStore(`file://${dir.path}`)).store as LocalStore;
  });
  after(async () => { await store.close(); dir.remove(); });

  it('lists in UTF-8 byte order, the order S3 uses', async () => {
    // '-' (2d) < '.' (2e) < '/' (2f) < '0' (30); 'B' < 'a'; U+FF5E (ef bd 9e) < U+1F600 (f0 9f 98 80),
    // although UTF-16 code units (and JS's default sort) put the emoji first.
    const keys = ['o/a-b', 'o/a.txt', 'o/a/b', 'o/a0', 'o/B', 'o/b', 'o/\uff5e', 'o/😀', 'o/é'];
    for (const k of keys) await store.put(k, Buffer.from(k));
    const expected = ['o/B', 'o/a-b', 'o/a.txt', 'o/a/b', 'o/a0', 'o/b', 'o/é', 'o/\uff5e', 'o/😀'];
    assert.deepEqual(await listAll(store, 'o/'), expected);
    for (const maxKeys of [1, 2, 3]) assert.deepEqual(await listAll(store, 'o/', { maxKeys }), expected);
    const delimited = ['o/B', 'o/a-b', 'o/a.txt', 'o/a/', 'o/a0', 'o/b', 'o/é', 'o/\uff5e', 'o/😀'];
    assert.deepEqual(await listAll(store, 'o/', { delimiter: '/' }), delimited);
    assert.deepEqual(await listAll(store, 'o/', { delimiter: '/', maxKeys: 1 }), delimited);
    assert.deepEqual(await listAll(store, 'o/a'), ['o/a-b', 'o/a.txt', 'o/a/b', 'o/a0']);
  });

  it('pages through nested trees without loss, skipping subtrees before the token', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 5; j++) keys.push(`t/d${i}/s${j}/f`, `t/d${i}/g${j}`);
    for (const k of keys) await store.put(k, Buffer.from('x'));
    const all = [...keys].sort(compareKeys);
    assert.deepEqual(await listAll(store, 't/', { maxKeys: 7 }), all);
    assert.deepEqual(await listAll(store, 't/d2/', { delimiter: '/', maxKeys: 2 }),
      ['t/d2/g0', 't/d2/g1', 't/d2/g2', 't/d2/g3', 't/d2/g4', 't/d2/s0/', 't/d2/s1/', 't/d2/s2/', 't/d2/s3/', 't/d2/s4/']);
    await rejectsWith(store.list('t/', { token: '!!not a token' }), 'EINVAL');
  });

  it('cannot hold an object and a prefix of the same name', async () => {
    await store.put('c/file', Buffer.from('x'));
    await rejectsWith(store.put('c/file/child', Buffer.from('y')), 'ENOTDIR');
    await rejectsWith(store.put('c/file/', Buffer.alloc(0)), 'ENOTDIR');
    await store.put('c/dir/child', Buffer.from('y'));
    await rejectsWith(store.put('c/dir', Buffer.from('z')), 'EISDIR');
    assert.equal(await store.head('c/dir'), undefined);
    await rejectsWith(store.get('c/dir'), 'ENOENT');
    await rejectsWith(store.get('c/file/child'), 'ENOENT');
    assert.equal(await store.head('c/file/child'), undefined);
  });

  it('keeps markers as directories: empty ones listed, non-empty ones implied', async () => {
    await store.put('mk/empty/', Buffer.alloc(0));
    await store.put('mk/full/', Buffer.alloc(0));
    await store.put('mk/full/x', Buffer.from('x'));
    assert.deepEqual(await listAll(store, 'mk/'), ['mk/empty/', 'mk/full/x']);
    await rejectsWith(store.put('mk/bad/', Buffer.from('content')), 'EINVAL');
    await store.delete('mk/full/'); // has a child: stays, implied by it
    assert.ok(await store.head('mk/full/'));
    await store.delete('mk/full/x'); // the directory stays, now listed as a marker
    assert.deepEqual(await listAll(store, 'mk/'), ['mk/empty/', 'mk/full/']);
    await store.delete('mk/full/');
    assert.deepEqual(await listAll(store, 'mk/'), ['mk/empty/']);
  });

  it('reserves .wharf/ and never lists it', async () => {
    await store.put('r/x', Buffer.from('x'), { metadata: { mode: '100644' } });
    assert.ok(readdirSync(dir.path).includes('.wharf'));
    await rejectsWith(store.put('.wharf/tmp/evil', Buffer.from('x')), 'EINVAL');
    await rejectsWith(store.get('.wharf/meta/x'), 'EINVAL');
    assert.ok((await listAll(store, '')).every((k) => !k.startsWith('.wharf')));
    assert.deepEqual(await listAll(store, '.wharf'), []);
    // Other dot-names are ordinary keys.
    await store.put('.hidden/.x', Buffer.from('x'));
    assert.deepEqual(await listAll(store, '.hidden/'), ['.hidden/.x']);
  });

  it('accepts 255-byte segments and refuses 256 with ENAMETOOLONG', async () => {
    await store.put(`long/${'n'.repeat(255)}`, Buffer.from('x'));
    assert.equal((await store.head(`long/${'n'.repeat(255)}`))?.size, 1n);
    await rejectsWith(store.put(`long/${'n'.repeat(256)}`, Buffer.from('x')), 'ENAMETOOLONG');
  });

  it('ignores a metadata sidecar left from an older version', async () => {
    await store.put('sc/x', Buffer.from('one'), { metadata: { uid: '1' } });
    // Replace the file behind the store's back: the sidecar no longer matches its etag.
    writeFileSync(join(dir.path, 'sc', 'x'), 'changed');
    const info = await store.head('sc/x');
    assert.equal(info?.size, 7n);
    assert.equal(info?.metadata, undefined);
  });

  it('does not follow symlinks out of the root', async () => {
    const outside = tempDir('wharf-ufs-outside-');
    try {
      writeFileSync(join(outside.path, 'secret'), 'secret');
      mkdirSync(join(dir.path, 'ln'));
      symlinkSync(outside.path, join(dir.path, 'ln', 'out'));
      symlinkSync(join(outside.path, 'secret'), join(dir.path, 'ln', 'file'));
      // Links are not objects: the directory holding only links lists as an empty marker.
      assert.deepEqual(await listAll(store, 'ln/'), ['ln/']);
      await rejectsWith(store.get('ln/out/secret'), 'EACCES');
      await rejectsWith(store.get('ln/file'), 'ENOENT');
      assert.equal(await store.head('ln/file'), undefined);
      await rejectsWith(store.put('ln/out/planted', Buffer.from('x')), 'EACCES');
      await rejectsWith(store.put('ln/out/new/dir/planted', Buffer.from('x')), 'EACCES');
      assert.deepEqual(readdirSync(outside.path), ['secret']);
    } finally {
      outside.remove();
    }
  });

  it('leaves no temporary files behind after failed puts', async () => {
    await rejectsWith(store.put('tmp/x', Buffer.from('12345'), { size: 3n }), 'EIO');
    await rejectsWith(store.put('tmp/y', Buffer.from('x'), { signal: AbortSignal.abort() }), 'EINTR');
    assert.deepEqual(readdirSync(join(dir.path, '.wharf', 'tmp')), []);
    // What a crash leaves is swept at open once it is over an hour old.
    const tmp = join(dir.path, '.wharf', 'tmp');
    writeFileSync(join(tmp, 'stale'), 'x');
    utimesSync(join(tmp, 'stale'), new Date(Date.now() - 7_200_000), new Date(Date.now() - 7_200_000));
    writeFileSync(join(tmp, 'fresh'), 'x');
    await (await LocalStore.open(dir.path)).close();
    assert.deepEqual(readdirSync(tmp), ['fresh']);
    rmSync(join(tmp, 'fresh'));
  });

  it('fails calls after close', async () => {
    const other = await LocalStore.open(dir.path);
    await other.close();
    await rejectsWith(other.head('r/x'), 'EIO');
    await rejectsWith(LocalStore.open(join(dir.path, 'no-such-dir')), 'ENOENT');
    await rejectsWith(LocalStore.open(join(dir.path, 'r', 'x')), 'ENOTDIR');
  });
});
