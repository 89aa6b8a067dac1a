// What the FUSE benchmarks share: `wharf up` as a child process, a shell command,
// a timer, dropping the page cache.
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const WHARF = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface Up {
  child: ChildProcess;
  mnt: string;
  stop: () => Promise<void>;
}

export async function wharfUp(args: string[], env: NodeJS.ProcessEnv, mnt: string): Promise<Up> {
  const child = spawn(process.execPath, [WHARF, 'up', '--mount', mnt, ...args], { env: { ...process.env, WHARF_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`wharf up did not mount: ${out}`)), 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('mounted at')) { clearTimeout(t); resolve(); }
    });
    child.once('exit', (c) => { clearTimeout(t); reject(new Error(`wharf up exited ${c}: ${out}`)); });
  });
  return {
    child, mnt,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export function sh(cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    let e = '';
    p.stdout.on('data', (d: Buffer) => { o += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { e += d.toString(); });
    p.once('exit', (c) => (c === 0 ? resolve(o) : reject(new Error(`${cmd}: exit ${c}: ${e}`))));
  });
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

export async function dropPageCache(): Promise<boolean> {
  try {
    await sh('sync && echo 3 > /proc/sys/vm/drop_caches');
    return true;
  } catch {
    return false;
  }
}

