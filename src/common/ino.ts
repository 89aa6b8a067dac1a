// Inode numbers are unsigned 64-bit and live as `bigint` everywhere in Wharf.
// They must never pass through a JS `number` (which loses precision past 2^53).
import { WharfError } from './errors.js';

export type Ino = bigint;

/** The root directory. Inode 0 is never used: it means "none" (the root's parent). */
export const ROOT_INO: Ino = 1n;
export const NO_INO: Ino = 0n;
export const MAX_INO: Ino = (1n << 64n) - 1n;

/** Parses a decimal inode number as it arrives on the wire (proto-loader `longs: String`). */
export function parseIno(text: string, what = 'inode'): Ino {
  if (!/^[0-9]{1,20}$/.test(text)) throw new WharfError('EINVAL', `${what} number ${JSON.stringify(text)} is not an unsigned integer`);
  const ino = BigInt(text);
  if (ino > MAX_INO) throw new WharfError('EINVAL', `${what} number ${text} exceeds 2^64-1`);
  return ino;
}

/** Parses a signed 64-bit decimal (sizes, times) from the wire. */
export function parseInt64(text: string, what: string): bigint {
  if (!/^-?[0-9]{1,20}$/.test(text)) throw new WharfError('EINVAL', `${what} ${JSON.stringify(text)} is not an integer`);
  const v = BigInt(text);
  if (v > (1n << 63n) - 1n || v < -(1n << 63n)) throw new WharfError('EINVAL', `${what} ${text} is out of the 64-bit range`);
  return v;
}
