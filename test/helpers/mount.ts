// Real FUSE mounts for tests: `wharf up` / `wharf mount` run in CHILD processes
// (the process that serves a mount must never block its event loop, and the test
// process blocks freely), driven from the test with async shell commands and
// fs.promises calls. Every mount started here is unmounted by stop(), and a
// process-exit hook SIGKILLs whatever a failed test left running.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WHARF_BIN } from './processes.js';
import type { S3rver } from './s3rver.js';

const run = promisify(execFile);

/** The JSON the mount serves at /stats. */
export interface MountStatsJson {
  cache: { blocks: number; bytes: number; hits: number; misses: number; stored: number; refused: number; evicted: number; corrupt: number; directIo: boolean };
  reader: { fetches: number; fetchedBytes: number; fetchFailures: number; prefetches: number };
  io: { openHandles: number; stagedFiles: number; stagedDirty: number; uploads: number; uploadFailures: number };
}

export interface MountProcess {
  child: ChildProcess;
  mountpoint: string;
  /** The first stdout line. */
  banner: string;
  /** host:port of the master (wharf up) or the one mounted (wharf mount). */
  masterAddress: string;
  /** http://host:port (without /metrics) when started with --metrics. */
  metricsBase: string | undefined;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | string>;
  stats: () => Promise<MountStatsJson>;
  /** SIGTERM, wait (then SIGKILL after 30 s), and make sure nothing is left mounted; nothing if the process is gone already. */
  stop: () => Promise<void>;
  /** SIGKILL and wait: the mount is left behind, stale. */
  kill: () => Promise<void>;
}

const live = new Map<ChildProcess, string>();
let hooked = false;
function track(child: ChildProcess, mountpoint: string): void {
  live.set(child, mountpoint);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    // A runner that exits with mounts still up (a failed hook, a timeout): kill them and
    // detach their mountpoints. Synchronous calls are fine here: this process serves no mount.
    process.once('exit', () => {
      for (const [c, mp] of live) {
        c.kill('SIGKILL');
        spawnSync('fusermount', ['-uz', mp], { stdio: 'ignore' });
      }
    });
  }
}

/** `wharf up --store STORE --mount MP --cache-dir DIR --metrics 127.0.0.1:0 ARGS…`. */
export function wharfUp(o: { store: string; mountpoint: string; cacheDir: string; args?: string[]; env?: NodeJS.ProcessEnv }): Promise<MountProcess> {
  return startMountProcess(
    ['up', '--store', o.store, '--mount', o.mountpoint, '--cache-dir', o.cacheDir, '--metrics', '127.0.0.1:0', ...(o.args ?? [])],
    o.mountpoint, o.env ?? {}, /master on (\S+?);/,
  );
}

/** `wharf --master ADDR mount MP --cache-dir DIR --metrics 127.0.0.1:0 ARGS…` (a remote master). */
export function wharfMount(o: { master: string; mountpoint: string; cacheDir: string; args?: string[]; env?: NodeJS.ProcessEnv; globalArgs?: string[] }): Promise<MountProcess> {
  return startMountProcess(
    ['--master', o.master, ...(o.globalArgs ?? []), 'mount', o.mountpoint, '--cache-dir', o.cacheDir, '--metrics', '127.0.0.1:0', ...(o.args ?? [])],
    o.mountpoint, o.env ?? {}, /\(master (\S+)\)/,
  );
}

async function startMountProcess(args: string[], mountpoint: string, env: NodeJS.ProcessEnv, masterRe: RegExp): Promise<MountProcess> {
  const child = spawn(process.execPath, [WHARF_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WHARF_LOG_LEVEL: process.env['WHARF_LOG_LEVEL'] ?? 'warn', ...env },
  });
  track(child, mountpoint);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  let banner: string;
  try {
    banner = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`wharf ${args[0]} did not mount in 30 s; stderr: ${err}`)), 30_000);
      const onData = (): void => {
        const nl = out.indexOf('\n');
        if (nl >= 0) { clearTimeout(timer); child.stdout!.off('data', onData); resolve(out.slice(0, nl)); }
      };
      child.stdout!.on('data', onData);
      void exited.then((code) => { clearTimeout(timer); reject(new Error(`wharf exited (${code}) before mounting; stdout: ${out}; stderr: ${err}`)); });
    });
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    await ensureUnmounted(mountpoint);
    throw e;
  }
  const metricsBase = /metrics on (http:\/\/\S+)\/metrics/.exec(banner)?.[1];
  const masterAddress = masterRe.exec(banner)?.[1] ?? '';
  const waitExit = async (ms: number): Promise<boolean> => {
    if (child.exitCode !== null || child.signalCode !== null) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); })]);
    clearTimeout(timer);
    return done;
  };
  return {
    child, mountpoint, banner, masterAddress, metricsBase, exited,
    stderr: () => err,
    stdout: () => out,
    stats: async () => {
      if (!metricsBase) throw new Error('the mount was started without --metrics');
      const res = await fetch(`${metricsBase}/stats`);
      return (await res.json()) as MountStatsJson;
    },
    stop: async () => {
      // A process already gone (killed by the test) is not touched: its mountpoint may
      // hold a newer mount by now, which its own stop() unmounts.
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      if (!(await waitExit(30_000))) {
        child.kill('SIGKILL');
        await exited;
      }
      await ensureUnmounted(mountpoint);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

function mountsTable(): string {
  return readFileSync('/proc/mounts', 'utf8');
}

/** True when `/proc/mounts` lists something mounted at `mountpoint`. */
export function isMounted(mountpoint: string): boolean {
  return mountsTable().split('\n').some((l) => l.split(' ')[1] === mountpoint.replace(/ /g, '\\040'));
}

/** Lazily detaches whatever is mounted at `mountpoint` (a dead or live FUSE mount). */
export async function ensureUnmounted(mountpoint: string): Promise<void> {
  for (let i = 0; i < 5 && isMounted(mountpoint); i++) {
    await run('fusermount', ['-uz', mountpoint]).catch(() => run('umount', ['-l', mountpoint])).catch(() => undefined);
  }
}

export interface ShellResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a bash script in a child process (never in the test process), killed after `timeoutMs`. */
export function sh(script: string, o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ShellResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -o pipefail\n${script}`], {
      cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', ...o.env }, detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
      stderr += `\n[killed after ${o.timeoutMs ?? 120_000} ms]`;
    }, o.timeoutMs ?? 120_000);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr, ms: performance.now() - t0 }); });
  });
}

/** Runs a script that must succeed; its stdout. */
export async function shOk(script: string, o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const r = await sh(script, o);
  if (r.code !== 0) throw new Error(`script failed (${r.code}): ${script}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** Polls `probe` until it returns a value other than undefined, or throws after `ms`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The environment and flags a mount needs for an s3rver store (credentials, checksums, endpoint). */
export function s3rverMountSettings(s3: S3rver): { env: NodeJS.ProcessEnv; args: string[] } {
  return {
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', WHARF_S3_CHECKSUMS: 'WHEN_REQUIRED' },
    args: ['--endpoint', s3.endpoint, '--region', 'us-east-1'],
  };
}

/** The pid of the process listening on 127.0.0.1:`port` (from /proc), to SIGSTOP/SIGCONT a store. */
export async function pidListeningOn(port: number): Promise<number> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1]!.endsWith(`:${hexPort}`) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) throw new Error(`nothing listens on port ${port}`);
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(join('/proc', pid, 'fd', fd)).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1]!)) return Number(pid);
    }
  }
  throw new Error(`no process found for port ${port}`);
}
