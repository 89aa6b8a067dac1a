// Many gRPC clients (each its own channel) mutate overlapping parts of the tree at
// once. Afterwards fsck must be clean and the tree must hold exactly what the
// successful calls imply.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_INO, WharfError, type Errno, type Ino } from '../src/common/index.js';
import { Master } from '../src/master/index.js';
import { fsckDataDir, readdirAll } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import { tempDir } from './helpers/tmp.js';

const CLIENTS = 16;
const OPS_PER_CLIENT = 150;
const o = { mode: 0o755, uid: 0, gid: 0 };
/** Errnos a contended call may legitimately get; anything else fails the test. */
const CONTENTION: readonly Errno[] = ['EEXIST', 'ENOENT', 'ENOTEMPTY', 'EISDIR', 'ENOTDIR', 'EINVAL'];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

async function tolerate(p: Promise<unknown>, log: Map<string, number>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (e) {
    if (!(e instanceof WharfError) || !CONTENTION.includes(e.errno)) throw e;
    log.set(e.errno, (log.get(e.errno) ?? 0) + 1);
    return false;
  }
}

test('concurrent clients over gRPC leave a consistent tree', async () => {
  const dir = tempDir();
  const dataDir = `${dir.path}/meta`;
  const master = await Master.start({ dataDir, listen: '127.0.0.1:0' });
  const clients = Array.from({ length: CLIENTS }, () => new GrpcMetaClient(master.address));
  try {
    const admin = clients[0]!;
    const shared: Ino[] = [];
    for (let i = 0; i < 4; i++) shared.push((await admin.mkdir(ROOT_INO, `shared${i}`, o)).ino);
    const cyc = await admin.mkdir(ROOT_INO, 'cyc', o);
    const movers: { ino: Ino; name: string }[] = [];
    for (let i = 0; i < 4; i++) movers.push({ ino: (await admin.mkdir(cyc.ino, `x${i}`, o)).ino, name: `x${i}` });

    const errors = new Map<string, number>();
    // What each client's own successful calls imply: its private file name → [dir, ino].
    const expected = new Map<string, { dir: Ino; ino: Ino }>();
    let cycleMoves = 0;

    await Promise.all(clients.map(async (c, ci) => {
      const r = rng(ci + 1);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
      const mine = new Map<string, { dir: Ino; ino: Ino }>();
      for (let k = 0; k < OPS_PER_CLIENT; k++) {
        const roll = r();
        if (roll < 0.35) {
          // Private files: names only this client uses, in directories everyone uses.
          const name = `p${ci}-${Math.floor(r() * 6)}`;
          const have = mine.get(name);
          if (!have) {
            const d = pick(shared);
            mine.set(name, { dir: d, ino: (await c.create(d, name, o)).ino });
          } else if (r() < 0.5) {
            const to = pick(shared);
            await c.rename(have.dir, name, to, name);
            mine.set(name, { dir: to, ino: have.ino });
          } else {
            await c.unlink(have.dir, name);
            mine.delete(name);
          }
        } else if (roll < 0.85) {
          // Shared names: every client fights over s0..s4 in every shared directory.
          const d = pick(shared);
          const name = `s${Math.floor(r() * 5)}`;
          const what = Math.floor(r() * 5);
          if (what === 0) await tolerate(c.create(d, name, o), errors);
          else if (what === 1) await tolerate(c.mkdir(d, name, o), errors);
          else if (what === 2) await tolerate(c.unlink(d, name), errors);
          else if (what === 3) await tolerate(c.rmdir(d, name), errors);
          else await tolerate(c.rename(d, name, pick(shared), `s${Math.floor(r() * 5)}`, { noReplace: r() < 0.3 }), errors);
        } else {
          // Directories moving into each other: racing renames must never make a cycle.
          const a = pick(movers);
          const b = pick([...movers, { ino: cyc.ino, name: 'cyc' }]);
          const from = await c.getattr(a.ino);
          if (await tolerate(c.rename(from.parent, a.name, b.ino, a.name), errors)) cycleMoves++;
        }
      }
      for (const [k, v] of mine) expected.set(k, v);
    }));

    // Every private file is exactly where its owner's successful calls put it.
    const found = new Map<string, { dir: Ino; ino: Ino }>();
    for (const d of shared) {
      for await (const e of readdirAll(admin, d)) if (e.name.startsWith('p')) found.set(e.name, { dir: d, ino: e.attr.ino });
    }
    assert.deepEqual(new Map([...found].sort()), new Map([...expected].sort()));
    // Shared names that survived are consistent with their inodes.
    for (const d of shared) {
      for await (const e of readdirAll(admin, d)) {
        assert.equal((await admin.getattr(e.attr.ino)).parent, d);
      }
    }
    assert.ok(errors.size > 0, 'the workload produced contention');
    assert.ok(cycleMoves > 0, 'some directory moves succeeded');
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await master.stop(2_000);
  }
  const report = await fsckDataDir(dataDir);
  assert.deepEqual(report.findings, [], 'fsck finds nothing after the storm');
  dir.remove();
});
