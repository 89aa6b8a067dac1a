// Failures under a real FUSE mount: a store that hangs (s3rver SIGSTOPped) or is
// down (SIGKILLed) fails uncached reads with EIO in bounded time while cached data
// stays readable; an upload that fails keeps its bytes staged, fails close() with
// EIO, and is retried once the store is back; a mount process killed with SIGKILL
// leaves a stale mount that the next mount on that mountpoint cleans, and the staged
// data the dead process never uploaded is uploaded at the next start.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalStore, S3Store } from '../src/ufs/index.js';
import {
  ensureUnmounted, isMounted, pidListeningOn, s3rverMountSettings, sh, shOk, waitFor, wharfMount, wharfUp, type MountProcess,
} from './helpers/mount.js';
import { runCli, startMasterProcess, type MasterProcess } from './helpers/processes.js';
import { startS3rver, type S3rver } from './helpers/s3rver.js';
import { tempDir } from './helpers/tmp.js';

const MiB = 1024 * 1024;
const FETCH_TIMEOUT_MS = 2_000;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** `cat FILE | sha256sum` through the mount, in a child process. */
async function sumThrough(path: string): Promise<string> {
  return (await shOk(`cat ${path} | sha256sum`, { timeoutMs: 30_000 })).split(' ')[0]!;
}

function stagedDataFiles(cacheDir: string): string[] {
  try {
    return readdirSync(join(cacheDir, 'staging')).filter((f) => f.endsWith('.data'));
  } catch {
    return [];
  }
}

describe('mount failures on an S3 store (s3rver)', () => {
  let s3: S3rver;
  let client: S3Store;
  let tmp: { path: string; remove: () => void };
  let mnt: string;
  let cacheDir: string;
  let m: MountProcess;
  const mounts: MountProcess[] = [];
  let stoppedPid: number | undefined;
  const files = new Map<string, Buffer>();

  const start = async (): Promise<MountProcess> => {
    const { env, args } = s3rverMountSettings(s3);
    const p = await wharfUp({
      store: `s3://${s3.bucket}/f/`, mountpoint: mnt, cacheDir, env,
      args: [...args, '--fetch-timeout', String(FETCH_TIMEOUT_MS), '--attr-timeout', '200', '--block-size', '1MB', '--sync-interval', '-1'],
    });
    mounts.push(p);
    return p;
  };
  const inStore = async (rel: string): Promise<Buffer | undefined> => {
    if (!(await client.head(`f/${rel}`))) return undefined;
    return readAll(await client.get(`f/${rel}`));
  };
  /** Opens a new file through the mount while the store is up and writes `data`, leaving it open. */
  const openAndWrite = async (rel: string, data: Buffer) => {
    const fh = await open(join(mnt, rel), 'w');
    await fh.write(data, 0, data.length, 0);
    return fh;
  };

  before(async () => {
    s3 = await startS3rver('wharf-failures');
    client = new S3Store(s3.storeOptions());
    files.set('cached.bin', randomBytes(2 * MiB + 10));
    files.set('uncached-1.bin', randomBytes(3 * MiB));
    files.set('uncached-2.bin', randomBytes(2 * MiB));
    files.set('fsync-clean.bin', randomBytes(1 * MiB + 3));
    for (const [k, v] of files) await client.put(`f/${k}`, v);
    tmp = tempDir('wharf-mfail-');
    chmodSync(tmp.path, 0o755);
    mnt = join(tmp.path, 'mnt');
    cacheDir = join(tmp.path, 'cache');
    m = await start();
    assert.equal(await sumThrough(join(mnt, 'cached.bin')), sha256(files.get('cached.bin')!));
  });

  after(async () => {
    if (stoppedPid) process.kill(stoppedPid, 'SIGCONT');
    for (const p of mounts.reverse()) await p.stop();
    await ensureUnmounted(mnt);
    await client?.close();
    await s3?.stop();
    tmp?.remove();
  });

  it('fsync of a file opened for writing but not changed uploads nothing on S3 (its object is already durable); after a write, once', async () => {
    const body = files.get('fsync-clean.bin')!;
    const path = join(mnt, 'fsync-clean.bin');
    const u0 = (await m.stats()).io.uploads;
    const fh = await open(path, 'r+');
    await fh.sync();
    await fh.close();
    assert.equal((await m.stats()).io.uploads, u0, 'no upload for an unchanged file');
    const fh2 = await open(path, 'r+');
    await fh2.write(Buffer.from('X'), 0, 1, 0);
    await fh2.sync();
    await fh2.close();
    assert.equal((await m.stats()).io.uploads, u0 + 1, 'one upload: the fsync (the close after it has nothing new)');
    const stored = await inStore('fsync-clean.bin');
    assert.equal(stored?.length, body.length);
    assert.equal(stored?.[0], 'X'.charCodeAt(0));
    assert.ok(stored?.subarray(1).equals(body.subarray(1)));
  });

  it('a store that hangs: an uncached read fails with EIO within the fetch timeout, cached data stays readable', async () => {
    const before = await m.stats();
    stoppedPid = await pidListeningOn(s3.port);
    process.kill(stoppedPid, 'SIGSTOP');
    try {
      const r = await sh(`cat ${join(mnt, 'uncached-1.bin')} > /dev/null`, { timeoutMs: 60_000 });
      assert.notEqual(r.code, 0, 'the read must fail');
      assert.match(r.stderr, /Input\/output error/);
      assert.ok(r.ms >= FETCH_TIMEOUT_MS - 200, `failed after ${Math.round(r.ms)} ms: before the fetch timeout, so not by it`);
      assert.ok(r.ms < 10_000, `failed after ${Math.round(r.ms)} ms`);
      const t0 = performance.now();
      assert.equal(await sumThrough(join(mnt, 'cached.bin')), sha256(files.get('cached.bin')!));
      assert.ok(performance.now() - t0 < FETCH_TIMEOUT_MS, 'cached data is read without waiting for the store');
      const s = await m.stats();
      assert.ok(s.reader.fetchFailures > before.reader.fetchFailures);
    } finally {
      process.kill(stoppedPid, 'SIGCONT');
      stoppedPid = undefined;
    }
    // The failure is not remembered: once the store answers, the same file reads right.
    assert.equal(await sumThrough(join(mnt, 'uncached-1.bin')), sha256(files.get('uncached-1.bin')!));
  });

  it('a store that is down: an uncached read fails with EIO fast, cached data stays readable', async () => {
    await s3.kill();
    try {
      const r = await sh(`cat ${join(mnt, 'uncached-2.bin')} > /dev/null`, { timeoutMs: 60_000 });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Input\/output error/);
      assert.ok(r.ms < 10_000, `failed after ${Math.round(r.ms)} ms`);
      assert.equal(await sumThrough(join(mnt, 'cached.bin')), sha256(files.get('cached.bin')!));
      assert.equal(await sumThrough(join(mnt, 'uncached-1.bin')), sha256(files.get('uncached-1.bin')!), 'read in the previous test: cached');
    } finally {
      await s3.restart();
    }
    assert.equal(await sumThrough(join(mnt, 'uncached-2.bin')), sha256(files.get('uncached-2.bin')!));
  });

  it('an upload that fails fails close() with EIO, keeps the bytes staged, and is retried when the store is back', async () => {
    const data = randomBytes(MiB + 777);
    const s0 = await m.stats();
    // The copy's name exists before the store goes: with the store down, a name the
    // namespace does not know cannot be looked up (EIO), and truncating an existing file
    // (cp's O_TRUNC) uploads at once (EIO), so the copy is written by dd conv=notrunc.
    // (Before the open: a child process forked while the file is open closes a copy of
    // its descriptor at exec, and that close is a FUSE flush, which uploads.)
    await shOk(`touch ${join(mnt, 'new-1.bin.copy')}`);
    const fh = await openAndWrite('new-1.bin', data);
    await s3.kill();
    try {
      await assert.rejects(fh.close(), (e: NodeJS.ErrnoException) => e.code === 'EIO');
      const s1 = await m.stats();
      assert.ok(s1.io.stagedDirty >= 1, `stagedDirty ${s1.io.stagedDirty}`);
      assert.ok(s1.io.uploadFailures > s0.io.uploadFailures);
      // The staged bytes are what the mount shows meanwhile.
      assert.equal((await stat(join(mnt, 'new-1.bin'))).size, data.length);
      assert.ok((await readFile(join(mnt, 'new-1.bin'))).equals(data), 'staged bytes read back');
      // A shell tool's copy fails the same way (at close), and its bytes stay staged too.
      const dd = await sh(`dd if=${join(mnt, 'new-1.bin')} of=${join(mnt, 'new-1.bin')}.copy bs=64k conv=notrunc status=none`, { timeoutMs: 60_000 });
      assert.notEqual(dd.code, 0, 'dd must report the failed upload');
      assert.match(dd.stderr, /closing output file .*Input\/output error/);
      assert.ok((await m.stats()).io.stagedDirty >= 2);
    } finally {
      await s3.restart();
    }
    const done = await waitFor('the retries to upload the staged files', async () => {
      const s = await m.stats();
      return s.io.stagedDirty === 0 && s.io.uploads >= s0.io.uploads + 2 ? s : undefined;
    }, 40_000, 250);
    assert.equal(done.io.stagedFiles, 0);
    assert.ok((await inStore('new-1.bin'))?.equals(data), 'the store has the bytes');
    assert.ok((await inStore('new-1.bin.copy'))?.equals(data), 'the store has the copy');
    assert.deepEqual(stagedDataFiles(cacheDir), []);
  });

  it('SIGKILL leaves a stale mount; the next wharf up cleans it, mounts, and uploads what the dead mount had staged', async () => {
    const data = randomBytes(2 * MiB + 5);
    const staged0 = stagedDataFiles(cacheDir).length;
    const fh = await openAndWrite('new-2.bin', data);
    await s3.kill();
    await assert.rejects(fh.close(), (e: NodeJS.ErrnoException) => e.code === 'EIO');
    assert.equal((await m.stats()).io.stagedDirty, staged0 + 1);
    await m.kill();
    assert.ok(isMounted(mnt), '/proc/mounts still lists the dead mount');
    await assert.rejects(stat(mnt), (e: NodeJS.ErrnoException) => e.code === 'ENOTCONN');
    assert.equal(stagedDataFiles(cacheDir).length, staged0 + 1, 'the staged data survived the process');
    await s3.restart();
    // And a record whose bytes are gone (a crash between the two unlinks of an older
    // version): dropped at start, not a reason to refuse to mount.
    const stray = join(cacheDir, 'staging', '1-0123456789ab.json');
    writeFileSync(stray, JSON.stringify({ ino: '1', path: '/', createdMs: Date.now() }));

    m = await start();
    assert.ok(isMounted(mnt));
    assert.equal(existsSync(stray), false, 'the record without data was dropped');
    // Recovery ran before the mount came up: the store already has the bytes.
    assert.ok((await inStore('new-2.bin'))?.equals(data), 'the staged data of the dead mount was uploaded at start');
    const s = await m.stats();
    assert.equal(s.io.uploads, 1);
    assert.equal(s.io.stagedDirty, 0);
    assert.deepEqual(stagedDataFiles(cacheDir), []);
    assert.equal(await sumThrough(join(mnt, 'new-2.bin')), sha256(data));
    assert.equal(await sumThrough(join(mnt, 'cached.bin')), sha256(files.get('cached.bin')!));
    assert.equal((await m.stats()).reader.fetches, 0, 'cached.bin from the cache the dead mount left');
  });

  it('SIGTERM while a retried upload hangs on the store keeps the staged bytes for the next start', async () => {
    const data = randomBytes(MiB + 1);
    const fh = await openAndWrite('new-3.bin', data);
    await s3.kill();
    await assert.rejects(fh.close(), (e: NodeJS.ErrnoException) => e.code === 'EIO');
    await s3.restart();
    stoppedPid = await pidListeningOn(s3.port);
    process.kill(stoppedPid, 'SIGSTOP');
    // Retries come 1, 2, 4 s apart: within 5 s one has started against the stopped store, and hangs there.
    await new Promise((r) => setTimeout(r, 5_000));
    assert.equal((await m.stats()).io.stagedDirty, 1, 'an upload in flight is still not uploaded');
    m.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(stagedDataFiles(cacheDir).length, 1, 'the staged bytes are kept while their upload is in flight');
    await m.kill(); // not waiting for the hanging request to time out
    process.kill(stoppedPid, 'SIGCONT');
    stoppedPid = undefined;
    m = await start();
    assert.ok((await inStore('new-3.bin'))?.equals(data), 'uploaded by the next start');
    assert.deepEqual(stagedDataFiles(cacheDir), []);
    assert.equal(await sumThrough(join(mnt, 'new-3.bin')), sha256(data));
  });
});

describe('a remote-master mount killed with SIGKILL (wharf master + wharf mount, local store)', () => {
  let tmp: { path: string; remove: () => void };
  let master: MasterProcess;
  const mounts: MountProcess[] = [];
  let mnt: string;

  before(async () => {
    tmp = tempDir('wharf-mfail-remote-');
    chmodSync(tmp.path, 0o755);
    mnt = join(tmp.path, 'mnt');
    const storeDir = join(tmp.path, 'store');
    mkdirSync(storeDir);
    const store = await LocalStore.open(storeDir);
    await store.put('docs/readme.txt', Buffer.from('read me\n'));
    await store.close();
    master = await startMasterProcess(join(tmp.path, 'meta'));
    const imported = await runCli(['--master', master.address, 'source', 'import', 'default', '--uri', `file://${storeDir}`, '--at', '/', '--wait']);
    assert.equal(imported.code, 0, imported.stderr);
  });

  after(async () => {
    for (const p of mounts.reverse()) await p.stop();
    await ensureUnmounted(mnt);
    if (master && master.child.exitCode === null) {
      master.child.kill('SIGTERM');
      await master.exited;
    }
    tmp?.remove();
  });

  it('the next wharf mount on the mountpoint cleans the dead mount and serves reads', async () => {
    const cacheDir = join(tmp.path, 'cache');
    const first = await wharfMount({ master: master.address, mountpoint: mnt, cacheDir, args: ['--attr-timeout', '200'] });
    mounts.push(first);
    assert.equal(await shOk(`cat ${join(mnt, 'docs/readme.txt')}`), 'read me\n');
    await first.kill();
    assert.ok(isMounted(mnt));
    const dead = await sh(`ls ${mnt}`);
    assert.match(dead.stderr, /Transport endpoint is not connected/);

    const second = await wharfMount({ master: master.address, mountpoint: mnt, cacheDir, args: ['--attr-timeout', '200'] });
    mounts.push(second);
    assert.equal(await shOk(`cat ${join(mnt, 'docs/readme.txt')}`), 'read me\n');
    assert.equal((await second.stats()).reader.fetches, 0, 'the dead mount\'s cache is reused');
    await shOk(`echo written > ${join(mnt, 'docs/new.txt')}`);
    assert.equal(await shOk(`cat ${join(mnt, 'docs/new.txt')}`), 'written\n');
    await second.stop();
    assert.equal(isMounted(mnt), false, 'SIGTERM unmounts');
    assert.equal(await readFile(join(tmp.path, 'store', 'docs', 'new.txt'), 'utf8'), 'written\n');
  });
});

describe('unmounted from outside (fusermount -u)', () => {
  it('the wharf process notices, uploads what is staged, and exits 0; the next wharf up mounts the same path', async () => {
    const tmp = tempDir('wharf-outside-');
    const store = join(tmp.path, 'store');
    mkdirSync(store, { recursive: true });
    const mnt = join(tmp.path, 'mnt');
    try {
      const p = await wharfUp({ store: `file://${store}`, mountpoint: mnt, cacheDir: join(tmp.path, 'cache') });
      await shOk(`printf 'kept\\n' > ${join(mnt, 'a.txt')}`);
      const t0 = Date.now();
      await shOk(`fusermount -u ${mnt}`);
      const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
      assert.equal(code, 0, `the process ended by itself (${String(code)}); stderr: ${p.stderr()}`);
      assert.ok(Date.now() - t0 < 5_000, `within seconds (${Date.now() - t0} ms)`);
      assert.match(p.stdout(), /unmounted from outside; uploading what is staged and stopping/);
      assert.doesNotMatch(p.stderr(), /Invalid argument/);
      assert.equal(await readFile(join(store, 'a.txt'), 'utf8'), 'kept\n');
      assert.equal(isMounted(mnt), false);
      const again = await wharfUp({ store: `file://${store}`, mountpoint: mnt, cacheDir: join(tmp.path, 'cache') });
      assert.equal(await readFile(join(mnt, 'a.txt'), 'utf8'), 'kept\n');
      await again.stop();
    } finally {
      await ensureUnmounted(mnt);
      tmp.remove();
    }
  });
});
