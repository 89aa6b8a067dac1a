// Metadata sync: an initial sync and an unchanged re-sync of a local-directory
// store (100,000 objects; BENCH_SYNC_LARGE=1 adds 1,000,000) and of s3rver
// (BENCH_S3_OBJECTS, default 100,000), each beside the raw listing rate of the same
// store measured in the same run: a sync cannot beat its listing.
// Goals: initial ≥ 80% of the listing rate, unchanged re-sync ≥ 90%, master RSS
// during the 1M sync ≤ 300 MB.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InodeTree } from '../src/meta/index.js';
import { SyncControl, storeOpener } from '../src/master/index.js';
import { LocalStore, S3Store, type UnderStore } from '../src/ufs/index.js';
import { startS3rver } from '../test/helpers/s3rver.js';
import { RssSampler, envNumber, withTempDir } from './harness.js';
import { fmtCount, fmtMB, fmtPct, printNotes, printTable, verdict, writeResults } from './report.js';

interface Row {
  store: string;
  objects: number;
  listPerSec: number;
  initialPerSec: number;
  resyncPerSec: number;
  peakRssBytes: number;
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

async function measure(label: string, objects: number, uri: string, store: UnderStore, prefix: string, s3?: Parameters<typeof storeOpener>[0]): Promise<Row> {
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
      return { store: label, objects, listPerSec: list.perSec, initialPerSec: initial.perSec, resyncPerSec: resync.perSec, peakRssBytes: peak };
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
  for (const n of localCounts) {
    await withTempDir('sync-store', async (root) => {
      process.stdout.write(`creating ${fmtCount(n)} files in a local store…\n`);
      makeLocalTree(root, n);
      const store = await LocalStore.open(root);
      try {
        rows.push(await measure(`local directory`, n, `file://${root}`, store, ''));
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
    rows.push(await measure('s3rver', s3Objects, 's3://bench/data', store, 'data/', { ...clientOpts, endpoint: s3.endpoint }));
    await store.close();
  } finally {
    await s3.stop();
  }

  printTable('Metadata sync (entries/s; the listing rate of the same store is the ceiling)',
    ['store', 'objects', 'raw listing/s', 'initial sync/s', 'initial vs list', 'unchanged re-sync/s', 're-sync vs list', 'peak RSS'],
    rows.map((r) => [r.store, fmtCount(r.objects), fmtCount(r.listPerSec), fmtCount(r.initialPerSec), fmtPct(r.initialPerSec / r.listPerSec),
      fmtCount(r.resyncPerSec), fmtPct(r.resyncPerSec / r.listPerSec), fmtMB(r.peakRssBytes)]));
  const goals = rows.flatMap((r) => [
    { goal: `${r.store} ${r.objects}: initial ≥ 80% of listing`, met: r.initialPerSec >= 0.8 * r.listPerSec },
    { goal: `${r.store} ${r.objects}: unchanged re-sync ≥ 90% of listing`, met: r.resyncPerSec >= 0.9 * r.listPerSec },
    ...(r.objects >= 1_000_000 ? [{ goal: 'RSS during the 1M sync ≤ 300 MB', met: r.peakRssBytes <= 300_000_000 }] : []),
  ]);
  printNotes(goals.map((g) => `${g.goal}: ${verdict(g.met)}`));
  await writeResults('sync', { results: rows, goals });
}

await main();
