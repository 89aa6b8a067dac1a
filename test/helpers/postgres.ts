// A real PostgreSQL server for the tests: Debian's `postgresql` binaries, a fresh
// cluster in a temporary directory (initdb), started as the postgres user on
// 127.0.0.1 and a free port, stopped and removed afterwards. fsync is off: the
// tests kill masters, never the database's machine.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';

export interface PostgresServer {
  port: number;
  /** A new, empty database; its URL. */
  newDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown) and starts it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(a) - Number(b)) : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not installed (apt-get install postgresql; make setup does)');
  return join(root, versions[versions.length - 1]!, 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir();
  const dir = mkdtempSync('/tmp/wharf-pg-');
  chmodSync(dir, 0o755);
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  // As the postgres user (PostgreSQL refuses to run as root): spawn's uid and gid, so the child is postgres itself.
  execFileSync(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'wharf', '--no-sync', '-E', 'UTF8'], { stdio: 'ignore', uid, gid, cwd: dir });
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = () => new Promise<void>((resolve, reject) => {
    const c = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'], { stdio: ['ignore', 'ignore', 'pipe'], uid, gid, cwd: dir });
    child = c;
    let err = '';
    const timer = setTimeout(() => reject(new Error(`postgres did not start: ${err}`)), 30_000);
    c.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/ready to accept connections/.test(err)) { clearTimeout(timer); resolve(); }
    });
    c.once('exit', (code) => { clearTimeout(timer); reject(new Error(`postgres exited (${code}): ${err}`)); });
  });
  const stopServer = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    // SIGINT: PostgreSQL's fast shutdown (sessions are ended, the data is consistent).
    c.kill('SIGINT');
    await exited;
  };
  await start();
  let n = 0;
  return {
    port,
    async newDatabase(name: string) {
      const db = `${name.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${++n}`;
      const c = new pg.Client({ connectionString: `postgres://wharf@127.0.0.1:${port}/postgres` });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${db}`);
      } finally {
        await c.end();
      }
      return `postgres://wharf@127.0.0.1:${port}/${db}`;
    },
    async restart() {
      await stopServer();
      await start();
    },
    async stop() {
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
