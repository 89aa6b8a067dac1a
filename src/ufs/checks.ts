// Argument checks shared by every store, so that all stores reject the same
// inputs with the same errno (the conformance suite holds them to it).
import { WharfError } from '../common/index.js';
import type { ByteRange, ListOptions } from './UnderStore.js';

/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** S3's limit on all user metadata names and values together, in bytes. */
export const MAX_METADATA_BYTES = 2048;
export const MAX_LIST_KEYS = 1000;

/** A key every store accepts: non-empty, no NUL, well-formed, at most 1,024 bytes. */
export function checkKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new WharfError('EINVAL', `${what} must be a non-empty string`);
  if (key.includes('\0')) throw new WharfError('EINVAL', `${what} contains NUL`);
  if (!key.isWellFormed()) throw new WharfError('EINVAL', `${what} is not valid UTF-8`);
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new WharfError('ENAMETOOLONG', `${what} is ${bytes} bytes; the limit is ${MAX_KEY_BYTES}`);
}

/** A prefix may be empty; otherwise it obeys the key rules. */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (prefix === '') return;
  checkKey(prefix, 'prefix');
}

export function checkListOptions(opts: ListOptions): number {
  if (opts.delimiter !== undefined && opts.delimiter !== '/') throw new WharfError('EINVAL', `unsupported delimiter ${JSON.stringify(opts.delimiter)}`);
  const maxKeys = opts.maxKeys ?? MAX_LIST_KEYS;
  if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > MAX_LIST_KEYS) throw new WharfError('EINVAL', `maxKeys must be an integer in 1..${MAX_LIST_KEYS}`);
  return maxKeys;
}

export function checkRange(range: ByteRange | undefined): void {
  if (range === undefined) return;
  if (typeof range.start !== 'bigint' || range.start < 0n) throw new WharfError('EINVAL', 'range start must be a non-negative bigint');
  if (range.end !== undefined && (typeof range.end !== 'bigint' || range.end < range.start)) {
    throw new WharfError('EINVAL', 'range end must be a bigint not below the start');
  }
}

// Header-safe names: S3 sends metadata as HTTP headers and lower-cases the names.
const META_NAME = /^[a-z0-9][a-z0-9_.-]*$/;
const META_VALUE = /^[\x20-\x7e]*$/;

/** Validates user metadata and returns it with lower-case names (as S3 reports them). */
export function checkMetadata(metadata: Record<string, string> | undefined): Record<string, string> | undefined {
  if (metadata === undefined) return undefined;
  const out: Record<string, string> = {};
  let bytes = 0;
  for (const [rawName, value] of Object.entries(metadata)) {
    const name = rawName.toLowerCase();
    if (!META_NAME.test(name)) throw new WharfError('EINVAL', `metadata name ${JSON.stringify(rawName)} is not a plain header token`);
    if (typeof value !== 'string' || !META_VALUE.test(value)) throw new WharfError('EINVAL', `metadata ${name} must be printable ASCII`);
    if (Object.prototype.hasOwnProperty.call(out, name)) throw new WharfError('EINVAL', `metadata name ${name} given twice`);
    out[name] = value;
    bytes += name.length + value.length;
  }
  if (bytes > MAX_METADATA_BYTES) throw new WharfError('EINVAL', `metadata is ${bytes} bytes; the limit is ${MAX_METADATA_BYTES}`);
  return out;
}

/** Rejects with EINTR when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new WharfError('EINTR', `${what}: aborted`);
}

/**
 * Compares two strings by their UTF-8 bytes, the order S3 lists keys in, without
 * encoding them (a sync compares every listed key with the one before it). UTF-8
 * byte order is code point order; UTF-16 code unit order differs from it only
 * where a surrogate (U+D800–DFFF, half of a character above U+FFFF) meets a unit
 * in U+E000–FFFF, so the first differing units are lifted into code point order.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}
