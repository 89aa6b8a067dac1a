// Cache instances, warmup and eviction rules, end to end with real processes on
// 127.0.0.1: a master (in this process, driven through the Admin API over gRPC) and
// three cache-node processes that register and heartbeat, over one local-directory
// store. Judged by the nodes' own counters (/v1/stats) and by a mount-side reader
// (BlockReader + ClusterLocator, as `wharf mount` wires them) that must find every
// warmed block on its owner: no store read by the reader, none by the nodes.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { BlockCache, BlockReader, blockFileId, type CachedFile } from '../src/cache/index.js';
import { Master } from '../src/master/index.js';
import { ClusterLocator, blockUrlPath, membersOf } from '../src/node/index.js';
import { AdminClient, GrpcMetaClient, type WireCacheJob } from '../src/rpc/index.js';
import { LocalStore } from '../src/ufs/index.js';
import { rejectsErrno, sleep, until } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

const CHILD = fileURLToPath(new URL('./helpers/nodeChild.js', import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;
const BS = 64 * KiB;
const SMALL = 1000;
const ENDED = ['succeeded', 'failed', 'terminated', 'terminate_failed'];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface NodeProc { id: string; address: string; child: ChildProcess }
interface Stats { blocks: number; usedBytes: number; storeFetches: number; misses: number; instance: string; limitBytes: number; warmEntries: number }

function httpJson<T>(address: string, path: string): Promise<T> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = request({ host: address.slice(0, i), port: Number(address.slice(i + 1)), path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.once('end', () => resolve(JSON.parse(body) as T));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('cache instances, warmup and eviction rules', () => {
  let tmp: { path: string; remove: () => void };
  let storeDir: string;
  let master: Master;
  let admin: AdminClient;
  let client: GrpcMetaClient;
  let nodes: NodeProc[] = [];
  let clockOffset = 0;
  const bigs = [0, 1, 2].map(() => randomBytes(MiB + 12_345));
  const stats = (n: NodeProc) => httpJson<Stats>(n.address, '/v1/stats');
  const sum = async (f: (s: Stats) => number) => (await Promise.all(nodes.map(stats))).reduce((a, s) => a + f(s), 0);

  function startNode(i: number): Promise<NodeProc> {
    const cfg = { cacheDir: join(tmp.path, `node-${i}`), listen: '127.0.0.1:0', capacityBytes: 256 * MiB, stores: { data: storeDir }, master: master.address, failKeys: ['mixed/bad-', 'broken/bad-'] };
    const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { env: { ...process.env, WHARF_NODE_CHILD: '1', WHARF_LOG_LEVEL: 'error' }, stdio: ['pipe', 'pipe', 'inherit'] });
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve({ ...(JSON.parse(out.slice(0, nl)) as { id: string; address: string }), child });
      });
      child.once('exit', (code) => reject(new Error(`node exited with ${code} before listening`)));
    });
  }

  async function waitJob(id: string, timeoutMs = 60_000): Promise<WireCacheJob> {
    let j = await admin.showCacheJob(id);
    const end = Date.now() + timeoutMs;
    while (!ENDED.includes(j.state)) {
      if (Date.now() > end) throw new Error(`cache job ${id} still ${j.state}`);
      await sleep(50);
      j = await admin.showCacheJob(id);
    }
    return j;
  }

  async function run(name: string, directory: string, settings: Record<string, unknown> = {}): Promise<WireCacheJob> {
    const r = await admin.createCacheRule({ source: 'data', name, type: 'manual', directory, execute_on_create: true, cache: { kind: 'warmup', block_size: BS, ...settings } });
    const j = await waitJob(r.job!.id);
    await admin.deleteCacheRule('data', name); // one-off rules: the 20-rule limit stays far
    return j;
  }

  /** A mount-side reader of the source's files through the cluster, as `wharf mount` reads. */
  async function mountReader(name: string) {
    const locator = new ClusterLocator({ blockSize: BS, hopTimeoutMs: 2_000 });
    locator.setMembers(membersOf(await admin.listNodes()), 1n);
    locator.setBindings(new Map((await admin.listSources()).filter((s) => s.instance).map((s) => [s.name, s.instance])));
    const cache = BlockCache.open(join(tmp.path, `mount-${name}`), { capacityBytes: 256 * MiB, minFreeBytes: 0 });
    const reader = new BlockReader(cache, { blockSize: BS, fetchTimeoutMs: 20_000, prefetchBlocks: 4, maxFetches: 8, locator });
    const store = await LocalStore.open(storeDir);
    const fileOf = async (path: string): Promise<CachedFile> => {
      const a = await client.resolve(`/data${path}`);
      const loc = (await client.locate(a.ino))!;
      return { id: blockFileId('data', loc.key, loc.fingerprint, BS), source: 'data', fingerprint: loc.fingerprint, store, key: loc.key, size: Number(loc.size) };
    };
    return { locator, reader, fileOf, close: () => store.close() };
  }

  before(async () => {
    tmp = tempDir('wharf-cache-rules-');
    storeDir = join(tmp.path, 'store');
    for (const d of ['ds', 'big', 'mixed', 'broken', 'meta', 'pinned', 'ttl']) mkdirSync(join(storeDir, d), { recursive: true });
    for (let i = 0; i < SMALL; i++) writeFileSync(join(storeDir, 'ds', `part-${String(i).padStart(4, '0')}.csv`), randomBytes(3 * KiB + (i % 7) * 100));
    writeFileSync(join(storeDir, 'ds', 'skip-me.tmp'), randomBytes(5 * KiB));
    bigs.forEach((b, i) => writeFileSync(join(storeDir, 'big', `b${i}.bin`), b));
    for (let i = 0; i < 28; i++) writeFileSync(join(storeDir, 'mixed', `ok-${i}`), randomBytes(2 * KiB));
    for (let i = 0; i < 2; i++) writeFileSync(join(storeDir, 'mixed', `bad-${i}`), randomBytes(2 * KiB));
    for (let i = 0; i < 5; i++) writeFileSync(join(storeDir, 'broken', `ok-${i}`), randomBytes(2 * KiB));
    for (let i = 0; i < 5; i++) writeFileSync(join(storeDir, 'broken', `bad-${i}`), randomBytes(2 * KiB));
    for (let i = 0; i < 4; i++) writeFileSync(join(storeDir, 'pinned', `p${i}`), randomBytes(200 * KiB));
    for (let i = 0; i < 3; i++) writeFileSync(join(storeDir, 'ttl', `t${i}`), randomBytes(10 * KiB));
    master = await Master.start({
      dataDir: join(tmp.path, 'meta'), listen: '127.0.0.1:0',
      nodes: { heartbeatMs: 200, suspectMs: 3_000, lostMs: 8_000 },
      cache: { progressEveryMs: 100, now: () => Date.now() + clockOffset },
    });
    admin = new AdminClient(master.address, 20_000);
    client = new GrpcMetaClient(master.address, { deadlineMs: 20_000 });
    const { job } = await master.sync.importSource({ name: 'data', uri: `file://${storeDir}`, at: '/data' });
    assert.equal((await master.sync.jobs.wait(job.id)).state, 'succeeded');
    nodes = await Promise.all([0, 1, 2].map(startNode));
    await until('three nodes ONLINE', async () => (await admin.listNodes()).nodes.filter((n) => n.state === 'ONLINE').length === 3, 15_000);
  });

  after(async () => {
    for (const n of nodes) n.child.kill('SIGKILL');
    admin?.close();
    await client?.close();
    await master?.stop(2_000);
    tmp.remove();
  });

  it('concurrent clients: one node cannot land in two instances, one name is created once, a bind racing a delete leaves no dangling binding', async () => {
    const clients = Array.from({ length: 5 }, () => new AdminClient(master.address, 20_000));
    try {
      const race = await Promise.allSettled(clients.map((c, i) => c.createInstance({ name: `race-${i}`, capacity_bytes: String(GiB()), nodes: [nodes[0]!.id] })));
      assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one instance got the node');
      for (const r of race) if (r.status === 'rejected') assert.equal((r.reason as { errno?: string }).errno, 'EBUSY');
      const dup = await Promise.allSettled(clients.map((c) => c.createInstance({ name: 'dup', capacity_bytes: String(GiB()), nodes: [] })));
      assert.equal(dup.filter((r) => r.status === 'fulfilled').length, 1, 'one create of a name wins');
      for (let round = 0; round < 5; round++) {
        const [bind, del] = await Promise.allSettled([clients[0]!.bindSource('data', 'dup'), clients[1]!.deleteInstance('dup', false)]);
        const bound = (await admin.showSource('data')).source!.instance;
        const exists = (await admin.listInstances()).some((i) => i.name === 'dup');
        if (bound) assert.ok(exists, 'a bound source names an instance that exists');
        assert.ok(bind.status === 'fulfilled' || del.status === 'fulfilled', 'one of them succeeded');
        if (!exists) break;
        await admin.bindSource('data', '');
      }
      for (const i of await admin.listInstances()) await admin.deleteInstance(i.name, true);
      await admin.bindSource('data', '');
      assert.equal((await admin.listNodes()).nodes.filter((n) => n.instance).length, 0, 'every node released');
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('instances refuse bad input precisely, and bind sources', async () => {
    await rejectsErrno(admin.createInstance({ name: 'bad name!', capacity_bytes: String(GiB()), nodes: [] }), 'EINVAL', 'name');
    await rejectsErrno(admin.createInstance({ name: 'x', capacity_bytes: '0', nodes: [] }), 'EINVAL', 'zero capacity');
    await rejectsErrno(admin.createInstance({ name: 'x', capacity_bytes: String(GiB()), nodes: [], high_watermark: 0.5, low_watermark: 0.7 }), 'EINVAL', 'low above high');
    await rejectsErrno(admin.createInstance({ name: 'x', capacity_bytes: String(GiB()), nodes: ['00000000-0000-4000-8000-000000000000'] }), 'ENOENT', 'unknown node');
    const hot = await admin.createInstance({ name: 'hot', capacity_bytes: String(GiB()), nodes: nodes.map((n) => n.id) });
    assert.deepEqual([...hot.nodes].sort(), nodes.map((n) => n.id).sort());
    await rejectsErrno(admin.createInstance({ name: 'hot', capacity_bytes: String(GiB()), nodes: [] }), 'EEXIST', 'duplicate');
    await rejectsErrno(admin.createInstance({ name: 'other', capacity_bytes: String(GiB()), nodes: [nodes[0]!.id] }), 'EBUSY', 'a node in another instance');
    await rejectsErrno(admin.bindSource('data', 'nope'), 'ENOENT', 'unknown instance');
    await rejectsErrno(admin.bindSource('nope', 'hot'), 'ENOENT', 'unknown source');
    const s = await admin.bindSource('data', 'hot');
    assert.equal(s.instance, 'hot');
    assert.deepEqual((await admin.showInstance('hot')).sources, ['data']);
    // Nodes learn their instance and their share of its capacity from heartbeat replies.
    await until('nodes serve instance hot', async () => (await Promise.all(nodes.map(stats))).every((x) => x.instance === 'hot' && x.limitBytes > 0), 10_000);
    await rejectsErrno(admin.showInstance('nope'), 'ENOENT', 'show unknown');
  });

  it('warmup of 1,000 files: every block lands on its owner, the progress reaches the totals, a second run fetches nothing', async () => {
    const fetchedBefore = await sum((s) => s.storeFetches);
    const j = await run('warm-ds', '/ds', { include: ['*.csv'] });
    assert.equal(j.state, 'succeeded', j.reason);
    const p = j.progress!;
    assert.equal(Number(p.files_total), SMALL, 'the .tmp file is not included');
    assert.equal(Number(p.files_done), SMALL);
    assert.equal(Number(p.files_failed), 0);
    assert.equal(p.bytes_done, p.bytes_total);
    assert.equal(Number(p.blocks_fetched), SMALL, 'one block per small file');
    assert.equal(Number(p.nodes), 3, 'spread over the three nodes');
    assert.equal((await sum((s) => s.storeFetches)) - fetchedBefore, SMALL, 'each block fetched from the store once, by its owner');
    const big = await run('warm-big', '/big');
    assert.equal(big.state, 'succeeded', big.reason);
    const bigBlocks = bigs.reduce((a, b) => a + Math.ceil(b.length / BS), 0);
    assert.equal(Number(big.progress!.blocks_fetched), bigBlocks);

    // A mount reads them all from the nodes: no store read by it, none by the nodes.
    const m = await mountReader('warm');
    const nodeFetches = await sum((s) => s.storeFetches);
    for (const [i, b] of bigs.entries()) assert.equal(sha(await m.reader.read(await m.fileOf(`/big/b${i}.bin`), 0, b.length)), sha(b));
    for (let i = 0; i < SMALL; i += 37) {
      const f = await m.fileOf(`/ds/part-${String(i).padStart(4, '0')}.csv`);
      const bytes = await m.reader.read(f, 0, f.size);
      assert.equal(sha(bytes), sha(readFileSync(join(storeDir, 'ds', `part-${String(i).padStart(4, '0')}.csv`))));
    }
    assert.equal(m.locator.counters.storeReads, 0, 'the mount never went to the store');
    assert.ok(m.locator.counters.nodeReads > 0);
    assert.equal(await sum((s) => s.storeFetches), nodeFetches, 'every block was on the node the mount asked first: its owner');
    await m.close();

    const again = await run('warm-ds-again', '/ds', { include: ['*.csv'] });
    assert.equal(again.state, 'succeeded');
    assert.equal(Number(again.progress!.blocks_fetched), 0, 'cached blocks are skipped');
    assert.equal(Number(again.progress!.blocks_present), SMALL);
  });

  it('terminate stops a throttled warmup within seconds; the job ends terminated', async () => {
    const r = await admin.createCacheRule({
      source: 'data', name: 'slow', type: 'manual', directory: '/ds', execute_on_create: true,
      cache: { kind: 'warmup', block_size: BS, skip_cached: false, bandwidth_bytes_per_sec: 150 * KiB },
    });
    await until('some progress', async () => Number((await admin.showCacheJob(r.job!.id)).progress?.files_done ?? 0) > 5, 20_000);
    // A second job on an overlapping directory is refused while this one runs.
    const overlap = await admin.createCacheRule({ source: 'data', name: 'overlap', type: 'manual', directory: '/', cache: { kind: 'evict' } });
    await rejectsErrno(admin.executeCacheRule('data', overlap.rule!.name), 'EBUSY', 'overlapping job');
    const racing = await Promise.allSettled([0, 1, 2, 3].map(() => admin.executeCacheRule('data', 'slow')));
    for (const x of racing) assert.equal(x.status === 'rejected' ? (x.reason as { errno?: string }).errno : x.status, 'EBUSY', 'the rule\'s own job runs: every racing execute refused');
    const t0 = Date.now();
    await admin.terminateCacheRule('data', 'slow');
    const j = await waitJob(r.job!.id, 10_000);
    assert.equal(j.state, 'terminated');
    assert.ok(Date.now() - t0 < 5_000, `ended ${Date.now() - t0} ms after terminate`);
    assert.ok(Number(j.progress!.files_done) < SMALL, 'stopped before the end');
    await admin.deleteCacheRule('data', 'overlap');
  });

  it('store errors on some files: listed with reasons; under the thresholds a success with warnings, over them a failure', async () => {
    const mixed = await run('mixed', '/mixed');
    assert.equal(mixed.state, 'succeeded', mixed.reason);
    assert.equal(Number(mixed.progress!.files_failed), 2);
    assert.equal(Number(mixed.progress!.files_done), 28);
    assert.match(mixed.warnings, /2 of 30 files failed/);
    assert.deepEqual(mixed.progress!.failures.map((f) => f.path).sort(), ['/mixed/bad-0', '/mixed/bad-1']);
    assert.ok(mixed.progress!.failures.every((f) => /EIO/.test(f.reason)), mixed.progress!.failures[0]?.reason);
    const broken = await run('broken', '/broken');
    assert.equal(broken.state, 'failed');
    assert.match(broken.reason, /5 of 10 files failed/);
  });

  it('metadata-only warmup syncs new names and fetches no bytes', async () => {
    writeFileSync(join(storeDir, 'meta', 'new-object'), randomBytes(4 * KiB));
    const before = await sum((s) => s.storeFetches);
    const j = await run('meta-only', '/meta', { metadata_only: true });
    assert.equal(j.state, 'succeeded', j.reason);
    assert.ok(Number(j.counters!.created) >= 1, 'the new name was synced');
    assert.equal((await client.resolve('/data/meta/new-object')).size, BigInt(4 * KiB));
    assert.equal(await sum((s) => s.storeFetches), before, 'no bytes fetched');
  });

  it('an eviction rule empties exactly that directory on every node', async () => {
    const bigBlocks = bigs.reduce((a, b) => a + Math.ceil(b.length / BS), 0);
    const blocksBefore = await sum((s) => s.blocks);
    const r = await admin.createCacheRule({ source: 'data', name: 'evict-big', type: 'manual', directory: '/big', execute_on_create: true, cache: { kind: 'evict' } });
    const j = await waitJob(r.job!.id);
    assert.equal(j.state, 'succeeded', j.reason);
    assert.equal(Number(j.progress!.blocks_evicted), bigBlocks);
    assert.equal(blocksBefore - (await sum((s) => s.blocks)), bigBlocks, 'only /big\'s blocks went');
    // /ds is still warm: a second warmup finds every block present.
    const again = await run('warm-ds-3', '/ds', { include: ['*.csv'] });
    assert.equal(Number(again.progress!.blocks_fetched), 0);
  });

  it('bad rule input: malformed cron, unknown kind, bad glob, the 21st rule', async () => {
    await rejectsErrno(admin.createCacheRule({ source: 'data', name: 'c1', type: 'periodic', cron: 'every tuesday', cache: { kind: 'warmup' } }), 'EINVAL', 'malformed cron');
    await rejectsErrno(admin.createCacheRule({ source: 'data', name: 'c2', type: 'manual', cron: '* * * * *', cache: { kind: 'warmup' } }), 'EINVAL', 'cron on a manual rule');
    await rejectsErrno(admin.createCacheRule({ source: 'data', name: 'c3', type: 'manual', cache: { kind: 'prefetch' } }), 'EINVAL', 'unknown kind');
    await rejectsErrno(admin.createCacheRule({ source: 'data', name: 'c4', type: 'manual' }), 'EINVAL', 'no settings');
    await rejectsErrno(admin.createCacheRule({ source: 'data', name: 'c5', type: 'manual', cache: { kind: 'warmup', block_size: String(100_000) } }), 'EINVAL', 'block size not a power of two');
    await rejectsErrno(admin.createCacheRule({ source: 'nope', name: 'c6', type: 'manual', cache: { kind: 'warmup' } }), 'ENOENT', 'unknown source');
    await rejectsErrno(admin.createCacheRule({ source: 'data', name: 'c7', type: 'manual', cache: { kind: 'evict', bandwidth_bytes_per_sec: '1000' } }), 'EINVAL', 'bandwidth on an eviction');
    const have = (await admin.listCacheRules('data')).length;
    for (let i = have; i < 20; i++) await admin.createCacheRule({ source: 'data', name: `filler-${i}`, type: 'manual', cache: { kind: 'evict' } });
    await rejectsErrno(admin.createCacheRule({ source: 'data', name: 'the-21st', type: 'manual', cache: { kind: 'evict' } }), 'ENOSPC', '21st rule');
    for (let i = have; i < 20; i++) await admin.deleteCacheRule('data', `filler-${i}`);
    await rejectsErrno(admin.executeCacheRule('data', 'filler-0'), 'ENOENT', 'deleted rule');
  });

  it('a cron rule runs on its schedule (the master\'s clock moved to just before a minute)', async () => {
    const now = Date.now();
    clockOffset = 60_000 - (now % 60_000) - 1_500; // 1.5 s before the next minute
    const r = await admin.createCacheRule({ source: 'data', name: 'nightly', type: 'periodic', directory: '/meta', cron: '* * * * *', cache: { kind: 'warmup', metadata_only: true } });
    assert.equal(r.rule!.status, 'enabled');
    assert.equal(r.rule!.cron, '* * * * *');
    await until('the cron job ran', async () => (await admin.listCacheJobs({ rule: 'nightly' })).some((j) => j.trigger === 'periodic' && j.state === 'succeeded'), 8_000);
    await admin.disableCacheRule('data', 'nightly');
    clockOffset = 0;
  });

  it('pins survive capacity eviction; TTL directories expire; the instance\'s watermarks bound each node', async () => {
    await admin.pinDirectory({ source: 'data', directory: '/pinned', ttlMs: 0, remove: false });
    await admin.pinDirectory({ source: 'data', directory: '/ttl', ttlMs: 1_000, remove: false });
    assert.deepEqual((await admin.showSource('data')).source!.pins.map((p) => p.directory).sort(), ['/pinned', '/ttl']);
    await rejectsErrno(admin.pinDirectory({ source: 'data', directory: '/nothing', ttlMs: 0, remove: true }), 'ENOENT', 'unpin what is not pinned');
    const pinned = await run('warm-pinned', '/pinned');
    assert.equal(pinned.state, 'succeeded', pinned.reason);
    const ttl = await run('warm-ttl', '/ttl');
    assert.equal(ttl.state, 'succeeded', ttl.reason);
    // Shrink the instance so each node's share is about 1 MiB: the LRU must evict, but not the pinned blocks.
    await admin.resizeInstance({ name: 'hot', capacity_bytes: String(3 * MiB), add_nodes: [], remove_nodes: [], high_watermark: 0.9, low_watermark: 0.6 });
    const share = Math.floor(3 * MiB / 3);
    await until('every node under its high watermark', async () => (await Promise.all(nodes.map(stats))).every((s) => s.limitBytes === share && s.usedBytes <= 0.9 * share + 1), 10_000);
    await until('the TTL directory expired', async () => (await run(`ttl-check-${Date.now()}`, '/ttl')).progress!.blocks_fetched !== '0', 15_000);
    const check = await run('pinned-check', '/pinned');
    assert.equal(Number(check.progress!.blocks_fetched), 0, 'pinned blocks were not evicted');
    await admin.resizeInstance({ name: 'hot', capacity_bytes: String(GiB()), add_nodes: [], remove_nodes: [] });
  });

  it('the nodes refuse block reads to an address the source\'s permission group forbids, and the mount does not fall back to the store', async () => {
    const probe = await mountReader('access-probe');
    const file = await probe.fileOf('/big/b1.bin'); // located while still allowed
    await probe.close();
    const statusOf = async (n: NodeProc) => (await fetch(`http://${n.address}${blockUrlPath({ source: 'data', key: file.key, fingerprint: file.fingerprint!, blockSize: BS, size: file.size })}`, { headers: { range: 'bytes=0-9' } })).status;
    await admin.createGroup('hot', 'locked');
    await admin.addGroupRule('hot', 'locked', '127.0.0.1/32', 'Forbidden');
    await admin.bindSourceGroup('data', 'locked');
    await until('every node refuses', async () => (await Promise.all(nodes.map(statusOf))).every((x) => x === 403), 10_000);
    const m = await mountReader('access');
    await rejectsErrno(m.reader.read(file, 0, file.size), 'EACCES', 'a mount-side read');
    assert.equal(m.locator.counters.storeReads, 0, 'a refusal is final: no store read instead');
    await rejectsErrno(client.resolve('/data/big/b1.bin'), 'EACCES', 'and the master refuses the namespace (a path located before the bind too)');
    // The nodes' refusals reach the master's audit log with their next heartbeats.
    await until('the nodes\' refusals in the audit log', async () => {
      const lines = await admin.queryAudit({ action: 'ReadBlock', limit: 100 });
      return lines.some((l) => l.plane === 'data' && l.result === 'EACCES' && l.source_ip === '127.0.0.1' && l.resource === 'data' && JSON.parse(l.params_json).key === file.key);
    }, 10_000);
    await admin.setGroupRule('hot', 'locked', '127.0.0.1/32', 'ReadWrite');
    await until('the nodes serve again', async () => (await Promise.all(nodes.map(statusOf))).every((x) => x === 206), 10_000);
    assert.equal((await m.reader.read(file, 0, file.size)).length, file.size);
    await admin.bindSourceGroup('data', 'default');
    await admin.deleteGroup('hot', 'locked');
    await m.close();
  });

  it('instance delete: refused while a source is bound; forced, it unbinds, empties the nodes, and leaves store and namespace intact', async () => {
    await rejectsErrno(admin.deleteInstance('hot', false), 'EBUSY', 'bound source');
    assert.ok((await sum((s) => s.blocks)) > 0);
    const r = await admin.deleteInstance('hot', true);
    assert.deepEqual(r.unbound_sources, ['data']);
    assert.equal(r.nodes_freed, 3);
    assert.ok(Number(r.bytes_freed) > 0);
    assert.equal(await sum((s) => s.blocks), 0, 'every node emptied');
    assert.equal((await admin.showSource('data')).source!.instance, '');
    assert.equal((await admin.listInstances()).length, 0);
    assert.deepEqual(readFileSync(join(storeDir, 'big', 'b0.bin')), bigs[0], 'the store is untouched');
    assert.equal((await client.resolve('/data/big/b0.bin')).size, BigInt(bigs[0]!.length), 'the namespace is untouched');
    // Unbound, the source's blocks go to the nodes in no instance: the released ones.
    const j = await run('after-delete', '/big');
    assert.equal(j.state, 'succeeded', j.reason);
    assert.equal(Number(j.progress!.nodes), 3);
  });
});

function GiB(): number {
  return 1024 * MiB;
}

describe('a cache node\'s instance assignment', () => {
  it('moving empties the cache; a policy older than the assignment known (a late heartbeat reply) changes nothing', async () => {
    const tmp = tempDir('wharf-node-policy-');
    const storeDir = join(tmp.path, 'store');
    mkdirSync(storeDir, { recursive: true });
    writeFileSync(join(storeDir, 'obj'), randomBytes(200 * KiB));
    const store = await LocalStore.open(storeDir);
    const fp = `${200 * KiB}:${(await store.head('obj'))!.etag}:${(await store.head('obj'))!.mtimeMs}`;
    const { BlockServer } = await import('../src/node/index.js');
    const node = await BlockServer.start({ cacheDir: join(tmp.path, 'node'), listen: '127.0.0.1:0', capacityBytes: 64 * MiB, storeFor: async () => store });
    const warm = async () => {
      const lines: unknown[] = [];
      await node.control.warm({ source: 's', blockSize: BS, rateBytesPerSec: 0, refresh: false, entries: [{ key: 'obj', fingerprint: fp, size: 200 * KiB, first: 0, last: 3 }] }, store, new AbortController().signal, (l) => lines.push(l));
      return lines;
    };
    const policy = (instance: string, instanceVersion: number) => ({ instance, instanceVersion, limitBytes: 0, highWatermark: 1, lowWatermark: 1, pins: [] });
    try {
      node.applyPolicy(policy('a', 2));
      assert.deepEqual(await warm(), [{ i: 0, fetched: 4, present: 0, bytes: 200 * KiB }]);
      assert.equal(node.stats().blocks, 4);
      node.applyPolicy(policy('', 1)); // computed before the move to 'a', delivered after
      assert.equal(node.stats().blocks, 4, 'a stale policy does not empty the cache');
      assert.equal(node.stats().instance, 'a');
      node.applyPolicy(policy('b', 3));
      assert.equal(node.stats().blocks, 0, 'a move to another instance empties it');
      assert.equal(node.stats().instance, 'b');
      // Malformed control requests are refused with EINVAL, nothing dropped.
      const res = await fetch(`http://${node.address}/v1/warm`, { method: 'POST', body: '{"source":"s","blockSize":1}' });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('x-wharf-errno'), 'EINVAL');
      const ev = await fetch(`http://${node.address}/v1/evict`, { method: 'POST', body: 'not json' });
      assert.equal(ev.status, 400);
    } finally {
      await node.close();
      await store.close();
      tmp.remove();
    }
  });
});
