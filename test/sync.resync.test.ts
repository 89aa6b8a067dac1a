// Begin/end resynchronisation (Metadb semantics) against a real master and real
// local-directory sources: `begin` opens a generation and nothing is removed until
// `end`, which removes what the generation did not refresh — refusing, without
// force, to remove more than 20% of the source. Periodic rules pause meanwhile; the
// mode survives a master restart; `status` says "snapshot complete" once no refresh
// came for snapshotDeadlineMs. Files written through Wharf are never removed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Ino } from '../src/common/index.js';
import { WharfError } from '../src/common/index.js';
import type { JobRecord } from '../src/master/index.js';
import {
  DIR_INIT, FILE_INIT, SyncMaster, assertMatchesStore, localBackend, names, rejectsErrno, sleep, until, walk,
  type Backend,
} from './helpers/sourceFixture.js';
import { runCli, startMasterProcess } from './helpers/processes.js';
import { localSource } from './helpers/sources.js';
import { tempDir } from './helpers/tmp.js';
import { join } from 'node:path';

const SNAPSHOT_DEADLINE_MS = 700;
const files = (n: number, dir = ''): string[] => Array.from({ length: n }, (_, i) => `${dir}f${String(i).padStart(2, '0')}`);

describe('begin/end resynchronisation', () => {
  let b: Backend;
  let m: SyncMaster;

  before(async () => {
    b = await localBackend();
    // A periodic rule's "minute" is 100 ms here.
    m = await SyncMaster.start({ sync: { minuteMs: 100, snapshotDeadlineMs: SNAPSHOT_DEADLINE_MS } });
  });

  after(async () => {
    await m?.dispose();
    await b?.close();
  });

  async function source(name: string, keys: string[]): Promise<Ino> {
    await b.putMany(keys.map((k) => `${name}/${k}`), (k) => `body of ${k}`);
    const { source: s, job } = await m.importSource({ name, uri: b.uri(`${name}/`), at: `/${name}` });
    assert.equal(job.state, 'succeeded');
    return BigInt(s.rootIno);
  }

  const mode = async (name: string): Promise<string> => (await m.admin.status()).sources.find((s) => s.source?.name === name)?.sync_mode ?? 'absent';

  function assertJob(job: JobRecord, what: string): void {
    assert.equal(job.state, 'succeeded', `${what}: ${job.reason ?? ''}`);
  }

  test('begin → synchronizing; removals wait for end, also during a manual rule and on-access syncs; end removes what was not refreshed', async () => {
    const root = await source('basic', [...files(20), 'sub/a', 'sub/b']);
    const gen0 = BigInt(m.master.sync.catalog.get('basic').gen);
    const begun = await m.admin.beginResync('basic');
    assert.equal(begun.mode, 'synchronizing');
    assert.equal(BigInt(begun.gen), gen0 + 1n, 'begin opens a new generation');
    assert.ok(Number(begun.resync_started_ms) > 0);
    assert.equal(await mode('basic'), 'synchronizing');
    await rejectsErrno(m.admin.beginResync('basic'), 'EINVAL', 'begin twice');

    await b.remove('basic/f00');
    await b.remove('basic/f01');
    await b.remove('basic/sub/a');
    await b.put('basic/new.txt', 'new');
    await b.put('basic/f02', 'f02 got longer');

    // On-access syncs (interval 0 for these requests) see new objects but remove nothing either.
    assert.deepEqual((await names(m.client, root, { syncIntervalMs: 0 })).filter((n) => !n.startsWith('f') || n < 'f03'), ['f00', 'f01', 'f02', 'new.txt', 'sub']);
    assert.equal((await m.client.lookup(root, 'f00', { syncIntervalMs: 0 })).type, 'file');

    const job = await m.resync('basic');
    assertJob(job, 'manual rule during synchronizing');
    assert.equal(BigInt(job.gen), gen0 + 1n, 'jobs during begin/end share the open generation');
    assert.equal(job.counters.deleted, 0);
    const sub = (await m.client.lookup(root, 'sub')).ino;
    const sj = await m.resync('basic', '/sub');
    assertJob(sj, 'a rule on a subdirectory');
    assert.equal(sj.counters.deleted, 0);
    const mid = await walk(m.client, root);
    for (const p of ['f00', 'f01', 'sub/a', 'new.txt']) assert.ok(mid.has(p), `${p} is in the namespace before end`);
    assert.equal(mid.get('f02')?.size, 14n, 'updates are applied at once');
    assert.equal(m.master.sync.catalog.get('basic').mode, 'synchronizing', 'jobs do not end the resynchronisation');

    const ended = await m.admin.endResync('basic', false);
    assert.equal(Number(ended.removed), 3);
    assert.equal(Number(ended.total), 24, 'f00…f19, new.txt, sub, sub/a, sub/b');
    assert.equal(ended.source?.mode, 'normal');
    assert.equal(await mode('basic'), 'normal');
    await assertMatchesStore(m.client, root, b.store, 'basic/', 'after end');
    assert.deepEqual(await names(m.client, sub), ['b']);
    await rejectsErrno(m.admin.endResync('basic', false), 'EINVAL', 'end when normal');
    // Back in normal mode, a job opens a new generation and sweeps again.
    await b.remove('basic/f03');
    const next = await m.resync('basic');
    assertJob(next, 'normal job after end');
    assert.equal(BigInt(next.gen), gen0 + 2n);
    assert.equal(next.counters.deleted, 1);
  });

  test('the 20% guard: end refuses (EPERM) to remove more than 20% of the entries unless forced', async () => {
    const root = await source('guard', files(10));
    await m.admin.beginResync('guard');
    for (const f of ['f00', 'f01', 'f02']) await b.remove(`guard/${f}`);
    assertJob(await m.resync('guard'), 'rule');
    const e = await rejectsErrno(m.admin.endResync('guard', false), 'EPERM', '30% without force');
    assert.match(e.message, /remove 3 of 10 entries \(30% > 20%\)/);
    assert.match(e.message, /--force/);
    assert.equal(await mode('guard'), 'synchronizing', 'still synchronizing');
    assert.equal((await names(m.client, root)).length, 10, 'nothing removed');
    // Exactly 20% is allowed.
    await b.put('guard/f02', 'back');
    assertJob(await m.resync('guard'), 'rule');
    const ok = await m.admin.endResync('guard', false);
    assert.deepEqual([Number(ok.removed), Number(ok.total)], [2, 10]);
    assert.deepEqual(await names(m.client, root), files(10).slice(2));

    // And with force, any share.
    await m.admin.beginResync('guard');
    for (const f of files(10).slice(3)) await b.remove(`guard/${f}`);
    assertJob(await m.resync('guard'), 'rule');
    await rejectsErrno(m.admin.endResync('guard', false), 'EPERM', '7 of 8');
    const forced = await m.admin.endResync('guard', true);
    assert.deepEqual([Number(forced.removed), Number(forced.total)], [7, 8]);
    assert.deepEqual(await names(m.client, root), ['f02']);
  });

  test('files written through Wharf are never removed by end, whenever they were written', async () => {
    const root = await source('own', [...files(10), 'd/x']);
    const mine = await m.client.create(root, 'mine.txt', FILE_INIT);
    const mydir = await m.client.mkdir(root, 'mydir', DIR_INIT);
    await m.client.create(mydir.ino, 'in.txt', FILE_INIT);
    const d = (await m.client.lookup(root, 'd')).ino;
    await m.client.create(d, 'beside.txt', FILE_INIT);
    await sleep(5); // the client's writes are strictly older than begin
    await m.admin.beginResync('own');
    const during = await m.client.create(root, 'during.txt', FILE_INIT);
    await b.remove('own/f09');
    await b.remove('own/d/');
    assertJob(await m.resync('own'), 'rule');
    const ended = await m.admin.endResync('own', true);
    assert.equal(Number(ended.removed), 2, 'f09 and d/x; d stays for the client file in it');
    const tree = await walk(m.client, root);
    for (const p of ['mine.txt', 'mydir', 'mydir/in.txt', 'during.txt', 'd', 'd/beside.txt']) assert.ok(tree.has(p), `${p} survives end`);
    assert.equal(tree.has('f09'), false);
    assert.equal(tree.has('d/x'), false);
    assert.equal(tree.get('mine.txt')?.ino, mine.ino);
    assert.equal(tree.get('during.txt')?.ino, during.ino);
  });

  test('periodic rules pause while synchronizing and resume after end', async () => {
    await source('per', files(3));
    const r = await m.admin.createRule({ source: 'per', name: 'every-minute', type: 'periodic', directory: '/', description: '', interval_minutes: 1, execute_on_create: false, enable_on_create: true });
    assert.equal(r.rule?.status, 'enabled');
    const jobs = async (): Promise<number> => (await m.admin.listJobs({ source: 'per', rule: 'every-minute', limit: 1000 })).length;
    await until('two periodic jobs ran', async () => (await jobs()) >= 2);
    // begin is refused while a job runs: retry until it lands between two.
    await until('begin lands between periodic jobs', async () => {
      try {
        await m.admin.beginResync('per');
        return true;
      } catch (e) {
        if (e instanceof WharfError && e.errno === 'EBUSY') return false;
        throw e;
      }
    });
    // A tick that checked the mode just before begin may still start one job: let it end first.
    await until('no job runs', () => m.master.sync.jobs.active('per') === undefined);
    await sleep(50);
    const during = await jobs();
    await sleep(800); // eight "minutes"
    assert.equal(await jobs(), during, 'no periodic job while synchronizing');
    assert.equal(m.master.sync.jobs.active('per'), undefined);
    // Manual rules still run (and refresh the generation, so end removes nothing).
    assertJob(await m.resync('per'), 'manual rule while periodic ones pause');
    assert.equal(await jobs(), during);
    const ended = await m.admin.endResync('per', false);
    assert.equal(Number(ended.removed), 0);
    await until('periodic jobs resume after end', async () => (await jobs()) > during);
    await m.admin.disableRule('per', 'every-minute');
  });

  test('a master restart between begin and end keeps the mode and the generation; end still works', async () => {
    const root = await source('restart', files(10));
    const begun = await m.admin.beginResync('restart');
    await b.remove('restart/f00');
    await b.remove('restart/f01');
    await b.put('restart/new', 'n');
    const j1 = await m.resync('restart');
    assertJob(j1, 'rule before the restart');
    await m.stop();
    await m.startAgain();
    const s = m.master.sync.catalog.get('restart');
    assert.equal(s.mode, 'synchronizing');
    assert.equal(s.gen, begun.gen);
    assert.equal(s.resyncStartedMs, Number(begun.resync_started_ms));
    assert.notEqual(await mode('restart'), 'normal');
    const j2 = await m.resync('restart');
    assertJob(j2, 'rule after the restart');
    assert.equal(j2.gen, begun.gen, 'the open generation is still the one jobs stamp');
    assert.equal((await names(m.client, root)).length, 11, 'nothing removed yet');
    const ended = await m.admin.endResync('restart', false);
    assert.deepEqual([Number(ended.removed), Number(ended.total)], [2, 11]);
    await assertMatchesStore(m.client, root, b.store, 'restart/', 'after end');
  });

  test('status shows "snapshot complete" once no refresh came for snapshotDeadlineMs', async () => {
    const env = { WHARF_MASTER: m.address };
    await source('snap', files(5));
    const t0 = Date.now();
    await m.admin.beginResync('snap');
    assert.equal(await mode('snap'), 'synchronizing');
    await until('snapshot complete', async () => (await mode('snap')) === 'snapshot complete', 5_000);
    assert.ok(Date.now() - t0 >= SNAPSHOT_DEADLINE_MS - 5, `not before the deadline (${Date.now() - t0} ms)`);
    const cli = await runCli(['status'], env);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^snap {2}file:\/\/\S+ at \/snap\n {2}sync mode: {4}snapshot complete$/m);

    // A job (a refresh) makes it synchronizing while it runs, and for a deadline after it.
    const f = m.faulty('snap');
    // Long enough that a `wharf status` process started while it runs sees it running on a loaded machine.
    f.setLatency(4_000);
    let job: JobRecord;
    try {
      const started = await m.startRule('snap');
      await until('the job runs', async () => (await m.master.sync.jobs.get(started.id)).state === 'executing');
      assert.equal(await mode('snap'), 'synchronizing');
      const running = await runCli(['status'], env);
      assert.match(running.stdout, /^snap {2}file:\/\/\S+ at \/snap\n {2}sync mode: {4}synchronizing\n {2}running job: {2}\d+ executing/m);
      job = await m.waitJob(started.id);
    } finally {
      f.setLatency(0);
    }
    assertJob(job, 'rule');
    const t1 = Date.now();
    assert.equal(await mode('snap'), 'synchronizing', 'just refreshed');
    await until('snapshot complete again', async () => (await mode('snap')) === 'snapshot complete', 5_000);
    assert.ok(Date.now() - t1 >= SNAPSHOT_DEADLINE_MS - 50);
    await m.admin.endResync('snap', false);
    assert.equal(await mode('snap'), 'normal');
  });

  test('wharf master --snapshot-deadline: status says "snapshot complete" after that long without a refresh; a bad value is a usage error', async () => {
    const tmp = tempDir('wharf-snapdl-');
    const src = localSource({ 'a.txt': 'a' });
    const bad = await runCli(['master', '--data', join(tmp.path, 'bad'), '--snapshot-deadline', '0']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--snapshot-deadline/);
    const proc = await startMasterProcess(join(tmp.path, 'meta'), ['--snapshot-deadline', '1500']);
    try {
      const env = { WHARF_MASTER: proc.address };
      const imported = await runCli(['source', 'import', 'dl', '--uri', src.uri, '--at', '/dl', '--wait'], env);
      assert.equal(imported.code, 0, imported.stderr);
      const t0 = Date.now();
      assert.equal((await runCli(['sync', 'begin', '--source', 'dl'], env)).code, 0);
      const modeOf = async () => ((JSON.parse((await runCli(['--json', 'status'], env)).stdout) as { sources: { sync_mode: string }[] }).sources[0]!.sync_mode);
      const first = await modeOf();
      if (Date.now() - t0 < 1_400) assert.equal(first, 'synchronizing', 'before the deadline');
      await until('snapshot complete (the default deadline is a minute)', async () => (await modeOf()) === 'snapshot complete', 10_000);
      assert.ok(Date.now() - t0 >= 1_500, 'not before the deadline');
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
      src.remove();
      tmp.remove();
    }
  });

  test('CLI: wharf sync begin|end --source: messages and exit codes', async () => {
    const env = { WHARF_MASTER: m.address };
    const root = await source('cli', files(5));
    const begin = await runCli(['sync', 'begin', '--source', 'cli'], env);
    assert.equal(begin.code, 0, begin.stderr);
    assert.equal(begin.stderr, '');
    const gen = m.master.sync.catalog.get('cli').gen;
    assert.match(begin.stdout, new RegExp(`^cli is synchronizing \\(generation ${gen}\\); run sync rule execute …, then sync end\\n`));
    const again = await runCli(['sync', 'begin', '--source', 'cli'], env);
    assert.equal(again.code, 1);
    assert.equal(again.stdout, '');
    assert.match(again.stderr, /^wharf: sync begin: .*\(EINVAL\): source cli is already synchronizing/);

    for (const f of ['f00', 'f01', 'f02']) await b.remove(`cli/${f}`);
    assert.equal((await m.resync('cli')).state, 'succeeded');
    const refused = await runCli(['sync', 'end', '--source', 'cli'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\(EPERM\): ending would remove 3 of 5 entries \(60% > 20%\)/);
    assert.equal((await names(m.client, root)).length, 5);
    const forced = await runCli(['sync', 'end', '--source', 'cli', '--force'], env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stdout, 'cli is back to normal: removed 3 of 5 entries\n');
    assert.deepEqual(await names(m.client, root), ['f03', 'f04']);
    const notSync = await runCli(['sync', 'end', '--source', 'cli'], env);
    assert.equal(notSync.code, 1);
    assert.match(notSync.stderr, /\(EINVAL\): source cli is not synchronizing/);
    const unknown = await runCli(['sync', 'begin', '--source', 'no-such-source'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /\(ENOENT\)/);
    const usage = await runCli(['sync', 'begin'], env);
    assert.equal(usage.code, 2, 'a missing --source is a usage error');
    const json = await runCli(['--json', 'sync', 'begin', '--source', 'cli'], env);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { mode: string }).mode, 'synchronizing');

    // begin and end are refused (EBUSY) while a job of the source runs.
    const f = m.faulty('cli');
    f.setLatency(2_000);
    try {
      const started = await m.startRule('cli');
      await until('the job runs', async () => (await m.master.sync.jobs.get(started.id)).state === 'executing');
      const busy = await runCli(['sync', 'end', '--source', 'cli'], env);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /\(EBUSY\)/);
      await m.waitJob(started.id);
    } finally {
      f.setLatency(0);
    }
    const end = await runCli(['sync', 'end', '--source', 'cli'], env);
    assert.equal(end.code, 0, end.stderr);
    assert.equal(end.stdout, 'cli is back to normal: removed 0 of 2 entries\n');
  });
});
