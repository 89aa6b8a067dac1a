// Two Wharf clusters on one store, coherent through invalidations, every part a
// real process: a Kafka test broker (the wire protocol), two masters that publish
// their change streams on one topic and read it back (ignoring their own
// messages), and a FUSE mount on each. The sources never re-list on their own
// (sync interval -1): what one cluster writes is visible in the other only because
// of the invalidation. Then the subscriber loses its position (it was down while
// retention dropped what it had not read) and marks its source stale, visibly, and
// a directory whose invalidations were lost re-lists.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startKafkaBroker } from './helpers/kafkaBroker.js';
import { shOk, waitFor, wharfMount, type MountProcess } from './helpers/mount.js';
import { runCli, startMasterProcess, type MasterProcess } from './helpers/processes.js';
import { sleep } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

interface Status {
  sources: { source: { name: string; stale_since_ms: string; stale_reason: string } }[];
  changes?: { state: string; published: string; pending: string; cluster: string };
  invalidations?: { state: string; applied: string; own: string; losses: string; last_loss: string };
}

describe('two clusters on one store, kept coherent by invalidations', () => {
  it('a write through one mount is visible through the other; a lost position marks the source stale and lost directories re-list', async () => {
    const tmp = tempDir('wharf-invalidate-');
    // Small partitions: a subscriber that is down while 100 files are written loses its place.
    const broker = await startKafkaBroker({ maxBytesPerPartition: 16 * 1024 });
    const store = join(tmp.path, 'store');
    mkdirSync(join(store, 'bulk'), { recursive: true });
    writeFileSync(join(store, 'seed.txt'), 'seed');
    writeFileSync(join(store, 'bulk', 'first'), '1');
    const flags = (cluster: string) => ['--cluster', cluster, '--change-brokers', broker.address, '--change-topic', 'wharf.changes', '--invalidate-from', 'wharf.changes'];
    const masters: MasterProcess[] = [];
    const mounts: MountProcess[] = [];
    try {
      const a = await startMasterProcess(join(tmp.path, 'meta-a'), flags('east'));
      let b = await startMasterProcess(join(tmp.path, 'meta-b'), flags('west'));
      masters.push(a, b);
      const cli = async (m: MasterProcess, ...args: string[]) => {
        const r = await runCli(['--master', m.address, ...args], {}, 30_000);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      const status = async (m: MasterProcess) => JSON.parse(await cli(m, '--json', 'status')) as Status;
      // The same store under another name, path and sync setting in each cluster.
      await cli(a, 'source', 'import', 'lake', '--uri', `file://${store}`, '--at', '/lake', '--wait');
      await cli(b, 'source', 'import', 'data', '--uri', `file://${store}`, '--at', '/mnt/data', '--wait');
      const ma = await wharfMount({ master: a.address, mountpoint: join(tmp.path, 'mnt-a'), cacheDir: join(tmp.path, 'cache-a') });
      mounts.push(ma);
      let mb = await wharfMount({ master: b.address, mountpoint: join(tmp.path, 'mnt-b'), cacheDir: join(tmp.path, 'cache-b') });
      mounts.push(mb);
      const inA = (p: string) => join(ma.mountpoint, 'lake', p);
      const inB = (p: string) => join(mb.mountpoint, 'mnt', 'data', p);
      const lsB = async (p = '') => (await readdir(inB(p))).sort();
      assert.deepEqual(await lsB(), ['bulk', 'seed.txt']);
      await waitFor('both feeds active', async () => ((await status(a)).invalidations?.state === 'active' && (await status(b)).invalidations?.state === 'active') || undefined, 30_000);

      // Writes through A: a file, a new directory tree, a removal.
      await shOk(`echo hello > '${inA('new.txt')}' && mkdir -p '${inA('sub/deeper')}' && echo x > '${inA('sub/deeper/f')}' && rm '${inA('seed.txt')}'`);
      await waitFor('B sees A\'s writes', async () => {
        const names = await lsB();
        return names.join(',') === 'bulk,new.txt,sub' || undefined;
      }, 30_000);
      assert.equal(await readFile(inB('new.txt'), 'utf8'), 'hello\n');
      assert.equal(await readFile(inB('sub/deeper/f'), 'utf8'), 'x\n');

      // The control: a change made in the store behind both clusters' backs is not seen by B
      // (interval -1: nothing re-lists on its own) — until an invalidation names that directory.
      writeFileSync(join(store, 'outside.txt'), 'o');
      await sleep(1_500);
      assert.ok(!(await lsB()).includes('outside.txt'), 'no invalidation, no re-listing');
      await shOk(`echo t > '${inA('trigger.txt')}'`);
      await waitFor('B re-lists the invalidated directory', async () => ((await lsB()).includes('trigger.txt') || undefined), 30_000);
      assert.ok((await lsB()).includes('outside.txt'));

      const sa = await status(a);
      assert.equal(sa.changes?.cluster, 'east');
      assert.ok(Number(sa.changes?.published) >= 6, `A published its changes: ${JSON.stringify(sa.changes)}`);
      assert.ok(Number(sa.invalidations?.own) >= 6, 'A read its own messages back and ignored them');
      assert.equal(Number(sa.invalidations?.applied), 0, 'B wrote nothing, so A had nothing to invalidate');
      const sb = await status(b);
      assert.ok(Number(sb.invalidations?.applied) >= 6, `B applied A's changes: ${JSON.stringify(sb.invalidations)}`);
      assert.equal(sb.invalidations?.losses, '0');
      assert.equal(sb.sources[0]!.source.stale_since_ms, '0');

      // B goes down; A writes 100 files into bulk/ while it is; retention drops what B never read.
      await mb.stop();
      mounts.splice(mounts.indexOf(mb), 1);
      b.child.kill('SIGTERM');
      await b.exited;
      await shOk(`for i in $(seq 1 100); do echo $i > '${inA('bulk')}'/f$i; done`, { timeoutMs: 60_000 });
      await waitFor('A published them', async () => ((await status(a)).changes?.pending === '0' || undefined), 30_000);
      b = await startMasterProcess(join(tmp.path, 'meta-b'), flags('west'));
      masters.push(b);
      // The next message B reads is past a hole: it cannot know what it missed.
      await waitFor('B active again', async () => ((await status(b)).invalidations?.state === 'active' || undefined), 30_000);
      await shOk(`mkdir '${inA('elsewhere')}'`);
      const lost = await waitFor('B notices the loss', async () => {
        const s = await status(b);
        return Number(s.invalidations?.losses) > 0 ? s : undefined;
      }, 30_000);
      // Both tells: the offsets jumped, and east's chain has a hole.
      assert.match(lost.invalidations!.last_loss, /wharf.changes\[0\] jumped from offset \d+ to \d+: \d+ message\(s\) were never read/);
      assert.match(lost.invalidations!.last_loss, /cluster east's messages on wharf.changes\[0\] after seq \d+ up to \d+ are missing/);
      assert.ok(Number(lost.sources[0]!.source.stale_since_ms) > 0, 'the source is marked stale');
      const text = await cli(b, 'status');
      assert.match(text, /STALE since: .* invalidations were lost/);
      assert.match(text, /invalidations: active .* [1-9]\d* losses/);
      // bulk/ was listed before B went down and no invalidation for it arrived: it re-lists anyway.
      mb = await wharfMount({ master: b.address, mountpoint: join(tmp.path, 'mnt-b'), cacheDir: join(tmp.path, 'cache-b') });
      mounts.push(mb);
      const bulk = await lsB('bulk');
      assert.equal(bulk.length, 101, `bulk/ re-listed: ${bulk.length} entries`);
      assert.equal(await readFile(inB('bulk/f77'), 'utf8'), '77\n');
    } finally {
      for (const m of mounts.reverse()) await m.stop();
      for (const m of masters) {
        m.child.kill('SIGTERM');
        await m.exited;
      }
      await broker.stop();
      tmp.remove();
    }
  });
});
