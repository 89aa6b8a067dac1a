// The cache cluster end to end, every part a real process on 127.0.0.1: a master
// (short heartbeat timings), three `wharf node run` processes and `wharf mount`
// processes following the master's node list. Judged by the bytes read through the
// mounts, the nodes' /v1/stats (their store fetches are every store GET they make)
// and the mounts' /stats (their cluster counters: reads past the nodes to the store).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureUnmounted, waitFor, wharfMount, wharfUp, type MountProcess } from './helpers/mount.js';
import { WHARF_BIN, runCli, startMasterProcess, type MasterProcess } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';
import { AdminClient } from '../src/rpc/index.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface NodeProc { id: string; address: string; child: ChildProcess; cacheDir: string; exited: Promise<unknown> }
interface NodeStats { peerEpoch: string; storeFetches: number; hits: number; blocks: number; bytesServed: number; requests: number; servedToPeers: number; peerReads: number }
interface WireNode { id: string; state: string; address: string; weight: string; in_placement: boolean; readable: boolean }

describe('cache cluster: master, three nodes, mounts', () => {
  let tmp: { path: string; remove: () => void };
  let master: MasterProcess;
  let storeDir: string;
  const nodes: NodeProc[] = [];
  const mounts: MountProcess[] = [];
  const content = randomBytes(24 * MiB + 4321);
  /** The node killed and restarted: while it was LOST the others cached its blocks too. */
  let restartedId = '';

  function startNode(cacheDir: string): Promise<NodeProc> {
    const child = spawn(process.execPath, [WHARF_BIN, '--master', master.address, 'node', 'run', '--cache-dir', cacheDir, '--listen', '127.0.0.1:0', '--capacity', '256MB', '--min-free', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WHARF_LOG_LEVEL: 'warn' },
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /wharf node (\S+) serving on (\S+) /.exec(out);
        if (m) resolve({ id: m[1]!, address: m[2]!, child, cacheDir, exited });
      });
      void exited.then((code) => reject(new Error(`node exited (${String(code)}) before serving: ${err}`)));
    });
  }
  async function nodeStats(n: NodeProc): Promise<NodeStats> {
    return (await (await fetch(`http://${n.address}/v1/stats`)).json()) as NodeStats;
  }
  const sum = async (f: (s: NodeStats) => number) => (await Promise.all(nodes.map(nodeStats))).reduce((a, s) => a + f(s), 0);
  async function list(): Promise<{ epoch: string; nodes: WireNode[] }> {
    const r = await runCli(['--master', master.address, '--json', 'node', 'list']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { epoch: string; nodes: WireNode[] };
  }
  const stateOf = async (id: string) => (await list()).nodes.find((n) => n.id === id)?.state;
  async function mount(name: string): Promise<{ m: MountProcess; mnt: string }> {
    const mnt = join(tmp.path, `mnt-${name}`);
    const m = await wharfMount({ master: master.address, mountpoint: mnt, cacheDir: join(tmp.path, `cache-${name}`) });
    mounts.push(m);
    return { m, mnt };
  }
  const clusterStats = async (m: MountProcess) => ((await m.stats()) as unknown as { cluster: { storeReads: number; nodeBytes: number; fallbacks: number; nodeFailures: number; epoch: string } }).cluster;

  before(async () => {
    tmp = tempDir('wharf-cluster-e2e-');
    storeDir = join(tmp.path, 'store');
    mkdirSync(join(storeDir, 'data'), { recursive: true });
    writeFileSync(join(storeDir, 'data', 'big.bin'), content);
    master = await startMasterProcess(join(tmp.path, 'meta'), ['--node-heartbeat', '300', '--node-lost', '2500']);
    const imported = await runCli(['--master', master.address, 'source', 'import', 'default', '--uri', `file://${storeDir}`, '--at', '/', '--wait']);
    assert.equal(imported.code, 0, imported.stderr);
    for (let i = 0; i < 3; i++) nodes.push(await startNode(join(tmp.path, `node-${i}`)));
    await waitFor('three nodes ONLINE', async () => ((await list()).nodes.filter((n) => n.state === 'ONLINE').length === 3 ? true : undefined));
  });
  after(async () => {
    for (const m of mounts.reverse()) await m.stop();
    for (const n of nodes) n.child.kill('SIGKILL');
    master.child.kill('SIGTERM');
    await master.exited;
    for (const m of mounts) await ensureUnmounted(m.mountpoint);
    tmp.remove();
  });

  it('a file read through mount A is served to mount B by the nodes: B and the nodes make no store read', async () => {
    const a = await mount('a');
    assert.equal(sha(await readFile(join(a.mnt, 'data', 'big.bin'))), sha(content));
    const blocks = Math.ceil(content.length / (4 * MiB));
    assert.equal(await sum((s) => s.storeFetches), blocks, 'each block fetched from the store once, by its owner');
    assert.equal((await clusterStats(a.m)).storeReads, 0);

    const b = await mount('b');
    assert.equal(sha(await readFile(join(b.mnt, 'data', 'big.bin'))), sha(content));
    const cb = await clusterStats(b.m);
    assert.equal(cb.storeReads, 0, 'B read nothing from the store');
    assert.ok(cb.nodeBytes >= content.length, `B read ${cb.nodeBytes} bytes from the nodes`);
    assert.equal(await sum((s) => s.storeFetches), blocks, 'the nodes served B from their caches');
    await a.m.stop();
    await b.m.stop();
  });

  it('kill -9 a node: reads stay correct, it goes SUSPECT then LOST; restarted with its disk it is ONLINE again with the same id', async () => {
    // The node holding the most blocks (placement is by random ids: one may own none of 7).
    const held = await Promise.all(nodes.map(async (n) => (await nodeStats(n)).blocks));
    const vi = held.indexOf(Math.max(...held));
    const victim = nodes[vi]!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    // Its states watched from the kill on: on a slow machine the read below outlasts the SUSPECT window.
    const seen: string[] = [];
    let watching = true;
    // Over gRPC, not the CLI: the SUSPECT window is under a second here.
    const admin = new AdminClient(master.address, 5_000);
    const watcher = (async () => {
      while (watching) {
        const st = (await admin.listNodes()).nodes.find((n) => n.id === victim.id)?.state;
        if (st && seen[seen.length - 1] !== st) seen.push(st);
        if (st === 'LOST') return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const c = await mount('c');
    assert.equal(sha(await readFile(join(c.mnt, 'data', 'big.bin'))), sha(content), 'correct bytes with a node dead');
    await waitFor('the dead node LOST', async () => (seen.includes('LOST') ? true : undefined), 20_000);
    watching = false;
    await watcher;
    admin.close();
    assert.deepEqual(seen.filter((x) => x !== 'ONLINE'), ['SUSPECT', 'LOST'], `SUSPECT first, then LOST: ${seen.join(' → ')}`);
    const lostList = await list();
    assert.equal(lostList.nodes.find((n) => n.id === victim.id)!.in_placement, false, 'LOST is out of placement');

    const back = await startNode(victim.cacheDir);
    assert.equal(back.id, victim.id, 'the id is the disk\'s');
    nodes[vi] = back;
    restartedId = back.id;
    await waitFor('the node ONLINE again', async () => ((await stateOf(back.id)) === 'ONLINE' ? true : undefined), 10_000);
    assert.ok(BigInt((await list()).epoch) > BigInt(lostList.epoch), 'the epoch moved on');
    // A fresh mount reads the file again: its blocks on the restarted node are hits, not store reads.
    const before = await nodeStats(back);
    assert.ok(before.blocks > 0, 'its blocks survived on its disk');
    const fetchesBefore = await sum((s) => s.storeFetches);
    const d = await mount('d');
    await waitFor('mount d sees three readable nodes', async () => ((await clusterStats(d.m)).epoch === (await list()).epoch ? true : undefined), 10_000);
    assert.equal(sha(await readFile(join(d.mnt, 'data', 'big.bin'))), sha(content));
    const after = await nodeStats(back);
    assert.ok(after.hits > before.hits, 'the restarted node served its own blocks');
    assert.equal(after.storeFetches, 0, 'and fetched none of them again');
    assert.ok((await sum((s) => s.storeFetches)) - fetchesBefore <= 2, 'at most the blocks that moved while it was LOST');
    await c.m.stop();
    await d.m.stop();
  });

  it('drain gives a node weight 0 and keeps it serving; remove is refused for an ONLINE node and accepted once drained', async () => {
    // Drain the node holding the most blocks, so the hand-off has something to hand; not
    // the restarted one, whose blocks the others may hold already from while it was LOST.
    const candidates = nodes.filter((x) => x.id !== restartedId);
    const held = await Promise.all(candidates.map(async (x) => (await nodeStats(x)).blocks));
    const n = candidates[held.indexOf(Math.max(...held))]!;
    const other = nodes.find((x) => x !== n)!;
    const refused = await runCli(['--master', master.address, 'node', 'remove', other.id]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /EBUSY.*ONLINE: drain it first/);
    const unknown = await runCli(['--master', master.address, 'node', 'drain', '00000000-0000-0000-0000-000000000000']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /ENOENT.*no cache node/);

    const drained = await runCli(['--master', master.address, '--json', 'node', 'drain', n.id]);
    assert.equal(drained.code, 0, drained.stderr);
    assert.equal((JSON.parse(drained.stdout) as WireNode).state, 'DRAINING');
    const l = await list();
    const view = l.nodes.find((x) => x.id === n.id)!;
    assert.equal(view.weight, '0');
    assert.equal(view.readable, true);
    // New placements avoid it: a fresh mount asks it for nothing; the blocks' new owners take
    // them from it (a peer read from its cache), not from the store.
    // The nodes too must follow the drain (their peer lists) before a mount reads: a new
    // owner that has not would fetch from the store instead of from the draining node.
    await waitFor('the nodes follow the drain', async () => ((await Promise.all(nodes.map(nodeStats))).every((s) => s.peerEpoch === l.epoch) ? true : undefined), 10_000);
    const before = await nodeStats(n);
    const fetchesBefore = await sum((s) => s.storeFetches);
    const e = await mount('e');
    await waitFor('mount e follows the drain', async () => ((await clusterStats(e.m)).epoch === l.epoch ? true : undefined), 10_000);
    assert.equal(sha(await readFile(join(e.mnt, 'data', 'big.bin'))), sha(content));
    const after = await nodeStats(n);
    assert.equal(after.requests - after.servedToPeers, before.requests - before.servedToPeers, 'no mount asked the draining node');
    assert.ok(after.servedToPeers > before.servedToPeers, 'the new owners took its blocks from it');
    assert.equal(await sum((s) => s.storeFetches), fetchesBefore, 'the hand-off cost no store read');
    assert.ok((await sum((s) => s.peerReads)) > 0);
    await e.m.stop();
    const human = await runCli(['--master', master.address, 'node', 'list']);
    assert.match(human.stdout, new RegExp(`${n.id}\\s+DRAINING`));

    const removed = await runCli(['--master', master.address, 'node', 'remove', n.id]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await list()).nodes.some((x) => x.id === n.id), false);
    // Its heartbeats are refused from now on (it does not sneak back in by registering again).
    await new Promise((r) => setTimeout(r, 1_200));
    assert.equal((await list()).nodes.some((x) => x.id === n.id), false, 'still removed after several heartbeat intervals');
  });

  it('warm a dataset before a job through the CLI: an instance, a bound source, a warmup with progress; mounts then read it from the nodes only', async () => {
    const live = (await list()).nodes.filter((n) => n.state === 'ONLINE').map((n) => n.id);
    assert.equal(live.length, 2);
    const cli = (...args: string[]) => runCli(['--master', master.address, ...args]);
    const created = await cli('cache', 'instance', 'create', 'spark', '--capacity', '200MB', ...live.flatMap((id) => ['--node', id]));
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /Instance:\s+spark/);
    const badNode = await cli('cache', 'instance', 'create', 'again', '--capacity', '1GB', '--node', live[0]!);
    assert.equal(badNode.code, 1);
    assert.match(badNode.stderr, /EBUSY.*in instance spark/);
    const badSize = await cli('cache', 'instance', 'create', 'x', '--capacity', 'lots');
    assert.equal(badSize.code, 2, 'a bad size is a usage error');
    assert.equal((await cli('cache', 'bind', '--source', 'default', '--instance', 'spark')).code, 0);

    const parts = Array.from({ length: 8 }, () => randomBytes(MiB + 777));
    mkdirSync(join(storeDir, 'data', 'train'), { recursive: true });
    parts.forEach((b, i) => writeFileSync(join(storeDir, 'data', 'train', `part-${i}.bin`), b));
    const badCron = await cli('cache', 'rule', 'create', 'nightly', '--source', 'default', '--kind', 'warmup', '--type', 'periodic', '--cron', 'at midnight');
    assert.equal(badCron.code, 1);
    assert.match(badCron.stderr, /EINVAL.*cron expression "at midnight" is malformed/);
    const warm = await cli('cache', 'rule', 'create', 'warm-train', '--source', 'default', '--kind', 'warmup', '--directory', '/data/train', '--execute', '--wait');
    assert.equal(warm.code, 0, warm.stderr);
    assert.match(warm.stdout, /State:\s+succeeded/);
    assert.match(warm.stdout, /Progress:\s+8\/8 files/);
    const jobs = await cli('--json', 'cache', 'job', 'list', '--source', 'default');
    assert.equal((JSON.parse(jobs.stdout) as { state: string }[])[0]!.state, 'succeeded');

    const fetched = await sum((s) => s.storeFetches);
    const f = await mount('f');
    for (const [i, b] of parts.entries()) assert.equal(sha(await readFile(join(f.mnt, 'data', 'train', `part-${i}.bin`))), sha(b));
    assert.equal((await clusterStats(f.m)).storeReads, 0, 'the mount read the warmed files from the nodes only');
    assert.equal(await sum((s) => s.storeFetches), fetched, 'and the nodes had every block already');
    await f.m.stop();

    const status = await cli('status');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /cache nodes: 2 \(2 ONLINE\)/);
    const busy = await cli('cache', 'instance', 'delete', 'spark');
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /EBUSY.*bound sources \(default\)/);
    const gone = await cli('cache', 'instance', 'delete', 'spark', '--force');
    assert.equal(gone.code, 0, gone.stderr);
    assert.match(gone.stdout, /2 node\(s\) emptied.*unbound default/);
    const emptied = nodes.filter((n) => live.includes(n.id));
    assert.deepEqual((await Promise.all(emptied.map(nodeStats))).map((s) => s.blocks), [0, 0], 'the instance\'s nodes emptied their caches');
    assert.deepEqual(await readFile(join(storeDir, 'data', 'train', 'part-0.bin')), parts[0], 'the store is untouched');
  });
});

describe('wharf up --node: the demo with a cache node in the same process', () => {
  it('warmup rules work against it and the mount reads the warmed file through it, not the store', async () => {
    const tmp = tempDir('wharf-up-node-');
    const storeDir = join(tmp.path, 'store');
    mkdirSync(join(storeDir, 'data'), { recursive: true });
    const body = randomBytes(9 * MiB + 99);
    writeFileSync(join(storeDir, 'data', 'a.bin'), body);
    const up = await wharfUp({ store: `file://${storeDir}`, mountpoint: join(tmp.path, 'mnt'), cacheDir: join(tmp.path, 'cache'), args: ['--node'] });
    try {
      const m = /cache node (\S+) on (\S+?)[;\s]/.exec(up.banner + ' ');
      assert.ok(m, up.banner);
      const cli = (...args: string[]) => runCli(['--master', up.masterAddress, ...args]);
      await waitFor('the embedded node ONLINE', async () => {
        const l = await cli('--json', 'node', 'list');
        return (JSON.parse(l.stdout) as { nodes: { id: string; state: string }[] }).nodes.some((n) => n.id === m[1] && n.state === 'ONLINE') ? true : undefined;
      }, 15_000);
      const warm = await cli('cache', 'rule', 'create', 'w', '--source', 'default', '--kind', 'warmup', '--directory', '/data', '--execute', '--wait');
      assert.equal(warm.code, 0, warm.stderr);
      assert.match(warm.stdout, /Progress:\s+1\/1 files/);
      const stats = (await (await fetch(`http://${m[2]}/v1/stats`)).json()) as { blocks: number; storeFetches: number };
      assert.equal(stats.blocks, 3, 'the node holds the file\'s three blocks');
      assert.equal(sha(await readFile(join(up.mountpoint, 'data', 'a.bin'))), sha(body));
      const cluster = ((await up.stats()) as unknown as { cluster: { storeReads: number; nodeBytes: number } }).cluster;
      assert.equal(cluster.storeReads, 0, 'the mount read through the node');
      assert.ok(cluster.nodeBytes >= body.length);
      assert.equal(((await (await fetch(`http://${m[2]}/v1/stats`)).json()) as { storeFetches: number }).storeFetches, stats.storeFetches, 'and the node had every block');
    } finally {
      await up.stop();
      tmp.remove();
    }
  });
});
