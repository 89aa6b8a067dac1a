// Warmup of a dataset across three cache nodes, beside the same bytes read straight
// from the store with parallel ranged GETs (the least a warmup must do: fetch every
// block once). A master in this process (the job planner), three `wharf node run`
// processes (each pulls its own blocks and writes them to its cache disk), over a
// local-directory store (its files in the page cache: a store faster than any
// network) and over s3rver (the S3 protocol). Goal ≥ 90% of the direct reads.
// BENCH_WARMUP_MIB (1024) and BENCH_WARMUP_S3_MIB (512) set the datasets, in 16 MiB
// files of 4 MiB blocks.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { Master } from '../src/master/index.js';
import { AdminClient } from '../src/rpc/index.js';
import { LocalStore, S3Store, type UnderStore } from '../src/ufs/index.js';
import { startS3rver } from '../test/helpers/s3rver.js';
import { envNumber, withTempDir } from './harness.js';
import { fmtPct, machineInfo, printTable, verdict, writeResults } from './report.js';

const MiB = 1024 * 1024;
const BS = 4 * MiB;
const FILE = 16 * MiB;
const WHARF = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function startNode(master: string, cacheDir: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [WHARF, '--master', master, 'node', 'run', '--cache-dir', cacheDir, '--listen', '127.0.0.1:0', '--capacity', '8GB', '--min-free', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WHARF_LOG_LEVEL: 'warn', ...env },
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

interface CaseResult { store: string; mib: number; directMBs: number; copyMBs?: number; warmMBs: number; seconds: number }

/** One dataset on one store: direct ranged GETs (and, on the local store, GET + write), then the warmup job. */
async function runCase(dir: string, kind: 'local' | 's3rver', mib: number): Promise<CaseResult> {
  const files = Math.max(1, Math.round((mib * MiB) / FILE));
  const total = files * FILE;
  const name = (f: number) => `ds/part-${String(f).padStart(5, '0')}`;
  const s3 = kind === 's3rver' ? await startS3rver('bench') : undefined;
  const storeDir = join(dir, `store-${kind}`);
  let store: UnderStore;
  if (s3) {
    store = new S3Store(s3.storeOptions());
    process.stdout.write(`uploading ${mib} MiB to s3rver…\n`);
    for (let i = 0; i < files; i++) await store.put(name(i), Readable.from([randomBytes(FILE)]), { size: BigInt(FILE) });
  } else {
    mkdirSync(join(storeDir, 'ds'), { recursive: true });
    for (let i = 0; i < files; i++) writeFileSync(join(storeDir, name(i)), randomBytes(FILE));
    store = await LocalStore.open(storeDir);
  }
  const blocks = () => Array.from({ length: files }, (_, f) => Array.from({ length: FILE / BS }, (_, b) => ({ f, b }))).flat();
  // Direct: every 4 MiB block with a ranged GET, as many in flight as the warmup uses (3 nodes × 4 entries).
  const direct = async (): Promise<number> => {
    const limit = pLimit(12);
    const t0 = performance.now();
    await Promise.all(blocks().map(({ f, b }) => limit(async () => {
      let got = 0;
      for await (const c of await store.get(name(f), { start: BigInt(b * BS), end: BigInt((b + 1) * BS - 1) })) got += (c as Buffer).length;
      if (got !== BS) throw new Error('short read');
    })));
    return total / 1e6 / ((performance.now() - t0) / 1000);
  };
  if (kind === 'local') await direct(); // the store's files in the page cache for both sides alike
  const directMBs = await direct();
  let copyMBs: number | undefined;
  if (kind === 'local') {
    // Context: the same GETs, each block then written to a file of its own (a cache's least work, without checksums or protocol).
    mkdirSync(join(dir, 'copy'));
    const limit = pLimit(12);
    const t0 = performance.now();
    await Promise.all(blocks().map(({ f, b }) => limit(async () => {
      const parts: Buffer[] = [];
      for await (const c of await store.get(name(f), { start: BigInt(b * BS), end: BigInt((b + 1) * BS - 1) })) parts.push(c as Buffer);
      await writeFile(join(dir, 'copy', `${f}-${b}`), Buffer.concat(parts));
    })));
    copyMBs = total / 1e6 / ((performance.now() - t0) / 1000);
    rmSync(join(dir, 'copy'), { recursive: true });
  }

  const { bucket: _bucket, ...s3Client } = s3 ? s3.storeOptions() : { bucket: '' };
  const master = await Master.start({ dataDir: join(dir, `meta-${kind}`), listen: '127.0.0.1:0', nodes: { heartbeatMs: 500 }, ...(s3 ? { s3: s3Client } : {}) });
  const admin = new AdminClient(master.address, 60_000);
  const nodes: ChildProcess[] = [];
  // The nodes open the store as `wharf node run` does: endpoint from the source, credentials from the environment.
  const env: Record<string, string> = s3 ? { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', WHARF_S3_CHECKSUMS: 'WHEN_REQUIRED', WHARF_S3_PATH_STYLE: 'true' } : {};
  try {
    const { job } = await master.sync.importSource({ name: 'bench', uri: s3 ? 's3://bench/' : `file://${storeDir}`, at: '/bench', ...(s3 ? { endpoint: s3.endpoint, region: 'us-east-1' } : {}) });
    await master.sync.jobs.wait(job.id);
    for (let i = 0; i < 3; i++) nodes.push(await startNode(master.address, join(dir, `node-${kind}-${i}`), env));
    while ((await admin.listNodes()).nodes.filter((n) => n.state === 'ONLINE').length < 3) await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const r = await admin.createCacheRule({ source: 'bench', name: 'warm', type: 'manual', directory: '/ds', execute_on_create: true, cache: { kind: 'warmup' } });
    const done = await master.cache.jobs.wait(r.job!.id);
    const seconds = (performance.now() - t0) / 1000;
    if (done.state !== 'succeeded' || done.progress.bytesDone !== total) throw new Error(`warmup ${done.state}: ${done.reason ?? ''} (${done.progress.bytesDone} of ${total} bytes)`);
    return { store: kind, mib, directMBs, ...(copyMBs !== undefined ? { copyMBs } : {}), warmMBs: total / 1e6 / seconds, seconds };
  } finally {
    for (const n of nodes) n.kill('SIGTERM');
    await Promise.all(nodes.map((n) => new Promise((res) => (n.exitCode !== null ? res(null) : n.once('exit', res)))));
    admin.close();
    await master.stop(2_000);
    await store.close();
    await s3?.stop();
    rmSync(storeDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const mib = envNumber('BENCH_WARMUP_MIB', 1024);
  const s3Mib = envNumber('BENCH_WARMUP_S3_MIB', 512);
  await withTempDir('warmup', async (dir) => {
    const local = await runCase(dir, 'local', mib);
    const s3 = await runCase(dir, 's3rver', s3Mib);
    printTable('Warmup across 3 cache nodes (16 MiB files, 4 MiB blocks)', ['store', 'data', 'direct ranged GETs MB/s', 'warmup MB/s', 'warmup vs direct'], [
      [`local dir (page cache)`, `${local.mib} MiB`, local.directMBs.toFixed(0), local.warmMBs.toFixed(0), fmtPct(local.warmMBs / local.directMBs)],
      [`  context: GET + write each block`, '', local.copyMBs!.toFixed(0), local.warmMBs.toFixed(0), fmtPct(local.warmMBs / local.copyMBs!)],
      ['s3rver (S3 protocol)', `${s3.mib} MiB`, s3.directMBs.toFixed(0), s3.warmMBs.toFixed(0), fmtPct(s3.warmMBs / s3.directMBs)],
    ]);
    process.stdout.write(`goal ≥ 90% of the direct reads: local ${verdict(local.warmMBs / local.directMBs >= 0.9)}, s3rver ${verdict(s3.warmMBs / s3.directMBs >= 0.9)}\n`);
    await writeResults('warmup', { machine: machineInfo(), settings: { blockSize: BS, fileBytes: FILE }, results: { local, s3rver: s3 } });
  });
}

await main();
