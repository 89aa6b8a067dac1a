// KnownFingerprints: the store-state fingerprints of synced files, in memory, which
// an unchanged re-sync asks instead of reading a record per file. It must never
// claim a fingerprint the record does not hold: these tests drive it through real
// transactions on a real LevelDB (writes, pending marks, uploads, removals, a
// restart) and check it against the records.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ROOT_INO, type Ino } from '../src/common/index.js';
import { InodeTree } from '../src/meta/index.js';
import { KnownFingerprints } from '../src/meta/KnownFingerprints.js';
import { tempDir } from './helpers/tmp.js';

const FILE = { mode: 0o644, uid: 0, gid: 0 };

describe('KnownFingerprints', () => {
  test('matches only the fingerprint last set; pending, removed and forgotten states match nothing', () => {
    const k = new KnownFingerprints();
    assert.equal(k.matches(5n, '1:e:1'), false, 'nothing known at first');
    k.set(5n, { gen: 1n, fingerprint: '1:e:1' });
    assert.equal(k.matches(5n, '1:e:1'), true);
    assert.equal(k.matches(5n, '1:e:2'), false);
    assert.equal(k.matches(6n, '1:e:1'), false, 'another inode');
    k.set(5n, { gen: 1n, fingerprint: '1:e:1', pending: true });
    assert.equal(k.matches(5n, '1:e:1'), false, 'a pending write: read the record');
    k.set(5n, { gen: 2n, fingerprint: '2:f:3' });
    k.set(5n, undefined);
    assert.equal(k.matches(5n, '2:f:3'), false, 'no record');
    k.set(5n, { gen: 2n, fingerprint: '2:f:3' });
    k.forget(5n);
    assert.equal(k.matches(5n, '2:f:3'), false);
    k.set(3_000_000n, { gen: 1n, fingerprint: 'x' });
    assert.equal(k.matches(3_000_000n, 'x'), true, 'grows to a high inode number');
  });

  test('inode numbers past the limit are never remembered', () => {
    const k = new KnownFingerprints(1000);
    k.set(999n, { gen: 1n, fingerprint: 'a' });
    k.set(1000n, { gen: 1n, fingerprint: 'a' });
    assert.equal(k.matches(999n, 'a'), true);
    assert.equal(k.matches(1000n, 'a'), false);
  });

  test('a million distinct fingerprints: no two of them match each other', () => {
    const k = new KnownFingerprints();
    for (let i = 0; i < 1_000_000; i++) k.set(BigInt(i), { gen: 1n, fingerprint: `${i}:etag${i % 977}:${1_700_000_000_000 + i}` });
    let wrong = 0;
    for (let i = 1; i < 1_000_000; i++) if (k.matches(BigInt(i), `${i - 1}:etag${(i - 1) % 977}:${1_700_000_000_000 + i - 1}`)) wrong++;
    assert.equal(wrong, 0);
  });
});

describe('KnownFingerprints kept by the inode tree (real LevelDB)', () => {
  const tmp = tempDir('wharf-fp-');
  let tree: InodeTree;
  let f: Ino;
  const known = (ino: Ino, fp: string) => tree.write('probe', async (tx) => tx.knownFingerprint(ino, fp));

  before(async () => {
    tree = await InodeTree.open(tmp.path);
    f = (await tree.create(ROOT_INO, 'f', FILE)).ino;
  });
  after(async () => {
    await tree.close();
    tmp.remove();
  });

  test('what a committed transaction wrote is known; a pending mark, an upload, a removal change it', async () => {
    assert.equal(await known(f, '1:a:1'), false, 'a file written through Wharf has no store state');
    await tree.write('sync', async (tx) => tx.putStoreState(f, { gen: 1n, fingerprint: '1:a:1' }));
    assert.equal(await known(f, '1:a:1'), true);
    assert.equal(await known(f, '1:a:2'), false);
    await tree.setattr(f, { pendingWrite: true });
    assert.equal(await known(f, '1:a:1'), false, 'pending: the record must be read');
    await tree.commitWrite(f, { size: 2n, etag: 'b', mtimeNs: 5_000_000n });
    assert.equal(await known(f, '2:b:5'), true, 'the upload\'s fingerprint');
    assert.equal(await known(f, '1:a:1'), false);
    await tree.setattr(f, { size: 7n });
    assert.equal(await known(f, '2:b:5'), false, 'a truncate made it Wharf\'s own');
  });

  test('a transaction that throws before committing teaches nothing it staged', async () => {
    await tree.write('sync', async (tx) => tx.putStoreState(f, { gen: 1n, fingerprint: 'kept' }));
    await assert.rejects(tree.write('fails', async (tx) => {
      tx.putStoreState(f, { gen: 2n, fingerprint: 'never-committed' });
      throw new Error('the mutation failed');
    }));
    assert.equal(await known(f, 'never-committed'), false);
    assert.equal(await known(f, 'kept'), true);
  });

  test('after a restart nothing is known until a transaction reads the record; reads outside the write queue teach nothing', async () => {
    const g = (await tree.create(ROOT_INO, 'g', FILE)).ino;
    await tree.write('sync', async (tx) => tx.putStoreState(g, { gen: 1n, fingerprint: 'g1' }));
    await tree.close();
    tree = await InodeTree.open(tmp.path);
    assert.deepEqual(await tree.getStoreStates([g]), [{ gen: 1n, fingerprint: 'g1' }]);
    assert.equal(await known(g, 'g1'), false, 'a read outside the queue could be older than a commit: not remembered');
    await tree.write('read', async (tx) => tx.getStoreStates([g]));
    assert.equal(await known(g, 'g1'), true, 'read in the write queue: remembered');
    await tree.unlink(ROOT_INO, 'g');
    assert.equal(await known(g, 'g1'), false, 'removed');
  });
});
