// The pure sync plan (src/sync/SyncPlan.ts): what one sync does with one name,
// from the inode (if any), its store state, and the store's entry (if known);
// whether a sweep removes an entry; and Alluxio's sync interval.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeenInodes } from '../src/sync/SeenInodes.js';
import { decodeRecordState, decodeStoreStateV1, encodeRecord, encodeStoreStateV1 } from '../src/meta/codec.js';
import type { Attr, FileType } from '../src/common/index.js';
import { SYNC_ACTIONS, fileFingerprint, isStale, planEntry, shouldSync, type Existing, type PlanContext, type StoreEntry, type SyncActionKind } from '../src/sync/index.js';

const START = 5_000_000_000n; // the sync started at 5 s
const BEFORE = START - 1n;
const AT = START; // changed in the very nanosecond the sync started: counts as recent

function attr(type: FileType, ctimeNs: bigint, size = 10n): Attr {
  return { ino: 42n, type, mode: 0o644, uid: 0, gid: 0, size, nlink: 1, atimeNs: 0n, mtimeNs: 0n, ctimeNs, parent: 1n, version: 1n };
}

function synced(type: FileType, ctimeNs = BEFORE, fingerprint = fileFingerprint(10n, 'e1', 1000), gen = 3n): Existing {
  return { attr: attr(type, ctimeNs), state: { gen, fingerprint } };
}

function own(type: FileType, ctimeNs = BEFORE): Existing {
  return { attr: attr(type, ctimeNs), state: undefined };
}

const FILE: StoreEntry = { type: 'file', fingerprint: fileFingerprint(10n, 'e1', 1000), size: 10n, mtimeMs: 1000 };
const FILE_CHANGED: StoreEntry = { type: 'file', fingerprint: fileFingerprint(11n, 'e2', 2000), size: 11n, mtimeMs: 2000 };
const DIR: StoreEntry = { type: 'directory', fingerprint: 'dir', size: 0n, mtimeMs: 0 };
const MARKER: StoreEntry = { type: 'directory', fingerprint: 'marker', size: 0n, mtimeMs: 0 };

const PARTIAL: PlanContext = { startNs: START, complete: false };
const COMPLETE: PlanContext = { startNs: START, complete: true };

describe('planEntry', () => {
  const seen = new Set<SyncActionKind>();
  const plan = (e: Existing | undefined, s: StoreEntry | undefined, ctx: PlanContext): SyncActionKind => {
    const a = planEntry(e, s, ctx);
    seen.add(a);
    return a;
  };

  test('create: a store entry with no inode, file or directory, listing complete or not', () => {
    for (const ctx of [PARTIAL, COMPLETE]) {
      assert.equal(plan(undefined, FILE, ctx), 'create');
      assert.equal(plan(undefined, DIR, ctx), 'create');
      assert.equal(plan(undefined, MARKER, ctx), 'create');
    }
  });

  test('none: neither an inode nor a store entry', () => {
    assert.equal(plan(undefined, undefined, PARTIAL), 'none');
    assert.equal(plan(undefined, undefined, COMPLETE), 'none');
  });

  test('update: a synced file whose fingerprint changed (size, etag or mtime)', () => {
    assert.equal(plan(synced('file'), FILE_CHANGED, PARTIAL), 'update');
    assert.equal(plan(synced('file'), FILE_CHANGED, COMPLETE), 'update');
    // Any one part of the fingerprint is enough.
    for (const fp of [fileFingerprint(10n, 'e1', 1001), fileFingerprint(10n, 'e9', 1000), fileFingerprint(12n, 'e1', 1000)]) {
      assert.equal(plan(synced('file'), { ...FILE, fingerprint: fp }, PARTIAL), 'update', fp);
    }
  });

  test('stamp: an unchanged synced file, and a synced directory the store still has', () => {
    assert.equal(plan(synced('file'), FILE, PARTIAL), 'stamp');
    assert.equal(plan(synced('file'), FILE, COMPLETE), 'stamp');
    // Even when a client touched it after the start: the content is the store's.
    assert.equal(plan(synced('file', AT), FILE, PARTIAL), 'stamp');
    assert.equal(plan(synced('directory', BEFORE, 'dir'), DIR, PARTIAL), 'stamp');
    assert.equal(plan(synced('directory', BEFORE, 'dir'), MARKER, COMPLETE), 'stamp');
  });

  test('keep-local: an inode without store state (written through Wharf) is never touched, whatever the store says', () => {
    for (const type of ['file', 'directory', 'symlink'] as const) {
      for (const s of [FILE, FILE_CHANGED, DIR, MARKER, undefined]) {
        for (const ctx of [PARTIAL, COMPLETE]) {
          for (const ctime of [BEFORE, AT, START + 1_000_000n]) {
            assert.equal(plan(own(type, ctime), s, ctx), 'keep-local', `${type} vs ${s?.type ?? 'absent'}, complete=${ctx.complete}`);
          }
        }
      }
    }
  });

  test('keep-local: a synced file with a write through Wharf on its way (pending) is neither updated, replaced nor deleted', () => {
    const pending = (ctime: bigint): Existing => ({ attr: attr('file', ctime), state: { gen: 3n, fingerprint: FILE.fingerprint, pending: true } });
    for (const s of [FILE, FILE_CHANGED, DIR, MARKER, undefined]) {
      for (const ctx of [PARTIAL, COMPLETE]) {
        assert.equal(plan(pending(BEFORE), s, ctx), 'keep-local', `vs ${s?.type ?? 'absent'}, complete=${ctx.complete}`);
      }
    }
  });

  test('delete: only when the listing is complete and nobody changed the entry since the sync started', () => {
    assert.equal(plan(synced('file'), undefined, COMPLETE), 'delete');
    assert.equal(plan(synced('directory', BEFORE, 'dir'), undefined, COMPLETE), 'delete');
    assert.equal(plan(synced('symlink'), undefined, COMPLETE), 'delete');
    // Unseen in a partial listing is not absent.
    assert.equal(plan(synced('file'), undefined, PARTIAL), 'none');
    assert.equal(plan(synced('directory', BEFORE, 'dir'), undefined, PARTIAL), 'none');
  });

  test('keep-recent: absent from a complete listing but changed since the start; a file turned directory, changed since the start', () => {
    assert.equal(plan(synced('file', AT), undefined, COMPLETE), 'keep-recent');
    assert.equal(plan(synced('file', START + 1n), undefined, COMPLETE), 'keep-recent');
    assert.equal(plan(synced('directory', AT, 'dir'), undefined, COMPLETE), 'keep-recent');
    assert.equal(plan(synced('file', AT), DIR, PARTIAL), 'keep-recent');
  });

  test('replace: a synced file the store now has as a directory; a changed symlink object', () => {
    assert.equal(plan(synced('file'), DIR, PARTIAL), 'replace');
    assert.equal(plan(synced('file'), MARKER, COMPLETE), 'replace');
    assert.equal(plan(synced('symlink'), FILE_CHANGED, PARTIAL), 'replace');
    assert.equal(plan(synced('symlink'), DIR, PARTIAL), 'replace');
    // A symlink is an object holding its target: a listing shows it as a plain object, and
    // the same fingerprint means it has not changed (without object metadata, a listing cannot tell).
    assert.equal(plan(synced('symlink'), FILE, PARTIAL), 'stamp');
    assert.equal(plan(synced('file'), { ...FILE_CHANGED, type: 'symlink', target: 't' }, PARTIAL), 'replace');
  });

  test('skip-shadowed: an object with the name of a synced directory (the directory wins)', () => {
    assert.equal(plan(synced('directory', BEFORE, 'dir'), FILE, PARTIAL), 'skip-shadowed');
    assert.equal(plan(synced('directory', AT, 'marker'), FILE, COMPLETE), 'skip-shadowed');
  });

  test('every action of SYNC_ACTIONS is reached by some case above', () => {
    assert.deepEqual([...seen].sort(), [...SYNC_ACTIONS].sort());
  });
});

describe('store state in inode records', () => {
  const file = { ino: 9n, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, nlink: 1, size: 1n, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, parent: 1n, version: 1n };

  test('the pending flag round-trips; no state reads back as none; generations span 64 bits', () => {
    assert.deepEqual(decodeRecordState(encodeRecord(file, { gen: 7n, fingerprint: '1:e:2', pending: true }, 'f')), { gen: 7n, fingerprint: '1:e:2', pending: true });
    assert.deepEqual(decodeRecordState(encodeRecord(file, { gen: 7n, fingerprint: '1:e:2' }, 'f')), { gen: 7n, fingerprint: '1:e:2' });
    assert.equal(decodeRecordState(encodeRecord(file, undefined, 'f')), undefined);
    assert.deepEqual(decodeRecordState(encodeRecord(file, { gen: 2n ** 64n - 1n, fingerprint: '' }, '')), { gen: 2n ** 64n - 1n, fingerprint: '' });
    assert.throws(() => encodeRecord(file, { gen: 2n ** 64n, fingerprint: 'x' }, 'f'), /out of range/);
    assert.throws(() => encodeRecord(file, { gen: 1n, fingerprint: 'x'.repeat(65_536) }, 'f'), /too long/);
  });

  test("layout 1's store state records (read by the migration): pending in the top bit of the generation", () => {
    assert.deepEqual(decodeStoreStateV1(encodeStoreStateV1({ gen: 7n, fingerprint: '1:e:2', pending: true })), { gen: 7n, fingerprint: '1:e:2', pending: true });
    const old = Buffer.concat([Buffer.from('0000000000000009', 'hex'), Buffer.from('dir')]);
    assert.deepEqual(decodeStoreStateV1(old), { gen: 9n, fingerprint: 'dir' });
  });
});

describe('isStale (the sweep after a complete listing at generation G)', () => {
  test('a synced entry of an older generation, unchanged since the start, is stale', () => {
    assert.equal(isStale(synced('file', BEFORE, 'x', 3n), 4n, START), true);
    assert.equal(isStale(synced('directory', BEFORE, 'dir', 0n), 4n, START), true);
  });
  test('refreshed by this generation (or a later one) is not', () => {
    assert.equal(isStale(synced('file', BEFORE, 'x', 4n), 4n, START), false);
    assert.equal(isStale(synced('file', BEFORE, 'x', 5n), 4n, START), false);
  });
  test('changed at or after the start is not', () => {
    assert.equal(isStale(synced('file', AT, 'x', 3n), 4n, START), false);
    assert.equal(isStale(synced('file', START + 1n, 'x', 3n), 4n, START), false);
  });
  test("Wharf's own entries never are", () => {
    for (const type of ['file', 'directory', 'symlink'] as const) assert.equal(isStale(own(type, 0n), 1n << 63n, START), false);
  });
  test('nor a synced file with a write on its way, however old its stamp', () => {
    assert.equal(isStale({ attr: attr('file', 0n), state: { gen: 0n, fingerprint: 'x', pending: true } }, 1n << 62n, START), false);
  });
});

describe('shouldSync (the sync interval)', () => {
  const NOW = 1_000_000;
  test('never synced: every interval syncs', () => {
    for (const i of [-1, 0, 1, 60_000]) assert.equal(shouldSync(i, undefined, NOW), true, String(i));
  });
  test('-1: never again after the first load, however old', () => {
    assert.equal(shouldSync(-1, NOW, NOW), false);
    assert.equal(shouldSync(-1, 0, NOW), false);
    assert.equal(shouldSync(-1, NOW - 1e9, NOW), false);
  });
  test('0: on every access, even one synced this millisecond', () => {
    assert.equal(shouldSync(0, NOW, NOW), true);
    assert.equal(shouldSync(0, NOW + 5, NOW), true);
  });
  test('N: only once the last sync is N ms old', () => {
    assert.equal(shouldSync(500, NOW - 499, NOW), false);
    assert.equal(shouldSync(500, NOW - 500, NOW), true);
    assert.equal(shouldSync(500, NOW - 501, NOW), true);
    assert.equal(shouldSync(500, NOW, NOW), false);
  });
});

test('fileFingerprint is "size:etag:mtimeMs"', () => {
  assert.equal(fileFingerprint(123n, 'abc', 456), '123:abc:456');
  assert.notEqual(fileFingerprint(1n, '2', 3), fileFingerprint(12n, '', 3));
});

describe('SeenInodes', () => {
  test('remembers exactly the inode numbers added, across growth', () => {
    const seen = new SeenInodes();
    const added = [1n, 2n, 31n, 32n, 33n, 1023n, 40_000n, 1_000_003n, 5_000_000_000n];
    for (const ino of added) seen.add(ino);
    for (const ino of added) assert.equal(seen.has(ino), true, `${ino} was added`);
    for (const ino of [0n, 3n, 30n, 34n, 1022n, 39_999n, 1_000_002n, 4_999_999_999n, 9_000_000_000n]) assert.equal(seen.has(ino), false, `${ino} was not`);
  });
});
