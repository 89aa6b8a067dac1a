// Warmup of a dataset across three cache nodes, beside the same bytes read straight
// from the store with parallel ranged GETs (the least a warmup must do: fetch every
// block once). A master in this process (the job planner), three `wharf node run`
// processes (each pulls its own blocks and writes them to its cache disk) over one
// local-directory store. Goal ≥ 90% of the direct reads' throughput.
// BENCH_WARMUP_MIB (1024) sets the dataset size, in 16 MiB files of 4 MiB blocks.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { Master } from '../src/master/index.js';
import { AdminClient } from '../src/rpc/index.js';
import { LocalStore } from '../src/ufs/index.js';
import { envNumber, withTempDir } from './harness.js';
import { fmtPct, machineInfo, printTable, verdict, writeResults } from './report.js';

const MiB = 1024 * 1024;
const BS = 4 * MiB;
const FILE = 16 * MiB;
const WHARF = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function startNode(master: string, cacheDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [WHARF, '--master', master, 'node', 'run', '--cache-dir', cacheDir, '--listen', '127.0.0.1:0', '--capacity', '8GB', '--min-free', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WHARF_LOG_LEVEL: 'warn' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/serving on/.test(out)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`node exited ${code}`)));
  });
}

async function main(): Promise<void> {
  const mib = envNumber('BENCH_WARMUP_MIB', 1024);
  const files = Math.max(1, Math.round((mib * MiB) / FILE));
  const total = files * FILE;
  await withTempDir('warmup', async (dir) => {
    const storeDir = join(dir, 'store');
    mkdirSync(join(storeDir, 'ds'), { recursive: true });
    for (let i = 0; i < files; i++) writeFileSync(join(storeDir, 'ds', `part-${String(i).padStart(5, '0')}`), randomBytes(FILE));

    // Direct: every 4 MiB block with a ranged GET, as many in flight as the warmup uses (3 nodes × 4 entries).
    const store = await LocalStore.open(storeDir);
    const direct = async (): Promise<number> => {
      const limit = pLimit(12);
      const t0 = performance.now();
      await Promise.all(Array.from({ length: files }, (_, f) => Array.from({ length: FILE / BS }, (_, b) => limit(async () => {
        let got = 0;
        for await (const c of await store.get(`ds/part-${String(f).padStart(5, '0')}`, { start: BigInt(b * BS), end: BigInt((b + 1) * BS - 1) })) got += (c as Buffer).length;
        if (got !== BS) throw new Error('short read');
      }))).flat());
      return total / 1e6 / ((performance.now() - t0) / 1000);
    };
    await direct(); // the store's files in the page cache for both sides alike
    const directMBs = await direct();
    // Context: the same GETs, each block then written to a file of its own (a cache's least work, without checksums or protocol).
    mkdirSync(join(dir, 'copy'));
    const copy = async (): Promise<number> => {
      const limit = pLimit(12);
      const t0 = performance.now();
      await Promise.all(Array.from({ length: files }, (_, f) => Array.from({ length: FILE / BS }, (_, b) => limit(async () => {
        const parts: Buffer[] = [];
        for await (const c of await store.get(`ds/part-${String(f).padStart(5, '0')}`, { start: BigInt(b * BS), end: BigInt((b + 1) * BS - 1) })) parts.push(c as Buffer);
        await writeFile(join(dir, 'copy', `${f}-${b}`), Buffer.concat(parts));
      }))).flat());
      return total / 1e6 / ((performance.now() - t0) / 1000);
    };
    const copyMBs = await copy();
    rmSync(join(dir, 'copy'), { recursive: true });

    const master = await Master.start({ dataDir: join(dir, 'meta'), listen: '127.0.0.1:0', nodes: { heartbeatMs: 500 } });
    const admin = new AdminClient(master.address, 60_000);
    const nodes: ChildProcess[] = [];
    try {
      const { job } = await master.sync.importSource({ name: 'bench', uri: `file://${storeDir}`, at: '/bench' });
      await master.sync.jobs.wait(job.id);
      for (let i = 0; i < 3; i++) nodes.push(await startNode(master.address, join(dir, `node-${i}`)));
      while ((await admin.listNodes()).nodes.filter((n) => n.state === 'ONLINE').length < 3) await new Promise((r) => setTimeout(r, 100));
      const t0 = performance.now();
      const r = await admin.createCacheRule({ source: 'bench', name: 'warm', type: 'manual', directory: '/ds', execute_on_create: true, cache: { kind: 'warmup' } });
      const done = await master.cache.jobs.wait(r.job!.id);
      const secs = (performance.now() - t0) / 1000;
      if (done.state !== 'succeeded' || done.progress.bytesDone !== total) throw new Error(`warmup ${done.state}: ${done.reason ?? ''} (${done.progress.bytesDone} of ${total} bytes)`);
      const warmMBs = total / 1e6 / secs;
      printTable(`Warmup of ${mib} MiB (${files} files of 16 MiB, 4 MiB blocks) across 3 cache nodes`, ['path', 'MB/s', 'vs direct'], [
        ['parallel ranged GETs from the store (12 in flight, bytes dropped)', directMBs.toFixed(0), '100%'],
        ['  context: the same GETs, each block written to a file', copyMBs.toFixed(0), fmtPct(copyMBs / directMBs)],
        ['warmup job: plan, 3 nodes pull and store their blocks', warmMBs.toFixed(0), fmtPct(warmMBs / directMBs)],
      ]);
      process.stdout.write(`warmup beside GET + write: ${fmtPct(warmMBs / copyMBs)}\n`);
      process.stdout.write(`goal ≥ 90% of the direct reads: ${verdict(warmMBs / directMBs >= 0.9)}\n`);
      await writeResults('warmup', { machine: machineInfo(), settings: { mib, files, blockSize: BS }, results: { directMBs, copyMBs, warmMBs, ratio: warmMBs / directMBs, ratioToCopy: warmMBs / copyMBs, seconds: secs, blocksFetched: done.progress.blocksFetched } });
    } finally {
      for (const n of nodes) n.kill('SIGTERM');
      await Promise.all(nodes.map((n) => new Promise((r) => (n.exitCode !== null ? r(null) : n.once('exit', r)))));
      admin.close();
      await master.stop(2_000);
      await store.close();
    }
  });
}

await main();
