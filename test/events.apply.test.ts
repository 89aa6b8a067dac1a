// Store events applied to a real master's namespace (LevelDB, a local-directory
// source) through the ledger, without Kafka: creates with new parent directories,
// updates, duplicates and late arrivals dropped, a delete that outlives a late put,
// Wharf's own files never removed by an event, directory markers, an ambiguous
// event marking its directory for on-access sync, keys outside the source.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT_INO, WharfError } from '../src/common/index.js';
import { EventLedger, type StoreEvent } from '../src/events/index.js';
import { Master, applyStoreEvent } from '../src/master/index.js';
import { rejectsErrno } from './helpers/sourceFixture.js';
import { tempDir } from './helpers/tmp.js';

let seq = 0x5000_0000; // sequencers of one length: S3 compares them right-padded
const put = (key: string, size: number, etag = `etag-${size}`, sequencer = (seq++).toString(16).toUpperCase()): StoreEvent =>
  ({ bucket: 'lake', key, op: 'put', name: 'ObjectCreated:Put', size: BigInt(size), etag, sequencer, timeMs: Date.parse('2026-12-07T10:00:00Z') });
const del = (key: string, sequencer = (seq++).toString(16).toUpperCase()): StoreEvent =>
  ({ bucket: 'lake', key, op: 'delete', name: 'ObjectRemoved:Delete', sequencer, timeMs: 0 });

describe('store events applied to the namespace', () => {
  let tmp: { path: string; remove: () => void };
  let master: Master;
  let ledger: EventLedger;
  const apply = (e: StoreEvent) => applyStoreEvent(master.sync.catalog, ledger, 'lake', e);
  // Through the tree, not the namespace: an on-access sync would list the store and hide what the events did.
  const stat = async (path: string) => {
    const parts = path.split('/');
    const dir = await master.tree.lookupPath(ROOT_INO, ['lake', ...parts.slice(0, -1)]);
    if (dir === undefined) throw new WharfError('ENOENT', `${path}: not in the namespace`);
    return master.tree.lookup(dir, parts[parts.length - 1]!);
  };

  before(async () => {
    tmp = tempDir('wharf-events-apply-');
    mkdirSync(join(tmp.path, 'store'));
    master = await Master.start({ dataDir: join(tmp.path, 'meta'), listen: '127.0.0.1:0' });
    const { job } = await master.sync.importSource({ name: 'lake', uri: `file://${join(tmp.path, 'store')}`, at: '/lake' });
    await master.sync.jobs.wait(job.id);
    ledger = new EventLedger(master.tree, 'lake');
  });
  after(async () => {
    await master.stop(1_000);
    tmp.remove();
  });

  it('a put creates the file and its parent directories; a newer put updates it', async () => {
    assert.equal(await apply(put('raw/2026/12/part 1 + café.csv', 100)), 'applied');
    const a = await stat('raw/2026/12/part 1 + café.csv');
    assert.equal(a.type, 'file');
    assert.equal(a.size, 100n);
    assert.equal(await apply(put('raw/2026/12/part 1 + café.csv', 250)), 'applied');
    assert.equal((await stat('raw/2026/12/part 1 + café.csv')).size, 250n);
  });

  it('a duplicate or an older event changes nothing', async () => {
    const e = put('dup.bin', 10);
    assert.equal(await apply(e), 'applied');
    assert.equal(await apply(e), 'dropped');
    const older = put('dup.bin', 99, 'etag-old', (seq - 100).toString(16).toUpperCase());
    assert.equal(await apply(older), 'dropped');
    assert.equal((await stat('dup.bin')).size, 10n);
  });

  it('delete then a late put stays deleted; a newer put brings it back', async () => {
    const early = put('gone.txt', 5);
    const remove = del('gone.txt');
    assert.equal(await apply(put('gone.txt', 4, 'e4', (seq - 50).toString(16).toUpperCase())), 'applied');
    assert.equal(await apply(remove), 'applied');
    await rejectsErrno(stat('gone.txt'), 'ENOENT');
    assert.equal(await apply(early), 'dropped', 'a put older than the delete');
    await rejectsErrno(stat('gone.txt'), 'ENOENT');
    assert.equal(await apply(put('gone.txt', 6)), 'applied');
    assert.equal((await stat('gone.txt')).size, 6n);
  });

  it('the ledger survives a restart: a replayed old event is still dropped', async () => {
    const e = put('replay.dat', 7);
    assert.equal(await apply(e), 'applied');
    assert.equal(await apply(del('replay.dat')), 'applied');
    const dataDir = join(tmp.path, 'meta');
    await master.stop(1_000);
    master = await Master.start({ dataDir, listen: '127.0.0.1:0' });
    ledger = new EventLedger(master.tree, 'lake');
    assert.equal(await apply(e), 'dropped');
    await rejectsErrno(stat('replay.dat'), 'ENOENT');
  });

  it('a delete never removes Wharf\'s own file (no store state), nor a non-empty directory', async () => {
    const lake = await master.namespace.resolve('/lake');
    await master.namespace.create(lake.ino, 'mine.txt', { mode: 0o644, uid: 0, gid: 0 });
    assert.equal(await apply(del('mine.txt')), 'applied');
    assert.equal((await stat('mine.txt')).type, 'file', 'a client\'s file stays');
    assert.equal(await apply(put('d/inner.txt', 1)), 'applied');
    assert.equal(await apply(del('d/')), 'applied');
    assert.equal((await stat('d')).type, 'directory', 'not empty: kept');
    assert.equal(await apply(del('d/inner.txt')), 'applied');
    assert.equal(await apply(del('d/', (seq++).toString(16).toUpperCase())), 'applied');
    await rejectsErrno(stat('d'), 'ENOENT');
  });

  it('directory markers make directories; an event without size or ETag marks the directory for on-access sync', async () => {
    assert.equal(await apply({ ...put('empty-dir/', 0), key: 'empty-dir/' }), 'applied');
    assert.equal((await stat('empty-dir')).type, 'directory');
    assert.equal(await apply(put('listed/a.txt', 3)), 'applied');
    const dir = await stat('listed');
    await master.tree.write('test: times', async (tx) => tx.putSyncTimes(dir.ino, { listedMs: Date.now(), treeMs: Date.now() }));
    const vague: StoreEvent = { bucket: 'lake', key: 'listed/b.txt', op: 'put', name: 'ObjectCreated:Put', sequencer: (seq++).toString(16).toUpperCase(), timeMs: 0 };
    assert.equal(await apply(vague), 'stale');
    assert.equal((await master.tree.getSyncTimes(dir.ino))?.listedMs, 0, 'the directory is listed again at its next access');
  });

  it('keys that are not names are skipped, and nothing outside the source is touched', async () => {
    assert.equal(await apply(put('a//b', 1)), 'skipped');
    assert.equal(await apply(put('../escape', 1)), 'skipped');
    const root = await master.namespace.readdir(ROOT_INO);
    assert.deepEqual(root.entries.map((e) => e.name).sort(), ['lake']);
  });
});
