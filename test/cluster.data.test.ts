// The cache cluster's data plane, with real processes on 127.0.0.1: three cache-node
// processes (BlockServer over the same local-directory store) and mount-side
// readers (BlockReader + BlockCache + ClusterLocator, as a mount wires them). Judged
// by the bytes read and by the nodes' own counters (/v1/stats): a file read by one
// reader is served to another by the nodes, not the store; a node killed mid-read
// leaves readers with correct bytes; a node restarted with its disk keeps its id and
// its blocks. Placement is checked as a property (remapping on join and leave,
// weights), and the block protocol's refusals are exact.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { BlockCache, BlockReader, blockFileId, type CachedFile } from '../src/cache/index.js';
import { ClusterLocator, Placement, blockUrlPath, nodeIdentity, type ClusterMember } from '../src/node/index.js';
import { LocalStore } from '../src/ufs/index.js';
import { tempDir } from './helpers/tmp.js';

const CHILD = fileURLToPath(new URL('./helpers/nodeChild.js', import.meta.url));
const MiB = 1024 * 1024;
const BS = 1 * MiB;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface NodeProc { id: string; address: string; child: ChildProcess; cacheDir: string }
interface Stats { id: string; requests: number; refused: number; bytesServed: number; hits: number; misses: number; storeFetches: number; blocks: number }

function startNode(cacheDir: string, storeDir: string, port = 0): Promise<NodeProc> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify({ cacheDir, listen: `127.0.0.1:${port}`, capacityBytes: 512 * MiB, stores: { data: storeDir } })], {
    env: { ...process.env, WHARF_NODE_CHILD: '1', WHARF_LOG_LEVEL: 'error' }, stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ ...(JSON.parse(out.slice(0, nl)) as { id: string; address: string }), child, cacheDir });
    });
    child.once('exit', (code) => reject(new Error(`node exited with ${code} before listening`)));
  });
}

function httpGet(address: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = request({ host: address.slice(0, i), port: Number(address.slice(i + 1)), path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.once('error', reject);
    req.end();
  });
}

async function stats(n: NodeProc): Promise<Stats> {
  return JSON.parse((await httpGet(n.address, '/v1/stats')).body.toString()) as Stats;
}

describe('placement (weighted rendezvous)', () => {
  const blocks = Array.from({ length: 20_000 }, (_, i) => `${createHash('sha1').update(String(i)).digest('hex')}:${i % 7}`);
  const nodes = (n: number, w = 1) => Array.from({ length: n }, (_, i) => ({ id: `node-${i}`, weight: w }));
  const owners = (p: Placement) => blocks.map((b) => p.owner(b)!.id);

  it('a join moves ≈ 1/(N+1) of the blocks, all to the new node; a leave moves only the leaver\'s ≈ 1/N', () => {
    for (const n of [3, 10]) {
      const before = owners(new Placement(nodes(n)));
      const joined = owners(new Placement([...nodes(n), { id: 'newcomer', weight: 1 }]));
      const moved = before.filter((o, i) => o !== joined[i]);
      assert.ok(joined.every((o, i) => o === before[i] || o === 'newcomer'), 'a join only moves blocks to the newcomer');
      assert.ok(Math.abs(moved.length / blocks.length - 1 / (n + 1)) < 0.02, `join of the ${n + 1}th moved ${moved.length / blocks.length}`);
      const left = owners(new Placement(nodes(n).filter((x) => x.id !== 'node-0')));
      const leftMoved = before.filter((o, i) => o !== left[i]);
      assert.ok(leftMoved.every((o) => o === 'node-0'), 'a leave only moves the leaver\'s blocks');
      assert.ok(Math.abs(leftMoved.length / blocks.length - 1 / n) < 0.02, `leave moved ${leftMoved.length / blocks.length}`);
    }
  });

  it('weights are honoured (within 2 points), weight 0 owns nothing, candidates start with the owner, order is independent of the list order', () => {
    const ws = [{ id: 'a', weight: 100 }, { id: 'b', weight: 200 }, { id: 'c', weight: 700 }, { id: 'drain', weight: 0 }];
    const p = new Placement(ws);
    const share = new Map<string, number>();
    for (const o of owners(p)) share.set(o, (share.get(o) ?? 0) + 1);
    assert.equal(share.get('drain'), undefined);
    for (const w of ws.slice(0, 3)) assert.ok(Math.abs(share.get(w.id)! / blocks.length - w.weight / 1000) < 0.02, `${w.id}: ${share.get(w.id)! / blocks.length}`);
    const reversed = new Placement([...ws].reverse());
    for (const b of blocks.slice(0, 2000)) {
      const c = p.candidates(b, 3).map((x) => x.id);
      assert.equal(c[0], p.owner(b)!.id);
      assert.equal(new Set(c).size, 3);
      assert.deepEqual(reversed.candidates(b, 3).map((x) => x.id), c);
      // The second candidate is where the block goes if its owner leaves.
      assert.equal(new Placement(ws.filter((x) => x.id !== c[0])).owner(b)!.id, c[1]);
    }
    assert.equal(new Placement([]).owner('x'), undefined);
    assert.throws(() => new Placement([{ id: 'a', weight: 1 }, { id: 'a', weight: 2 }]), /twice/);
    assert.throws(() => new Placement([{ id: 'a', weight: -1 }]), /weight/);
  });
});

describe('cache nodes serve blocks to mounts', () => {
  let tmp: { path: string; remove: () => void };
  let storeDir: string;
  let store: LocalStore;
  let nodes: NodeProc[] = [];
  const content = randomBytes(24 * MiB + 12345);
  const key = 'datasets/part-0000.bin';
  let file: CachedFile;

  const members = (ns = nodes): ClusterMember[] => ns.map((n) => ({ id: n.id, address: n.address, weight: 1, readable: true }));
  function mountReader(name: string, ns = nodes) {
    const cache = BlockCache.open(join(tmp.path, `mount-${name}`), { capacityBytes: 256 * MiB, minFreeBytes: 0 });
    const locator = new ClusterLocator({ blockSize: BS, hopTimeoutMs: 2_000 }, members(ns));
    const reader = new BlockReader(cache, { blockSize: BS, fetchTimeoutMs: 20_000, prefetchBlocks: 8, maxFetches: 8, locator });
    return { cache, locator, reader };
  }
  const total = async (f: (s: Stats) => number) => (await Promise.all(nodes.map(stats))).reduce((a, s) => a + f(s), 0);

  before(async () => {
    tmp = tempDir('wharf-cluster-');
    storeDir = join(tmp.path, 'store');
    mkdirSync(join(storeDir, 'datasets'), { recursive: true });
    writeFileSync(join(storeDir, key), content);
    store = await LocalStore.open(storeDir);
    const head = (await store.head(key))!;
    const fingerprint = `${content.length}:${head.etag}:${head.mtimeMs}`;
    file = { id: blockFileId('data', key, fingerprint, BS), source: 'data', fingerprint, store, key, size: content.length };
    nodes = await Promise.all([0, 1, 2].map((i) => startNode(join(tmp.path, `node-${i}`), storeDir)));
  });
  after(async () => {
    for (const n of nodes) n.child.kill('SIGKILL');
    await store.close();
    tmp.remove();
  });

  it('a file read through mount A is served to mount B by the nodes: no store read by B or by the nodes', async () => {
    const a = mountReader('a');
    assert.equal(sha(await a.reader.read(file, 0, content.length)), sha(content));
    assert.equal(a.locator.counters.storeReads, 0, 'A read through the nodes');
    const fetched = await total((s) => s.storeFetches);
    assert.equal(fetched, Math.ceil(content.length / BS), 'the nodes fetched each block from the store once');
    assert.ok((await Promise.all(nodes.map(stats))).every((s) => s.blocks > 0), 'every node owns some blocks');

    const b = mountReader('b');
    const hitsBefore = await total((s) => s.hits);
    // B reads in 128 KiB pieces, as the kernel asks, and at random: the same bytes.
    for (let off = 0; off < content.length; off += 128 * 1024) {
      const part = await b.reader.read(file, off, 128 * 1024);
      assert.ok(part.equals(content.subarray(off, off + 128 * 1024)), `bytes at ${off}`);
    }
    assert.equal(b.locator.counters.storeReads, 0, 'B never went to the store');
    assert.ok(b.locator.counters.nodeBytes > 0);
    assert.equal(await total((s) => s.storeFetches), fetched, 'the nodes served B from their disks');
    assert.ok((await total((s) => s.hits)) > hitsBefore);
    a.locator.close();
    b.locator.close();
  });

  it('concurrent misses of one block on one node share one store fetch', async () => {
    const other = 'datasets/shared.bin';
    const data = randomBytes(3 * BS);
    writeFileSync(join(storeDir, other), data);
    const head = (await store.head(other))!;
    const fp = `${data.length}:${head.etag}:${head.mtimeMs}`;
    const f: CachedFile = { id: blockFileId('data', other, fp, BS), source: 'data', fingerprint: fp, store, key: other, size: data.length };
    const before = await total((s) => s.storeFetches);
    const readers = Array.from({ length: 4 }, (_, i) => mountReader(`c${i}`));
    const got = await Promise.all(readers.map((r) => r.reader.read(f, 0, data.length)));
    for (const g of got) assert.equal(sha(g), sha(data));
    assert.equal((await total((s) => s.storeFetches)) - before, 3, 'three blocks, three store fetches, four readers');
    for (const r of readers) r.locator.close();
  });

  it('a node killed mid-read: the reader gets correct bytes from the next candidate; restarted with its disk it keeps its id and its blocks', async () => {
    const r = mountReader('k');
    const victim = nodes[1]!;
    const placement = new Placement(members().map((m) => ({ id: m.id, weight: m.weight })));
    const owned = Array.from({ length: Math.ceil(content.length / BS) }, (_, i) => i).filter((i) => placement.owner(`${file.id}:${i}`)!.id === victim.id).length;
    const victimBlocks = (await stats(victim)).blocks;
    assert.ok(owned > 0 && victimBlocks >= owned);
    // Kill it as soon as the first bytes have been read.
    const reading = (async () => {
      const parts: Buffer[] = [];
      for (let off = 0; off < content.length; off += 2 * BS) {
        parts.push(await r.reader.read(file, off, 2 * BS));
        if (off === 0) victim.child.kill('SIGKILL');
      }
      return Buffer.concat(parts);
    })();
    assert.equal(sha(await reading), sha(content), 'correct bytes across the kill');
    assert.ok(r.locator.counters.nodeFailures > 0, 'the dead node was tried and failed');
    assert.ok(r.locator.counters.fallbacks > 0);
    // Its blocks came from the next candidate (which fetched from the store) or the store: never wrong.
    r.locator.close();

    // Restarted on another port with the same disk: the same id, its blocks are hits again.
    const back = await startNode(victim.cacheDir, storeDir);
    assert.equal(back.id, victim.id);
    assert.notEqual(back.address, victim.address);
    nodes[1] = back;
    const s0 = await stats(back);
    assert.equal(s0.blocks, victimBlocks, 'blocks kept on its disk');
    const r2 = mountReader('k2');
    assert.equal(sha(await r2.reader.read(file, 0, content.length)), sha(content));
    const s1 = await stats(back);
    assert.equal(s1.storeFetches, 0, 'its own blocks were not fetched again');
    assert.ok(s1.hits >= owned, `${s1.hits} hits for its ${owned} blocks of the file`);
    r2.locator.close();
  });

  it('a node that cannot read the store, or is not listening, is passed over: the bytes come from the next hop', async () => {
    // A node without the data source answers ENOENT; a dead address refuses the connection.
    const bare = await startNode(join(tmp.path, 'node-bare'), join(tmp.path, 'nowhere'));
    try {
      const res = await httpGet(bare.address, `${blockUrlPath({ source: 'other', key, fingerprint: file.fingerprint!, blockSize: BS, size: file.size })}`, { range: 'bytes=0-9' });
      assert.equal(res.status, 404);
      assert.equal(res.headers['x-wharf-errno'], 'ENOENT');
      const cache = BlockCache.open(join(tmp.path, 'mount-bare'), { capacityBytes: 64 * MiB, minFreeBytes: 0 });
      const bogus: ClusterMember[] = [
        { id: bare.id, address: bare.address, weight: 1, readable: true },
        { id: 'dead', address: '127.0.0.1:1', weight: 1, readable: true },
      ];
      const locator = new ClusterLocator({ blockSize: BS, hopTimeoutMs: 1_000 }, bogus);
      const reader = new BlockReader(cache, { blockSize: BS, fetchTimeoutMs: 10_000, prefetchBlocks: 0, maxFetches: 4, locator });
      // The bare node is reachable but has no such source: a refusal, not wrong bytes.
      const f = { ...file, source: 'other', id: blockFileId('other', key, file.fingerprint!, BS) };
      assert.equal(sha(await reader.read(f, 0, 4 * BS)), sha(content.subarray(0, 4 * BS)));
      assert.ok(locator.counters.nodeFailures >= 1);
      assert.ok(locator.counters.storeReads >= 1, 'the store is the last hop');
      locator.close();
    } finally {
      bare.child.kill('SIGKILL');
    }
  });

  it('malformed block requests are refused with EINVAL and a message naming what is wrong', async () => {
    const n = nodes[0]!;
    const path = blockUrlPath({ source: 'data', key, fingerprint: file.fingerprint!, blockSize: BS, size: file.size });
    const cases: [string, Record<string, string>, RegExp][] = [
      [path, {}, /Range of bytes=first-last is required/],
      [path, { range: 'bytes=10-5' }, /not within/],
      [path, { range: `bytes=0-${file.size}` }, /not within/],
      [path.replace(/bs=\d+/, 'bs=abc'), { range: 'bytes=0-1' }, /bs must be an integer/],
      [path.replace(/key=[^&]+&/, ''), { range: 'bytes=0-1' }, /no key/],
      [path.replace(/fp=[^&]+&/, ''), { range: 'bytes=0-1' }, /no fingerprint/],
    ];
    for (const [p, h, msg] of cases) {
      const res = await httpGet(n.address, p, h);
      assert.equal(res.status, 400, `${p} ${JSON.stringify(h)}`);
      assert.equal(res.headers['x-wharf-errno'], 'EINVAL');
      assert.match(res.body.toString(), msg);
    }
    assert.equal((await httpGet(n.address, '/nope')).status, 404);
    assert.equal((await httpGet(n.address, '/healthz')).status, 200);
    const metrics = (await httpGet(n.address, '/metrics')).body.toString();
    assert.match(metrics, /wharf_node_served_bytes_total \d+/);
    assert.match(metrics, /wharf_node_capacity_bytes 536870912/);
  });

  it('a node id is a UUID kept on the disk; a damaged id file is refused, not replaced', () => {
    const dir = join(tmp.path, 'ident');
    const id = nodeIdentity(dir);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(nodeIdentity(dir), id);
    writeFileSync(join(dir, 'NODE_ID'), 'garbage\n');
    assert.throws(() => nodeIdentity(dir), /not a node id/);
    assert.ok(readdirSync(dir).includes('NODE_ID'));
  });
});
