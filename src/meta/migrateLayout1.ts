// Migration of a layout-1 namespace (keys.ts): each inode's own name ('N') and store
// state ('F') move into its inode record (codec.ts, version 2).
//
// Crash-safe by construction: every batch rewrites some inode records together with
// the deletion of their 'N' and 'F' records, so an interrupted migration leaves each
// inode either wholly old or wholly new; a rerun skips records already at version 2.
// The format marker moves to 2 last, after the leftovers ('N'/'F' records of inodes
// that were gone: fsck's "wrong-name-record"/"orphan-sync-record" of layout 1) went.
//
// Damage is never made worse: an inode record that cannot be decoded stays as it is,
// with its 'N' and 'F' records (layout 1's fsck left such records to a person, and
// so does layout 2's: "unreadable-record"); an 'F' record that cannot be decoded
// leaves its inode without a store state (so no sync deletes it), with a warning.
import { logger } from '../common/index.js';
import type { Attr, Ino } from '../common/index.js';
import { decodeInode, decodeStoreStateV1, encodeRecord, isRecordV1, type StoreState } from './codec.js';
import { FORMAT_VERSION, familyRange, inodeKey, metaKey, nameKey, parseInoKey, parseInodeKey, storeStateKey } from './keys.js';
import type { Db } from './Txn.js';

const log = logger('meta');
const BATCH = 10_000;

export async function migrateLayout1(db: Db, location: string): Promise<{ inodes: number; unreadable: number }> {
  const t0 = Date.now();
  log.info({ dir: location }, 'migrating the namespace from layout 1 to layout 2 (names and store states into inode records)');
  let inodes = 0;
  let unreadable = 0;
  let pending: [Buffer, Attr][] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const inos = pending.map(([k]) => parseInodeKey(k));
    const [names, states] = await Promise.all([db.getMany(inos.map(nameKey)), db.getMany(inos.map(storeStateKey))]);
    const batch = db.batch();
    pending.forEach(([k, attr], i) => {
      const ino = inos[i]!;
      const name = names[i]?.toString('utf8');
      if (name === undefined && ino !== 1n) log.warn({ dir: location, ino: String(ino) }, 'inode without a name record: migrated with an empty name (wharf fsck --repair restores it from its entry)');
      batch.put(k, encodeRecord(attr, storeState(location, ino, states[i]), name ?? ''));
      batch.del(nameKey(ino));
      batch.del(storeStateKey(ino));
    });
    await batch.write();
    inodes += pending.length;
    pending = [];
  };
  for await (const [k, v] of db.iterator(familyRange('inode'))) {
    if (!isRecordV1(v)) continue;
    let attr: Attr;
    try {
      attr = decodeInode(parseInodeKey(k), v);
    } catch (e) {
      unreadable++;
      log.warn({ dir: location, ino: String(parseInodeKey(k)), err: (e as Error).message }, 'unreadable inode record left as it is (wharf fsck reports it)');
      continue;
    }
    pending.push([k, attr]);
    if (pending.length >= BATCH) await flush();
  }
  await flush();
  // What is left of the old families belongs to inodes that are gone, or to records
  // left as they were above: only the former go.
  for (const family of ['name', 'storeState'] as const) {
    let keys: Buffer[] = [];
    const drop = async (): Promise<void> => {
      const records = await db.getMany(keys.map((k) => inodeKey(parseInoKey(k))));
      const gone = keys.filter((_k, i) => records[i] === undefined);
      if (gone.length > 0) await db.batch(gone.map((key) => ({ type: 'del' as const, key })));
      keys = [];
    };
    for await (const k of db.keys(familyRange(family))) {
      keys.push(k);
      if (keys.length >= BATCH) await drop();
    }
    if (keys.length > 0) await drop();
  }
  const fmt = Buffer.allocUnsafe(4);
  fmt.writeUInt32BE(FORMAT_VERSION);
  await db.put(metaKey('format'), fmt, { sync: true });
  log.info({ dir: location, inodes, unreadable, ms: Date.now() - t0 }, 'namespace migrated to layout 2');
  return { inodes, unreadable };
}

function storeState(location: string, ino: Ino, raw: Buffer | undefined): StoreState | undefined {
  if (raw === undefined) return undefined;
  try {
    return decodeStoreStateV1(raw);
  } catch (e) {
    log.warn({ dir: location, ino: String(ino), err: (e as Error).message }, 'unreadable store state record: the inode is migrated as Wharf\'s own (no sync changes it)');
    return undefined;
  }
}
