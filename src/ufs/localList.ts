// LocalStore's listing: S3 semantics over a directory tree.
//
// Order is by UTF-8 key bytes, as real S3 lists. A depth-first walk gives that
// order when each directory's entries are sorted by their key form ("name/" for
// a directory, "name" for a file): every key under "d/" shares that prefix, so it
// compares with a sibling's key exactly as "d/" does.
//
// Only empty directories are listed as markers ("d/"): a non-empty directory is
// already implied by its children, and S3 lists a prefix's objects, not the prefix.
// The continuation token is the last key (or common prefix) returned; a subtree
// that sorts wholly before it is skipped without being read. A walk paused at the
// end of a page is kept for a while (ListCursors), so the next page continues it
// instead of reading its directories again.
//
// Synchronous file system calls on purpose: this runs in the listing worker thread
// (localListWorker.ts), where blocking is the point, and an lstat costs a third of
// what it costs through a promise and the thread pool.
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { WharfError } from '../common/index.js';
import { absPath, dirEtag, fileEtag, localKeyProblem, mtimeMs, RESERVED } from './localLayout.js';
import { compareKeys } from './checks.js';
import type { ListPage, ObjectInfo } from './UnderStore.js';

type Item = { kind: 'object'; info: ObjectInfo } | { kind: 'prefix'; key: string };

interface Walk {
  root: string;
  prefix: string;
  /** The part of the prefix after its last '/': first-level names must start with it. */
  namePrefix: string;
  delimited: boolean;
  after: string | undefined;
}

/** A paused walk, by what the page after it would be asked with. */
export class ListCursors {
  private readonly walks = new Map<string, { walk: Generator<Item>; at: number }>();

  constructor(private readonly max = 16, private readonly maxAgeMs = 30_000) {}

  take(key: string): Generator<Item> | undefined {
    const c = this.walks.get(key);
    this.walks.delete(key);
    return c && Date.now() - c.at <= this.maxAgeMs ? c.walk : undefined;
  }

  keep(key: string, walk: Generator<Item>): void {
    for (const [k, c] of this.walks) if (this.walks.size >= this.max || Date.now() - c.at > this.maxAgeMs) this.walks.delete(k);
    this.walks.set(key, { walk, at: Date.now() });
  }
}

export function listLocal(root: string, prefix: string, delimited: boolean, maxKeys: number, token: string | undefined, cursors?: ListCursors): ListPage {
  const after = token === undefined ? undefined : decodeToken(token);
  const slash = prefix.lastIndexOf('/');
  const baseKey = prefix.slice(0, slash + 1);
  const page: ListPage = { objects: [], prefixes: [] };
  // A base that no local key can start with ("a//", "../") lists nothing.
  if (baseKey !== '' && localKeyProblem(baseKey) !== undefined) return page;
  const cursorKey = (t: string | undefined) => `${root}\0${prefix}\0${delimited}\0${t ?? ''}`;
  const walk = cursors?.take(cursorKey(token)) ?? walkDir({ root, prefix, namePrefix: prefix.slice(slash + 1), delimited, after }, baseKey, true);
  let count = 0;
  let last = '';
  for (;;) {
    if (count === maxKeys) {
      page.nextToken = encodeToken(last);
      cursors?.keep(cursorKey(page.nextToken), walk);
      break;
    }
    const next = walk.next();
    if (next.done) break;
    const item = next.value;
    if (item.kind === 'object') { page.objects.push(item.info); last = item.info.key; }
    else { page.prefixes.push(item.key); last = item.key; }
    count++;
  }
  return page;
}

function encodeToken(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (token === '' || encodeToken(key) !== token) throw new WharfError('EINVAL', 'malformed continuation token');
  return key;
}

/** Directory entries as keys, sorted by key bytes; names that are not UTF-8 are left out. */
function entries(root: string, dirKey: string): { key: string; isDir: boolean }[] | undefined {
  let dirents: Dirent<Buffer>[];
  try {
    dirents = readdirSync(absPath(root, dirKey === '' ? [] : dirKey.slice(0, -1).split('/')), { withFileTypes: true, encoding: 'buffer' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  const out: { key: string; isDir: boolean }[] = [];
  for (const d of dirents) {
    const name = d.name.toString('utf8');
    // A name that does not survive UTF-8 decoding cannot be a key; symlinks,
    // sockets and devices are never objects (following a link could leave the root).
    if (!Buffer.from(name, 'utf8').equals(d.name)) continue;
    if (dirKey === '' && name === RESERVED) continue;
    if (d.isDirectory()) out.push({ key: `${dirKey}${name}/`, isDir: true });
    else if (d.isFile()) out.push({ key: `${dirKey}${name}`, isDir: false });
  }
  out.sort((a, b) => compareKeys(a.key, b.key));
  return out;
}

function* walkDir(w: Walk, dirKey: string, first: boolean): Generator<Item> {
  const list = entries(w.root, dirKey);
  if (list === undefined) return;
  const matching = first ? list.filter((e) => e.key.startsWith(w.prefix)) : list;
  if (list.length === 0 && dirKey !== '' && dirKey.startsWith(w.prefix) && (w.after === undefined || compareKeys(dirKey, w.after) > 0)) {
    const st = statOrUndefined(w.root, dirKey);
    if (st?.isDirectory()) yield { kind: 'object', info: { key: dirKey, size: 0n, etag: dirEtag(st), mtimeMs: mtimeMs(st) } };
    return;
  }
  for (const e of matching) {
    const beforeToken = w.after !== undefined && compareKeys(e.key, w.after) <= 0;
    if (e.isDir) {
      if (w.delimited && first) {
        if (!beforeToken) yield { kind: 'prefix', key: e.key };
      } else if (!beforeToken || w.after!.startsWith(e.key)) {
        yield* walkDir(w, e.key, false);
      }
      continue;
    }
    if (beforeToken) continue;
    const st = statOrUndefined(w.root, e.key);
    // Raced with a delete or replaced by a directory: leave it out.
    if (st?.isFile()) yield { kind: 'object', info: { key: e.key, size: st.size, etag: fileEtag(st), mtimeMs: mtimeMs(st) } };
  }
}

function statOrUndefined(root: string, key: string) {
  const segs = (key.endsWith('/') ? key.slice(0, -1) : key).split('/');
  try {
    return lstatSync(absPath(root, segs), { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined; // replaced by something unreadable since the readdir: left out
  }
}
