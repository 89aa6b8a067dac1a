// The one error type of Wharf. Every failure that crosses a module boundary is a
// WharfError carrying a POSIX errno name; the gRPC layer maps it to a status in
// exactly one place (src/rpc/status.ts) and the FUSE layer returns its number.

/** Linux errno numbers for the errnos Wharf produces. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  ENOTSUP: 95,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECANCELED: 125,
  EINTR: 4,
  ESTALE: 116,
  /** An access key past its expiry. */
  EKEYEXPIRED: 127,
  /** No access key, an unknown or disabled one, a wrong secret, a key sent in clear. */
  EKEYREJECTED: 129,
} as const;

export type Errno = keyof typeof ERRNO;

export function isErrno(name: string): name is Errno {
  return Object.prototype.hasOwnProperty.call(ERRNO, name);
}

/** Short human descriptions, as strerror(3) prints them. */
const DESCRIPTION: Record<Errno, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  ERANGE: 'Numerical result out of range',
  ENAMETOOLONG: 'File name too long',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  ENODATA: 'No data available',
  ENOTSUP: 'Operation not supported',
  ENOTCONN: 'Transport endpoint is not connected',
  ETIMEDOUT: 'Connection timed out',
  ECANCELED: 'Operation canceled',
  EINTR: 'Interrupted system call',
  ESTALE: 'Stale file handle',
  EKEYEXPIRED: 'Key has expired',
  EKEYREJECTED: 'Key was rejected by service',
};

export function describeErrno(errno: Errno): string {
  return DESCRIPTION[errno];
}

export class WharfError extends Error {
  override readonly name = 'WharfError';
  readonly errno: Errno;

  constructor(errno: Errno, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.errno = errno;
  }

  /** The negative number a FUSE handler returns. */
  get code(): number {
    return -ERRNO[this.errno];
  }
}

export function isWharfError(e: unknown): e is WharfError {
  return e instanceof WharfError;
}

/**
 * The errno of a failure from Node's own fs or net calls (`code: 'EFBIG'`…), when it
 * is one Wharf knows; undefined otherwise. The one place such codes become errnos:
 * a staged file's ftruncate past the file-size limit is EFBIG to the caller, not EIO.
 */
export function errnoOfNodeError(e: unknown): Errno | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && isErrno(code) ? code : undefined;
}
