// The block cache behind a real FUSE mount (`wharf up` in a child process over a
// local directory store), judged by the mount's /stats counters, by the block files
// on disk and by the bytes read: repeated reads cost no store request, a changed
// object is never served from its old blocks, a damaged block is fetched again, the
// cache stays within its capacity, survives a restart, reads ahead of a sequential
// reader, and a cache that cannot store (floor reached, disk full) still serves reads.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalStore } from '../src/ufs/index.js';
import { ensureUnmounted, isMounted, sh, shOk, waitFor, wharfUp, type MountProcess, type MountStatsJson } from './helpers/mount.js';
import { runCli } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The bytes of all block files (what the cache's byte count accounts for: data plus headers). */
function bytesOnDisk(cacheDir: string): number {
  let total = 0;
  for (const size of blockFiles(cacheDir).values()) total += size;
  return total;
}

/** Block files under <cacheDir>/cache/blocks: path → size. (A block file ends with its data.) */
function blockFiles(cacheDir: string): Map<string, number> {
  const out = new Map<string, number>();
  const root = join(cacheDir, 'cache', 'blocks');
  if (!existsSync(root)) return out;
  for (const shard of readdirSync(root)) for (const f of readdirSync(join(root, shard))) out.set(join(root, shard, f), statSync(join(root, shard, f)).size);
  return out;
}

function diffStats(a: MountStatsJson, b: MountStatsJson) {
  return {
    fetches: b.reader.fetches - a.reader.fetches,
    fetchedBytes: b.reader.fetchedBytes - a.reader.fetchedBytes,
    prefetches: b.reader.prefetches - a.reader.prefetches,
    hits: b.cache.hits - a.cache.hits,
    misses: b.cache.misses - a.cache.misses,
    stored: b.cache.stored - a.cache.stored,
    corrupt: b.cache.corrupt - a.cache.corrupt,
  };
}

describe('mount block cache', () => {
  let tmp: { path: string; remove: () => void };
  let storeDir: string;
  let store: LocalStore;
  const files = new Map<string, Buffer>();
  const mounts: MountProcess[] = [];
  const extraUnmounts: string[] = [];

  /** `wharf up` on the shared store with its own cache dir (and metadata) unless given one. */
  async function up(name: string, args: string[], o: { cacheDir?: string; data?: string } = {}): Promise<{ m: MountProcess; mnt: string; cacheDir: string }> {
    const mnt = join(tmp.path, `mnt-${name}`);
    const cacheDir = o.cacheDir ?? join(tmp.path, `cache-${name}`);
    const m = await wharfUp({
      store: `file://${storeDir}`, mountpoint: mnt, cacheDir,
      args: ['--attr-timeout', '200', '--block-size', '1MB', ...(o.data ? ['--data', o.data] : []), ...args],
    });
    mounts.push(m);
    return { m, mnt, cacheDir };
  }

  /** Reads a file through the mount in a child process (cat | sha256sum) and checks its bytes. */
  async function readsRight(mnt: string, rel: string, expected = files.get(rel)!): Promise<void> {
    const sum = (await shOk(`cat ${join(mnt, rel)} | sha256sum`)).split(' ')[0];
    assert.equal(sum, sha256(expected), `bytes of ${rel}`);
  }

  before(async () => {
    tmp = tempDir('wharf-mcache-');
    chmodSync(tmp.path, 0o755);
    storeDir = join(tmp.path, 'store');
    mkdirSync(storeDir);
    store = await LocalStore.open(storeDir);
    files.set('hot/a.bin', randomBytes(3 * MiB));
    files.set('hot/b.bin', randomBytes(3 * MiB + 500));
    files.set('seq/big.bin', randomBytes(8 * MiB));
    files.set('chg/v.bin', randomBytes(2 * MiB));
    files.set('rule/v.bin', randomBytes(MiB + 3));
    for (let i = 0; i < 6; i++) files.set(`ws/f${i}.bin`, randomBytes(4 * MiB));
    for (const [k, v] of files) await store.put(k, v);
  });

  after(async () => {
    for (const m of mounts) await m.stop();
    for (const p of extraUnmounts) {
      await ensureUnmounted(p);
      await shOk(`umount ${p} 2>/dev/null || umount -l ${p} 2>/dev/null || true`);
    }
    await store?.close();
    tmp?.remove();
  });

  it('a second read costs no store request; a restart (without O_DIRECT) keeps the cache; a damaged block is fetched again and counted', async () => {
    const { m, mnt, cacheDir } = await up('a', ['--sync-interval', '-1']);
    const s0 = await m.stats();
    await readsRight(mnt, 'hot/a.bin');
    await readsRight(mnt, 'hot/b.bin');
    const s1 = await m.stats();
    const first = diffStats(s0, s1);
    assert.equal(first.fetches, 7, '3 + 4 blocks fetched');
    assert.equal(first.fetchedBytes, 6 * MiB + 500);
    assert.equal(s1.cache.blocks, 7);
    assert.equal(s1.cache.bytes, bytesOnDisk(cacheDir), 'the byte count is what is on disk');
    assert.equal(s1.cache.bytes, 6 * MiB + 500 + 7 * 4096, 'the data and a 4 KiB header per block');
    assert.equal(s1.cache.directIo, true, 'blocks written and read with O_DIRECT (ext4 temp dir)');
    assert.match(await (await fetch(`${m.metricsBase}/metrics`)).text(), /^wharf_cache_direct_io 1$/m);

    await readsRight(mnt, 'hot/a.bin');
    await readsRight(mnt, 'hot/b.bin');
    const again = diffStats(s1, await m.stats());
    assert.equal(again.fetches, 0, 'no store request for a second read');
    assert.equal(again.misses, 0, 'no cache miss for a second read');

    // Damage block 1 of b.bin on disk (found by its content), then restart on the same cache dir.
    await m.stop();
    assert.equal(isMounted(mnt), false);
    const b1 = files.get('hot/b.bin')!.subarray(MiB, 2 * MiB);
    let damaged = '';
    for (const p of blockFiles(cacheDir).keys()) {
      const raw = await readFile(p);
      const at = raw.length - b1.length;
      if (at >= 0 && raw.subarray(at).equals(b1)) {
        raw[at + 12345] = raw[at + 12345]! ^ 0x5a;
        await writeFile(p, raw);
        damaged = p;
      }
    }
    assert.ok(damaged, 'the block file of hot/b.bin block 1 is on disk');

    // Restarted without O_DIRECT: the same blocks, read through the page cache.
    const { m: m2 } = await up('a', ['--sync-interval', '-1', '--no-direct-io'], { cacheDir });
    const r0 = await m2.stats();
    assert.equal(r0.cache.directIo, false, '--no-direct-io');
    assert.match(await (await fetch(`${m2.metricsBase}/metrics`)).text(), /^wharf_cache_direct_io 0$/m);
    assert.equal(r0.cache.blocks, 7, 'the index is rebuilt from disk');
    await readsRight(mnt, 'hot/a.bin');
    const r1 = await m2.stats();
    const afterRestart = diffStats(r0, r1);
    assert.equal(afterRestart.fetches, 0, 'a restarted mount reads cached blocks without the store');
    assert.ok(afterRestart.hits >= 3, `cache hits after restart: ${afterRestart.hits}`);

    await readsRight(mnt, 'hot/b.bin');
    const bad = diffStats(r1, await m2.stats());
    assert.equal(bad.corrupt, 1, 'the damaged block is detected');
    assert.equal(bad.fetches, 1, 'only the damaged block is fetched again');
    const again2 = await readFile(damaged);
    assert.ok(again2.subarray(again2.length - b1.length).equals(b1), 'and stored again, right');
    await m2.stop();
  });

  it('a sequential read prefetches, fetching every block exactly once', async () => {
    const { m, mnt } = await up('seq', ['--prefetch', '4']);
    const s0 = await m.stats();
    await readsRight(mnt, 'seq/big.bin');
    const d = diffStats(s0, await waitFor('prefetches to settle', async () => {
      const s = await m.stats();
      return s.reader.fetches - s0.reader.fetches >= 8 ? s : undefined;
    }));
    assert.ok(d.prefetches > 0, 'prefetches counted');
    assert.equal(d.fetches, 8, 'each 1 MB block fetched once, prefetched or not');
    assert.equal(d.fetchedBytes, 8 * MiB);
  });

  it("raises the kernel's read-ahead for the mount to --read-ahead (default 1 MiB; 0 leaves the kernel's)", async () => {
    const readAheadKb = async (mnt: string) => {
      const dev = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === mnt)?.split(' ')[2];
      assert.ok(dev, `${mnt} is in mountinfo`);
      return Number((await readFile(`/sys/class/bdi/${dev}/read_ahead_kb`, 'utf8')).trim());
    };
    const a = await up('ra-default', []);
    assert.equal(await readAheadKb(a.mnt), 1024);
    await a.m.stop();
    const b = await up('ra-2m', ['--read-ahead', '2MB']);
    assert.equal(await readAheadKb(b.mnt), 2048);
    await b.m.stop();
    const c = await up('ra-off', ['--read-ahead', '0']);
    assert.equal(await readAheadKb(c.mnt), 128, "the kernel's own for FUSE");
    await c.m.stop();
  });

  it('close uploads once; fsync uploads durably, and once: a close after it does not upload again; fsync of a clean file uploads it durably', async () => {
    const { m, mnt } = await up('fsync', []);
    await shOk(`mkdir -p ${join(mnt, 'durable')}`);
    const uploads = async () => (await m.stats()).io.uploads;
    const u0 = await uploads();
    // (Not a shell redirection: the shell's dup2 and close of the first descriptor is a flush of its own.)
    await shOk(`python3 -c "open('${join(mnt, 'durable/a')}', 'w').write('one')"`);
    assert.equal(await uploads(), u0 + 1, 'close: one upload');
    // dd conv=fsync: write, fsync, close.
    await shOk(`printf two | dd of=${join(mnt, 'durable/b')} conv=fsync status=none`);
    assert.equal(await uploads(), u0 + 2, 'fsync then close: one upload (the durable one)');
    // Open for writing, fsync without writing, close: the clean file goes up again, durably.
    await shOk(`python3 -c "import os; fd = os.open('${join(mnt, 'durable/a')}', os.O_WRONLY); os.fsync(fd); os.close(fd)"`);
    assert.equal(await uploads(), u0 + 3);
    // A shell redirection into a new file: the flush of the dup'ed descriptor, before any
    // byte, uploads nothing; the close uploads once.
    await shOk(`printf three > ${join(mnt, 'durable/c')}`);
    assert.equal(await uploads(), u0 + 4);
    assert.equal(await readFile(join(storeDir, 'durable/c'), 'utf8'), 'three');
    await shOk(`touch ${join(mnt, 'durable/empty')}`);
    // (release is asynchronous: close(2) does not wait for it)
    await waitFor('the new empty file uploaded at its release', async () => ((await uploads()) === u0 + 5 ? true : undefined));
    assert.equal((await readFile(join(storeDir, 'durable/empty'))).length, 0);
    assert.equal(await readFile(join(storeDir, 'durable/a'), 'utf8'), 'one');
    assert.equal(await readFile(join(storeDir, 'durable/b'), 'utf8'), 'two');
  });

  it('a file written through the mount is read back from the cache (write-through), not the store', async () => {
    const { m, mnt } = await up('wt', []);
    const data = randomBytes(3 * MiB + 99);
    await writeFile(join(tmp.path, 'wt.src'), data);
    await shOk(`mkdir -p ${join(mnt, 'written')} && cp ${join(tmp.path, 'wt.src')} ${join(mnt, 'written/w.bin')}`);
    assert.ok((await readFile(join(storeDir, 'written/w.bin'))).equals(data), 'uploaded');
    const s0 = await m.stats();
    assert.equal(s0.io.uploads, 1);
    assert.ok(s0.cache.stored >= 4, `the 4 blocks stored at upload (stored ${s0.cache.stored})`);
    await new Promise((r) => setTimeout(r, 400));
    await readsRight(mnt, 'written/w.bin', data);
    const d = diffStats(s0, await m.stats());
    assert.equal(d.fetches, 0, 'no store request to read what was just written');
    assert.ok(d.hits >= 4, `cache hits ${d.hits}`);
  });

  it('an object changed in the store shows its new bytes after a sync (on-access, interval 0), never the old blocks', async () => {
    const { m, mnt } = await up('chg', ['--sync-interval', '0']);
    await readsRight(mnt, 'chg/v.bin');
    const s1 = await m.stats();
    const v2 = randomBytes(files.get('chg/v.bin')!.length); // same size: only the fingerprint tells
    await store.put('chg/v.bin', v2);
    await new Promise((r) => setTimeout(r, 400)); // past the attribute timeout
    await readsRight(mnt, 'chg/v.bin', v2);
    const d = diffStats(s1, await m.stats());
    assert.equal(d.fetches, 2, 'both blocks fetched again under the new fingerprint');
    files.set('chg/v.bin', v2);
  });

  it('with on-access sync off, a changed object keeps its old bytes until `wharf sync rule execute`, then shows the new ones', async () => {
    const { m, mnt } = await up('rule', ['--sync-interval', '-1']);
    const v1 = files.get('rule/v.bin')!;
    await readsRight(mnt, 'rule/v.bin');
    const v2 = randomBytes(v1.length);
    await store.put('rule/v.bin', v2);
    await new Promise((r) => setTimeout(r, 400));
    await readsRight(mnt, 'rule/v.bin', v1); // the namespace still has the old fingerprint: its cached blocks
    const created = await runCli(['--master', m.masterAddress, 'sync', 'rule', 'create', 'refresh', '--source', 'default', '--type', 'manual']);
    assert.equal(created.code, 0, created.stderr);
    const ran = await runCli(['--master', m.masterAddress, 'sync', 'rule', 'execute', 'refresh', '--source', 'default', '--wait']);
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    await new Promise((r) => setTimeout(r, 400));
    const s1 = await m.stats();
    await readsRight(mnt, 'rule/v.bin', v2);
    assert.equal(diffStats(s1, await m.stats()).fetches, 2);
    files.set('rule/v.bin', v2);
  });

  it('a synced file written through the mount and not yet closed survives a re-sync that finds its object gone, and is uploaded at close', async () => {
    await store.put('pw/w.txt', Buffer.from('stored'));
    const { m, mnt } = await up('pw', ['--sync-interval', '-1']);
    const file = join(mnt, 'pw/w.txt');
    const wrote = join(tmp.path, 'pw-wrote');
    const release = join(tmp.path, 'pw-release');
    assert.equal(await readFile(file, 'utf8'), 'stored');
    // A writer holds the file open with new bytes in it (staged in the mount, not uploaded).
    // One process that never forks: every close of a descriptor's copy (a shell's child
    // exiting) is a FUSE flush, which uploads.
    const js = `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(file)}, 'r+'); fs.writeSync(fd, 'written through the mount', 0);`
      + `fs.writeFileSync(${JSON.stringify(wrote)}, ''); const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(release)})) { fs.closeSync(fd); clearInterval(t); } }, 50);`;
    const writer = sh(`exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(js).replace(/\$/g, '\\$')}`);
    await waitFor('the writer wrote', async () => (existsSync(wrote) ? true : undefined));
    await store.delete('pw/w.txt'); // and meanwhile the object goes from the store
    const sync = async (rule: string) => {
      assert.equal((await runCli(['--master', m.masterAddress, 'sync', 'rule', 'create', rule, '--source', 'default', '--type', 'manual'])).code, 0);
      const ran = await runCli(['--master', m.masterAddress, 'sync', 'rule', 'execute', rule, '--source', 'default', '--wait', '--json']);
      assert.equal(ran.code, 0, ran.stdout + ran.stderr);
      return Number((JSON.parse(ran.stdout) as { counters: { deleted: number | string } }).counters.deleted);
    };
    const during = await sync('pw-during');
    assert.ok(existsSync(file), 'the file being written is still there after the re-sync');
    await writeFile(release, '');
    const closed = await writer;
    assert.equal(closed.code, 0, closed.stderr);
    assert.equal((await store.head('pw/w.txt'))?.size, BigInt('written through the mount'.length), 'close uploaded it');
    assert.equal((await readFile(join(storeDir, 'pw/w.txt'), 'utf8')), 'written through the mount');
    const afterClose = await sync('pw-after');
    assert.equal(afterClose, 0, 'uploaded: the store has it again');
    assert.equal(await readFile(file, 'utf8'), 'written through the mount');
    assert.equal(during, 0, 'the re-sync while it was written deleted nothing');
  });

  it('a working set 3x the capacity stays within it, in the index and on disk', async () => {
    const capacity = 8 * MiB;
    const { m, mnt, cacheDir } = await up('ws', ['--cache-size', '8MB', '--prefetch', '2']);
    for (let i = 0; i < 6; i++) await readsRight(mnt, `ws/f${i}.bin`);
    const s = await m.stats();
    assert.equal(s.reader.fetches, 24, '24 blocks fetched');
    assert.ok(s.cache.bytes <= capacity, `cache.bytes ${s.cache.bytes} > ${capacity}`);
    assert.ok(s.cache.blocks < capacity / MiB, `${s.cache.blocks} blocks of 1 MB (and headers) in 8 MB`);
    assert.ok(s.cache.evicted >= 24 - s.cache.blocks, `evicted ${s.cache.evicted}`);
    const onDisk = await waitFor('evicted block files deleted', async () => {
      const total = bytesOnDisk(cacheDir);
      return total <= capacity && blockFiles(cacheDir).size === s.cache.blocks ? total : undefined;
    }, 5_000);
    assert.equal(onDisk, s.cache.bytes, 'every indexed block has its file, no other file is left');
    // The most recent file's blocks are the ones kept.
    const s2 = await m.stats();
    await readsRight(mnt, 'ws/f5.bin');
    assert.equal((await m.stats()).reader.fetches - s2.reader.fetches, 0);
  });

  it('below the free-space floor (--cache-min-free huge) reads are served from the store and nothing is stored', async () => {
    const { m, mnt, cacheDir } = await up('floor', ['--cache-min-free', '1000000GB']);
    await readsRight(mnt, 'seq/big.bin');
    await readsRight(mnt, 'hot/a.bin');
    const s = await m.stats();
    assert.equal(s.cache.stored, 0);
    assert.ok(s.cache.refused >= 11, `refused ${s.cache.refused}`);
    assert.equal(s.cache.blocks, 0);
    assert.equal(blockFiles(cacheDir).size, 0);
    assert.equal(s.reader.fetchFailures, 0);
  });

  it('a full cache disk (a 3 MB tmpfs) still serves every read from the store', async () => {
    const small = join(tmp.path, 'small-disk');
    mkdirSync(small);
    await shOk(`mount -t tmpfs -o size=3m wharf-test-tmpfs ${small}`);
    extraUnmounts.push(small);
    const { m, mnt, cacheDir } = await up('full', ['--cache-min-free', '0'], { cacheDir: join(small, 'cache'), data: join(tmp.path, 'meta-full') });
    await readsRight(mnt, 'seq/big.bin');
    await readsRight(mnt, 'hot/b.bin');
    const s = await m.stats();
    assert.equal(s.reader.fetches, 12, '8 + 4 blocks fetched');
    assert.equal(s.cache.stored + s.cache.refused, 12, 'each fetched block offered to the cache once');
    assert.ok(s.cache.refused >= 4, `refused ${s.cache.refused}: the disk holds about three blocks of twelve`);
    assert.equal(s.reader.fetchFailures, 0);
    assert.ok(bytesOnDisk(cacheDir) <= 3 * MiB + 64 * 1024);
    assert.equal([...blockFiles(cacheDir).keys()].some((p) => p.includes('.tmp')), false, 'no partial block left on the full disk');
    await m.stop();
    await shOk(`umount ${small}`);
    extraUnmounts.pop();
  });
});
