// The master's cache-node registry over a real LevelDB, on an injected clock: the
// node states and their placement consequences, the epoch, validation, what
// survives a master restart, and concurrent calls on one node.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NodeRegistry } from '../src/master/index.js';
import { InodeTree } from '../src/meta/index.js';
import { tempDir } from './helpers/tmp.js';

describe('node registry', () => {
  const tmp = tempDir('wharf-registry-');
  after(() => tmp.remove());
  let clock = 1_000_000;
  const now = () => clock;
  const timings = { heartbeatMs: 1_000, suspectMs: 3_000, lostMs: 10_000, now };

  it('JOINING → ONLINE → SUSPECT (still placed, not read) → LOST (out) → ONLINE; each member change bumps the epoch', async () => {
    const tree = await InodeTree.open(join(tmp.path, 'a'), { fsync: false });
    try {
      const reg = new NodeRegistry(tree, timings);
      await reg.load();
      const id = randomUUID();
      const e0 = reg.epoch();
      assert.equal((await reg.register({ id, address: '127.0.0.1:7070', capacityBytes: 100 })).state, 'JOINING');
      assert.equal(reg.epoch(), e0, 'a JOINING node is not a member yet');
      const on = reg.heartbeat({ id, usedBytes: 10, blocks: 1 });
      assert.deepEqual([on.state, on.inPlacement, on.readable, on.weight], ['ONLINE', true, true, 100]);
      const e1 = reg.epoch();
      assert.ok(e1 > e0);
      clock += 3_500;
      const sus = reg.list()[0]!;
      assert.deepEqual([sus.state, sus.inPlacement, sus.readable, sus.weight], ['SUSPECT', true, false, 100], 'a GC pause remaps nothing');
      const e2 = reg.epoch();
      assert.ok(e2 > e1, 'readability changed');
      clock += 7_000;
      const lost = reg.list()[0]!;
      assert.deepEqual([lost.state, lost.inPlacement], ['LOST', false]);
      const e3 = reg.epoch();
      assert.ok(e3 > e2);
      assert.equal(reg.heartbeat({ id, usedBytes: 0, blocks: 0 }).state, 'ONLINE');
      assert.ok(reg.epoch() > e3);
      assert.equal(reg.epoch(), reg.epoch(), 'no change, no bump');
    } finally {
      await tree.close();
    }
  });

  it('drain and remove: weight 0 but readable; remove refused while ONLINE; a removed node\'s heartbeat is ESTALE; both survive a restart', async () => {
    const dir = join(tmp.path, 'b');
    const a = randomUUID();
    const b = randomUUID();
    let tree = await InodeTree.open(dir, { fsync: false });
    let reg = new NodeRegistry(tree, timings);
    await reg.load();
    for (const [id, port] of [[a, 1], [b, 2]] as const) {
      await reg.register({ id, address: `10.0.0.${port}:7070`, capacityBytes: 1 << 30 });
      reg.heartbeat({ id, usedBytes: 0, blocks: 0 });
    }
    await assert.rejects(reg.remove(a), (e: Error & { errno?: string }) => e.errno === 'EBUSY' && /ONLINE: drain it first/.test(e.message));
    const d = await reg.drain(a);
    assert.deepEqual([d.state, d.weight, d.readable, d.inPlacement], ['DRAINING', 0, true, true]);
    await reg.remove(b, true);
    assert.throws(() => reg.heartbeat({ id: b, usedBytes: 0, blocks: 0 }), (e: Error & { errno?: string }) => e.errno === 'ESTALE');
    await tree.close();

    clock += 60_000; // the master was down a minute
    tree = await InodeTree.open(dir, { fsync: false });
    try {
      reg = new NodeRegistry(tree, timings);
      await reg.load();
      const l = reg.list();
      assert.deepEqual(l.map((n) => [n.id, n.state]), [[a, 'DRAINING']], 'the drained node is still draining and not LOST at once; the removed one stays removed');
      assert.throws(() => reg.heartbeat({ id: b, usedBytes: 0, blocks: 0 }), (e: Error & { errno?: string }) => e.errno === 'ESTALE');
      // A restart of the removed node (register) rejoins it.
      assert.equal((await reg.register({ id: b, address: '10.0.0.2:7070', capacityBytes: 1 << 30 })).state, 'JOINING');
      assert.equal(reg.heartbeat({ id: b, usedBytes: 0, blocks: 0 }).state, 'ONLINE');
      assert.throws(() => reg.heartbeat({ id: randomUUID(), usedBytes: 0, blocks: 0 }), (e: Error & { errno?: string }) => e.errno === 'ENOENT');
    } finally {
      await tree.close();
    }
  });

  it('bad registrations are refused with EINVAL naming the field; concurrent register/drain/heartbeat of one node end consistent', async () => {
    const tree = await InodeTree.open(join(tmp.path, 'c'), { fsync: false });
    try {
      const reg = new NodeRegistry(tree, timings);
      await reg.load();
      const bad: [Parameters<NodeRegistry['register']>[0], RegExp][] = [
        [{ id: 'node-1', address: '127.0.0.1:1', capacityBytes: 1 }, /not a UUID/],
        [{ id: randomUUID(), address: '127.0.0.1', capacityBytes: 1 }, /not host:port/],
        [{ id: randomUUID(), address: '127.0.0.1:70000', capacityBytes: 1 }, /not host:port/],
        [{ id: randomUUID(), address: '127.0.0.1:1', capacityBytes: 0 }, /positive number of bytes/],
      ];
      for (const [r, msg] of bad) await assert.rejects(reg.register(r), (e: Error & { errno?: string }) => e.errno === 'EINVAL' && msg.test(e.message));
      assert.equal(reg.list().length, 0);
      const id = randomUUID();
      await reg.register({ id, address: '127.0.0.1:1', capacityBytes: 5 });
      await Promise.all([
        reg.drain(id),
        reg.register({ id, address: '127.0.0.1:2', capacityBytes: 7 }),
        Promise.resolve().then(() => reg.heartbeat({ id, usedBytes: 3, blocks: 1 })),
        reg.drain(id),
      ]);
      const v = reg.list()[0]!;
      assert.deepEqual([v.address, v.capacityBytes, v.state], ['127.0.0.1:2', 7, 'DRAINING'], 'the re-registration kept the drain');
      await tree.close();
      const again = await InodeTree.open(join(tmp.path, 'c'), { fsync: false });
      const reg2 = new NodeRegistry(again, timings);
      await reg2.load();
      assert.deepEqual(reg2.list().map((n) => [n.address, n.capacityBytes, n.draining]), [['127.0.0.1:2', 7, true]], 'what was written last is what is stored');
      await again.close();
    } catch (e) {
      await tree.close().catch(() => undefined);
      throw e;
    }
  });
});
