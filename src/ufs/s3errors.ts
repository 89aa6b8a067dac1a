// S3 (SDK, HTTP and socket) failures → WharfError, in one function.
// The message names the operation, the object and the S3 error code; it is
// passed through `redact` so a secret can never reach it, and the SDK error is
// not kept as the cause (it carries the raw response) — a plain summary is.
import { WharfError, type Errno } from '../common/index.js';
import { isAbortError } from './streams.js';

interface SdkLikeError extends Error {
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number; requestId?: string };
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket', 'NoSuchUpload']);
const DENIED = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken',
  'TokenRefreshRequired', 'AllAccessDisabled', 'AccountProblem', 'CredentialsProviderError', 'InvalidObjectState',
]);
// Socket-level failures: the store is unreachable or dropped us. (The SDK's HTTP
// handler renames ECONNRESET and EPIPE to TimeoutError, so codes are checked first.)
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

function errnoOf(e: SdkLikeError): Errno {
  const status = e.$metadata?.httpStatusCode;
  if (e.code !== undefined && UNREACHABLE.has(e.code)) return 'EIO';
  if (e.code === 'ETIMEDOUT' || e.name === 'TimeoutError' || e.name === 'RequestTimeout') return 'ETIMEDOUT';
  if (NOT_FOUND.has(e.name) || status === 404) return 'ENOENT';
  if (DENIED.has(e.name) || status === 403 || status === 401) return 'EACCES';
  if (e.name === 'PreconditionFailed' || status === 412) return 'ESTALE';
  if (e.name === 'KeyTooLongError') return 'ENAMETOOLONG';
  if (e.name === 'EntityTooLarge') return 'EFBIG';
  if (e.name === 'InvalidArgument' || e.name === 'InvalidRange' || status === 416) return 'EINVAL';
  if (e.message === 'Region is missing') return 'EINVAL';
  return 'EIO';
}

export function mapS3Error(e: unknown, op: string, target: string, redact: (s: string) => string): WharfError {
  if (e instanceof WharfError) return e;
  if (isAbortError(e)) return new WharfError('EINTR', `${op} ${target}: aborted`);
  const err: SdkLikeError = e instanceof Error ? (e as SdkLikeError) : Object.assign(new Error(String(e)), {});
  const errno = errnoOf(err);
  const status = err.$metadata?.httpStatusCode;
  const detail = [err.name !== 'Error' ? err.name : undefined, err.code, status !== undefined ? `HTTP ${status}` : undefined]
    .filter((x) => x !== undefined).join(', ');
  const attempts = err.$metadata?.attempts;
  const message = redact(`${op} ${target}: ${err.message}${detail ? ` (${detail}${attempts && attempts > 1 ? `, ${attempts} attempts` : ''})` : ''}`);
  const cause = Object.assign(new Error(message), { name: err.name, code: err.code, status });
  return new WharfError(errno, message, cause);
}

/** Replaces every occurrence of each secret with [redacted]. */
export function redactor(secrets: () => Iterable<string>): (s: string) => string {
  return (s: string) => {
    let out = s;
    for (const secret of secrets()) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
    return out;
  };
}
