// The ONE place that maps object keys under a mount prefix to namespace paths and
// back. Sync, cache and write-back all go through it; nothing else splits keys.
// The same rules, as a table, are in KEYS.md beside this file.
//
// A mount prefix is "" (the whole bucket) or a key prefix ending in '/' whose
// segments are well-formed names. For a key K under prefix P, rest = K minus P:
//
//   rest                      result
//   ""  (K equals P)          dir-marker, parts [] — the mount root itself
//   "a/b"                     file        [a, b]
//   "a/b/"                    dir-marker  [a, b]  (the body, if any, is ignored)
//   "a//b", "/a", "a/b//"     skip: empty segment. Not collapsed: "a//b" and "a/b"
//                             would both become /a/b and one would shadow the other
//   "a/./b", "a/../b"         skip: "." and ".." are not names (and ".." would
//                             address a parent, possibly outside the mount)
//   segment > 255 bytes       skip: no file system can hold the name
//   path > 4,096 bytes        skip: over PATH_MAX
//   NUL anywhere              skip
//   K not starting with P     skip: outside the mount
//
// Conflicts need more than one key, so mapKeys() decides them over a set of keys:
// when an object "a" and keys under "a/" both exist, THE DIRECTORY WINS and the
// object is skipped with a reason. A directory is the only way to reach the keys
// below it, while the skipped object stays readable in the store; choosing the
// object would hide a whole subtree. Callers log skipped keys (warnSkipped).
//
// Safety: every part returned is a valid name (common/names checkName), so a
// mapped path can only address something below the mount root; pathToKey only
// builds keys that start with the prefix. keyToPath(P, pathToKey(P, parts, d))
// returns the same parts and kind (a tested round trip).
import { normalize } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkName, MAX_NAME_BYTES, MAX_PATH_BYTES, WharfError, type Logger } from '../common/index.js';
import { MAX_KEY_BYTES } from './checks.js';

export type KeyMapping =
  | { kind: 'file' | 'dir-marker'; parts: string[] }
  | { kind: 'skip'; reason: string };

/** Throws EINVAL unless `prefix` is a usable mount prefix ("" or "seg/.../"). */
export function checkMountPrefix(prefix: string): void {
  if (prefix === '') return;
  if (!prefix.endsWith('/')) throw new WharfError('EINVAL', `mount prefix ${JSON.stringify(prefix)} must end with '/'`);
  for (const seg of prefix.slice(0, -1).split('/')) {
    try {
      checkName(seg);
    } catch (e) {
      throw new WharfError('EINVAL', `mount prefix ${JSON.stringify(prefix)}: ${(e as Error).message}`);
    }
  }
}

export function keyToPath(prefix: string, key: string): KeyMapping {
  checkMountPrefix(prefix);
  if (!key.startsWith(prefix)) return { kind: 'skip', reason: 'not under the mount prefix' };
  const rest = key.slice(prefix.length);
  if (rest === '') return { kind: 'dir-marker', parts: [] };
  if (rest.includes('\0')) return { kind: 'skip', reason: 'contains NUL' };
  if (!rest.isWellFormed()) return { kind: 'skip', reason: 'not valid UTF-8' };
  const isDir = rest.endsWith('/');
  const parts = (isDir ? rest.slice(0, -1) : rest).split('/');
  let pathBytes = 0;
  for (const p of parts) {
    if (p === '') return { kind: 'skip', reason: 'empty path segment (repeated, leading or trailing "/")' };
    if (p === '.' || p === '..') return { kind: 'skip', reason: `"${p}" path segment` };
    const bytes = Buffer.byteLength(p, 'utf8');
    if (bytes > MAX_NAME_BYTES) return { kind: 'skip', reason: `a segment is ${bytes} bytes; the limit is ${MAX_NAME_BYTES}` };
    pathBytes += bytes + 1;
  }
  if (pathBytes > MAX_PATH_BYTES) return { kind: 'skip', reason: `the path is ${pathBytes} bytes; the limit is ${MAX_PATH_BYTES}` };
  return { kind: isDir ? 'dir-marker' : 'file', parts };
}

/**
 * The key of a namespace path: prefix + parts joined by '/', plus '/' for a
 * directory marker. Throws EINVAL/ENAMETOOLONG for a part that is not a name,
 * for the root as a file, and for the root marker of a whole-bucket mount (no key).
 */
export function pathToKey(prefix: string, parts: readonly string[], isDir: boolean): string {
  checkMountPrefix(prefix);
  for (const p of parts) checkName(p);
  if (parts.length === 0) {
    if (!isDir) throw new WharfError('EINVAL', 'the mount root is a directory, not an object');
    if (prefix === '') throw new WharfError('EINVAL', 'a whole-bucket mount root has no marker key');
    return prefix;
  }
  const key = prefix + parts.join('/') + (isDir ? '/' : '');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new WharfError('ENAMETOOLONG', `key is ${bytes} bytes; the store limit is ${MAX_KEY_BYTES}`);
  return key;
}

export interface MappedEntry {
  parts: string[];
  kind: 'file' | 'dir';
  /** The object behind the entry: a file's key, or a directory's marker key; absent for implied directories. */
  key?: string;
}

export interface MappedKeys {
  /** Files and directories (explicit or implied by deeper keys), sorted by path; the root is not included. */
  entries: MappedEntry[];
  skipped: { key: string; reason: string }[];
}

/**
 * Maps a set of keys (from a flat listing, in any order, or a delimited listing's
 * objects and prefixes) to a tree, deciding object/directory conflicts: the
 * directory wins. All pages of a listing must be passed together, since the two
 * sides of a conflict can be on different pages.
 */
export function mapKeys(prefix: string, keys: Iterable<string>): MappedKeys {
  const dirs = new Map<string, MappedEntry>();
  const files = new Map<string, MappedEntry>();
  const skipped: { key: string; reason: string }[] = [];
  for (const key of keys) {
    const m = keyToPath(prefix, key);
    if (m.kind === 'skip') { skipped.push({ key, reason: m.reason }); continue; }
    // Every ancestor is a directory, implied if it has no marker of its own.
    for (let i = 1; i < m.parts.length; i++) {
      const id = m.parts.slice(0, i).join('/');
      if (!dirs.has(id)) dirs.set(id, { parts: m.parts.slice(0, i), kind: 'dir' });
    }
    if (m.parts.length === 0) continue; // the mount root's own marker
    const id = m.parts.join('/');
    if (m.kind === 'dir-marker') dirs.set(id, { parts: m.parts, kind: 'dir', key });
    else files.set(id, { parts: m.parts, kind: 'file', key });
  }
  const entries = [...dirs.values()];
  for (const [id, f] of files) {
    if (dirs.has(id)) skipped.push({ key: f.key!, reason: `an object and a directory share the path /${id}; the directory wins` });
    else entries.push(f);
  }
  entries.sort((a, b) => comparePaths(a.parts, b.parts));
  return { entries, skipped };
}

function comparePaths(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(Buffer.from(a[i]!, 'utf8'), Buffer.from(b[i]!, 'utf8'));
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Logs skipped keys as warnings: the first `limit` one by one, then a count. */
export function warnSkipped(log: Logger, skipped: readonly { key: string; reason: string }[], limit = 20): void {
  for (const s of skipped.slice(0, limit)) log.warn({ key: s.key, reason: s.reason }, 'object key skipped: it does not map to a path');
  if (skipped.length > limit) log.warn({ more: skipped.length - limit }, 'more object keys skipped');
}

/** A parsed store URI; `uri` is its canonical form (what to record and compare). */
export type StoreLocation =
  | { scheme: 's3'; bucket: string; prefix: string; uri: string }
  | { scheme: 'file'; root: string; prefix: ''; uri: string };

// Bucket names as S3 (and older, laxer S3-compatible stores) allow them.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

/**
 * Parses 's3://bucket[/prefix]' or 'file:///abs/dir' (or a plain absolute path).
 * An S3 prefix is taken literally, as the AWS CLI does (no percent-decoding),
 * and gets a trailing '/'; a file URI's whole path is the store root.
 */
export function parseStoreUri(uri: string): StoreLocation {
  if (uri.startsWith('s3://')) {
    const rest = uri.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    if (!BUCKET.test(bucket)) throw new WharfError('EINVAL', `${JSON.stringify(uri)}: bad bucket name`);
    let prefix = slash < 0 ? '' : rest.slice(slash + 1);
    if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
    checkMountPrefix(prefix);
    return { scheme: 's3', bucket, prefix, uri: `s3://${bucket}/${prefix}` };
  }
  if (uri.startsWith('file:')) {
    let root: string;
    try {
      root = fileURLToPath(uri);
    } catch (e) {
      throw new WharfError('EINVAL', `${JSON.stringify(uri)}: ${(e as Error).message}`);
    }
    return fileLocation(root);
  }
  if (uri.startsWith('/')) return fileLocation(uri);
  throw new WharfError('EINVAL', `${JSON.stringify(uri)}: expected s3://bucket/prefix, file:///dir or an absolute path`);
}

function fileLocation(path: string): StoreLocation {
  let root = normalize(path);
  if (root.length > 1 && root.endsWith('/')) root = root.slice(0, -1);
  return { scheme: 'file', root, prefix: '', uri: pathToFileURL(root).href };
}
