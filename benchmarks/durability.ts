// What --fsync costs: creates per second on the in-process namespace (InodeTree over
// LevelDB) with one writer and with 32 concurrent writers, without and with --fsync
// (group commit), beside the disk's own rate of LevelDB sync writes (one put with
// sync=true at a time: what per-batch fsync would allow). BENCH_DURABILITY_OPS (4000).
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { Level } from 'level';
import { ROOT_INO } from '../src/common/index.js';
import { InodeTree } from '../src/meta/index.js';
import { envNumber, withTempDir } from './harness.js';
import { fmtPct, machineInfo, printTable, writeResults } from './report.js';

const o = { mode: 0o644, uid: 0, gid: 0 };

async function creates(dir: string, fsync: boolean, writers: number, ops: number): Promise<{ perSec: number; syncs: number }> {
  const tree = await InodeTree.open(dir, { fsync });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: writers }, async () => {
    for (let i = next++; i < ops; i = next++) await tree.create(ROOT_INO, `f${i}`, o);
  }));
  const perSec = ops / ((performance.now() - t0) / 1000);
  const syncs = tree.durability.syncs;
  await tree.close();
  return { perSec, syncs };
}

async function main(): Promise<void> {
  const ops = envNumber('BENCH_DURABILITY_OPS', 4000);
  await withTempDir('durability', async (dir) => {
    const raw = new Level<string, string>(join(dir, 'raw'));
    await raw.open();
    const n = Math.min(ops, 1000);
    let t0 = performance.now();
    for (let i = 0; i < n; i++) await raw.put(`k${i}`, 'v', { sync: true });
    const rawSync = n / ((performance.now() - t0) / 1000);
    await raw.close();
    const rows: string[][] = [];
    const results: Record<string, unknown> = { rawSyncPerSec: rawSync };
    let run = 0;
    for (const writers of [1, 32]) {
      const off = await creates(join(dir, `t${run++}`), false, writers, ops);
      t0 = performance.now();
      const on = await creates(join(dir, `t${run++}`), true, writers, ops);
      rows.push([String(writers), off.perSec.toFixed(0), on.perSec.toFixed(0), fmtPct(on.perSec / off.perSec), (ops / Math.max(1, on.syncs)).toFixed(1)]);
      results[`writers${writers}`] = { off: off.perSec, on: on.perSec, syncs: on.syncs, opsPerSync: ops / Math.max(1, on.syncs) };
    }
    printTable(`Creates per second, ${ops} files in one directory (LevelDB sync writes alone, one at a time: ${rawSync.toFixed(0)}/s)`,
      ['writers', 'no fsync', '--fsync', 'fsync vs none', 'creates per fsync'], rows);
    await writeResults('durability', { machine: machineInfo(), settings: { ops }, results });
  });
}

await main();
