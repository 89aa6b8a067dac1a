// The namespace on PostgreSQL beside LevelDB, the same work on each in the same
// run: lookups (each reads the entry and the inode from the store: no cache in
// front), creates, full listings of a directory, and an import (initial sync) of a
// local-directory store. The PostgreSQL server is started here (the tests' helper:
// Debian's postgresql on 127.0.0.1, fsync off — as the LevelDB side has no fsync).
// Goal (issue 16): reads ≥ 50% of LevelDB.
//
// Settings: BENCH_ENGINE_FILES (5,000) files in one directory, BENCH_ENGINE_LOOKUPS
// (20,000), BENCH_ENGINE_SYNC (20,000) objects imported.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT_INO, type Ino } from '../src/common/index.js';
import { Master } from '../src/master/index.js';
import { InodeTree, readdirAll } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { envNumber, withTempDir } from './harness.js';
import { fmtCount, fmtPct, printNotes, printTable, verdict, writeResults } from './report.js';

const FILES = envNumber('BENCH_ENGINE_FILES', 5_000);
const LOOKUPS = envNumber('BENCH_ENGINE_LOOKUPS', 20_000);
const SYNC = envNumber('BENCH_ENGINE_SYNC', 20_000);
const INIT = { mode: 0o644, uid: 0, gid: 0 };

interface Rates { create: number; lookup: number; readdir: number; sync: number; grpcLookup: number }

async function measure(where: string, store: string, dataDir: string): Promise<Rates> {
  const tree = await InodeTree.open(where);
  let dir: Ino;
  const t0 = performance.now();
  try {
    dir = (await tree.mkdir(ROOT_INO, 'd', { ...INIT, mode: 0o755 })).ino;
    for (let i = 0; i < FILES; i++) await tree.create(dir, `f${i}`, INIT);
  } catch (e) {
    await tree.close();
    throw e;
  }
  const create = FILES / ((performance.now() - t0) / 1000);
  // Lookups, 8 in flight (reads never queue): each is an entry and an inode read.
  let next = 0;
  const t1 = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = next++; i < LOOKUPS; i = next++) await tree.lookup(dir, `f${(i * 7919) % FILES}`);
  }));
  const lookup = LOOKUPS / ((performance.now() - t1) / 1000);
  const t2 = performance.now();
  let listed = 0;
  for (let r = 0; r < 5; r++) for await (const _ of readdirAll(tree, dir)) listed++;
  const readdir = listed / ((performance.now() - t2) / 1000);
  await tree.close();
  // An import of the store: the master on this engine.
  const master = await Master.start({ dataDir, meta: where.startsWith('postgres') ? where : `leveldb:${where}`, listen: '127.0.0.1:0' });
  const client = new GrpcMetaClient(master.address);
  try {
    // What clients see: lookups over gRPC, 32 in flight, the master's caches warm after the first pass.
    const d = await client.lookup(ROOT_INO, 'd');
    let n = 0;
    const tg = performance.now();
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let i = n++; i < LOOKUPS; i = n++) await client.lookup(d.ino, `f${(i * 7919) % FILES}`);
    }));
    const grpcLookup = LOOKUPS / ((performance.now() - tg) / 1000);
    const t3 = performance.now();
    const { job } = await master.sync.importSource({ name: 'store', uri: `file://${store}`, at: '/store' });
    const done = await master.sync.jobs.wait(job.id);
    if (done.state !== 'succeeded') throw new Error(`import ${done.state}: ${done.reason ?? ''}`);
    return { create, lookup, readdir, grpcLookup, sync: SYNC / ((performance.now() - t3) / 1000) };
  } finally {
    client.close();
    await master.stop(2_000);
  }
}

async function main(): Promise<void> {
  await withTempDir('engines', async (tmp) => {
    const store = join(tmp, 'store');
    for (let d = 0; d < SYNC / 1000; d++) {
      mkdirSync(join(store, `d${d}`), { recursive: true });
      for (let i = 0; i < 1000; i++) writeFileSync(join(store, `d${d}`, `f${i}`), '');
    }
    const pg = await startPostgres();
    try {
      const level = await measure(join(tmp, 'level'), store, join(tmp, 'level-master'));
      process.stderr.write(`  LevelDB: ${JSON.stringify(level)}\n`);
      const postgres = await measure(await pg.newDatabase('bench'), store, join(tmp, 'pg-master'));
      process.stderr.write(`  PostgreSQL: ${JSON.stringify(postgres)}\n`);
      const row = (name: string, k: keyof Rates, unit: string) => [name, `${fmtCount(level[k])} ${unit}`, `${fmtCount(postgres[k])} ${unit}`, fmtPct(postgres[k] / level[k])];
      printTable(`the namespace on PostgreSQL beside LevelDB (in process; ${FILES} files, ${LOOKUPS} lookups, ${SYNC} objects imported)`, ['operation', 'LevelDB', 'PostgreSQL', 'ratio'], [
        row('lookup (entry + inode read), 8 in flight', 'lookup', '/s'),
        row('lookup over gRPC to a master, 32 in flight', 'grpcLookup', '/s'),
        row('readdir of one directory, full listings', 'readdir', 'entries/s'),
        row('create, one at a time', 'create', '/s'),
        row('import (initial sync) of a local store', 'sync', 'objects/s'),
      ]);
      const reads = Math.min(postgres.lookup / level.lookup, postgres.readdir / level.readdir);
      const seen = Math.min(postgres.grpcLookup / level.grpcLookup, postgres.readdir / level.readdir);
      printNotes([
        `goal reads ≥ 50% of LevelDB: in process ${fmtPct(reads)} (the lower of lookup and readdir) — ${verdict(reads >= 0.5)}; as clients see them, over gRPC, ${fmtPct(seen)} — ${verdict(seen >= 0.5)}`,
        'a lookup on PostgreSQL is a round trip for the entry (and one for the inode unless the master has it cached); LevelDB answers from memory',
      ]);
      await writeResults('engines', { settings: { files: FILES, lookups: LOOKUPS, sync: SYNC }, results: { leveldb: level, postgres }, goals: { reads: { goal: 0.5, inProcess: reads, overGrpc: seen, met: reads >= 0.5 } } });
    } finally {
      await pg.stop();
    }
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
