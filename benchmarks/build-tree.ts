// Building a 1,000,000-inode tree on the in-process batch path (InodeTree.bulkInsert,
// as a bulk import does), beside the raw LevelDB write rate for the same number of
// keys and bytes in the same number of batches — the ceiling any layout on this
// LevelDB could reach. Goals: ≥ 100,000 inodes/s with peak RSS ≤ 200 MB.
//
// Settings: BENCH_INODES (1000000; the tree is round(N / files-per-dir) directories
// of BENCH_FILES_PER_DIR (1000) files each, so the count is approximate).
import { Level } from 'level';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { InodeTree, type BulkItem, type KvStore } from '../src/meta/index.js';
import type { Ino } from '../src/common/index.js';
import { RssSampler, dirBytes, envNumber, maxRssBytes, withTempDir } from './harness.js';
import { MB, fmtCount, fmtMB, fmtPct, printNotes, printTable, verdict, writeResults } from './report.js';

const INODES = Math.round(envNumber('BENCH_INODES', 1_000_000));
const FILES_PER_DIR = Math.round(envNumber('BENCH_FILES_PER_DIR', 1_000));
const DIRS = Math.max(1, Math.round(INODES / FILES_PER_DIR));
/** bulkInsert is one atomic batch per call; directories go in chunks this size. */
const DIR_CHUNK = 10_000;
const GOAL_INODES_PER_SEC = 100_000;
const GOAL_RSS_BYTES = 200 * MB;

interface Phase {
  path: 'InodeTree.bulkInsert' | 'raw LevelDB batch (ceiling)';
  batches: number;
  keys: number;
  bytes: number;
  seconds: number;
  closeSeconds: number;
  keysPerSec: number;
  /** For the ceiling: the inode rate it would amount to at the tree's keys and bytes per inode. */
  inodesPerSec: number;
  /** The larger of the sampled peak and the kernel's maxRSS for the process that did the work. */
  peakRssBytes: number;
  sampledPeakRssBytes: number;
  kernelPeakRssBytes: number;
  rssSamples: number;
  diskBytes: number;
  diskFiles: number;
}

function fileItems(n: number): BulkItem[] {
  const items: BulkItem[] = new Array<BulkItem>(n);
  for (let i = 0; i < n; i++) {
    items[i] = { name: `part-${String(i).padStart(5, '0')}.parquet`, type: 'file', mode: 0o644, size: BigInt(64 * 1024 * 1024 + i) };
  }
  return items;
}

async function buildTree(dir: string): Promise<{ phase: Phase; inodes: number; keyBytes: number }> {
  const rss = new RssSampler(100);
  const tree = await InodeTree.open(dir);
  let batches = 0;
  const t0 = performance.now();
  const dirInos: Ino[] = [];
  for (let start = 0; start < DIRS; start += DIR_CHUNK) {
    const items: BulkItem[] = [];
    for (let d = start; d < Math.min(DIRS, start + DIR_CHUNK); d++) items.push({ name: `dt=${String(d).padStart(6, '0')}`, type: 'directory', mode: 0o755 });
    dirInos.push(...(await tree.bulkInsert(1n, items)));
    batches++;
  }
  for (let d = 0; d < dirInos.length; d++) {
    await tree.bulkInsert(dirInos[d]!, fileItems(FILES_PER_DIR));
    batches++;
    if (d % 100 === 99) process.stderr.write(`  ${fmtCount((d + 1) * (FILES_PER_DIR + 1))} inodes, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const { keys, keyBytes, bytes } = await liveData(tree.db);
  const tc = performance.now();
  await tree.close();
  const closeSeconds = (performance.now() - tc) / 1000;
  const { peakBytes, samples } = rss.stop();
  const kernelPeakRssBytes = maxRssBytes();
  const disk = await dirBytes(dir);
  const inodes = DIRS * (FILES_PER_DIR + 1);
  return {
    inodes,
    keyBytes,
    phase: {
      path: 'InodeTree.bulkInsert', batches, keys, bytes, seconds, closeSeconds, keysPerSec: keys / seconds, inodesPerSec: inodes / seconds,
      peakRssBytes: Math.max(peakBytes, kernelPeakRssBytes), sampledPeakRssBytes: peakBytes, kernelPeakRssBytes, rssSamples: samples,
      diskBytes: disk.bytes, diskFiles: disk.files,
    },
  };
}

/** Keys and bytes the build left in LevelDB: what the ceiling then writes. Streams, so it adds little to RSS. */
async function liveData(db: KvStore): Promise<{ keys: number; keyBytes: number; bytes: number }> {
  let keys = 0;
  let keyBytes = 0;
  let bytes = 0;
  const it = db.iterator();
  try {
    for (;;) {
      const entries = await it.nextv(10_000);
      if (entries.length === 0) break;
      for (const [k, v] of entries) {
        keys++;
        keyBytes += k.length;
        bytes += k.length + v.length;
      }
    }
  } finally {
    await it.close();
  }
  return { keys, keyBytes, bytes };
}

/**
 * The same keys and bytes in the same number of batches, with none of the tree's
 * work: sequential keys, one shared value buffer. Key and value lengths are the
 * tree's averages, so the byte volume matches.
 */
async function rawCeiling(dir: string, shape: { keys: number; bytes: number; batches: number; keyBytes: number }, inodes: number): Promise<Phase> {
  const keyLen = Math.max(9, Math.round(shape.keyBytes / shape.keys));
  const valueLen = Math.max(1, Math.round((shape.bytes - shape.keys * keyLen) / shape.keys));
  const value = Buffer.alloc(valueLen, 0x5a);
  const perBatch = Math.ceil(shape.keys / shape.batches);
  const rss = new RssSampler(100);
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const t0 = performance.now();
  let written = 0;
  let batches = 0;
  while (written < shape.keys) {
    const n = Math.min(perBatch, shape.keys - written);
    const ops = new Array<{ type: 'put'; key: Buffer; value: Buffer }>(n);
    for (let i = 0; i < n; i++) {
      const key = Buffer.alloc(keyLen);
      key[0] = 0x4b;
      key.writeBigUInt64BE(BigInt(written + i), 1);
      ops[i] = { type: 'put', key, value };
    }
    await db.batch(ops);
    written += n;
    batches++;
  }
  const seconds = (performance.now() - t0) / 1000;
  const tc = performance.now();
  await db.close();
  const closeSeconds = (performance.now() - tc) / 1000;
  const { peakBytes, samples } = rss.stop();
  const disk = await dirBytes(dir);
  return {
    path: 'raw LevelDB batch (ceiling)', batches, keys: written, bytes: written * (keyLen + valueLen), seconds, closeSeconds,
    keysPerSec: written / seconds, inodesPerSec: inodes / seconds,
    peakRssBytes: Math.max(peakBytes, maxRssBytes()), sampledPeakRssBytes: peakBytes, kernelPeakRssBytes: maxRssBytes(), rssSamples: samples,
    diskBytes: disk.bytes, diskFiles: disk.files,
  };
}

interface CeilingArgs {
  dir: string;
  shape: { keys: number; bytes: number; batches: number; keyBytes: number };
  inodes: number;
}

const CEILING_FLAG = '--ceiling';

/**
 * The ceiling runs in a child process of its own: RSS rarely shrinks once grown,
 * so in this process it would report the tree build's peak rather than its own.
 */
async function rawCeilingInChild(args: CeilingArgs): Promise<Phase> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), CEILING_FLAG, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`the raw LevelDB ceiling process failed (exit ${code})`);
  return JSON.parse(out) as Phase;
}

async function main(): Promise<void> {
  await withTempDir('build-tree', async (tmp) => {
    const treeDir = path.join(tmp, 'namespace');
    const rawDir = path.join(tmp, 'raw-leveldb');
    const baselineRss = process.memoryUsage.rss();
    process.stderr.write(`  building ${fmtCount(DIRS)} directories × ${fmtCount(FILES_PER_DIR)} files\n`);
    const { phase: tree, inodes, keyBytes } = await buildTree(treeDir);
    process.stderr.write(`  ceiling: ${fmtCount(tree.keys)} keys in ${fmtCount(tree.batches)} batches\n`);
    const raw = await rawCeilingInChild({ dir: rawDir, shape: { keys: tree.keys, bytes: tree.bytes, batches: tree.batches, keyBytes }, inodes });

    const treePeak = tree.peakRssBytes;
    printTable(
      `building ${fmtCount(inodes)} inodes (${fmtCount(DIRS)} dirs × ${fmtCount(FILES_PER_DIR)} files) on the in-process batch path`,
      ['path', 'batches', 'keys', 'data', 'seconds', 'keys/s', 'inodes/s', 'peak RSS', 'on disk'],
      [tree, raw].map((p) => [
        p.path, fmtCount(p.batches), fmtCount(p.keys), fmtMB(p.bytes), p.seconds.toFixed(2), fmtCount(p.keysPerSec),
        `${fmtCount(p.inodesPerSec)}${p === raw ? ' (equiv.)' : ''}`, fmtMB(p.peakRssBytes), fmtMB(p.diskBytes),
      ]),
    );
    const rateMet = tree.inodesPerSec >= GOAL_INODES_PER_SEC;
    const rssMet = treePeak <= GOAL_RSS_BYTES;
    printNotes([
      `tree build at ${fmtPct(tree.inodesPerSec / raw.inodesPerSec)} of the raw LevelDB ceiling; close took ${tree.closeSeconds.toFixed(2)} s (not in the rate)`,
      `tree peak RSS: ${fmtMB(tree.sampledPeakRssBytes)} sampled every 100 ms, ${fmtMB(tree.kernelPeakRssBytes)} kernel maxRSS; ${fmtMB(baselineRss)} at start`,
      `goal ≥ ${fmtCount(GOAL_INODES_PER_SEC)} inodes/s: ${fmtCount(tree.inodesPerSec)} — ${verdict(rateMet)}`,
      `goal peak RSS ≤ ${fmtMB(GOAL_RSS_BYTES)}: ${fmtMB(treePeak)} — ${verdict(rssMet)}`,
    ]);
    await writeResults('build-tree', {
      settings: { inodesRequested: INODES, dirs: DIRS, filesPerDir: FILES_PER_DIR, fsync: false },
      inodes,
      baselineRssBytes: baselineRss,
      results: [tree, raw],
      goals: [
        { goal: 'inodes/s', target: GOAL_INODES_PER_SEC, value: tree.inodesPerSec, met: rateMet },
        { goal: 'peak RSS bytes', target: GOAL_RSS_BYTES, value: treePeak, met: rssMet },
      ],
    });
  });
}

if (process.argv[2] === CEILING_FLAG) {
  const args = JSON.parse(process.argv[3] ?? '') as CeilingArgs;
  rawCeiling(args.dir, args.shape, args.inodes).then(
    (phase) => process.stdout.write(JSON.stringify(phase)),
    (e: unknown) => { console.error(e); process.exitCode = 1; },
  );
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
