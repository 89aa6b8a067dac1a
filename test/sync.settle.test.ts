// SyncWriter.settleShadowed on a real LevelDB namespace: an object a full sync found
// under the name of a synced directory, decided after the sweep. Every branch: the
// name is free (the object takes it), a directory is still there (it wins), a
// client's file took it, an on-access sync already placed this very object, the
// directory's parent is gone.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT_INO, nowNs, type Ino } from '../src/common/index.js';
import { InodeTree } from '../src/meta/index.js';
import { SYNC_DEFAULTS, SyncCounters, fileFingerprint, type StoreEntry } from '../src/sync/index.js';
import { SyncWriter } from '../src/sync/SyncWriter.js';
import { tempDir } from './helpers/tmp.js';

const NEW = { mode: 0o644, uid: 0, gid: 0 };
const ENTRY: StoreEntry = { type: 'file', fingerprint: fileFingerprint(5n, 'e', 1_700_000_000_000), size: 5n, mtimeMs: 1_700_000_000_000 };

describe('settleShadowed', () => {
  let tmp: ReturnType<typeof tempDir>;
  let tree: InodeTree;
  let p: Ino;

  before(async () => {
    tmp = tempDir('wharf-settle-');
    tree = await InodeTree.open(join(tmp.path, 'meta'));
    p = (await tree.mkdir(ROOT_INO, 'p', { ...NEW, mode: 0o755 })).ino;
  });
  after(async () => {
    await tree.close();
    tmp.remove();
  });

  async function settle(parent: Ino, name: string, entry = ENTRY): Promise<SyncCounters> {
    const counters = new SyncCounters();
    await tree.write('test', async (tx) =>
      new SyncWriter(tx, ROOT_INO, 7n, { startNs: nowNs(), complete: false }, SYNC_DEFAULTS, counters).settleShadowed({ parent, name, entry }));
    return counters;
  }

  test('a free name: the object is created there, synced, and its directory\'s times move', async () => {
    const before = await tree.getattr(p);
    const c = await settle(p, 'free');
    assert.deepEqual([c.created, c.skipped, c.warningCount], [1, 0, 0]);
    const made = await tree.lookup(p, 'free');
    assert.equal(made.type, 'file');
    assert.equal(made.size, 5n);
    assert.deepEqual(await tree.getStoreState(made.ino), { gen: 7n, fingerprint: ENTRY.fingerprint });
    assert.ok((await tree.getattr(p)).mtimeNs > before.mtimeNs);
  });

  test('a directory still there (keys below it, or a client\'s files): it wins, with a warning', async () => {
    await tree.mkdir(p, 'dir', { ...NEW, mode: 0o755 });
    const c = await settle(p, 'dir');
    assert.deepEqual([c.created, c.skipped], [0, 1]);
    assert.match(c.warnings[0]!, /^dir: an object and a directory share this name; the directory wins$/);
    assert.equal((await tree.lookup(p, 'dir')).type, 'directory');
  });

  test('a client\'s file took the name meanwhile: left alone, for the next sync', async () => {
    const mine = await tree.create(p, 'mine', NEW);
    const c = await settle(p, 'mine');
    assert.deepEqual([c.created, c.skipped], [0, 1]);
    assert.match(c.warnings[0]!, /^mine: changed in Wharf while the sync ran; left for the next sync$/);
    assert.equal((await tree.lookup(p, 'mine')).ino, mine.ino);
    assert.equal(await tree.getStoreState(mine.ino), undefined, 'still the client\'s own');
  });

  test('an on-access sync placed this very object first: nothing to do, no warning', async () => {
    const first = await settle(p, 'raced');
    assert.equal(first.created, 1);
    const c = await settle(p, 'raced');
    assert.deepEqual([c.created, c.skipped, c.unchanged, c.warningCount], [0, 0, 1, 0]);
    // A different object under that name now is a change for the next sync to apply, not this one.
    const other = await settle(p, 'raced', { ...ENTRY, fingerprint: fileFingerprint(6n, 'f', 1) });
    assert.deepEqual([other.skipped, other.warningCount], [1, 1]);
  });

  test('the directory\'s parent is gone: nothing is created anywhere', async () => {
    const gone = (await tree.mkdir(p, 'gone', { ...NEW, mode: 0o755 })).ino;
    await tree.rmdir(p, 'gone');
    const c = await settle(gone, 'x');
    assert.deepEqual([c.created, c.skipped], [0, 1]);
    await assert.rejects(tree.getattr(gone), (e: Error & { errno?: string }) => e.errno === 'ENOENT');
  });
});
