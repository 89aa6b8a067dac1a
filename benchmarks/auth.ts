// What TLS and access keys cost the namespace: getattr and Ping rates against a
// master with TLS + auth on, beside the same master configuration with both off,
// in the same run, at 1 and 64 calls in flight. Goal: getattr with auth + TLS ≥ 80%
// of getattr without. A key's first call pays scrypt (~50 ms, once per key and
// process); every later call pays one SHA-256 and a map lookup, plus TLS record
// encryption — which is what this measures.
//
// Settings: BENCH_SECONDS (3) per measurement in BENCH_ROUNDS (3) interleaved rounds;
// BENCH_WARMUP_SECONDS (0.5); BENCH_CONCURRENCY ("1,64"); BENCH_MASTER (child | inproc).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InodeTree } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import { ClosedLoop, envNumber, startMaster, withTempDir, type LoadStats } from './harness.js';
import { fmtCount, fmtPct, fmtUs, printNotes, printTable, verdict, writeResults } from './report.js';

const SECONDS = envNumber('BENCH_SECONDS', 3);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 0.5);
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 3));
const CONCURRENCIES = (process.env['BENCH_CONCURRENCY'] ?? '1,64').split(',').map(Number);
const GOAL = 0.8;
const TARGETS = 1_000;

/** A CA and a server certificate for localhost, made with openssl (as an operator would). */
function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string) => path.join(dir, n);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=bench-ca']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('m.key'), '-out', f('m.csr'), '-subj', '/CN=master']);
  writeFileSync(f('ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', f('m.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', '1', '-out', f('m.crt'), '-days', '2', '-extfile', f('ext')]);
  return { ca: f('ca.crt'), cert: f('m.crt'), key: f('m.key') };
}

async function seed(dir: string): Promise<bigint[]> {
  const tree = await InodeTree.open(dir);
  const [d] = await tree.bulkInsert(1n, [{ name: 'read', type: 'directory', mode: 0o755 }]);
  const inos = await tree.bulkInsert(d!, Array.from({ length: TARGETS }, (_, i) => ({ name: `f${i}`, type: 'file' as const, mode: 0o644, size: 4096n })));
  await tree.close();
  return inos;
}

interface Row extends LoadStats {
  setup: 'plain' | 'tls+auth';
  op: string;
}

async function main(): Promise<void> {
  await withTempDir('auth', async (tmp) => {
    const certs = makeCerts(tmp);
    const plainDir = path.join(tmp, 'plain');
    const secureDir = path.join(tmp, 'secure');
    const inosPlain = await seed(plainDir);
    const inosSecure = await seed(secureDir);
    const plain = await startMaster(plainDir);
    const secure = await startMaster(secureDir, undefined, { certFile: certs.cert, keyFile: certs.key });
    const keyText = readFileSync(path.join(secureDir, 'admin.key'), 'utf8').trim();
    const colon = keyText.indexOf(':');
    const cPlain = new GrpcMetaClient(plain.address);
    const cSecure = new GrpcMetaClient(secure.address, { security: { tls: { caFile: certs.ca }, key: { keyId: keyText.slice(0, colon), secret: keyText.slice(colon + 1) } } });
    const rows: Row[] = [];
    try {
      await cPlain.getattr(1n);
      await cSecure.getattr(1n); // the one scrypt of this key, outside the measurement
      let i = 0;
      const ops = [
        { setup: 'plain' as const, op: 'Ping', run: () => cPlain.ping() },
        { setup: 'tls+auth' as const, op: 'Ping', run: () => cSecure.ping() },
        { setup: 'plain' as const, op: 'getattr', run: () => cPlain.getattr(inosPlain[i++ % TARGETS]!) },
        { setup: 'tls+auth' as const, op: 'getattr', run: () => cSecure.getattr(inosSecure[i++ % TARGETS]!) },
      ];
      for (const concurrency of CONCURRENCIES) {
        const loops = ops.map((o) => new ClosedLoop(concurrency, o.run, WARMUP_SECONDS));
        for (let r = 0; r < ROUNDS; r++) for (const l of loops) await l.run(SECONDS / ROUNDS);
        ops.forEach((o, k) => {
          const s = loops[k]!.stats();
          rows.push({ setup: o.setup, op: o.op, ...s });
          process.stderr.write(`  ${o.setup} ${o.op} × ${concurrency}: ${fmtCount(s.opsPerSec)} ops/s\n`);
        });
      }
    } finally {
      await cPlain.close();
      await cSecure.close();
      await plain.stop();
      await secure.stop();
    }
    const goals: { concurrency: number; ratio: number; met: boolean }[] = [];
    const notes: string[] = [];
    for (const concurrency of CONCURRENCIES) {
      const mine = rows.filter((r) => r.concurrency === concurrency);
      const find = (setup: string, op: string) => mine.find((r) => r.setup === setup && r.op === op)!;
      printTable(`namespace with TLS + access keys vs without, ${concurrency} in flight (master: ${plain.mode} process)`,
        ['op', 'setup', 'ops/s', 'p50 µs', 'p99 µs', 'of plain'],
        mine.map((r) => [r.op, r.setup, fmtCount(r.opsPerSec), fmtUs(r.p50Us), fmtUs(r.p99Us), fmtPct(r.opsPerSec / find('plain', r.op).opsPerSec)]));
      const ratio = find('tls+auth', 'getattr').opsPerSec / find('plain', 'getattr').opsPerSec;
      goals.push({ concurrency, ratio, met: ratio >= GOAL });
      notes.push(`goal getattr with TLS + auth ≥ ${fmtPct(GOAL)} of without at ${concurrency} in flight: ${fmtPct(ratio)} — ${verdict(ratio >= GOAL)}`);
    }
    notes.push('Ping is not authenticated (a liveness probe): its row shows what TLS alone costs.');
    printNotes(notes);
    await writeResults('auth', { settings: { seconds: SECONDS, rounds: ROUNDS, warmupSeconds: WARMUP_SECONDS, concurrencies: CONCURRENCIES, master: plain.mode }, results: rows, goals });
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
