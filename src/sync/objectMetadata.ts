// Reading owner, mode, time and symlinks from objects written by s3fs or rclone
// (x-amz-meta-mode/uid/gid/mtime; a symlink is an object holding its target with
// S_IFLNK in its mode). A listing does not carry user metadata, so this costs a HEAD
// per object: it is done only for sources that ask for it, and only for objects that
// are new or changed since the last sync — an unchanged re-sync sends no HEAD.
import pLimit from 'p-limit';
import { WharfError, type Ino } from '../common/index.js';
import type { InodeTree } from '../meta/index.js';
import type { UnderStore } from '../ufs/index.js';
import { objectAttrs, type StoreEntry } from './SyncPlan.js';

const HEADS_IN_FLIGHT = 16;
const MAX_SYMLINK_BODY = 4096;

export interface ObjectRef {
  key: string;
  name: string;
  entry: StoreEntry;
}

/** Fills `entry.meta` (and symlink targets) of the objects of one directory that the namespace does not already have. */
export async function readObjectMetadata(tree: InodeTree, store: UnderStore, dirIno: Ino | undefined, objects: readonly ObjectRef[]): Promise<void> {
  let todo = objects;
  if (dirIno !== undefined) {
    // A hint read outside any transaction: at worst an object is asked about once more.
    const inos = await tree.lookupMany(dirIno, objects.map((o) => o.name));
    const states = await tree.getStoreStates(inos.map((i) => i ?? 0n));
    todo = objects.filter((o, i) => inos[i] === undefined || states[i]?.fingerprint !== o.entry.fingerprint);
  }
  const limit = pLimit(HEADS_IN_FLIGHT);
  await Promise.all(todo.map((o) => limit(async () => {
    const head = await store.head(o.key);
    if (!head) return; // deleted since the listing: the next sync sees it gone
    const attrs = objectAttrs(head.metadata);
    const { symlink, special, rdev, ...meta } = attrs;
    o.entry.meta = meta;
    // An empty object whose mode names a FIFO, socket or device is one (as s3fs keeps them).
    if (special && head.size === 0n) {
      o.entry.type = special;
      if (rdev !== undefined) o.entry.rdev = rdev;
    }
    if (symlink && head.size <= BigInt(MAX_SYMLINK_BODY)) {
      o.entry.type = 'symlink';
      o.entry.target = await readBody(store, o.key);
    }
  })));
}

async function readBody(store: UnderStore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key)) chunks.push(c as Buffer);
  const target = Buffer.concat(chunks).toString('utf8');
  if (target === '' || target.includes('\0')) throw new WharfError('EIO', `${key}: a symlink object without a usable target`);
  return target;
}
