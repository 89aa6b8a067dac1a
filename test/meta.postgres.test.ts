// The namespace on PostgreSQL (src/meta PostgresKv), against a real server the
// test starts: the MetaClient conformance suite in process and over gRPC (a master
// with --meta postgres://…), one master per database, a restart of the database
// under load (clear errors, then recovery without restarting Wharf), a kill -9 of
// a master process mid-storm (nothing acknowledged lost, fsck clean), fsck.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ROOT_INO, WharfError } from '../src/common/index.js';
import { Master } from '../src/master/index.js';
import { InodeTree, fsckDataDir, readdirAll } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import { metaClientConformance } from './conformance/metaClientSuite.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runCli, startMasterProcess } from './helpers/processes.js';
import { DIR_INIT, FILE_INIT, until } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

let server: PostgresServer;
before(async () => { server = await startPostgres(); });
after(async () => { await server?.stop(); });

metaClientConformance('InodeTree on PostgreSQL', async () => {
  const tree = await InodeTree.open(await server.newDatabase('conformance'));
  return { client: tree, teardown: () => tree.close() };
});

metaClientConformance('GrpcMetaClient → master on PostgreSQL', async () => {
  const tmp = tempDir('wharf-pg-grpc-');
  const master = await Master.start({ dataDir: join(tmp.path, 'local'), meta: await server.newDatabase('grpc'), listen: '127.0.0.1:0' });
  const client = new GrpcMetaClient(master.address);
  return { client, teardown: async () => { client.close(); await master.stop(1_000); tmp.remove(); } };
});

describe('PostgreSQL engine', () => {
  it('one master per database: a second opener gets EBUSY, and opens once the first closed; the namespace is kept', async () => {
    const url = await server.newDatabase('lock');
    const a = await InodeTree.open(url);
    await a.mkdir(ROOT_INO, 'kept', DIR_INIT);
    await assert.rejects(InodeTree.open(url), (e: WharfError) => e.errno === 'EBUSY' && /in use by another master/.test(e.message) && !/wharf@/.test(e.message));
    await a.close();
    const b = await InodeTree.open(url);
    assert.equal((await b.lookup(ROOT_INO, 'kept')).type, 'directory');
    await b.close();
    // The same key order as LevelDB: entries listed by name bytes.
    const c = await InodeTree.open(url);
    for (const n of ['b', 'a', 'é', 'A', 'aa']) await c.create(ROOT_INO, n, FILE_INIT);
    const names: string[] = [];
    for await (const e of readdirAll(c, ROOT_INO)) names.push(e.name);
    assert.deepEqual(names, ['A', 'a', 'aa', 'b', 'kept', 'é']);
    await c.close();
    const report = await fsckDataDir(url);
    assert.equal(report.findings.length, 0, JSON.stringify(report.findings));
  });

  it('a database restart under load: clear errors meanwhile, then writes go on without restarting Wharf; the lock is taken again', async () => {
    const url = await server.newDatabase('restart');
    const tree = await InodeTree.open(url);
    const dir = await tree.mkdir(ROOT_INO, 'load', DIR_INIT);
    let ok = 0;
    const errors = new Map<string, number>();
    let stop = false;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await tree.create(dir.ino, `f${i}`, FILE_INIT);
          ok++;
        } catch (e) {
          const errno = e instanceof WharfError ? e.errno : String(e);
          errors.set(errno, (errors.get(errno) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    })();
    await until('some creates', () => ok > 50, 20_000);
    await server.restart();
    const before = ok;
    await until('creates again after the restart', () => ok > before + 50, 30_000);
    stop = true;
    await load;
    assert.ok(errors.size > 0, 'the restart was noticed');
    for (const errno of errors.keys()) assert.ok(['ENOTCONN', 'EIO'].includes(errno), `errno ${errno}`);
    // Still the only master: the lock was taken again.
    await assert.rejects(InodeTree.open(url), (e: WharfError) => e.errno === 'EBUSY');
    // Every acknowledged create is there, and the counters agree with the entries.
    let listed = 0;
    for await (const _ of readdirAll(tree, dir.ino)) listed++;
    assert.ok(listed >= ok, `${listed} entries for ${ok} acknowledged creates`);
    await tree.close();
    assert.equal((await fsckDataDir(url)).findings.length, 0);
  });

  it('a master whose lock session ends while another master takes the database is fenced: EROFS on every write, nothing written', async () => {
    const url = await server.newDatabase('fence');
    const tree = await InodeTree.open(url);
    await tree.mkdir(ROOT_INO, 'before', DIR_INIT);
    // Its lock session ended by the server (as after a network cut), and the lock taken by another session at once.
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      await other.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted", [0x57687266]);
      await until('the lock is free', async () => Boolean((await other.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [0x57687266])).rows[0]?.ok), 10_000);
      await assert.rejects(tree.mkdir(ROOT_INO, 'after', DIR_INIT), (e: WharfError) => e.errno === 'EROFS' && /another master took/.test(e.message));
      await assert.rejects(tree.create(ROOT_INO, 'again', FILE_INIT), (e: WharfError) => e.errno === 'EROFS');
      const rows = await other.query<{ n: string }>('SELECT count(*) AS n FROM wharf_kv');
      await tree.close();
      // Reads still worked meanwhile, and the database holds nothing of the refused writes.
      const check = await other.query("SELECT 1 FROM wharf_kv WHERE position('after'::bytea in k) > 0");
      assert.equal(check.rowCount, 0);
      assert.ok(Number(rows.rows[0]!.n) > 0);
    } finally {
      await other.end();
    }
  });

  it('a lock session gone silently (no error event) is found by the check inside the write: taken again, the write goes through', async () => {
    const url = await server.newDatabase('silent');
    const tree = await InodeTree.open(url);
    const side = new pg.Client({ connectionString: url });
    await side.connect();
    try {
      await side.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted", [0x57687266]);
      // Whether or not the error event came first, the next write re-takes the lock and succeeds.
      await until('a write goes through', () => tree.mkdir(ROOT_INO, 'after', DIR_INIT).then(() => true, () => false), 10_000);
      assert.equal((await tree.lookup(ROOT_INO, 'after')).type, 'directory');
      await assert.rejects(InodeTree.open(url), (e: WharfError) => e.errno === 'EBUSY');
    } finally {
      await side.end();
      await tree.close();
    }
  });

  it('kill -9 of a master process mid-storm: after a restart every acknowledged create is there and fsck is clean', async () => {
    const url = await server.newDatabase('crash');
    const tmp = tempDir('wharf-pg-crash-');
    let m = await startMasterProcess(join(tmp.path, 'local'), ['--meta', url]);
    try {
      const client = new GrpcMetaClient(m.address, { deadlineMs: 5_000 });
      const dir = await client.mkdir(ROOT_INO, 'storm', DIR_INIT);
      const acked: string[] = [];
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; ; i++) {
          try {
            await client.create(dir.ino, `w${w}-${i}`, FILE_INIT);
            acked.push(`w${w}-${i}`);
          } catch {
            return;
          }
        }
      });
      await until('a storm under way', () => acked.length >= 300, 30_000);
      m.child.kill('SIGKILL');
      await m.exited;
      await Promise.all(writers);
      client.close();
      // The dead master's sessions end with it: the database's lock is free again at once.
      m = await startMasterProcess(join(tmp.path, 'local'), ['--meta', url]);
      const again = new GrpcMetaClient(m.address, { deadlineMs: 5_000 });
      const names = new Set<string>();
      for await (const e of readdirAll(again, dir.ino)) names.add(e.name);
      again.close();
      for (const n of acked) assert.ok(names.has(n), `${n} was acknowledged`);
      const stats = await runCli(['--master', m.address, '--json', 'fs', 'stat', '/storm']);
      assert.equal(stats.code, 0, stats.stderr);
      m.child.kill('SIGTERM');
      await m.exited;
      const fsck = await runCli(['fsck', '--data', url]);
      assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    } finally {
      m.child.kill('SIGKILL');
      tmp.remove();
    }
  });
});
