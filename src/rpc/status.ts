// errno ↔ gRPC status: the one mapping. The server sends the class of failure as
// the status code and the exact errno in trailing metadata (`wharf-errno`); the
// client prefers the metadata and falls back to the status code (for failures the
// transport itself produced: unreachable, deadline, oversized message).
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { WharfError, isErrno, logger, type Errno } from '../common/index.js';

export const ERRNO_METADATA_KEY = 'wharf-errno';

const log = logger('rpc');

const STATUS_OF_ERRNO: Partial<Record<Errno, status>> = {
  ENOENT: status.NOT_FOUND,
  EEXIST: status.ALREADY_EXISTS,
  EPERM: status.PERMISSION_DENIED,
  EACCES: status.PERMISSION_DENIED,
  EROFS: status.PERMISSION_DENIED,
  EINVAL: status.INVALID_ARGUMENT,
  ENAMETOOLONG: status.INVALID_ARGUMENT,
  E2BIG: status.INVALID_ARGUMENT,
  EFBIG: status.OUT_OF_RANGE,
  ERANGE: status.OUT_OF_RANGE,
  ENOTDIR: status.FAILED_PRECONDITION,
  EISDIR: status.FAILED_PRECONDITION,
  ENOTEMPTY: status.FAILED_PRECONDITION,
  EXDEV: status.FAILED_PRECONDITION,
  ELOOP: status.FAILED_PRECONDITION,
  EMLINK: status.FAILED_PRECONDITION,
  ESTALE: status.FAILED_PRECONDITION,
  EBUSY: status.UNAVAILABLE,
  EAGAIN: status.UNAVAILABLE,
  ENOTCONN: status.UNAVAILABLE,
  ENOSPC: status.RESOURCE_EXHAUSTED,
  ENOMEM: status.RESOURCE_EXHAUSTED,
  ETIMEDOUT: status.DEADLINE_EXCEEDED,
  EINTR: status.CANCELLED,
  ECANCELED: status.CANCELLED,
  ENOSYS: status.UNIMPLEMENTED,
  ENOTSUP: status.UNIMPLEMENTED,
  EKEYEXPIRED: status.UNAUTHENTICATED,
  EKEYREJECTED: status.UNAUTHENTICATED,
};

/** For failures that carry no `wharf-errno` (produced by the transport, not by Wharf). */
const ERRNO_OF_STATUS: Partial<Record<status, Errno>> = {
  [status.NOT_FOUND]: 'ENOENT',
  [status.ALREADY_EXISTS]: 'EEXIST',
  [status.PERMISSION_DENIED]: 'EACCES',
  [status.INVALID_ARGUMENT]: 'EINVAL',
  [status.OUT_OF_RANGE]: 'ERANGE',
  [status.FAILED_PRECONDITION]: 'EINVAL',
  [status.UNAVAILABLE]: 'ENOTCONN',
  [status.RESOURCE_EXHAUSTED]: 'E2BIG',
  [status.DEADLINE_EXCEEDED]: 'ETIMEDOUT',
  [status.CANCELLED]: 'EINTR',
  [status.UNIMPLEMENTED]: 'ENOSYS',
  [status.UNAUTHENTICATED]: 'EKEYREJECTED',
};

export function statusOfErrno(errno: Errno): status {
  return STATUS_OF_ERRNO[errno] ?? status.INTERNAL;
}

/** Server side: any thrown value → the status object a handler's callback gets. */
export function toStatus(e: unknown, method: string): Partial<StatusObject> {
  let err: WharfError;
  if (e instanceof WharfError) {
    err = e;
  } else {
    // Not ours: a bug or an unexpected library failure. Log it here, once, with its stack.
    log.error({ err: e, method }, 'unexpected failure; answered EIO');
    err = new WharfError('EIO', `internal error in ${method}`);
  }
  const metadata = new Metadata();
  metadata.set(ERRNO_METADATA_KEY, err.errno);
  return { code: statusOfErrno(err.errno), details: err.message, metadata };
}

/** Client side: a failed call → the WharfError the server raised (or the transport's). */
export function fromServiceError(e: ServiceError, method: string): WharfError {
  const sent = e.metadata?.get(ERRNO_METADATA_KEY)?.[0];
  if (typeof sent === 'string' && isErrno(sent)) return new WharfError(sent, e.details, e);
  const errno = ERRNO_OF_STATUS[e.code] ?? 'EIO';
  const why = e.code === status.UNAVAILABLE ? `cannot reach the master (${e.details})` : e.details || status[e.code];
  return new WharfError(errno, `${method}: ${why}`, e);
}
