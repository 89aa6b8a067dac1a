// Metadata sync: an initial sync and an unchanged re-sync of a local-directory
// store (100,000 objects; BENCH_SYNC_LARGE=1 adds 1,000,000) and of s3rver
// (BENCH_S3_OBJECTS, default 100,000), each beside the raw listing rate of the same
// store measured in the same run: a sync cannot beat its listing.
// Goals: initial ≥ 80% of the listing rate, unchanged re-sync ≥ 90%, master RSS
// during the 1M sync ≤ 300 MB.
//
// On a shared 2-core machine one measurement of a ratio spreads by ±15 points (the
// sync and its listing compete for the same two cores with whatever else runs), so
// each local store is measured BENCH_SYNC_RUNS times (default 3; listing, then a fresh
// namespace's initial sync and re-sync, per run) and the goals are judged on the
// median ratio; the table shows the range. s3rver is measured once (minutes per run).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InodeTree } from '../src/meta/index.js';
import { SyncControl, storeOpener } from '../src/master/index.js';
import { LocalStore, S3Store, type UnderStore } from '../src/ufs/index.js';
import { startS3rver } from '../test/helpers/s3rver.js';
import { RssSampler, envNumber, withTempDir } from './harness.js';
import { fmtCount, fmtMB, fmtPct, printNotes, printTable, verdict, writeResults } from './report.js';

interface Run {
  listPerSec: number;
  initialPerSec: number;
  resyncPerSec: number;
  peakRssBytes: number;
}

interface Row extends Run {
  store: string;
  objects: number;
  /** Medians over the runs (the fields above are the median run's rates). */
  initialRatio: number;
  resyncRatio: number;
  runs: (Run & { initialRatio: number; resyncRatio: number })[];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function summarise(store: string, objects: number, runs: readonly Run[]): Row {
  const rs = runs.map((r) => ({ ...r, initialRatio: r.initialPerSec / r.listPerSec, resyncRatio: r.resyncPerSec / r.listPerSec }));
  const initialRatio = median(rs.map((r) => r.initialRatio));
  const resyncRatio = median(rs.map((r) => r.resyncRatio));
  const mid = rs.find((r) => r.initialRatio === initialRatio)!;
  return {
    store, objects, listPerSec: mid.listPerSec, initialPerSec: mid.initialPerSec, resyncPerSec: median(rs.map((r) => r.resyncPerSec)),
    peakRssBytes: Math.max(...rs.map((r) => r.peakRssBytes)), initialRatio, resyncRatio, runs: rs,
  };
}

function pctRange(xs: readonly number[]): string {
  if (xs.length < 2) return fmtPct(xs[0]!);
  return `${fmtPct(median(xs))} (${fmtPct(Math.min(...xs))}–${fmtPct(Math.max(...xs))})`;
}

/** Lists every key once, page by page: the ceiling of any sync of this store. */
async function listRate(store: UnderStore, prefix: string): Promise<{ keys: number; perSec: number }> {
  const t0 = performance.now();
  let keys = 0;
  let token: string | undefined;
  do {
    const page = await store.list(prefix, { ...(token ? { token } : {}), maxKeys: 1000 });
    keys += page.objects.length;
    token = page.nextToken;
  } while (token);
  return { keys, perSec: keys / ((performance.now() - t0) / 1000) };
}

async function timeSync(control: SyncControl, start: () => Promise<{ id: string }>): Promise<{ perSec: number; listed: number; seconds: number }> {
  const t0 = performance.now();
  const job = await start();
  const done = await control.jobs.wait(job.id);
  if (done.state !== 'succeeded') throw new Error(`sync job ${done.id} ${done.state}: ${done.reason}`);
  const seconds = (performance.now() - t0) / 1000;
  return { perSec: done.counters.listed / seconds, listed: done.counters.listed, seconds };
}

async function measure(label: string, objects: number, uri: string, store: UnderStore, prefix: string, s3?: Parameters<typeof storeOpener>[0]): Promise<Run> {
  return withTempDir('sync-meta', async (dir) => {
    const list = await listRate(store, prefix);
    if (list.keys !== objects) throw new Error(`${label}: listed ${list.keys} keys, expected ${objects}`);
    const tree = await InodeTree.open(join(dir, 'meta'));
    const control = await SyncControl.open(tree, { openStore: storeOpener(s3) });
    const rss = new RssSampler(50);
    try {
      const initial = await timeSync(control, async () => (await control.importSource({ name: 'bench', uri, at: '/bench' })).job);
      await control.rules.create('bench', { name: 'again', type: 'manual' });
      const resync = await timeSync(control, () => control.rules.execute('bench', 'again'));
      const peak = rss.stop().peakBytes;
      process.stdout.write(`  ${label} ${fmtCount(objects)}: listing ${fmtCount(list.perSec)}/s, initial ${fmtPct(initial.perSec / list.perSec)}, re-sync ${fmtPct(resync.perSec / list.perSec)}\n`);
      return { listPerSec: list.perSec, initialPerSec: initial.perSec, resyncPerSec: resync.perSec, peakRssBytes: peak };
    } finally {
      rss.stop();
      await control.close();
      await tree.close();
    }
  });
}

function makeLocalTree(root: string, objects: number): void {
  const perDir = 1000;
  for (let d = 0; d * perDir < objects; d++) {
    const dir = join(root, `part-${String(d).padStart(5, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < perDir && d * perDir + i < objects; i++) writeFileSync(join(dir, `obj-${String(i).padStart(4, '0')}.dat`), 'x');
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const localCounts = [envNumber('BENCH_SYNC_OBJECTS', 100_000), ...(process.env['BENCH_SYNC_LARGE'] === '1' ? [1_000_000] : [])];
  const runs = envNumber('BENCH_SYNC_RUNS', 3);
  for (const n of localCounts) {
    await withTempDir('sync-store', async (root) => {
      process.stdout.write(`creating ${fmtCount(n)} files in a local store…\n`);
      makeLocalTree(root, n);
      const store = await LocalStore.open(root);
      try {
        const measured: Run[] = [];
        for (let i = 0; i < runs; i++) measured.push(await measure('local directory', n, `file://${root}`, store, ''));
        rows.push(summarise('local directory', n, measured));
      } finally {
        await store.close();
      }
    });
  }

  const s3Objects = envNumber('BENCH_S3_OBJECTS', 100_000);
  const s3 = await startS3rver('bench');
  try {
    const opts = s3.storeOptions();
    const store = new S3Store(opts);
    process.stdout.write(`uploading ${fmtCount(s3Objects)} objects to s3rver…\n`);
    const body = Buffer.from('x');
    const width = 64;
    for (let i = 0; i < s3Objects; i += width) {
      await Promise.all(Array.from({ length: Math.min(width, s3Objects - i) }, (_, j) => store.put(`data/obj-${String(i + j).padStart(7, '0')}`, body)));
    }
    const { bucket: _b, ...clientOpts } = opts;
    rows.push(summarise('s3rver', s3Objects, [await measure('s3rver', s3Objects, 's3://bench/data', store, 'data/', { ...clientOpts, endpoint: s3.endpoint })]));
    await store.close();
  } finally {
    await s3.stop();
  }

  printTable('Metadata sync (entries/s; the listing rate of the same store is the ceiling; ratios: median of the runs (range))',
    ['store', 'objects', 'runs', 'raw listing/s', 'initial sync/s', 'initial vs list', 'unchanged re-sync/s', 're-sync vs list', 'peak RSS'],
    rows.map((r) => [r.store, fmtCount(r.objects), String(r.runs.length), fmtCount(r.listPerSec), fmtCount(r.initialPerSec), pctRange(r.runs.map((x) => x.initialRatio)),
      fmtCount(r.resyncPerSec), pctRange(r.runs.map((x) => x.resyncRatio)), fmtMB(r.peakRssBytes)]));
  const goals = rows.flatMap((r) => [
    { goal: `${r.store} ${r.objects}: initial ≥ 80% of listing (median)`, met: r.initialRatio >= 0.8 },
    { goal: `${r.store} ${r.objects}: unchanged re-sync ≥ 90% of listing (median)`, met: r.resyncRatio >= 0.9 },
    ...(r.objects >= 1_000_000 ? [{ goal: 'RSS during the 1M sync ≤ 300 MB', met: r.peakRssBytes <= 300_000_000 }] : []),
  ]);
  printNotes(goals.map((g) => `${g.goal}: ${verdict(g.met)}`));
  await writeResults('sync', { results: rows, goals });
}

await main();
