// How LocalStore lays keys out on disk. The one place that turns a key into a
// file-system path, so the rule "no key escapes the root" is checked once.
//
//   key "a/b/c"   → file  ROOT/a/b/c
//   key "a/b/"    → directory ROOT/a/b (a directory marker)
//   ROOT/.wharf/  → reserved: tmp/ (puts in progress) and meta/ (user metadata
//                   sidecars); never listed, and keys under it are refused.
//
// Keys that a directory tree cannot represent are refused with EINVAL: empty
// segments ("a//b", a leading '/'), "." and "..", and a segment over 255 bytes
// (ENAMETOOLONG). S3 accepts all of these; KeyMapping skips them anyway.
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { MAX_NAME_BYTES, WharfError } from '../common/index.js';
import { checkKey } from './checks.js';

export const RESERVED = '.wharf';

export interface LocalKey {
  key: string;
  /** Path segments below the root; for a marker, the directory's own path. */
  segs: string[];
  isDir: boolean;
}

/** Splits and checks a key; throws EINVAL/ENAMETOOLONG for keys a directory tree cannot hold. */
export function parseLocalKey(key: unknown): LocalKey {
  checkKey(key);
  const problem = localKeyProblem(key);
  if (problem) throw new WharfError(problem.errno, `key ${JSON.stringify(key)}: ${problem.reason}`);
  const isDir = key.endsWith('/');
  return { key, segs: (isDir ? key.slice(0, -1) : key).split('/'), isDir };
}

/** Why a (syntactically valid) key cannot be stored under a local root, or undefined. */
export function localKeyProblem(key: string): { errno: 'EINVAL' | 'ENAMETOOLONG'; reason: string } | undefined {
  if (key.startsWith('/')) return { errno: 'EINVAL', reason: 'absolute keys are refused' };
  const body = key.endsWith('/') ? key.slice(0, -1) : key;
  const segs = body.split('/');
  for (const s of segs) {
    if (s === '') return { errno: 'EINVAL', reason: 'empty path segment' };
    if (s === '.' || s === '..') return { errno: 'EINVAL', reason: `"${s}" segment` };
    if (Buffer.byteLength(s, 'utf8') > MAX_NAME_BYTES) return { errno: 'ENAMETOOLONG', reason: `a segment is over ${MAX_NAME_BYTES} bytes` };
  }
  if (segs[0] === RESERVED) return { errno: 'EINVAL', reason: `"${RESERVED}/" is reserved by the local store` };
  return undefined;
}

export function absPath(root: string, segs: readonly string[]): string {
  return segs.length === 0 ? root : join(root, ...segs);
}

export function tmpDir(root: string): string {
  return join(root, RESERVED, 'tmp');
}

/** The sidecar holding a key's user metadata: named by the key's hash, so any key fits. */
export function metaPath(root: string, key: string): string {
  const h = createHash('sha256').update(key, 'utf8').digest('hex');
  return join(root, RESERVED, 'meta', h.slice(0, 2), `${h}.json`);
}

/**
 * The etag of a local file: inode, size and mtime in nanoseconds. Not a content
 * hash (that would mean reading every file to list it); it changes on every put,
 * because a put renames a new inode into place. Copies get a new etag.
 */
export function fileEtag(st: BigIntStats): string {
  return `${st.ino.toString(16)}-${st.size.toString(16)}-${st.mtimeNs.toString(16)}`;
}

/** A directory's mtime changes with its entries, so a marker's etag is its inode alone. */
export function dirEtag(st: BigIntStats): string {
  return `d-${st.ino.toString(16)}`;
}

export function mtimeMs(st: BigIntStats): number {
  return Number(st.mtimeNs / 1_000_000n);
}
