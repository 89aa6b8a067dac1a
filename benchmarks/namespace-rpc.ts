// Namespace calls over gRPC (getattr, lookup, create, rename) at 1 and 64 calls in
// flight, each beside two ceilings measured in the same run at the same concurrency:
//   - Ping, an empty unary call on the same channel: what gRPC alone costs;
//   - raw LevelDB get/put on a scratch database: what the storage alone costs.
// The goal (getattr ≥ 80% of the Ping rate) says the master's own work — decode,
// one LevelDB get, encode — must stay small beside the RPC it rides on.
//
// Settings: BENCH_SECONDS (3) per measurement, split into BENCH_ROUNDS (3) interleaved
// rounds; BENCH_WARMUP_SECONDS (0.5); BENCH_CONCURRENCY ("1,64"); BENCH_MASTER (child | inproc).
import { Level } from 'level';
import path from 'node:path';
import { InodeTree } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import type { Ino } from '../src/common/index.js';
import { ClosedLoop, envNumber, startMaster, withTempDir, type LoadStats } from './harness.js';
import { fmtCount, fmtPct, fmtUs, printNotes, printTable, verdict, writeResults } from './report.js';

const SECONDS = envNumber('BENCH_SECONDS', 3);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 0.5);
/** Each measurement's time is split into rounds that take turns, so drifting background load hits all alike. */
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 3));
const CONCURRENCIES = (process.env['BENCH_CONCURRENCY'] ?? '1,64').split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_CONCURRENCY: ${s} is not a positive integer`);
  return n;
});
/** Enough distinct targets that reads are not one hot key, few enough to stay cached, like a working set. */
const TARGETS = 1_000;
const GETATTR_GOAL = 0.8;
/** An inode record is 66 bytes (src/meta/codec.ts); the raw ceiling moves values of the same size. */
const RECORD_BYTES = 66;
const OWNER = { mode: 0o644, uid: 1000, gid: 1000 } as const;

type Kind = 'ceiling' | 'read' | 'write';

interface Row extends LoadStats {
  op: string;
  kind: Kind;
  /** ops/s relative to Ping at the same concurrency. */
  vsPing: number | null;
  /** ops/s relative to the raw LevelDB get (reads) or put (writes) at the same concurrency. */
  vsLevelDb: number | null;
  levelDbCeiling: 'get' | 'put' | null;
}

function rawKey(prefix: number, n: number): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = prefix;
  k.writeBigUInt64BE(BigInt(n), 1);
  return k;
}

function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`setup: ${what} is missing`);
  return v;
}

async function main(): Promise<void> {
  await withTempDir('rpc', async (tmp) => {
    const nsDir = path.join(tmp, 'namespace');
    const rawDir = path.join(tmp, 'raw-leveldb');

    // Seeded in-process before the master opens the directory: one batch instead of 1,000 calls.
    const tree = await InodeTree.open(nsDir);
    const dirs = await tree.bulkInsert(1n, ['read', 'create', 'rename-a', 'rename-b'].map((name) => ({ name, type: 'directory' as const, mode: 0o755 })));
    const [readDir, createDir, renameA, renameB] = [0, 1, 2, 3].map((i) => must(dirs[i], `directory ${i}`)) as [Ino, Ino, Ino, Ino];
    const names = Array.from({ length: TARGETS }, (_, i) => `file-${String(i).padStart(6, '0')}.dat`);
    const inos = await tree.bulkInsert(readDir, names.map((name) => ({ name, type: 'file' as const, mode: 0o644, size: 4096n })));
    const maxWorkers = Math.max(...CONCURRENCIES);
    // Each worker renames only its own file, so concurrent renames never race for a name.
    await tree.bulkInsert(renameA, Array.from({ length: maxWorkers }, (_, w) => ({ name: `r${w}-a`, type: 'file' as const, mode: 0o644 })));
    await tree.close();

    const raw = new Level<Buffer, Buffer>(rawDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.open();
    const value = Buffer.alloc(RECORD_BYTES, 0xab);
    const rawKeys = Array.from({ length: TARGETS }, (_, i) => rawKey(0x49, i));
    await raw.batch(rawKeys.map((key) => ({ type: 'put' as const, key, value })));

    const master = await startMaster(nsDir);
    const client = new GrpcMetaClient(master.address);
    const rows: Row[] = [];
    try {
      await client.waitForReady();
      let next = 0;
      let created = 0;
      let rawPuts = 0;
      const inA = new Array<boolean>(maxWorkers).fill(true);
      const ops: { op: string; kind: Kind; ceiling: 'get' | 'put' | null; run: (w: number) => Promise<unknown> }[] = [
        { op: 'Ping (ceiling)', kind: 'ceiling', ceiling: null, run: () => client.ping() },
        { op: 'LevelDB get (ceiling)', kind: 'ceiling', ceiling: null, run: () => raw.get(rawKeys[next++ % TARGETS]!) },
        { op: 'LevelDB put (ceiling)', kind: 'ceiling', ceiling: null, run: () => raw.put(rawKey(0x50, rawPuts++), value) },
        { op: 'getattr', kind: 'read', ceiling: 'get', run: () => client.getattr(inos[next++ % TARGETS]!) },
        { op: 'lookup', kind: 'read', ceiling: 'get', run: () => client.lookup(readDir, names[next++ % TARGETS]!) },
        { op: 'create', kind: 'write', ceiling: 'put', run: () => client.create(createDir, `c${created++}`, OWNER) },
        {
          op: 'rename', kind: 'write', ceiling: 'put',
          run: async (w) => {
            if (inA[w]) await client.rename(renameA, `r${w}-a`, renameB, `r${w}-b`);
            else await client.rename(renameB, `r${w}-b`, renameA, `r${w}-a`);
            inA[w] = !inA[w];
          },
        },
      ];

      for (const concurrency of CONCURRENCIES) {
        const loops = ops.map((o) => new ClosedLoop(concurrency, o.run, WARMUP_SECONDS));
        for (let round = 0; round < ROUNDS; round++) {
          for (const loop of loops) await loop.run(SECONDS / ROUNDS);
        }
        const measured = new Map<string, LoadStats>();
        ops.forEach((o, i) => {
          const stats = loops[i]!.stats();
          measured.set(o.op, stats);
          process.stderr.write(`  ${o.op} × ${concurrency}: ${fmtCount(stats.opsPerSec)} ops/s\n`);
        });
        const ping = measured.get('Ping (ceiling)')!;
        const ceilings = { get: measured.get('LevelDB get (ceiling)')!, put: measured.get('LevelDB put (ceiling)')! };
        for (const o of ops) {
          const s = measured.get(o.op)!;
          rows.push({
            op: o.op, kind: o.kind, ...s,
            vsPing: o.kind === 'ceiling' ? null : s.opsPerSec / ping.opsPerSec,
            vsLevelDb: o.ceiling ? s.opsPerSec / ceilings[o.ceiling].opsPerSec : null,
            levelDbCeiling: o.ceiling,
          });
        }
      }
    } finally {
      await client.close();
      await master.stop();
      await raw.close();
    }

    const notes: string[] = [];
    const goals: { concurrency: number; getattrVsPing: number; goal: number; met: boolean }[] = [];
    for (const concurrency of CONCURRENCIES) {
      const mine = rows.filter((r) => r.concurrency === concurrency);
      printTable(
        `namespace over gRPC, ${concurrency} call${concurrency === 1 ? '' : 's'} in flight (master: ${master.mode} process; ${SECONDS} s each in ${ROUNDS} rounds)`,
        ['op', 'ops/s', 'p50 µs', 'p99 µs', 'of Ping', 'of LevelDB'],
        mine.map((r) => [
          r.op, fmtCount(r.opsPerSec), fmtUs(r.p50Us), fmtUs(r.p99Us),
          r.vsPing === null ? '' : fmtPct(r.vsPing),
          r.vsLevelDb === null ? '' : `${fmtPct(r.vsLevelDb)} (${r.levelDbCeiling})`,
        ]),
      );
      const getattr = mine.find((r) => r.op === 'getattr')!;
      const met = getattr.vsPing! >= GETATTR_GOAL;
      goals.push({ concurrency, getattrVsPing: getattr.vsPing!, goal: GETATTR_GOAL, met });
      notes.push(`goal getattr ≥ ${fmtPct(GETATTR_GOAL)} of Ping at ${concurrency} in flight: ${fmtPct(getattr.vsPing!)} — ${verdict(met)}`);
    }
    notes.push('create and rename each commit one LevelDB batch of several keys, one mutation at a time; the put ceiling is one key per call.');
    printNotes(notes);
    await writeResults('namespace-rpc', {
      settings: { seconds: SECONDS, rounds: ROUNDS, warmupSeconds: WARMUP_SECONDS, concurrencies: CONCURRENCIES, master: master.mode, targets: TARGETS, rawValueBytes: RECORD_BYTES, fsync: false },
      results: rows,
      goals,
    });
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
