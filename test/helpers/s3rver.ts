// s3rver (a fake S3 server, npm devDependency) in a child process, as the S3 peer
// for tests. A child keeps --openssl-legacy-provider (needed for its paged
// listings) out of the test runner, and lets a test kill the store outright.
// Its known bugs (listing order, suffix ranges, delimiter listings): see the
// tests that use it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { S3StoreOptions } from '../../src/ufs/index.js';
import { tempDir } from './tmp.js';

const CHILD = fileURLToPath(new URL('./s3rverChild.js', import.meta.url));

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3rver {
  endpoint: string;
  port: number;
  bucket: string;
  /** Options for an S3Store on this server (s3rver needs the WHEN_REQUIRED checksum settings). */
  storeOptions(extra?: Partial<S3StoreOptions>): S3StoreOptions;
  /** SIGKILLs the server (the store "goes down"); its data directory stays. */
  kill(): Promise<void>;
  /** (Kills it if running and) starts it again on the same port and data directory. */
  restart(): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

export async function startS3rver(bucket = 'wharf-test'): Promise<S3rver> {
  const dir = tempDir('wharf-s3rver-');
  let child: ChildProcess | undefined;
  let port = 0;
  const launch = async (): Promise<void> => {
    const started = await spawnChild(dir.path, bucket, port);
    child = started.child;
    port = started.port;
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.ref(); // unref'd at start; waiting for its exit must keep the runner alive
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGKILL');
    await exited;
  };
  // First start: a random port below the ephemeral range, retried if taken. A port
  // from the ephemeral range (what port 0 gives) can be grabbed as the source
  // port of a client connection while the server is down, and then a restart on
  // the same port fails.
  for (let attempt = 0; ; attempt++) {
    port = pickPort();
    try { await launch(); break; } catch (e) { if (attempt >= 10 || !String(e).includes('EADDRINUSE')) throw e; }
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint, port, bucket,
    storeOptions: (extra = {}) => ({
      bucket, endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...S3RVER_CREDENTIALS },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 2, connectionTimeoutMs: 2_000, requestTimeoutMs: 20_000, socketTimeoutMs: 20_000,
      ...extra,
    }),
    kill,
    restart: async () => {
      await kill();
      for (let attempt = 0; ; attempt++) {
        try { await launch(); return; } catch (e) {
          if (attempt >= 20 || !String(e).includes('EADDRINUSE')) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    stop: async () => { await kill(); dir.remove(); },
  };
}

function pickPort(): number {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: keep the usual default.
  }
  const top = Math.min(low - 1, 60_000);
  const bottom = Math.min(20_000, top - 1000);
  return bottom + Math.floor(Math.random() * (top - bottom));
}

async function spawnChild(dir: string, bucket: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', CHILD, dir, bucket, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, WHARF_S3RVER_CHILD: '1' },
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const got = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`s3rver did not start in 20 s: ${err}`)); }, 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        try { resolve((JSON.parse(line) as { port: number }).port); } catch { reject(new Error(`unexpected s3rver output: ${line}`)); }
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`s3rver exited (${code}) before listening: ${err}`)); });
  });
  // Let the test runner exit even if a test forgets stop(): the child exits when stdin closes.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as Socket | null)?.unref();
  return { child, port: got };
}
