// The block cache and the read-through reader, without FUSE: real block files in a
// temp directory, a real LocalStore under a FaultyStore (which counts every call
// and can hang or fail), so every claim of src/cache/index.ts is checked against
// what is on disk and what reached the store.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile, utimes, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { BlockCache, BlockReader, DirectIo, ReadPattern, blockDataAt, blockFileBytes, blockFileId, type BlockReaderOptions, type BlockSource, type CachedFile } from '../src/cache/index.js';
import { isWharfError } from '../src/common/index.js';
import { FaultyStore, LocalStore } from '../src/ufs/index.js';
import { tempDir } from './helpers/tmp.js';

// The on-disk format (src/cache/BlockCache.ts): a 16-byte header ("WBLK", version,
// 3 reserved bytes, data length u32, chunk size u32), one crc32c per 64 KiB chunk,
// zeros to the next 4 KiB boundary (O_DIRECT), then the data.
const HEADER = 16;
const CHUNK = 64 * 1024;
const headBytes = (len: number): number => Math.ceil((HEADER + 4 * Math.ceil(len / CHUNK)) / 4096) * 4096;
/** Bytes a block of `len` data bytes takes on disk (and in the cache's accounting). */
const stored = (len: number): number => headBytes(len) + len;
/** Where the data starts in a block file. */
const dataAt = (raw: Buffer): number => headBytes(raw.readUInt32BE(8));
/** Flips one data byte of a block file (its checksum no longer holds). */
async function damage(path: string, at = 100): Promise<void> {
  const raw = await readFile(path);
  const i = dataAt(raw) + at;
  raw[i] = raw[i]! ^ 0x5a;
  await writeFile(path, raw);
}

/** Every block file under <dir>/blocks, as name → size. */
function blockFiles(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const root = join(dir, 'blocks');
  if (!existsSync(root)) return out;
  for (const shard of readdirSync(root)) for (const f of readdirSync(join(root, shard))) out.set(f, statSync(join(root, shard, f)).size);
  return out;
}

function blockPath(dir: string, id: string, index: number): string {
  return join(dir, 'blocks', id.slice(0, 2), `${id}-${index}`);
}

/** Block file deletions are asynchronous (unlink after eviction): wait for them. */
async function eventually(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejectsErrno(p: Promise<unknown>, errno: string): Promise<number> {
  const t0 = performance.now();
  try {
    await p;
  } catch (e) {
    assert.ok(isWharfError(e), `expected a WharfError, got ${String(e)}`);
    assert.equal(e.errno, errno, e.message);
    return performance.now() - t0;
  }
  assert.fail(`expected ${errno}, but it succeeded`);
}

describe('BlockCache', () => {
  const dirs: { remove: () => void }[] = [];
  const fresh = (): string => { const d = tempDir('wharf-blockcache-'); dirs.push(d); return d.path; };
  after(() => { for (const d of dirs) d.remove(); });

  const id = blockFileId('src', 'dir/file.bin', 'etag-1', 4 * 1024 * 1024);

  it('stores a block in its on-disk format and reads it back', async () => {
    const dir = fresh();
    const cache = BlockCache.open(dir, { capacityBytes: 1024 * 1024 });
    const data = randomBytes(3 * CHUNK + 1000); // four chunks, the last one short
    assert.equal(await cache.put(id, 3, data), true);
    assert.equal(cache.has(id, 3), true);
    assert.equal(cache.has(id, 4), false);
    assert.deepEqual(await cache.get(id, 3), data);
    assert.equal(await cache.get(id, 4), undefined);

    const raw = await readFile(blockPath(dir, id, 3));
    assert.equal(raw.length, stored(data.length));
    assert.equal(raw.subarray(0, 4).toString(), 'WBLK');
    assert.equal(raw[4], 3, 'format version');
    assert.equal(raw.readUInt32BE(8), data.length);
    assert.equal(raw.readUInt32BE(12), CHUNK);
    for (let c = 0; c < 4; c++) assert.equal(raw.readUInt32BE(HEADER + 4 * c), crc32c(data.subarray(c * CHUNK, (c + 1) * CHUNK)), `chunk ${c} checksum`);
    assert.ok(raw.subarray(HEADER + 16, 4096).equals(Buffer.alloc(4096 - HEADER - 16)), 'zeros up to 4 KiB');
    assert.deepEqual(raw.subarray(4096), data);
    assert.equal([...blockFiles(dir).keys()].some((f) => f.includes('.tmp')), false, 'no temporary left after a put');

    const { directIo: _d, ...counts } = cache.stats();
    assert.deepEqual(counts, { blocks: 1, bytes: stored(data.length), hits: 1, misses: 1, stored: 1, refused: 0, evicted: 0, corrupt: 0 });
  });

  // The tests' temp directories are on the machine's ext4 root, which takes O_DIRECT.
  it('reads and writes whole blocks with O_DIRECT from its own buffers: right bytes, exact sizes, damage still caught', async () => {
    const dir = fresh();
    const cache = BlockCache.open(dir, { capacityBytes: 64 * 1024 * 1024 });
    assert.equal(cache.stats().directIo, true, 'direct I/O on an ext4 cache directory');
    const full = randomBytes(4 * 1024 * 1024);
    const short = randomBytes(3 * CHUNK + 777); // a file length no multiple of 4 KiB
    await cache.put(id, 0, full);
    await cache.put(id, 1, short);
    const into = cache.blockBuffer(blockFileBytes(full.length));
    assert.ok(into.length % 4096 === 0 && into.length >= blockFileBytes(full.length));
    assert.ok((await cache.get(id, 0, into))!.equals(full));
    assert.ok((await cache.get(id, 1, into))!.equals(short), 'a block shorter than the buffer');
    assert.ok((await cache.get(id, 0, into))!.equals(full), 'the buffer reused');
    await damage(blockPath(dir, id, 0), 3 * 1024 * 1024);
    assert.equal(await cache.get(id, 0, into), undefined);
    assert.equal(cache.stats().corrupt, 1);
    // Grown on disk (a stranger appended to it): damaged too, never a longer read.
    const path = blockPath(dir, id, 1);
    await writeFile(path, Buffer.concat([await readFile(path), Buffer.alloc(5000)]));
    assert.equal(await cache.get(id, 1, into), undefined);
    assert.equal(cache.stats().corrupt, 2);
    assert.equal(cache.stats().directIo, true);

    // Written whole from a reader's buffer (direct write: header into its first 4 KiB,
    // cut to the exact size when the data is no multiple of 4 KiB).
    for (const [index, bytes] of [[5, full], [6, short]] as const) {
      const raw = cache.blockBuffer(blockFileBytes(full.length));
      const data = raw.subarray(blockDataAt(bytes.length), blockDataAt(bytes.length) + bytes.length);
      bytes.copy(data);
      assert.equal(await cache.put(id, index, data, raw), true);
      const onDisk = await readFile(blockPath(dir, id, index));
      assert.equal(onDisk.length, stored(bytes.length), 'exact size');
      assert.ok(onDisk.subarray(4096).equals(bytes));
      assert.ok((await cache.get(id, index, into))!.equals(bytes));
    }

    const buffered = BlockCache.open(fresh(), { capacityBytes: 64 * 1024 * 1024, directIo: false });
    assert.equal(buffered.stats().directIo, false);
    await buffered.put(id, 0, full);
    assert.ok((await buffered.get(id, 0, buffered.blockBuffer(blockFileBytes(full.length))))!.equals(full));
    const raw = buffered.blockBuffer(blockFileBytes(full.length));
    short.copy(raw, blockDataAt(short.length));
    assert.equal(await buffered.put(id, 1, raw.subarray(blockDataAt(short.length), blockDataAt(short.length) + short.length), raw), true);
    assert.ok((await buffered.get(id, 1))!.equals(short));
  });

  it('a file the kernel will not read with O_DIRECT is read through the page cache, and direct I/O is turned off', async () => {
    const dio = DirectIo.open(fresh());
    assert.equal(dio.enabled, true);
    const into = dio.alloc(8192);
    // procfs refuses O_DIRECT (EINVAL), as some file systems under a cache directory would.
    const want = await readFile('/proc/version');
    const n = await dio.read('/proc/version', into, 8192);
    assert.equal(n, want.length);
    assert.ok(into.subarray(0, n).equals(want));
    assert.equal(dio.enabled, false);
    const path = join(fresh(), 'f');
    const bytes = randomBytes(10_000);
    await writeFile(path, bytes);
    const plain = Buffer.alloc(10_000); // a buffer O_DIRECT would refuse: fine once it is off
    assert.equal(await dio.read(path, plain, 10_000), 10_000);
    assert.ok(plain.equals(bytes));
  });

  it('a block id changes with the fingerprint, the key, the source and the block size', () => {
    assert.match(id, /^[0-9a-f]{40}$/);
    assert.equal(blockFileId('src', 'dir/file.bin', 'etag-1', 4 * 1024 * 1024), id);
    assert.notEqual(blockFileId('src', 'dir/file.bin', 'etag-2', 4 * 1024 * 1024), id);
    assert.notEqual(blockFileId('src', 'dir/file.bin2', 'etag-1', 4 * 1024 * 1024), id);
    assert.notEqual(blockFileId('src2', 'dir/file.bin', 'etag-1', 4 * 1024 * 1024), id);
    // Block 1 of 1 MiB blocks is other bytes than block 1 of 4 MiB blocks (a restart with another --block-size).
    assert.notEqual(blockFileId('src', 'dir/file.bin', 'etag-1', 1024 * 1024), id);
  });

  it('a block that fails its checksum is a miss, counted as corrupt, and its file is deleted', async () => {
    const dir = fresh();
    const cache = BlockCache.open(dir, { capacityBytes: 1024 * 1024 });
    const data = randomBytes(4096);
    await cache.put(id, 0, data);
    await cache.put(id, 1, data);
    await cache.put(id, 2, data);
    // Block 0: one data byte flipped (same length, so only the crc32c can tell).
    await damage(blockPath(dir, id, 0));
    // Block 1: cut short (length field disagrees). Block 2: damaged magic.
    await writeFile(blockPath(dir, id, 1), (await readFile(blockPath(dir, id, 1))).subarray(0, HEADER + 10));
    const raw2 = await readFile(blockPath(dir, id, 2));
    raw2.write('XXXX', 0);
    await writeFile(blockPath(dir, id, 2), raw2);

    for (const i of [0, 1, 2]) assert.equal(await cache.get(id, i), undefined, `block ${i} must not be served`);
    const s = cache.stats();
    assert.equal(s.corrupt, 3);
    assert.equal(s.hits, 0);
    assert.equal(s.misses, 3);
    assert.equal(s.blocks, 0);
    assert.equal(s.bytes, 0);
    assert.equal(cache.has(id, 0), false);
    await eventually('damaged block files deleted', () => blockFiles(dir).size === 0);
    // It can be stored again and then reads right.
    await cache.put(id, 0, data);
    assert.deepEqual(await cache.get(id, 0), data);
  });

  it('evicts least recently used blocks at capacity and deletes their files', async () => {
    const dir = fresh();
    const blockLen = 1000;
    const cache = BlockCache.open(dir, { capacityBytes: 3 * stored(blockLen) });
    const blocks = Array.from({ length: 6 }, () => randomBytes(blockLen));
    for (const i of [0, 1, 2]) assert.equal(await cache.put(id, i, blocks[i]!), true);
    assert.deepEqual(await cache.get(id, 0), blocks[0]); // 0 is now the most recently used
    assert.equal(await cache.put(id, 3, blocks[3]!), true); // evicts 1, the least recently used
    assert.equal(cache.has(id, 1), false);
    for (const i of [0, 2, 3]) assert.equal(cache.has(id, i), true, `block ${i}`);
    await cache.put(id, 4, blocks[4]!);
    await cache.put(id, 5, blocks[5]!);
    const s = cache.stats();
    assert.equal(s.evicted, 3);
    assert.equal(s.blocks, 3);
    assert.equal(s.bytes, 3 * stored(blockLen));
    await eventually('evicted block files deleted', () => blockFiles(dir).size === 3);
    assert.deepEqual([...blockFiles(dir).keys()].sort(), [3, 4, 5].map((i) => `${id}-${i}`).sort());
    let onDisk = 0;
    for (const size of blockFiles(dir).values()) onDisk += size;
    assert.equal(onDisk, 3 * stored(blockLen), 'the index accounts for the bytes on disk');
    for (const i of [3, 4, 5]) assert.deepEqual(await cache.get(id, i), blocks[i]);
  });

  it('refuses a block larger than the cache and a block below the free-space floor (and stores nothing)', async () => {
    const dir = fresh();
    const small = BlockCache.open(dir, { capacityBytes: 1000 });
    assert.equal(await small.put(id, 0, randomBytes(2000)), false);
    const floored = BlockCache.open(fresh(), { capacityBytes: 1024 * 1024, minFreeBytes: 2 ** 53 });
    assert.equal(await floored.put(id, 0, randomBytes(100)), false);
    for (const c of [small, floored]) {
      const s = c.stats();
      assert.equal(s.refused, 1);
      assert.equal(s.stored, 0);
      assert.equal(s.blocks, 0);
      assert.equal(blockFiles(c.dir).size, 0);
    }
  });

  it('getRange reads and verifies only the chunks of a range', async () => {
    const dir = fresh();
    const cache = BlockCache.open(dir, { capacityBytes: 1024 * 1024 });
    const data = randomBytes(4 * CHUNK + 10);
    await cache.put(id, 0, data);
    const ranges: [number, number][] = [[0, 10], [CHUNK - 5, 10], [3 * CHUNK + 7, CHUNK + 3], [0, data.length], [2 * CHUNK, CHUNK]];
    for (const [off, len] of ranges) assert.deepEqual(await cache.getRange(id, 0, off, len), data.subarray(off, off + len), `range ${off}+${len}`);
    assert.equal(cache.stats().hits, ranges.length);
    assert.equal(await cache.getRange(id, 1, 0, 10), undefined, 'a block not cached');
    // Chunk 2 damaged: a range outside it is still served (it is not read); a range in it is refused and the block dropped.
    await damage(blockPath(dir, id, 0), 2 * CHUNK + 1);
    assert.deepEqual(await cache.getRange(id, 0, 10, 100), data.subarray(10, 110));
    assert.equal(await cache.getRange(id, 0, 2 * CHUNK - 10, 20), undefined);
    const s = cache.stats();
    assert.equal(s.corrupt, 1);
    assert.equal(s.blocks, 0);
    assert.equal(cache.has(id, 0), false);
    await eventually('the damaged block file deleted', () => blockFiles(dir).size === 0);
  });

  it('getRange never serves a dropped or replaced block from a file it kept open', async () => {
    const dir = fresh();
    const cache = BlockCache.open(dir, { capacityBytes: 1024 * 1024 });
    const v1 = randomBytes(2 * CHUNK);
    await cache.put(id, 0, v1);
    assert.deepEqual(await cache.getRange(id, 0, 100, 50), v1.subarray(100, 150), 'opens the block file');
    // Replaced under the same name (a block fetched again after damage): the new bytes.
    const v2 = randomBytes(2 * CHUNK);
    await cache.put(id, 0, v2);
    assert.deepEqual(await cache.getRange(id, 0, 100, 50), v2.subarray(100, 150));
    // Dropped: a miss, not the bytes of the unlinked file still open.
    cache.dropFile(id);
    assert.equal(await cache.getRange(id, 0, 100, 50), undefined);
    // Many concurrent random reads of one block share its open file and all match.
    await cache.put(id, 0, v1);
    const offs = Array.from({ length: 200 }, (_, i) => (i * 7919) % (2 * CHUNK - 64));
    const got = await Promise.all(offs.map((o) => cache.getRange(id, 0, o, 64)));
    for (const [i, o] of offs.entries()) assert.deepEqual(got[i], v1.subarray(o, o + 64), `read at ${o}`);
  });

  it('blocks of an older format (an unmarked cache directory) are cleared at open; blocks of this format are kept', async () => {
    const dir = fresh();
    // A block file as format 2 wrote it (data right after the checksum table), no FORMAT marker.
    await mkdir(join(dir, 'blocks', id.slice(0, 2)), { recursive: true });
    const old = Buffer.alloc(HEADER + 4 + 100);
    old.write('WBLK', 0);
    old[4] = 2;
    await writeFile(blockPath(dir, id, 0), old);
    const cache = BlockCache.open(dir, { capacityBytes: 1024 * 1024 });
    assert.equal(cache.stats().blocks, 0);
    assert.equal(existsSync(blockPath(dir, id, 0)), false, 'the old file is gone');
    assert.equal(await cache.put(id, 1, randomBytes(1000)), true);
    const again = BlockCache.open(dir, { capacityBytes: 1024 * 1024 });
    assert.equal(again.stats().blocks, 1, 'a marked cache keeps its blocks');
    assert.equal((await again.get(id, 1))?.length, 1000);
  });

  it('reopening rebuilds the index from disk and discards temporaries, short files and strangers', async () => {
    const dir = fresh();
    const first = BlockCache.open(dir, { capacityBytes: 1024 * 1024 });
    const blocks = [randomBytes(5000), randomBytes(7000), randomBytes(100)];
    for (const [i, b] of blocks.entries()) await first.put(id, i, b);
    const shard = join(dir, 'blocks', id.slice(0, 2));
    const other = join(dir, 'blocks', 'ff');
    await mkdir(other, { recursive: true });
    const leftovers = [
      join(shard, `${id}-9.tmp1234-1`), // a crash mid-put
      join(other, `${'f'.repeat(40)}-0`), // shorter than a header
      join(other, 'not-a-block'),
    ];
    await writeFile(leftovers[0]!, randomBytes(3000));
    await writeFile(leftovers[1]!, Buffer.from('WBLK'));
    await writeFile(leftovers[2]!, 'hello');

    const second = BlockCache.open(dir, { capacityBytes: 1024 * 1024 });
    for (const p of leftovers) assert.equal(existsSync(p), false, `${p} removed at open`);
    const s = second.stats();
    assert.equal(s.blocks, 3);
    assert.equal(s.bytes, blocks.reduce((n, b) => n + stored(b.length), 0));
    for (const [i, b] of blocks.entries()) assert.deepEqual(await second.get(id, i), b);
    assert.equal(second.stats().hits, 3);
  });

  it('reopening with a smaller capacity evicts the oldest blocks (by mtime) and deletes them', async () => {
    const dir = fresh();
    const first = BlockCache.open(dir, { capacityBytes: 1024 * 1024 });
    for (let i = 0; i < 5; i++) await first.put(id, i, randomBytes(1000));
    // Block i last used i minutes from now: 0 is the oldest.
    const now = Date.now() / 1000;
    for (let i = 0; i < 5; i++) await utimes(blockPath(dir, id, i), now + i * 60, now + i * 60);
    const second = BlockCache.open(dir, { capacityBytes: 2 * stored(1000) });
    assert.equal(second.stats().blocks, 2);
    assert.equal(second.has(id, 3), true);
    assert.equal(second.has(id, 4), true);
    await eventually('over-capacity block files deleted at open', () => blockFiles(dir).size === 2);
  });
});

describe('BlockReader', () => {
  let storeDir: { path: string; remove: () => void };
  let inner: LocalStore;
  const dirs: { remove: () => void }[] = [];
  const BS = 4 * CHUNK;
  const content = randomBytes(5 * BS + 1234); // 6 blocks of 4 chunks, the last one short

  before(async () => {
    storeDir = tempDir('wharf-blockreader-store-');
    inner = await LocalStore.open(storeDir.path);
    await inner.put('data/file.bin', content);
  });
  after(async () => {
    await inner.close();
    storeDir.remove();
    for (const d of dirs) d.remove();
  });

  function setup(o: Partial<BlockReaderOptions> = {}, capacityBytes = 64 * 1024 * 1024) {
    const d = tempDir('wharf-blockreader-cache-');
    dirs.push(d);
    const store = new FaultyStore(inner, { hangTimeoutMs: 60_000 });
    const cache = BlockCache.open(d.path, { capacityBytes });
    const reader = new BlockReader(cache, { blockSize: BS, fetchTimeoutMs: 5_000, prefetchBlocks: 0, maxFetches: 8, ...o });
    const file = (key = 'data/file.bin', fingerprint = 'v1', size = content.length): CachedFile => ({ id: blockFileId('s', key, fingerprint, BS), store, key, size });
    return { store, cache, reader, file, dir: d.path };
  }

  let active: FaultyStore[] = [];
  afterEach(() => { for (const s of active) s.clear(); active = []; });

  it('reads any range right, with one ranged GET per block', async () => {
    const { store, reader, file, cache } = setup();
    const f = file();
    const ranges: [number, number][] = [[0, 10], [BS - 5, 10], [BS * 2 + 7, BS * 2], [content.length - 100, 500], [0, content.length], [content.length, 10]];
    for (const [off, len] of ranges) assert.deepEqual(await reader.read(f, off, len), content.subarray(off, Math.min(off + len, content.length)), `range ${off}+${len}`);
    assert.equal(store.calls.get, 6, 'each of the 6 blocks fetched once');
    assert.equal(reader.counters.fetches, 6);
    assert.equal(reader.counters.fetchedBytes, content.length);
    assert.equal(cache.stats().stored, 6);
    assert.equal(cache.stats().bytes, 5 * stored(BS) + stored(1234), 'the short last block is stored at its length');
  });

  it('concurrent readers of one block share exactly one fetch', async () => {
    const { store, reader, file } = setup();
    store.setLatency(100);
    active.push(store);
    const f = file();
    const reads = await Promise.all(Array.from({ length: 20 }, (_, i) => reader.read(f, BS + i * 100, 1000)));
    for (const [i, r] of reads.entries()) assert.deepEqual(r, content.subarray(BS + i * 100, BS + i * 100 + 1000));
    assert.equal(store.calls.get, 1);
    assert.equal(reader.counters.fetches, 1);
  });

  it('a block on disk is read without the store (a new reader: nothing in memory), a damaged one is fetched again', async () => {
    const { store, reader, file, cache, dir } = setup();
    const f = file();
    await reader.read(f, 0, content.length);
    assert.equal(store.calls.get, 6);
    const again = new BlockReader(cache, { blockSize: BS, fetchTimeoutMs: 5_000, prefetchBlocks: 0, maxFetches: 8 });
    const hits0 = cache.stats().hits;
    assert.deepEqual(await again.read(f, 0, content.length), content);
    assert.equal(store.calls.get, 6, 'no store request for cached blocks');
    assert.equal(again.counters.fetches, 0);
    assert.equal(cache.stats().hits - hits0, 6);

    const p = blockPath(dir, f.id, 2);
    await damage(p, 5);
    const third = new BlockReader(cache, { blockSize: BS, fetchTimeoutMs: 5_000, prefetchBlocks: 0, maxFetches: 8 });
    assert.deepEqual(await third.read(f, 2 * BS, BS), content.subarray(2 * BS, 3 * BS));
    assert.equal(cache.stats().corrupt, 1);
    assert.equal(store.calls.get, 7, 'the damaged block, and only it, fetched again');
    const raw = await readFile(p);
    assert.deepEqual(raw.subarray(dataAt(raw)), content.subarray(2 * BS, 3 * BS), 'the block file is good again');
  });

  it('a random read inside a cached block reads only its chunks from disk; a damaged chunk is fetched again', async () => {
    const { store, reader, file, cache, dir } = setup();
    const f = file();
    await reader.read(f, 0, content.length);
    const fresh = new BlockReader(cache, { blockSize: BS, fetchTimeoutMs: 5_000, prefetchBlocks: 4, maxFetches: 8 }); // nothing in memory
    const pattern = new ReadPattern();
    const hits0 = cache.stats().hits;
    for (const off of [3 * BS + 100, BS + 70_000, 2 * BS + 5, 5 * BS + 1000]) {
      const len = Math.min(4096, content.length - off);
      assert.deepEqual(await fresh.read(f, off, 4096, pattern), content.subarray(off, off + len), `random read at ${off}`);
    }
    assert.equal(fresh.counters.fetches, 0);
    assert.equal(fresh.counters.prefetches, 0, 'random reads do not prefetch');
    assert.equal(store.calls.get, 6);
    assert.equal(cache.stats().hits - hits0, 4);
    await damage(blockPath(dir, f.id, 4), 10); // chunk 0 of block 4
    const off = 4 * BS + 20;
    assert.deepEqual(await fresh.read(f, off, 100, pattern), content.subarray(off, off + 100));
    assert.equal(cache.stats().corrupt, 1);
    assert.equal(fresh.counters.rangeReads, 1, 'the damaged bytes fetched again (the block is dropped: just the range)');
    assert.equal(store.calls.get, 7);
  });

  it("reads that arrive out of order within the kernel's read-ahead (sequentialSlack) are the sequential stream, not random reads", async () => {
    const { store, reader, file } = setup({ prefetchBlocks: 2, sequentialSlack: 2 * BS });
    const f = file();
    const p = new ReadPattern();
    // A new handle: the kernel's second request overtakes its first.
    assert.deepEqual(await reader.read(f, CHUNK, CHUNK, p), content.subarray(CHUNK, 2 * CHUNK));
    assert.deepEqual(await reader.read(f, 0, CHUNK, p), content.subarray(0, CHUNK));
    assert.deepEqual(await reader.read(f, 3 * CHUNK, CHUNK, p), content.subarray(3 * CHUNK, 4 * CHUNK));
    assert.deepEqual(await reader.read(f, 2 * CHUNK, CHUNK, p), content.subarray(2 * CHUNK, 3 * CHUNK));
    assert.equal(reader.counters.rangeReads, 0, 'no range reads');
    assert.ok(reader.counters.prefetches > 0, 'it prefetched');
    // Far away, it is a random read again.
    await reader.read(f, 5 * BS + 10, 10, p);
    assert.equal(reader.counters.rangeReads, 1);
    assert.ok(store.calls.get >= 2);
  });

  it('a store that opens the stream only after the fetch timeout: EIO, and the late stream is discarded without an uncaught error', async () => {
    const { reader, file } = setup({ fetchTimeoutMs: 30 });
    const slowOpen: BlockSource = {
      async open() {
        await new Promise((r) => setTimeout(r, 150));
        // Like a store stream that honours the (by now aborted) signal: it dies with an error.
        return new Readable({ read() {}, destroy(_e, cb) { cb(new Error('read aborted')); } });
      },
    };
    const slow = new BlockReader(BlockCache.open(tempDir('wharf-slowopen-').path, { capacityBytes: 64 * 1024 * 1024 }), { blockSize: BS, fetchTimeoutMs: 30, prefetchBlocks: 0, maxFetches: 4, locator: { sourceFor: () => slowOpen } });
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => { uncaught.push(e); };
    process.on('uncaughtException', onUncaught);
    try {
      await rejectsErrno(slow.read(file(), 0, 100), 'EIO');
      await new Promise((r) => setTimeout(r, 300)); // the late open lands and is discarded
      assert.deepEqual(uncaught, []);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    assert.deepEqual(await reader.read(file(), 0, 100), content.subarray(0, 100));
  });

  it('a random read from a store that hangs fails with EIO within the fetch timeout', async () => {
    const { store, reader, file } = setup({ fetchTimeoutMs: 300 });
    active.push(store);
    store.goAway('hang');
    const pattern = new ReadPattern();
    pattern.nextOffset = 1;
    const ms = await rejectsErrno(reader.read(file(), 2 * BS + 5, 100, pattern), 'EIO');
    assert.ok(ms >= 250 && ms < 2_000, `failed after ${Math.round(ms)} ms`);
    store.comeBack();
    assert.deepEqual(await reader.read(file(), 2 * BS + 5, 100, pattern), content.subarray(2 * BS + 5, 2 * BS + 105));
  });

  it('random reads of blocks held nowhere fetch just their bytes; the fourth random miss of a block loads it whole', async () => {
    const { store, reader, file, cache } = setup({ prefetchBlocks: 4 });
    const f = file();
    const pattern = new ReadPattern();
    pattern.nextOffset = 12345; // as after some earlier read: these are not sequential
    const offs = [3 * BS + 100, BS + 70_000, 5 * BS + 1000, BS - 50]; // the last spans blocks 0 and 1
    for (const off of offs) assert.deepEqual(await reader.read(f, off, 100, pattern), content.subarray(off, off + 100), `random read at ${off}`);
    assert.equal(reader.counters.rangeReads, 4);
    assert.equal(reader.counters.fetchedBytes, 400, 'only the bytes asked for');
    assert.equal(reader.counters.fetches, 0, 'no block fetched');
    assert.equal(cache.stats().stored, 0, 'and none cached');
    assert.equal(store.calls.get, 4);
    // Block 2 read at random again and again: the fourth miss also loads it whole.
    for (let i = 0; i < 4; i++) {
      const off = 2 * BS + 1000 * (i + 1);
      assert.deepEqual(await reader.read(f, off, 10, pattern), content.subarray(off, off + 10));
    }
    await eventually('block 2 loaded whole', () => cache.has(f.id, 2));
    const calls = store.calls.get;
    assert.deepEqual(await reader.read(f, 2 * BS + 7, 10, pattern), content.subarray(2 * BS + 7, 2 * BS + 17));
    assert.equal(store.calls.get, calls, 'then served here');
  });

  it('a fetch that hangs fails with EIO within the fetch timeout, and a later read succeeds', async () => {
    const { store, reader, file } = setup({ fetchTimeoutMs: 300 });
    active.push(store);
    store.goAway('hang');
    const ms = await rejectsErrno(reader.read(file(), 0, 100), 'EIO');
    assert.ok(ms >= 250 && ms < 2_000, `failed after ${Math.round(ms)} ms`);
    assert.equal(reader.counters.fetchFailures, 1);
    // Concurrent readers of the hanging block all fail, none hangs.
    const all = await Promise.allSettled(Array.from({ length: 5 }, () => reader.read(file(), BS, 10)));
    for (const r of all) assert.equal(r.status, 'rejected');
    store.comeBack();
    assert.deepEqual(await reader.read(file(), 0, 100), content.subarray(0, 100), 'a failure is not cached');
  });

  it('a prefetch run that breaks mid-way keeps the blocks that arrived; the rest fail, then load on their own', async () => {
    const { store, reader, file, cache } = setup({ prefetchBlocks: 4, spanBlocks: 4 });
    active.push(store);
    const f = file();
    assert.deepEqual(await reader.read(f, 0, 100), content.subarray(0, 100), 'block 0, no read-ahead');
    // The run 1-4 breaks after one and a half blocks.
    store.truncateGets({ afterBytes: BS + BS / 2, mode: 'error', times: 1 });
    const p = new ReadPattern();
    assert.deepEqual(await reader.read(f, 0, 100, p), content.subarray(0, 100));
    await eventually('block 1 stored', () => cache.has(f.id, 1));
    await eventually('the run failed', () => reader.counters.fetchFailures === 1);
    assert.equal(cache.has(f.id, 2), false, 'the broken block is not stored');
    assert.equal(reader.counters.fetches, 2, 'blocks 0 and 1 arrived');
    // Reading on: block 1 from memory, blocks 2.. fetched again, bytes exact.
    assert.deepEqual(await reader.read(f, 100, content.length, p), content.subarray(100));
    assert.equal(reader.counters.fetches, 6);
  });

  it('each block of a run must arrive within the fetch timeout: a stalled run fails with EIO, never hangs', async () => {
    const { store, reader, file } = setup({ prefetchBlocks: 0, fetchTimeoutMs: 300 });
    active.push(store);
    store.goAway('hang');
    const ms = await rejectsErrno(reader.read(file(), 0, 3 * BS), 'EIO');
    assert.ok(ms >= 250 && ms < 2_000, `failed after ${Math.round(ms)} ms`);
    store.comeBack();
  });

  it('a store error is EIO; a missing object is ESTALE; a short object is EIO (never short bytes)', async () => {
    const { store, reader, file } = setup();
    active.push(store);
    store.goAway('eio');
    await rejectsErrno(reader.read(file(), 0, 10), 'EIO');
    store.comeBack();
    await rejectsErrno(reader.read(file('data/missing', 'x', 1000), 0, 10), 'ESTALE');
    await inner.put('data/short', randomBytes(1000));
    await rejectsErrno(reader.read(file('data/short', 'x', 2000), 0, 2000), 'EIO');
    assert.equal(reader.counters.fetchFailures, 3);
  });

  it('a changed fingerprint is a new block id: the new bytes, never the old blocks', async () => {
    const { store, reader, file, cache } = setup();
    const v1 = randomBytes(3 * BS);
    const v2 = randomBytes(3 * BS);
    await inner.put('data/changing', v1);
    assert.deepEqual(await reader.read(file('data/changing', 'fp1', v1.length), 0, v1.length), v1);
    await inner.put('data/changing', v2);
    const gets = store.calls.get;
    assert.deepEqual(await reader.read(file('data/changing', 'fp2', v2.length), 0, v2.length), v2);
    assert.equal(store.calls.get - gets, 3, 'every block fetched again');
    // The old blocks are still cached under the old id (a reader of the old version is consistent).
    assert.equal(cache.has(blockFileId('s', 'data/changing', 'fp1', BS), 0), true);
    assert.equal(cache.has(blockFileId('s', 'data/changing', 'fp2', BS), 0), true);
  });

  it('a sequential reader prefetches the next blocks (a run in one request); a random reader does not', async () => {
    const { store, reader, file, cache } = setup({ prefetchBlocks: 2 });
    const f = file();
    const pattern = new ReadPattern();
    assert.deepEqual(await reader.read(f, 0, 1000, pattern), content.subarray(0, 1000));
    assert.equal(reader.counters.prefetches, 2);
    await eventually('prefetched blocks 1 and 2 cached', () => cache.has(f.id, 1) && cache.has(f.id, 2));
    assert.equal(store.calls.get, 2, 'block 0, then blocks 1-2 in one ranged GET');
    assert.equal(reader.counters.requests, 2);
    assert.equal(reader.counters.fetches, 3, 'fetches count blocks');
    // Reading on sequentially: blocks 1 and 2 are served from what was prefetched.
    assert.deepEqual(await reader.read(f, 1000, 2 * BS), content.subarray(1000, 1000 + 2 * BS));
    assert.equal(reader.counters.prefetches, 2, 'no pattern passed: no read-ahead');
    assert.equal(store.calls.get, 2);

    // A whole-file sequential read with a wide window: runs of at most `spanBlocks` per
    // request; a short run is asked for only when the reader needs it next or it ends the file.
    const r3 = setup({ prefetchBlocks: 8, spanBlocks: 2 });
    const p3 = new ReadPattern();
    const f3 = r3.file();
    const got: Buffer[] = [];
    for (let off = 0; off < content.length; off += 100_000) got.push(await r3.reader.read(f3, off, 100_000, p3));
    assert.deepEqual(Buffer.concat(got), content);
    assert.equal(r3.reader.counters.fetches, 6, 'each block fetched once');
    assert.equal(r3.store.calls.get, 1 + Math.ceil(5 / 2), 'block 0 alone, then blocks 1-5 in runs of two');

    const r2 = setup({ prefetchBlocks: 2 });
    const p2 = new ReadPattern();
    await r2.reader.read(r2.file(), 3 * BS + 10, 100, p2); // not at 0, not following a read
    await r2.reader.read(r2.file(), BS + 10, 100, p2);
    assert.equal(r2.reader.counters.prefetches, 0);
    assert.equal(r2.store.calls.get, 2);
  });

  it('memory blocks are reused buffers: 300 concurrent reads over a 2-block memory and a jittery store all get exact bytes', async () => {
    // Two memory slots for six blocks: buffers are evicted and refilled while other
    // readers still wait on them, which only pins keep safe.
    const { store, reader, file } = setup({ hotBytes: 1, prefetchBlocks: 2, maxFetches: 4 }, 3 * stored(BS));
    store.setLatency(2, 15);
    active.push(store);
    const f = file();
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const patterns = Array.from({ length: 4 }, () => new ReadPattern());
    const reads = Array.from({ length: 300 }, () => {
      const off = rnd(content.length);
      const len = 1 + rnd(2 * BS);
      const into = Buffer.alloc(len, 0xee);
      const pattern = patterns[rnd(4)];
      // Started over time, so blocks keep being evicted and loaded again while others wait.
      const delay = rnd(300);
      return { off, len, into, n: new Promise<void>((r) => setTimeout(r, delay)).then(() => reader.readInto(f, off, len, into, pattern)) };
    });
    for (const r of reads) {
      const n = await r.n;
      const want = content.subarray(r.off, Math.min(r.off + r.len, content.length));
      assert.equal(n, want.length, `read ${r.off}+${r.len}: length`);
      assert.ok(r.into.subarray(0, n).equals(want), `read ${r.off}+${r.len}: bytes`);
    }
    // Reads after the storm, with nothing in flight, still match.
    assert.deepEqual(await reader.read(f, 0, content.length), content);
  });

  it('readHot answers from memory at once, and undefined for what is not in memory', async () => {
    const { reader, file } = setup({ prefetchBlocks: 0 });
    const f = file();
    const p = new ReadPattern();
    const target = Buffer.alloc(BS);
    assert.equal(reader.readHot(f, 0, 1000, p, target), undefined, 'nothing in memory yet');
    await reader.read(f, 0, 2 * BS);
    assert.equal(reader.readHot(f, 10, 1000, p, target), 1000);
    assert.deepEqual(target.subarray(0, 1000), content.subarray(10, 1010));
    assert.equal(reader.readHot(f, BS - 100, 300, p, target), 300, 'across two blocks in memory');
    assert.deepEqual(target.subarray(0, 300), content.subarray(BS - 100, BS + 200));
    assert.equal(reader.readHot(f, 2 * BS - 10, 100, p, target), undefined, 'block 2 is not in memory');
    assert.equal(reader.readHot(f, content.length, 100, p, target), 0, 'at the end of the file');
    assert.equal(reader.readHot(f, 0, 2 * BS, p, Buffer.alloc(10)), 10, 'clipped at the target');
  });

  it('a read still succeeds when the cache cannot keep the block', async () => {
    const { store, reader, file, cache } = setup({ hotBytes: 1 }, stored(10)); // capacity below one block
    const f = file();
    assert.deepEqual(await reader.read(f, 0, content.length), content);
    assert.equal(cache.stats().stored, 0);
    assert.equal(cache.stats().refused, 6);
    assert.equal(store.calls.get, 6);
  });
});
