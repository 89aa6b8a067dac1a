// Listing a 10,000-entry directory with attributes (what `ls -l` or a FUSE
// readdirplus needs), page by page with readdirAll: through gRPC at the default
// page size and at 1000 and 8192 for comparison, and in-process on the InodeTree
// for the same listing — the difference is what the wire costs.
//
// Settings: BENCH_READDIR_ENTRIES (10000), BENCH_READDIR_REPEAT (5 timed
// listings per case, after one untimed), BENCH_MASTER (child | inproc).
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { READDIR_DEFAULT_PAGE } from '../src/common/index.js';
import { InodeTree, readdirAll, type MetaClient } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import type { Ino } from '../src/common/index.js';
import { envNumber, median, startMaster, withTempDir } from './harness.js';
import { fmtCount, fmtMs, printTable, writeResults } from './report.js';

const ENTRIES = Math.round(envNumber('BENCH_READDIR_ENTRIES', 10_000));
const REPEAT = Math.round(envNumber('BENCH_READDIR_REPEAT', 5));
/** undefined = let the server choose, which is what a mount does. */
const PAGE_SIZES: readonly (number | undefined)[] = [undefined, 1000, 8192];
const CHUNK = 10_000;

interface Row {
  path: 'in-process' | 'gRPC';
  pageSize: number;
  defaultPageSize: boolean;
  roundTrips: number;
  entries: number;
  medianMs: number;
  minMs: number;
  entriesPerSec: number;
}

/** Counts readdir calls — each one is a round trip when the client is remote. */
function countingReaddir<T extends MetaClient>(client: T): { client: T; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'readdir') {
        return (...args: Parameters<MetaClient['readdir']>) => { calls++; return target.readdir(...args); };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { client: proxy, calls: () => calls };
}

async function measure(where: Row['path'], client: MetaClient, dir: Ino, pageSize: number | undefined): Promise<Row> {
  const counted = countingReaddir(client);
  const times: number[] = [];
  let roundTrips = 0;
  for (let i = 0; i <= REPEAT; i++) {
    const before = counted.calls();
    const t0 = performance.now();
    let n = 0;
    for await (const e of readdirAll(counted.client, dir, pageSize)) {
      // Touch the attributes so a lazily decoded reply could not look cheaper than it is.
      if (e.attr.type !== 'file') throw new Error(`unexpected ${e.attr.type} ${e.name}`);
      n++;
    }
    const ms = performance.now() - t0;
    if (n !== ENTRIES) throw new Error(`${where}: listed ${n} entries, expected ${ENTRIES}`);
    roundTrips = counted.calls() - before;
    // The first listing warms LevelDB's block cache and V8's JIT; it is not timed.
    if (i > 0) times.push(ms);
  }
  const med = median(times);
  return {
    path: where, pageSize: pageSize ?? READDIR_DEFAULT_PAGE, defaultPageSize: pageSize === undefined, roundTrips,
    entries: ENTRIES, medianMs: med, minMs: Math.min(...times), entriesPerSec: ENTRIES / (med / 1000),
  };
}

async function main(): Promise<void> {
  await withTempDir('readdir', async (tmp) => {
    const nsDir = path.join(tmp, 'namespace');
    const tree = await InodeTree.open(nsDir);
    const [dir] = await tree.bulkInsert(1n, [{ name: 'big', type: 'directory', mode: 0o755 }]);
    if (dir === undefined) throw new Error('setup: no directory inode');
    for (let start = 0; start < ENTRIES; start += CHUNK) {
      const items = [];
      for (let i = start; i < Math.min(ENTRIES, start + CHUNK); i++) {
        items.push({ name: `part-${String(i).padStart(5, '0')}.parquet`, type: 'file' as const, mode: 0o644, size: BigInt(1_000_000 + i) });
      }
      await tree.bulkInsert(dir, items);
    }

    const rows: Row[] = [];
    for (const ps of PAGE_SIZES) rows.push(await measure('in-process', tree, dir, ps));
    // The master must have the directory to itself (LevelDB's LOCK).
    await tree.close();

    const master = await startMaster(nsDir);
    const client = new GrpcMetaClient(master.address);
    try {
      await client.waitForReady();
      for (const ps of PAGE_SIZES) rows.push(await measure('gRPC', client, dir, ps));
    } finally {
      await client.close();
      await master.stop();
    }

    const inProcess = new Map(rows.filter((r) => r.path === 'in-process').map((r) => [r.pageSize, r.medianMs]));
    printTable(
      `readdir with attributes, ${fmtCount(ENTRIES)} entries (median of ${REPEAT}; master: ${master.mode} process)`,
      ['path', 'page size', 'round trips', 'median ms', 'min ms', 'entries/s', 'vs in-process'],
      rows.map((r) => [
        r.path, `${r.pageSize}${r.defaultPageSize ? ' (default)' : ''}`, String(r.roundTrips), fmtMs(r.medianMs), fmtMs(r.minMs),
        fmtCount(r.entriesPerSec), r.path === 'gRPC' ? `${(r.medianMs / inProcess.get(r.pageSize)!).toFixed(1)}× time` : '',
      ]),
    );
    await writeResults('readdir', { settings: { entries: ENTRIES, repeat: REPEAT, master: master.mode }, results: rows });
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
