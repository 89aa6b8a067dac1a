// Runs the benchmarks one after another, or only those named:
//   node dist/benchmarks/run.js [namespace-rpc] [readdir] [build-tree] [sync] [mount]
// Each runs in its own process, so peak RSS is that benchmark's alone and no
// benchmark inherits another's heap, LevelDB caches or JIT state; one at a time,
// because on a small machine two would measure each other.
//
// BENCH_TIMEOUT_SECONDS (600) kills a benchmark that hangs; the others still run.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { printTable } from './report.js';

// The namespace ones first: they need nothing but this machine (sync starts s3rver; mount needs FUSE).
const BENCHMARKS = ['namespace-rpc', 'engines', 'auth', 'events', 'changes', 'readdir', 'build-tree', 'durability', 'sync', 'mount', 'scan', 'cluster', 'warmup'] as const;
type Name = (typeof BENCHMARKS)[number];

// Not harness.ts's envNumber: the harness installs signal handlers meant for a benchmark process.
const TIMEOUT_SECONDS = Number(process.env['BENCH_TIMEOUT_SECONDS'] || 600);

function isName(s: string): s is Name {
  return (BENCHMARKS as readonly string[]).includes(s);
}

function runOne(name: Name): Promise<{ status: string; ok: boolean; seconds: number }> {
  const script = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], {
      stdio: 'inherit',
      // The master's info lines would bury the tables; warnings and errors still show.
      env: { ...process.env, WHARF_LOG_LEVEL: process.env['WHARF_LOG_LEVEL'] ?? 'warn' },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // SIGTERM first so the benchmark removes its scratch directories.
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, TIMEOUT_SECONDS * 1000);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ status: `could not start: ${e.message}`, ok: false, seconds: (performance.now() - t0) / 1000 });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      if (timedOut) resolve({ status: `timed out after ${TIMEOUT_SECONDS} s`, ok: false, seconds });
      else if (code === 0) resolve({ status: 'ok', ok: true, seconds });
      else resolve({ status: signal ? `killed by ${signal}` : `exit ${code}`, ok: false, seconds });
    });
  });
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2).flatMap((a) => a.split(',')).map((a) => a.trim()).filter((a) => a !== '');
  const unknown = asked.filter((a) => !isName(a));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}; known: ${BENCHMARKS.join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const names = asked.length > 0 ? asked.filter(isName) : [...BENCHMARKS];
  const summary: string[][] = [];
  let failed = false;
  for (const name of names) {
    process.stdout.write(`==> ${name}\n\n`);
    const r = await runOne(name);
    if (!r.ok) failed = true;
    summary.push([name, r.status, r.seconds.toFixed(1)]);
  }
  if (names.length > 1 || failed) printTable('benchmarks', ['benchmark', 'status', 'seconds'], summary);
  if (failed) process.exitCode = 1;
}

await main();
