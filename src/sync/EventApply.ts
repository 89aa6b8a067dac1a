// Applies the store changes an event stream reported (src/events) to the
// namespace, in one transaction, with the caller's own writes (the event ledger) in
// that same transaction: a crash leaves both or neither.
//   put    — the object as a synced file (parents created as synced directories), or
//            a directory marker as a directory; a client's own file of that name, or
//            one changed since, is left alone (as a sync would).
//   delete — the synced entry goes (a directory only when empty); Wharf's own
//            entries (no store state, or pending upload) stay.
//   stale  — the event could not be trusted (no size or ETag): the parent directory
//            is marked unlisted, so its next access lists it from the store.
import pLimit from 'p-limit';
import { nowNs, type Ino } from '../common/index.js';
import type { Txn } from '../meta/index.js';
import { keyToPath } from '../ufs/index.js';
import type { MountPoint } from './SyncExecutor.js';
import { SyncCounters } from './SyncCounters.js';
import { fileFingerprint, type StoreEntry } from './SyncPlan.js';
import { DEFAULTS, SyncWriter } from './SyncWriter.js';

export type StoreChange =
  | { op: 'put'; key: string; size: bigint; etag: string; mtimeMs: number }
  | { op: 'delete'; key: string }
  | { op: 'stale'; key: string };

/** applied: one of a directory's batch of puts (created, updated or unchanged); superseded: a later change of the same key in the batch decided. */
export type ChangeOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'absent' | 'kept' | 'skipped' | 'marked-stale' | 'applied' | 'superseded';

/** Walks to the directory at `parts` without creating anything; undefined if it is not there. */
async function findDir(tx: Txn, rootIno: Ino, parts: readonly string[]): Promise<Ino | undefined> {
  let at = rootIno;
  for (const p of parts) {
    const d = await tx.getDentry(at, p);
    if (!d || d.type !== 'directory') return undefined;
    at = d.ino;
  }
  return at;
}

/**
 * Many changes in order, in one transaction (a stream's batch: one LevelDB write
 * for all, the directories on the way resolved once). `alsoInTxn` gets each
 * change's outcome and writes its own records in the same transaction.
 */
export async function applyStoreChanges(m: MountPoint, changes: readonly StoreChange[], gen: bigint, alsoInTxn?: (tx: Txn, outcomes: ChangeOutcome[]) => void): Promise<ChangeOutcome[]> {
  // Only a key's last change in the batch shapes the namespace (the ledger already
  // ordered them): earlier ones are superseded. Different keys commute, so the puts
  // of files are grouped by directory and applied with batched reads (applyMany);
  // the rest (deletes, directory markers, stale marks) one by one, in order.
  const lastOf = new Map<string, number>();
  changes.forEach((c, i) => lastOf.set(c.key, i));
  const outcomes: ChangeOutcome[] = changes.map((c, i) => (lastOf.get(c.key) === i ? 'kept' : 'superseded'));
  const groups = new Map<string, { parts: string[]; items: { index: number; name: string; entry: StoreEntry }[] }>();
  const singles: number[] = [];
  const touchedBySingles = new Set<string>();
  // Directories this batch puts something below: a marker's delete must keep them
  // (the transaction's staged children are not what isEmptyDir reads).
  const filled = new Set<string>();
  const fill = (parts: readonly string[]) => { for (let n = 1; n <= parts.length; n++) filled.add(parts.slice(0, n).join('/')); };
  changes.forEach((c, i) => {
    if (outcomes[i] === 'superseded') return;
    const mapped = keyToPath(m.prefix, c.key);
    if (mapped.kind === 'skip') { outcomes[i] = 'skipped'; return; }
    if (c.op === 'put') fill(mapped.parts.slice(0, -1));
    if (c.op === 'put' && mapped.kind === 'file') {
      const dir = mapped.parts.slice(0, -1);
      const k = dir.join('/');
      const g = groups.get(k) ?? { parts: dir, items: [] };
      g.items.push({ index: i, name: mapped.parts[mapped.parts.length - 1]!, entry: { type: 'file', fingerprint: fileFingerprint(c.size, c.etag, c.mtimeMs), size: c.size, mtimeMs: c.mtimeMs } });
      groups.set(k, g);
      return;
    }
    singles.push(i);
    touchedBySingles.add(mapped.parts.join('/'));
  });
  return m.tree.write(`events: ${changes.length}`, async (tx) => {
    const counters = new SyncCounters();
    const newWriter = () => new SyncWriter(tx, m.rootIno, gen, { startNs: nowNs(), complete: false }, m.defaults ?? DEFAULTS, counters, true);
    let writer = newWriter();
    // Directories resolved (and created) one after another — two groups may share a
    // missing ancestor — then each directory's files applied concurrently: each
    // group reads and writes only its own directory's entries and times, so their
    // awaits interleave without touching each other's state.
    const ready: { k: string; dirIno: Ino; items: { index: number; name: string; entry: StoreEntry }[] }[] = [];
    for (const [k, g] of groups) {
      const dirIno = await writer.dir(g.parts);
      for (const it of g.items) outcomes[it.index] = dirIno === null ? 'kept' : 'applied';
      if (dirIno !== null) ready.push({ k, dirIno, items: g.items });
    }
    const limit = pLimit(16);
    // A name another change of this batch looks at again is read back, not batch-created.
    await Promise.all(ready.map((g) => limit(() => writer.applyMany(g.dirIno, g.items, (name) => touchedBySingles.has(g.k === '' ? name : `${g.k}/${name}`)))));
    for (const i of singles) {
      const o = await applyOne(tx, m, writer, counters, changes[i]!, filled);
      // A removed directory may sit in the writer's cache of resolved directories: start afresh.
      if (o === 'deleted-dir') writer = newWriter();
      outcomes[i] = o === 'deleted-dir' ? 'deleted' : o;
    }
    alsoInTxn?.(tx, outcomes);
    return outcomes;
  });
}

async function applyOne(tx: Txn, m: MountPoint, writer: SyncWriter, counters: SyncCounters, c: StoreChange, filled: ReadonlySet<string> = new Set()): Promise<ChangeOutcome | 'deleted-dir'> {
  const mapped = keyToPath(m.prefix, c.key);
  if (mapped.kind === 'skip') return 'skipped';
  const parts = mapped.parts;
  if (c.op === 'stale') {
    const dir = await findDir(tx, m.rootIno, mapped.kind === 'dir-marker' ? parts : parts.slice(0, -1));
    if (dir !== undefined) tx.putSyncTimes(dir, { listedMs: 0, treeMs: 0 });
    return 'marked-stale';
  }
  const before = { created: counters.created, updated: counters.updated, unchanged: counters.unchanged };
  if (c.op === 'put') {
    if (mapped.kind === 'dir-marker') {
      if (parts.length === 0) return 'unchanged';
      const ino = await writer.dir(parts);
      return ino === null ? 'kept' : counters.created > before.created ? 'created' : 'unchanged';
    }
    const dirIno = await writer.dir(parts.slice(0, -1));
    if (dirIno === null) return 'kept';
    const entry: StoreEntry = { type: 'file', fingerprint: fileFingerprint(c.size, c.etag, c.mtimeMs), size: c.size, mtimeMs: c.mtimeMs };
    const ino = await writer.apply(dirIno, parts[parts.length - 1]!, entry);
    if (ino === null) return 'kept';
    return counters.created > before.created ? 'created' : counters.updated > before.updated ? 'updated' : counters.unchanged > before.unchanged ? 'unchanged' : 'kept';
  }
  // delete
  if (parts.length === 0) return 'kept';
  const dirIno = await findDir(tx, m.rootIno, parts.slice(0, -1));
  if (dirIno === undefined) return 'absent';
  const name = parts[parts.length - 1]!;
  const d = await tx.getDentry(dirIno, name);
  if (!d) return 'absent';
  if ((d.type === 'directory') !== (mapped.kind === 'dir-marker')) return 'kept'; // an object's event does not remove a directory, nor a marker's a file
  const attr = await tx.getAttr(d.ino);
  const state = await tx.getStoreState(d.ino);
  if (!attr || !state || state.pending) return 'kept';
  if (attr.type === 'directory' && (filled.has(parts.join('/')) || !(await tx.isEmptyDir(attr.ino)))) return 'kept';
  if (attr.type !== 'directory' && attr.nlink > 1 && !(await tx.isPrimaryName(attr, dirIno, name))) return 'kept';
  await tx.removeChild(dirIno, name, attr);
  // mtime only, as a sweep does: ctime is how sync tells a client's change (SyncPlan).
  const dir = await tx.getAttr(dirIno);
  if (dir) tx.putAttr({ ...dir, nlink: dir.nlink - (attr.type === 'directory' ? 1 : 0), mtimeNs: nowNs() });
  return attr.type === 'directory' ? 'deleted-dir' : 'deleted';
}
