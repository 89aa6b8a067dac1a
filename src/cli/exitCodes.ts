// Exit codes of `wharf`, documented in the README's CLI reference.
import type { Errno } from '../common/index.js';

export const EXIT = {
  ok: 0,
  /** The operation failed; the message names the errno. */
  failed: 1,
  /** Bad command line. */
  usage: 2,
  /** The master could not be reached, or did not answer in time. */
  unreachable: 3,
  /** The master refused the credentials: no key, a wrong, disabled or expired one. */
  unauthenticated: 5,
} as const;

/** fsck follows e2fsck(8): operators' scripts already know these. */
export const FSCK_EXIT = { clean: 0, corrected: 1, uncorrected: 4, operational: 8 } as const;

export function exitCodeOf(errno: Errno): number {
  if (errno === 'EKEYREJECTED' || errno === 'EKEYEXPIRED') return EXIT.unauthenticated;
  return errno === 'ENOTCONN' || errno === 'ETIMEDOUT' ? EXIT.unreachable : EXIT.failed;
}
