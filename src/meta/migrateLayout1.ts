// Migration of a layout-1 namespace (keys.ts): each inode's own name ('N') and store
// state ('F') move into its inode record (codec.ts, version 2).
//
// Crash-safe by construction: every batch rewrites some inode records together with
// the deletion of their 'N' and 'F' records, so an interrupted migration leaves each
// inode either wholly old or wholly new; a rerun skips records already at version 2.
// The format marker moves to 2 last, after the leftovers ('N'/'F' records of inodes
// that were gone: fsck's "wrong-name-record"/"orphan-sync-record" of layout 1) went.
import { logger } from '../common/index.js';
import { decodeInode, decodeStoreStateV1, encodeRecord, isRecordV1 } from './codec.js';
import { FORMAT_VERSION, familyRange, metaKey, nameKey, parseInodeKey, storeStateKey } from './keys.js';
import type { Db } from './Txn.js';

const log = logger('meta');
const BATCH = 10_000;

export async function migrateLayout1(db: Db, location: string): Promise<{ inodes: number }> {
  const t0 = Date.now();
  log.info({ dir: location }, 'migrating the namespace from layout 1 to layout 2 (names and store states into inode records)');
  let inodes = 0;
  let pending: [Buffer, Buffer][] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const inos = pending.map(([k]) => parseInodeKey(k));
    const [names, states] = await Promise.all([db.getMany(inos.map(nameKey)), db.getMany(inos.map(storeStateKey))]);
    const batch = db.batch();
    pending.forEach(([k, v], i) => {
      const ino = inos[i]!;
      const state = states[i] === undefined ? undefined : decodeStoreStateV1(states[i]!);
      batch.put(k, encodeRecord(decodeInode(ino, v), state, names[i]?.toString('utf8') ?? ''));
      batch.del(nameKey(ino));
      batch.del(storeStateKey(ino));
    });
    await batch.write();
    inodes += pending.length;
    pending = [];
  };
  for await (const [k, v] of db.iterator(familyRange('inode'))) {
    if (!isRecordV1(v)) continue;
    pending.push([k, v]);
    if (pending.length >= BATCH) await flush();
  }
  await flush();
  for (const family of ['name', 'storeState'] as const) {
    let leftovers: Buffer[] = [];
    for await (const k of db.keys(familyRange(family))) {
      leftovers.push(k);
      if (leftovers.length >= BATCH) {
        await db.batch(leftovers.map((key) => ({ type: 'del' as const, key })));
        leftovers = [];
      }
    }
    if (leftovers.length > 0) await db.batch(leftovers.map((key) => ({ type: 'del' as const, key })));
  }
  const fmt = Buffer.allocUnsafe(4);
  fmt.writeUInt32BE(FORMAT_VERSION);
  await db.put(metaKey('format'), fmt, { sync: true });
  log.info({ dir: location, inodes, ms: Date.now() - t0 }, 'namespace migrated to layout 2');
  return { inodes };
}
