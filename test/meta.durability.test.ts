// --fsync with group commit, over real LevelDB: every mutation is acknowledged only
// after a sync write that followed its batch, many mutations share one sync under
// load, and a failed sync (injected) fails that mutation and every later write with
// EIO — what reached the disk is unknown — while reads go on and the namespace
// reopens clean.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../src/common/index.js';
import { InodeTree, fsckDataDir, readdirAll } from '../src/meta/index.js';
import { rejectsErrno } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

const o = { mode: 0o644, uid: 0, gid: 0 };

describe('metadata durability (--fsync, group commit)', () => {
  it('64 concurrent creates share fsyncs, and all of them are there after a reopen', async () => {
    const tmp = tempDir('wharf-fsync-');
    try {
      const tree = await InodeTree.open(tmp.path, { fsync: true });
      await Promise.all(Array.from({ length: 64 }, (_, i) => tree.create(ROOT_INO, `f${i}`, o)));
      assert.equal(tree.durability.waiters, 64, 'every mutation waited for a sync');
      assert.ok(tree.durability.syncs >= 1);
      assert.ok(tree.durability.syncs < 64, `group commit: ${tree.durability.syncs} syncs for 64 mutations`);
      await tree.close();
      const again = await InodeTree.open(tmp.path, { fsync: true });
      const names: string[] = [];
      for await (const e of readdirAll(again, ROOT_INO)) names.push(e.name);
      assert.equal(names.length, 64);
      await again.close();
    } finally {
      tmp.remove();
    }
  });

  it('without --fsync nothing waits for a sync', async () => {
    const tmp = tempDir('wharf-nofsync-');
    try {
      const tree = await InodeTree.open(tmp.path);
      await Promise.all(Array.from({ length: 8 }, (_, i) => tree.create(ROOT_INO, `f${i}`, o)));
      assert.deepEqual(tree.durability, { syncs: 0, waiters: 0 });
      await tree.close();
    } finally {
      tmp.remove();
    }
  });

  it('a failed fsync fails its mutation and every later write with EIO; reads go on; the namespace reopens clean', async () => {
    const tmp = tempDir('wharf-fsync-fail-');
    try {
      let syncs = 0;
      const tree = await InodeTree.open(tmp.path, { fsync: true, beforeSync: () => { if (++syncs === 3) throw new Error('EIO: injected fsync failure'); } });
      await tree.create(ROOT_INO, 'a', o);
      await tree.create(ROOT_INO, 'b', o);
      const e = await rejectsErrno(tree.create(ROOT_INO, 'c', o), 'EIO', 'the mutation whose sync failed');
      assert.match(e.message, /fsync failed .*restart the master/);
      await rejectsErrno(tree.mkdir(ROOT_INO, 'd', { ...o, mode: 0o755 }), 'EIO', 'a later write');
      assert.equal((await tree.lookup(ROOT_INO, 'a')).type, 'file', 'reads still work');
      await tree.close();
      assert.deepEqual((await fsckDataDir(tmp.path)).findings, []);
      const again = await InodeTree.open(tmp.path, { fsync: true });
      await again.create(ROOT_INO, 'after', o);
      assert.equal((await again.lookup(ROOT_INO, 'b')).type, 'file', 'acknowledged before the failure: there');
      assert.equal((await again.lookup(ROOT_INO, 'd').catch(() => undefined)), undefined, 'refused: never applied');
      await again.close();
    } finally {
      tmp.remove();
    }
  });
});
