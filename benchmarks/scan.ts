// The shape of a Spark scan: N files read whole by P parallel reader processes
// (each takes every P-th file), through a `wharf up` mount with the data warm in its
// cache, beside the same reads of the same files from the disk the cache lives on.
// Aggregate MB/s and the ratio. BENCH_SCAN_FILES (64) × BENCH_SCAN_MIB (8) MiB,
// BENCH_SCAN_READERS (4).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envNumber, withTempDir } from './harness.js';
import { sh, timed, wharfUp } from './mountHarness.js';
import { fmtPct, machineInfo, printTable, writeResults } from './report.js';

const MiB = 1024 * 1024;

/** P reader processes, each `cat`ting its share of the files to /dev/null; MB/s over all. */
async function scan(dir: string, files: number, readers: number, bytes: number): Promise<number> {
  const t = await timed(() => Promise.all(Array.from({ length: readers }, (_, r) => {
    const mine = Array.from({ length: files }, (_, i) => i).filter((i) => i % readers === r).map((i) => `'${join(dir, `part-${String(i).padStart(5, '0')}.parquet`)}'`);
    return sh(`cat ${mine.join(' ')} > /dev/null`);
  })));
  return bytes / 1e6 / t.seconds;
}

async function main(): Promise<void> {
  const files = envNumber('BENCH_SCAN_FILES', 64);
  const mib = envNumber('BENCH_SCAN_MIB', 8);
  const readers = envNumber('BENCH_SCAN_READERS', 4);
  const total = files * mib * MiB;
  await withTempDir('scan', async (dir) => {
    const store = join(dir, 'store');
    mkdirSync(join(store, 'ds'), { recursive: true });
    for (let i = 0; i < files; i++) writeFileSync(join(store, 'ds', `part-${String(i).padStart(5, '0')}.parquet`), randomBytes(mib * MiB));
    const mnt = join(dir, 'mnt');
    const up = await wharfUp(['--store', `file://${store}`, '--cache-dir', join(dir, 'cache'), '--sync-interval', '-1'], {}, mnt);
    try {
      await scan(join(mnt, 'ds'), files, readers, total); // fills the cache (and the page cache for the disk side)
      const rounds = 3;
      const wharf: number[] = [];
      const disk: number[] = [];
      for (let i = 0; i < rounds; i++) {
        disk.push(await scan(join(store, 'ds'), files, readers, total));
        wharf.push(await scan(join(mnt, 'ds'), files, readers, total));
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const w = med(wharf);
      const d = med(disk);
      printTable(`Scan: ${files} files × ${mib} MiB by ${readers} reader processes (warm; median of ${rounds} interleaved rounds)`, ['path', 'MB/s', 'vs disk'], [
        ['the same files on the cache disk', d.toFixed(0), '100%'],
        ['through the mount (cache warm)', w.toFixed(0), fmtPct(w / d)],
      ]);
      await writeResults('scan', { machine: machineInfo(), settings: { files, mib, readers, rounds }, results: { diskMBs: d, wharfMBs: w, ratio: w / d } });
    } finally {
      await up.stop();
    }
  });
}

await main();
