// Validation of names and paths: the one place that decides what a name may be.
import { WharfError } from './errors.js';

export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;
export const MAX_SYMLINK_BYTES = 4096;

/** Throws unless `name` is a single, well-formed path component. */
export function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new WharfError('EINVAL', 'name must be a string');
  if (name.length === 0) throw new WharfError('EINVAL', 'empty name');
  if (name === '.' || name === '..') throw new WharfError('EINVAL', `name ${JSON.stringify(name)} is reserved`);
  if (name.includes('/')) throw new WharfError('EINVAL', `name ${JSON.stringify(name)} contains '/'`);
  if (name.includes('\0')) throw new WharfError('EINVAL', 'name contains NUL');
  if (!name.isWellFormed()) throw new WharfError('EINVAL', 'name is not valid UTF-8');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) throw new WharfError('ENAMETOOLONG', `name is ${bytes} bytes; the limit is ${MAX_NAME_BYTES}`);
}

/**
 * Splits an absolute path into components. Repeated slashes and "." collapse;
 * ".." stays a component (resolution follows the parent pointer; the root's ".." is itself).
 */
export function splitPath(path: unknown): string[] {
  if (typeof path !== 'string') throw new WharfError('EINVAL', 'path must be a string');
  if (!path.startsWith('/')) throw new WharfError('EINVAL', `path ${JSON.stringify(path)} is not absolute`);
  if (path.includes('\0')) throw new WharfError('EINVAL', 'path contains NUL');
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > MAX_PATH_BYTES) throw new WharfError('ENAMETOOLONG', `path is ${bytes} bytes; the limit is ${MAX_PATH_BYTES}`);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  for (const p of parts) if (p !== '..') checkName(p);
  return parts;
}

export function checkSymlinkTarget(target: unknown): asserts target is string {
  if (typeof target !== 'string' || target.length === 0) throw new WharfError('EINVAL', 'symlink target must be a non-empty string');
  if (target.includes('\0')) throw new WharfError('EINVAL', 'symlink target contains NUL');
  if (!target.isWellFormed()) throw new WharfError('EINVAL', 'symlink target is not valid UTF-8');
  const bytes = Buffer.byteLength(target, 'utf8');
  if (bytes > MAX_SYMLINK_BYTES) throw new WharfError('ENAMETOOLONG', `symlink target is ${bytes} bytes; the limit is ${MAX_SYMLINK_BYTES}`);
}
