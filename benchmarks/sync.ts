// Metadata sync: an initial sync and an unchanged re-sync of a local-directory
// store (100,000 objects; BENCH_SYNC_LARGE=1 adds 1,000,000) and of s3rver
// (BENCH_S3_OBJECTS, default 100,000), each beside the raw listing rate of the same
// store measured in the same run: a sync cannot beat its listing.
// Goals: initial ≥ 80% of the listing rate, unchanged re-sync ≥ 90%, master RSS
// during the 1M sync ≤ 300 MB.
//
// On a shared 2-core machine one measurement of a ratio spreads by ±15 points (the
// sync and its listing compete for the same two cores with whatever else runs), so
// each local store is measured BENCH_SYNC_RUNS times (default 3), each run in a fresh
// process (listing, then a new namespace's initial sync and re-sync: the RSS is one
// master's, not what earlier runs left in the heap), and the goals are judged on the
// median ratio; the table shows the range. The CPU-seconds the process spent (every
// thread) are reported beside: they hardly move with the machine's load, so they show
// what a change did when the ratios are lost in the noise. s3rver is measured once
// (minutes per run).
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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
  /** CPU-seconds of the whole process (all threads) per 100,000 entries. */
  listCpu: number;
  initialCpu: number;
  resyncCpu: number;
}

interface Row extends Run {
  store: string;
  objects: number;
  /** Medians of the per-run ratios (the rates above are per-column medians, so one need not divide to get these). */
  initialRatio: number;
  resyncRatio: number;
  runs: (Run & { initialRatio: number; resyncRatio: number })[];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function summarise(store: string, objects: number, runs: readonly Run[]): Row {
  const rs = runs.map((r) => ({ ...r, initialRatio: r.initialPerSec / r.listPerSec, resyncRatio: r.resyncPerSec / r.listPerSec }));
  const initialRatio = median(rs.map((r) => r.initialRatio));
  const resyncRatio = median(rs.map((r) => r.resyncRatio));
  return {
    store, objects, listPerSec: median(rs.map((r) => r.listPerSec)), initialPerSec: median(rs.map((r) => r.initialPerSec)), resyncPerSec: median(rs.map((r) => r.resyncPerSec)),
    peakRssBytes: Math.max(...rs.map((r) => r.peakRssBytes)), initialRatio, resyncRatio, runs: rs,
    listCpu: median(rs.map((r) => r.listCpu)), initialCpu: median(rs.map((r) => r.initialCpu)), resyncCpu: median(rs.map((r) => r.resyncCpu)),
  };
}

function pctRange(xs: readonly number[]): string {
  if (xs.length < 2) return fmtPct(xs[0]!);
  return `${fmtPct(median(xs))} (${fmtPct(Math.min(...xs))}–${fmtPct(Math.max(...xs))})`;
}

/**
 * CPU-seconds (user + system, every thread of the process) that `fn` took, per 100,000
 * of `per`. LevelDB compacts in the background: part of an initial sync's compaction
 * lands in the re-sync's figure, which runs right after it.
 */
async function withCpu<T>(fn: () => Promise<T>, per: (r: T) => number): Promise<T & { cpu: number }> {
  const c0 = process.cpuUsage();
  const r = await fn();
  const c = process.cpuUsage(c0);
  return { ...r, cpu: ((c.user + c.system) / 1e6) * (100_000 / per(r)) };
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
    const list = await withCpu(() => listRate(store, prefix), (r) => r.keys);
    if (list.keys !== objects) throw new Error(`${label}: listed ${list.keys} keys, expected ${objects}`);
    const tree = await InodeTree.open(join(dir, 'meta'));
    const control = await SyncControl.open(tree, { openStore: storeOpener(s3) });
    const rss = new RssSampler(50);
    try {
      const initial = await withCpu(() => timeSync(control, async () => (await control.importSource({ name: 'bench', uri, at: '/bench' })).job), (r) => r.listed);
      await control.rules.create('bench', { name: 'again', type: 'manual' });
      const resync = await withCpu(() => timeSync(control, () => control.rules.execute('bench', 'again')), (r) => r.listed);
      const peak = rss.stop().peakBytes;
      process.stdout.write(`  ${label} ${fmtCount(objects)}: listing ${fmtCount(list.perSec)}/s, initial ${fmtPct(initial.perSec / list.perSec)}, re-sync ${fmtPct(resync.perSec / list.perSec)}\n`);
      return {
        listPerSec: list.perSec, initialPerSec: initial.perSec, resyncPerSec: resync.perSec, peakRssBytes: peak,
        listCpu: list.cpu, initialCpu: initial.cpu, resyncCpu: resync.cpu,
      };
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

/** One run of a local store in a child process (this file with `--run OBJECTS ROOT`); killed with this process. */
async function measureInChild(objects: number, root: string): Promise<Run> {
  const run = promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), '--run', String(objects), root], {
    maxBuffer: 256 * 1024 * 1024, env: { ...process.env, WHARF_LOG_LEVEL: 'warn' },
  });
  // run.ts stops a benchmark with SIGTERM and its scratch directories go: the child must not outlive it.
  const stop = () => run.child.kill('SIGKILL');
  process.once('SIGTERM', stop);
  process.once('exit', stop);
  const { stdout } = await run.finally(() => {
    process.off('SIGTERM', stop);
    process.off('exit', stop);
  });
  for (const line of stdout.split('\n')) if (line.startsWith('  ')) process.stdout.write(`${line}\n`);
  const result = stdout.split('\n').find((l) => l.startsWith('RUN '));
  if (!result) throw new Error(`a measuring child printed no result:\n${stdout.slice(-2000)}`);
  return JSON.parse(result.slice(4)) as Run;
}

async function childRun(objects: number, root: string): Promise<void> {
  const store = await LocalStore.open(root);
  try {
    const run = await measure('local directory', objects, `file://${root}`, store, '');
    process.stdout.write(`RUN ${JSON.stringify(run)}\n`);
  } finally {
    await store.close();
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
      const measured: Run[] = [];
      for (let i = 0; i < runs; i++) measured.push(await measureInChild(n, root));
      rows.push(summarise('local directory', n, measured));
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

  printTable('Metadata sync (entries/s, medians of the runs; the listing rate of the same store is the ceiling; ratios: median of the per-run ratios (range))',
    ['store', 'objects', 'runs', 'raw listing/s', 'initial sync/s', 'initial vs list', 'unchanged re-sync/s', 're-sync vs list', 'peak RSS', 'CPU-s/100k list · initial · re-sync'],
    rows.map((r) => [r.store, fmtCount(r.objects), String(r.runs.length), fmtCount(r.listPerSec), fmtCount(r.initialPerSec), pctRange(r.runs.map((x) => x.initialRatio)),
      fmtCount(r.resyncPerSec), pctRange(r.runs.map((x) => x.resyncRatio)), fmtMB(r.peakRssBytes),
      [r.listCpu, r.initialCpu, r.resyncCpu].map((c) => c.toFixed(2)).join(' · ')]));
  const goals = rows.flatMap((r) => [
    { goal: `${r.store} ${r.objects}: initial ≥ 80% of listing (median)`, met: r.initialRatio >= 0.8 },
    { goal: `${r.store} ${r.objects}: unchanged re-sync ≥ 90% of listing (median)`, met: r.resyncRatio >= 0.9 },
    ...(r.objects >= 1_000_000 ? [{ goal: 'RSS during the 1M sync ≤ 300 MB', met: r.peakRssBytes <= 300_000_000 }] : []),
  ]);
  printNotes(goals.map((g) => `${g.goal}: ${verdict(g.met)}`));
  await writeResults('sync', { results: rows, goals });
}

if (process.argv[2] === '--run') await childRun(Number(process.argv[3]), process.argv[4]!);
else await main();
