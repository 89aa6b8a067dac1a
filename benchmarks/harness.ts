// What the benchmarks share besides output: settings from the environment, scratch
// directories that do not outlive the run, a closed-loop load generator with
// latency percentiles, a master to measure against, and RSS sampling.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

// ---- settings --------------------------------------------------------------------

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw.replaceAll('_', ''));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name}=${raw}: expected a positive number`);
  return v;
}

// ---- scratch directories -----------------------------------------------------------

const scratch = new Set<string>();

function removeScratch(): void {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  scratch.clear();
}

// A Ctrl-C, a timeout kill from run.ts or a crash (e.g. EPIPE on `| head`) would
// otherwise leave up to gigabytes of LevelDB in /tmp.
process.once('exit', removeScratch);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    removeScratch();
    process.exit(130);
  });
}

export async function withTempDir<T>(label: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `wharf-bench-${label}-`));
  scratch.add(dir);
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    scratch.delete(dir);
  }
}

/** Bytes of every file under `dir`: what the data directory costs on disk. */
export async function dirBytes(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    bytes += (await stat(path.join(e.parentPath, e.name))).size;
    files++;
  }
  return { bytes, files };
}

// ---- closed-loop load ---------------------------------------------------------------

/** Latencies in milliseconds, in a typed array so 10^6 samples cost 8 MB and sort numerically. */
class Samples {
  private buf = new Float64Array(1 << 16);
  private n = 0;

  add(ms: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = ms;
  }

  sorted(): Float64Array {
    return this.buf.slice(0, this.n).sort();
  }
}

export interface LoadStats {
  concurrency: number;
  ops: number;
  seconds: number;
  opsPerSec: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
}

/**
 * Keeps exactly `concurrency` calls in flight (each worker issues its next call as
 * soon as its last one returns) and accumulates over any number of runs, so
 * several measurements can take turns: interleaved rounds spread a noisy
 * neighbour's load over all of them instead of landing on one. `op` gets the
 * worker's index so per-worker state (e.g. which name a file has now) stays
 * consistent. The first error stops every worker and is rethrown.
 */
export class ClosedLoop {
  private readonly samples = new Samples();
  private ops = 0;
  private seconds = 0;
  private warm = false;

  constructor(readonly concurrency: number, private readonly op: (worker: number) => Promise<unknown>, private readonly warmupSeconds: number) {}

  async run(seconds: number): Promise<void> {
    if (!this.warm) {
      await phase(this.concurrency, this.warmupSeconds, this.op, undefined);
      this.warm = true;
    }
    const r = await phase(this.concurrency, seconds, this.op, this.samples);
    this.ops += r.ops;
    this.seconds += r.seconds;
  }

  stats(): LoadStats {
    const sorted = this.samples.sorted();
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      concurrency: this.concurrency,
      ops: this.ops,
      seconds: this.seconds,
      opsPerSec: this.ops / this.seconds,
      meanUs: (sum / Math.max(1, sorted.length)) * 1000,
      p50Us: percentile(sorted, 0.5) * 1000,
      p99Us: percentile(sorted, 0.99) * 1000,
    };
  }
}

async function phase(concurrency: number, seconds: number, op: (worker: number) => Promise<unknown>, samples: Samples | undefined): Promise<{ ops: number; seconds: number }> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let ops = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (w: number): Promise<void> => {
    while (!failure && performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await op(w);
      } catch (error) {
        failure ??= { error };
        return;
      }
      samples?.add(performance.now() - t0);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  if (failure) throw failure.error;
  // The clock stops when the last in-flight call returns, so the calls finishing after the deadline are paid for.
  return { ops, seconds: (performance.now() - start) / 1000 };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array | readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

// ---- a master to measure ------------------------------------------------------------

export type MasterMode = 'child' | 'inproc';

export interface BenchMaster {
  address: string;
  mode: MasterMode;
  stop(): Promise<void>;
}

/**
 * By default the master runs in its own process, as it does in production: with
 * two cores, client and server each get one instead of sharing an event loop.
 * BENCH_MASTER=inproc puts it in this process (Master.start) to see what that costs.
 */
export function masterMode(): MasterMode {
  const m = process.env['BENCH_MASTER'] ?? 'child';
  if (m !== 'child' && m !== 'inproc') throw new Error(`BENCH_MASTER=${m}: expected child or inproc`);
  return m;
}

/** A master serving TLS from these files, with access keys required (auth): the bootstrap key lands in <dataDir>/admin.key. */
export interface BenchSecurity {
  certFile: string;
  keyFile: string;
}

export async function startMaster(dataDir: string, mode: MasterMode = masterMode(), security?: BenchSecurity): Promise<BenchMaster> {
  const listen = security ? 'localhost:0' : '127.0.0.1:0';
  if (mode === 'inproc') {
    // Loaded only here, so a benchmark without a master (build-tree) does not carry gRPC in its RSS.
    const { Master } = await import('../src/master/index.js');
    const master = await Master.start({ dataDir, listen, ...(security ? { tls: { certFile: security.certFile, keyFile: security.keyFile }, auth: { enabled: true } } : {}) });
    return { address: master.address, mode, stop: () => master.stop(2_000) };
  }
  const script = fileURLToPath(new URL('./master-proc.js', import.meta.url));
  const child = spawn(process.execPath, [script, dataDir, ...(security ? [security.certFile, security.keyFile] : [])], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, WHARF_LOG_LEVEL: process.env['WHARF_LOG_LEVEL'] ?? 'warn' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the master process did not report its address within 20 s')), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve((JSON.parse(out.slice(0, nl)) as { address: string }).address);
      } catch (e) {
        reject(new Error(`unexpected output from the master process: ${out.slice(0, nl)}`, { cause: e }));
      }
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error(`the master process exited with ${child.exitCode ?? child.signalCode} before serving`)); });
  });
  return {
    address,
    mode,
    stop: async () => {
      // Closing its stdin is the stop signal; it also fires if this process dies first.
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---- memory ---------------------------------------------------------------------------

/**
 * Peak resident set size, sampled every `intervalMs`. A sample can miss a spike
 * shorter than the interval, so callers also report the kernel's lifetime peak
 * (process.resourceUsage().maxRSS).
 */
export class RssSampler {
  private peak = 0;
  private samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
    this.samples++;
  }

  stop(): { peakBytes: number; samples: number } {
    clearInterval(this.timer);
    this.sample();
    return { peakBytes: this.peak, samples: this.samples };
  }
}

/** The kernel's peak RSS of this process so far, in bytes. */
export function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
