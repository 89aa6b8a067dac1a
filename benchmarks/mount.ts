// The mount, each figure beside the same work done without Wharf in the same run:
//  - 1 GiB sequential read, cold from s3rver, beside one streamed GET of the object;
//  - the same read warm from the block cache (page cache dropped), beside reading
//    the same cached block files straight from the cache disk;
//  - random 4 KiB reads of a warm file: IOPS beside the same reads on the cache files;
//  - stat of 10,000 synced files and ls -l of a 10,000-entry directory through a
//    fresh mount (goals: ≤ 1.5 s and ≤ 1 s);
//  - create + write 4 KiB + close of 10,000 files, beside the same on the local disk.
// The mount runs as `wharf up` in a child process (a process must not read its own mount).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { open, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { S3Store } from '../src/ufs/index.js';
import { startS3rver, type S3rver } from '../test/helpers/s3rver.js';
import { envNumber, withTempDir } from './harness.js';
import { dropPageCache, sh, timed, wharfUp } from './mountHarness.js';
import { fmtCount, fmtPct, printNotes, printTable, verdict, writeResults } from './report.js';

const MiB = 1024 * 1024;

async function readAll(path: string, chunk = MiB): Promise<number> {
  const fh = await open(path, 'r');
  const buf = Buffer.allocUnsafe(chunk);
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, chunk, null);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return total;
}

async function randomReads(paths: string[], sizes: number[], reads: number): Promise<number> {
  const fhs = await Promise.all(paths.map((p) => open(p, 'r')));
  const buf = Buffer.allocUnsafe(4096);
  const t0 = performance.now();
  for (let i = 0; i < reads; i++) {
    const f = Math.floor(Math.random() * fhs.length);
    const pos = Math.floor(Math.random() * Math.max(1, sizes[f]! - 4096) / 4096) * 4096;
    await fhs[f]!.read(buf, 0, 4096, pos);
  }
  const secs = (performance.now() - t0) / 1000;
  await Promise.all(fhs.map((f) => f.close()));
  return reads / secs;
}

async function main(): Promise<void> {
  const bigBytes = envNumber('BENCH_BIG_MIB', 1024) * MiB;
  const smallFiles = envNumber('BENCH_SMALL_FILES', 10_000);
  const rows: string[][] = [];
  const results: Record<string, number> = {};
  const goals: { goal: string; met: boolean }[] = [];

  await withTempDir('mount', async (dir) => {
    const s3: S3rver = await startS3rver('bench');
    try {
      const opts = s3.storeOptions();
      const store = new S3Store(opts);
      process.stdout.write(`uploading a ${bigBytes / MiB} MiB object to s3rver…\n`);
      const chunk = randomBytes(8 * MiB);
      const { Readable } = await import('node:stream');
      await store.put('data/big.bin', Readable.from((function* () { for (let o = 0; o < bigBytes; o += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, bigBytes - o)); })()), { size: BigInt(bigBytes) });

      // Ceiling: one streamed GET of the whole object.
      const direct = await timed(async () => { let n = 0; for await (const c of await store.get('data/big.bin')) n += (c as Buffer).length; return n; });
      results['directGetMiBps'] = bigBytes / MiB / direct.seconds;
      // What the store can give a reader that asks in parallel (4 ranged GETs of 16 MiB
      // in flight, nothing done with the bytes): the ceiling of any cold read here.
      const parallel = await timed(async () => {
        let next = 0;
        await Promise.all(Array.from({ length: 4 }, async () => {
          for (;;) {
            const at = next;
            next += 16 * MiB;
            if (at >= bigBytes) return;
            for await (const _ of await store.get('data/big.bin', { start: BigInt(at), end: BigInt(Math.min(bigBytes, at + 16 * MiB) - 1) })) { /* drain */ }
          }
        }));
      });
      results['parallelGetMiBps'] = bigBytes / MiB / parallel.seconds;

      const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', WHARF_S3_CHECKSUMS: 'WHEN_REQUIRED' };
      const cacheDir = join(dir, 'cache');
      const mnt = join(dir, 'mnt');
      const upArgs = ['--store', 's3://bench/data', '--endpoint', s3.endpoint, '--cache-dir', cacheDir, '--cache-size', `${Math.ceil((bigBytes * 2) / MiB)}MB`, '--cache-min-free', '1MB'];
      let up = await wharfUp(upArgs, env, mnt);
      const cold = await timed(() => readAll(join(mnt, 'big.bin')));
      results['coldMiBps'] = bigBytes / MiB / cold.seconds;
      rows.push(['1 GiB sequential, cold (s3rver)', `${results['coldMiBps']!.toFixed(0)} MiB/s`, 'one streamed GET', `${results['directGetMiBps']!.toFixed(0)} MiB/s`, fmtPct(results['coldMiBps']! / results['directGetMiBps']!)]);
      rows.push(['  (the store to 4 parallel ranged GETs)', '', '4 × 16 MiB in flight', `${results['parallelGetMiBps']!.toFixed(0)} MiB/s`, fmtPct(results['coldMiBps']! / results['parallelGetMiBps']!)]);
      goals.push({ goal: 'cold read ≥ 1.2× one GET stream', met: results['coldMiBps']! >= 1.2 * results['directGetMiBps']! });

      // Warm: restart the mount (its memory is empty), drop the page cache, read again.
      await up.stop();
      up = await wharfUp(upArgs, env, mnt);
      const dropped = await dropPageCache();
      const warm = await timed(() => readAll(join(mnt, 'big.bin')));
      results['warmMiBps'] = bigBytes / MiB / warm.seconds;
      const blockFiles = (await sh(`find ${cacheDir}/cache/blocks -type f | sort`)).trim().split('\n').filter(Boolean);
      await dropPageCache();
      const disk = await timed(async () => { let n = 0; for (const f of blockFiles) n += await readAll(f); return n; });
      results['diskMiBps'] = disk.value / MiB / disk.seconds;
      rows.push([`1 GiB sequential, warm (cache)${dropped ? '' : ' [page cache NOT dropped]'}`, `${results['warmMiBps']!.toFixed(0)} MiB/s`, 'the same block files read from disk', `${results['diskMiBps']!.toFixed(0)} MiB/s`, fmtPct(results['warmMiBps']! / results['diskMiBps']!)]);
      goals.push({ goal: 'warm read ≥ 85% of the direct disk read', met: results['warmMiBps']! >= 0.85 * results['diskMiBps']! });

      // Random 4 KiB reads, warm.
      const reads = envNumber('BENCH_RANDOM_READS', 20_000);
      const viaMount = await randomReads([join(mnt, 'big.bin')], [bigBytes], reads);
      const sizes = await Promise.all(blockFiles.map(async (f) => (await stat(f)).size));
      const onDisk = await randomReads(blockFiles, sizes, reads);
      results['randomIops'] = viaMount;
      results['randomIopsDisk'] = onDisk;
      rows.push(['random 4 KiB reads, warm', `${fmtCount(viaMount)} IOPS`, 'the same reads on the cache files', `${fmtCount(onDisk)} IOPS`, fmtPct(viaMount / onDisk)]);
      await up.stop();
      await store.close();
    } finally {
      await s3.stop();
    }

    // Metadata through a fresh mount: 10,000 synced files in one directory (local store).
    const storeDir = join(dir, 'local');
    mkdirSync(join(storeDir, 'many'), { recursive: true });
    for (let i = 0; i < 10_000; i++) writeFileSync(join(storeDir, 'many', `f-${String(i).padStart(5, '0')}`), 'x');
    const mnt2 = join(dir, 'mnt2');
    const up2 = await wharfUp(['--store', `file://${storeDir}`, '--cache-dir', join(dir, 'cache2'), '--sync-interval', '-1'], {}, mnt2);
    try {
      const names = (await readdir(join(storeDir, 'many'))).map((n) => join(mnt2, 'many', n));
      const statAll = await timed(async () => { for (const p of names) await stat(p); });
      results['stat10kSeconds'] = statAll.seconds;
      goals.push({ goal: 'stat of 10,000 synced files ≤ 1.5 s', met: statAll.seconds <= 1.5 });
      await up2.stop();
      const up3 = await wharfUp(['--store', `file://${storeDir}`, '--cache-dir', join(dir, 'cache2'), '--sync-interval', '-1'], {}, mnt2);
      try {
        const ls = await timed(() => sh(`ls -l ${join(mnt2, 'many')} | wc -l`));
        results['lsl10kSeconds'] = ls.seconds;
        goals.push({ goal: 'ls -l of a 10,000-entry directory ≤ 1 s', met: ls.seconds <= 1 });
        const lsDisk = await timed(() => sh(`ls -l ${join(storeDir, 'many')} | wc -l`));
        rows.push(['stat of 10,000 synced files (fresh mount)', `${statAll.seconds.toFixed(2)} s`, 'goal', '≤ 1.5 s', verdict(statAll.seconds <= 1.5)]);
        rows.push(['ls -l of a 10,000-entry directory (fresh mount)', `${ls.seconds.toFixed(2)} s`, 'ls -l on the local disk', `${lsDisk.seconds.toFixed(2)} s`, verdict(ls.seconds <= 1)]);

        // Small files: create + write 4 KiB + close.
        const body = randomBytes(4096);
        mkdirSync(join(mnt2, 'small'));
        const viaMount = await timed(async () => { for (let i = 0; i < smallFiles; i++) await writeFile(join(mnt2, 'small', `s-${i}`), body); });
        const local = join(dir, 'local-small');
        mkdirSync(local);
        const onDisk = await timed(async () => { for (let i = 0; i < smallFiles; i++) await writeFile(join(local, `s-${i}`), body); });
        results['smallFilesPerSec'] = smallFiles / viaMount.seconds;
        results['smallFilesPerSecDisk'] = smallFiles / onDisk.seconds;
        rows.push([`create + write 4 KiB + close × ${fmtCount(smallFiles)}`, `${fmtCount(results['smallFilesPerSec']!)} files/s`, 'the same on the local disk', `${fmtCount(results['smallFilesPerSecDisk']!)} files/s`, fmtPct(results['smallFilesPerSec']! / results['smallFilesPerSecDisk']!)]);
      } finally {
        await up3.stop();
      }
    } catch (e) {
      await up2.stop().catch(() => undefined);
      throw e;
    }
  });

  printTable('The mount (each beside the same work done without Wharf, in the same run)', ['work', 'Wharf', 'beside', 'that', 'ratio / goal'], rows);
  printNotes(goals.map((g) => `${g.goal}: ${verdict(g.met)}`));
  await writeResults('mount', { results, goals });
}

await main();
