// One UnderStore conformance suite, run against LocalStore (a temp directory) and
// S3Store (on s3rver in a child process). Assertions that depend on listing order
// run only on the local store: s3rver lists in its on-disk walk order, and skips
// keys when small pages meet non-uniform names, so S3 paging uses obj-NNNN keys.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { isWharfError } from '../src/common/index.js';
import { LocalStore, S3Store, type UnderStore } from '../src/ufs/index.js';
import { startS3rver, type S3rver } from './helpers/s3rver.js';
import { tempDir } from './helpers/tmp.js';

const MiB = 1024 * 1024;

interface Harness {
  store: UnderStore;
  /** Log lines the store wrote (JSON), for the multipart check. */
  logs: () => string;
  teardown: () => Promise<void>;
}

function captureLog() {
  let text = '';
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { text += chunk.toString(); cb(); } });
  return { log: pino({ level: 'debug' }, sink), text: () => text };
}

const backends: { name: string; ordered: boolean; open: () => Promise<Harness> }[] = [
  {
    name: 'LocalStore',
    ordered: true,
    open: async () => {
      const dir = tempDir('wharf-ufs-local-');
      const cap = captureLog();
      const store = await LocalStore.open(dir.path, { log: cap.log });
      return { store, logs: cap.text, teardown: async () => { await store.close(); dir.remove(); } };
    },
  },
  {
    name: 'S3Store on s3rver',
    ordered: false,
    open: async () => {
      const server: S3rver = await startS3rver();
      const cap = captureLog();
      const store = new S3Store(server.storeOptions({ partSize: 5 * MiB, multipartThreshold: 5 * MiB, partConcurrency: 2, log: cap.log }));
      return { store, logs: cap.text, teardown: async () => { await store.close(); await server.stop(); } };
    },
  },
];

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function rejectsWith(p: Promise<unknown>, errno: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isWharfError(e), `expected a WharfError, got ${String(e)}`);
    assert.equal(e.errno, errno, e.message);
    return true;
  });
}

/** A stream of `size` random bytes in 64 KiB chunks, and the sha256 of what it produced. */
function randomStream(size: number): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let left = size;
  const stream = new Readable({
    read() {
      if (left === 0) { this.push(null); return; }
      const chunk = randomBytes(Math.min(64 * 1024, left));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

async function listAll(store: UnderStore, prefix: string, opts: { delimiter?: '/'; maxKeys?: number } = {}) {
  const keys: string[] = [];
  const prefixes: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await store.list(prefix, { ...opts, ...(token ? { token } : {}) });
    pages++;
    if (opts.maxKeys) assert.ok(page.objects.length + page.prefixes.length <= opts.maxKeys, 'page larger than maxKeys');
    keys.push(...page.objects.map((o) => o.key));
    prefixes.push(...page.prefixes);
    token = page.nextToken;
    assert.ok(pages < 1000, 'listing does not terminate');
  } while (token);
  return { keys, prefixes, pages };
}

const sorted = (xs: string[]) => [...xs].sort();

for (const backend of backends) {
  describe(`UnderStore conformance: ${backend.name}`, () => {
    let h: Harness;
    let store: UnderStore;
    before(async () => { h = await backend.open(); store = h.store; });
    after(async () => { await h.teardown(); });

    it('puts and gets bytes exactly; head agrees with put', async () => {
      const body = randomBytes(100_000);
      const { etag, mtimeMs } = await store.put('rt/one.bin', body);
      assert.ok(etag.length > 0);
      // A time the put reports is the one head and listings report (the mount skips a head on it).
      if (mtimeMs !== undefined) assert.equal(mtimeMs, (await store.head('rt/one.bin'))?.mtimeMs);
      assert.deepEqual(await readAll(await store.get('rt/one.bin')), body);
      const info = await store.head('rt/one.bin');
      assert.equal(info?.size, 100_000n);
      assert.equal(info?.etag, etag);
      assert.ok(Math.abs(info!.mtimeMs - Date.now()) < 60_000);
      await store.put('rt/empty', Buffer.alloc(0));
      assert.equal((await readAll(await store.get('rt/empty'))).length, 0);
      assert.equal((await store.head('rt/empty'))?.size, 0n);
    });

    it('streams a ~12 MiB upload (multipart with 5 MiB parts on S3) byte-exact', async () => {
      const size = 12 * MiB + 12_345;
      const src = randomStream(size);
      await store.put('big/stream.bin', src.stream);
      assert.equal((await store.head('big/stream.bin'))?.size, BigInt(size));
      const got = createHash('sha256');
      let n = 0;
      for await (const c of await store.get('big/stream.bin')) { got.update(c as Buffer); n += (c as Buffer).length; }
      assert.equal(n, size);
      assert.equal(got.digest('hex'), src.sha256());
      if (store instanceof S3Store) assert.match(h.logs(), /"parts":3,.*multipart upload complete/);
    });

    it('replaces an object atomically and reports a new etag', async () => {
      const a = await store.put('rt/replace', Buffer.from('first'));
      const b = await store.put('rt/replace', Buffer.from('second, longer'));
      assert.notEqual(a.etag, b.etag);
      assert.equal((await readAll(await store.get('rt/replace'))).toString(), 'second, longer');
    });

    it('gets ranges: start-end, start-, past the end', async () => {
      const body = Buffer.from('0123456789abcdefghij');
      await store.put('range/x', body);
      assert.equal((await readAll(await store.get('range/x', { start: 3n, end: 7n }))).toString(), '34567');
      assert.equal((await readAll(await store.get('range/x', { start: 15n }))).toString(), 'fghij');
      assert.equal((await readAll(await store.get('range/x', { start: 0n, end: 0n }))).toString(), '0');
      assert.equal((await readAll(await store.get('range/x', { start: 18n, end: 100n }))).toString(), 'ij');
      assert.equal((await readAll(await store.get('range/x', { start: 20n }))).length, 0);
      assert.equal((await readAll(await store.get('range/x', { start: 50n, end: 60n }))).length, 0);
      await rejectsWith(store.get('range/x', { start: 5n, end: 2n }), 'EINVAL');
    });

    it('keeps user metadata, with lower-case names, and drops it on a plain overwrite', async () => {
      const metadata = { mode: '100644', uid: '1000', gid: '1000', mtime: '1700000000123', 'X-Custom': 'Yes' };
      await store.put('meta/f', Buffer.from('m'), { metadata });
      const info = await store.head('meta/f');
      assert.deepEqual(info?.metadata, { mode: '100644', uid: '1000', gid: '1000', mtime: '1700000000123', 'x-custom': 'Yes' });
      await store.put('meta/f', Buffer.from('n'));
      assert.deepEqual((await store.head('meta/f'))?.metadata ?? {}, {});
      await rejectsWith(store.put('meta/bad', Buffer.from('x'), { metadata: { 'bad name': 'x' } }), 'EINVAL');
      await rejectsWith(store.put('meta/bad', Buffer.from('x'), { metadata: { name: 'ünïcode' } }), 'EINVAL');
    });

    it('reports a missing key: head undefined, get ENOENT', async () => {
      assert.equal(await store.head('missing/nothing'), undefined);
      await rejectsWith(store.get('missing/nothing'), 'ENOENT');
      await rejectsWith(store.get('missing/nothing', { start: 0n, end: 10n }), 'ENOENT');
    });

    it('deletes idempotently', async () => {
      await store.put('del/x', Buffer.from('x'));
      await store.delete('del/x');
      assert.equal(await store.head('del/x'), undefined);
      await store.delete('del/x');
      await store.delete('del/never-existed');
    });

    it('copies content and metadata; a missing source is ENOENT', async () => {
      await store.put('cp/src', Buffer.from('copy me'), { metadata: { mode: '100600' } });
      await store.copy('cp/src', 'cp/dst');
      assert.equal((await readAll(await store.get('cp/dst'))).toString(), 'copy me');
      assert.equal((await store.head('cp/dst'))?.metadata?.['mode'], '100600');
      assert.equal((await readAll(await store.get('cp/src'))).toString(), 'copy me');
      await rejectsWith(store.copy('cp/none', 'cp/dst2'), 'ENOENT');
    });

    it('lists flat and with a delimiter', async () => {
      const keys = ['ls/a.txt', 'ls/b.txt', 'ls/sub/c.txt', 'ls/sub/deeper/e.txt', 'ls/top', 'lsx/other'];
      for (const k of keys) await store.put(k, Buffer.from(k));
      const flat = await listAll(store, 'ls/');
      assert.deepEqual(sorted(flat.keys), sorted(keys.filter((k) => k.startsWith('ls/'))));
      assert.deepEqual(flat.prefixes, []);
      const page = await store.list('ls/');
      const info = page.objects.find((o) => o.key === 'ls/top');
      assert.equal(info?.size, 6n);
      assert.equal(info?.etag, (await store.head('ls/top'))?.etag);
      // Each common prefix has a direct child: s3rver omits prefixes whose objects are all deeper.
      const delim = await listAll(store, 'ls/', { delimiter: '/' });
      assert.deepEqual(sorted(delim.keys), ['ls/a.txt', 'ls/b.txt', 'ls/top']);
      assert.deepEqual(delim.prefixes, ['ls/sub/']);
      const sub = await listAll(store, 'ls/sub/', { delimiter: '/' });
      assert.deepEqual(sub.keys, ['ls/sub/c.txt']);
      // A prefix is a string prefix, not a path: 'ls' matches 'ls/...' and 'lsx/...'.
      const partial = await listAll(store, 'ls', { delimiter: '/' });
      assert.deepEqual(sorted(partial.prefixes), ['ls/', 'lsx/']);
      assert.deepEqual((await store.list('nothing-here/')).objects, []);
      if (backend.ordered) assert.deepEqual(flat.keys, sorted(flat.keys));
    });

    it('pages with a small maxKeys, flat and delimited, without loss or repeats', async () => {
      const keys = Array.from({ length: 23 }, (_, i) => `pg/obj-${String(i).padStart(4, '0')}`);
      for (const k of keys) await store.put(k, Buffer.from(k));
      const flat = await listAll(store, 'pg/', { maxKeys: 5 });
      assert.equal(flat.pages, 5);
      assert.deepEqual(sorted(flat.keys), keys);
      const delim = await listAll(store, 'pg/', { maxKeys: 4, delimiter: '/' });
      assert.deepEqual(sorted(delim.keys), keys);
      if (backend.ordered) assert.deepEqual(flat.keys, keys);
      await rejectsWith(store.list('pg/', { maxKeys: 0 }), 'EINVAL');
    });

    it('round-trips keys with spaces, + = & % ~ and UTF-8', async () => {
      const keys = ['odd/with space.txt', 'odd/plus+eq=amp&pct%25~tilde', 'odd/ünïcødé/文件.txt', 'odd/emoji 😀.bin'];
      for (const k of keys) await store.put(k, Buffer.from(`body of ${k}`), { metadata: { mode: '100644' } });
      for (const k of keys) {
        assert.equal((await readAll(await store.get(k))).toString(), `body of ${k}`);
        assert.equal((await store.head(k))?.metadata?.['mode'], '100644');
      }
      assert.deepEqual(sorted((await listAll(store, 'odd/')).keys), sorted(keys));
      await store.copy(keys[2]!, 'odd/copy of 文件');
      assert.equal((await readAll(await store.get('odd/copy of 文件'))).toString(), `body of ${keys[2]}`);
      for (const k of keys) await store.delete(k);
      // Markers aside: LocalStore keeps (and lists) a directory emptied by deletes.
      assert.deepEqual((await listAll(store, 'odd/')).keys.filter((k) => !k.endsWith('/')), ['odd/copy of 文件']);
    });

    it('stores a directory marker as an empty object', async () => {
      await store.put('mk/dir/', Buffer.alloc(0), { metadata: { mode: '40755' } });
      const info = await store.head('mk/dir/');
      assert.equal(info?.size, 0n);
      assert.equal(info?.metadata?.['mode'], '40755');
      assert.deepEqual((await listAll(store, 'mk/')).keys, ['mk/dir/']);
      assert.deepEqual((await listAll(store, 'mk/', { delimiter: '/' })).prefixes, ['mk/dir/']);
      assert.deepEqual((await listAll(store, 'mk/dir/', { delimiter: '/' })).keys, ['mk/dir/']);
      await store.delete('mk/dir/');
      assert.equal(await store.head('mk/dir/'), undefined);
    });

    it('fails a body of the wrong size with EIO and keeps the old object', async () => {
      await store.put('sz/x', Buffer.from('old'));
      await rejectsWith(store.put('sz/x', Buffer.from('12345'), { size: 4n }), 'EIO');
      assert.equal((await readAll(await store.get('sz/x'))).toString(), 'old');
      // Also when the body is big enough to go multipart: caught before the upload completes.
      await rejectsWith(store.put('sz/x', randomStream(11 * MiB).stream, { size: BigInt(10 * MiB) }), 'EIO');
      await rejectsWith(store.put('sz/x', randomStream(10 * MiB).stream, { size: BigInt(11 * MiB) }), 'EIO');
      assert.equal((await readAll(await store.get('sz/x'))).toString(), 'old');
    });

    it('turns aborts into EINTR, before and during a read', async () => {
      await store.put('ab/x', randomBytes(2 * MiB));
      const pre = AbortSignal.abort();
      await rejectsWith(store.get('ab/x', undefined, { signal: pre }), 'EINTR');
      await rejectsWith(store.put('ab/y', Buffer.from('y'), { signal: pre }), 'EINTR');
      await rejectsWith(store.list('ab/', { signal: pre }), 'EINTR');
      const ac = new AbortController();
      const s = await store.get('ab/x', undefined, { signal: ac.signal });
      await assert.rejects(async () => {
        for await (const _ of s) ac.abort();
      }, (e: unknown) => isWharfError(e) && e.errno === 'EINTR');
      assert.equal(await store.head('ab/y'), undefined);
    });

    it('rejects bad keys with EINVAL', async () => {
      await rejectsWith(store.put('', Buffer.from('x')), 'EINVAL');
      await rejectsWith(store.put('nul\0key', Buffer.from('x')), 'EINVAL');
      await rejectsWith(store.head('x'.repeat(1025)), 'ENAMETOOLONG');
    });
  });
}
