// The cache-node data protocol: HTTP/1.1 ranged GETs over keep-alive connections.
//   GET /v1/block/<source>?key=<object key>&fp=<fingerprint>&bs=<block size>&size=<file size>
//   Range: bytes=<first>-<last>
// answers 206 with exactly those bytes, streamed block by block as each is ready.
// A refusal carries the errno in `x-wharf-errno` and a message in the body; the
// errno ↔ HTTP status mapping lives here and nowhere else.
// HTTP rather than a streamed gRPC call: a body is a plain socket stream (no
// per-message framing or copies), and ranges and keep-alive are what it is made for.
import { WharfError, isErrno, type Errno } from '../common/index.js';

export const BLOCK_PATH = '/v1/block/';
export const ERRNO_HEADER = 'x-wharf-errno';
/**
 * Set by a cache node asking a peer: answer only from what is cached there (else
 * ENOENT), never fetch from the store — a peer read must not cost a store read, and
 * two nodes asking each other must not loop.
 */
export const CACHED_ONLY_HEADER = 'x-wharf-cached-only';

/** What a block request names: the object at one fingerprint, read in blocks of one size. */
export interface BlockRequest {
  source: string;
  key: string;
  fingerprint: string;
  blockSize: number;
  size: number;
  /** Bytes [start, end) of the file. */
  start: number;
  end: number;
  /** A peer's request: from the cache only (CACHED_ONLY_HEADER). */
  cachedOnly?: boolean;
}

const STATUS: Partial<Record<Errno, number>> = { EINVAL: 400, EACCES: 403, ENOENT: 404, ESTALE: 410, ETIMEDOUT: 504, ENOSPC: 507 };

export function httpStatusOf(errno: Errno): number {
  return STATUS[errno] ?? 502;
}

export function blockUrlPath(r: Omit<BlockRequest, 'start' | 'end'>): string {
  const q = new URLSearchParams({ key: r.key, fp: r.fingerprint, bs: String(r.blockSize), size: String(r.size) });
  return `${BLOCK_PATH}${encodeURIComponent(r.source)}?${q.toString()}`;
}

function count(v: string | null, what: string, min: number): number {
  const n = v === null || !/^\d+$/.test(v) ? NaN : Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new WharfError('EINVAL', `${what} must be an integer ≥ ${min}, not ${JSON.stringify(v)}`);
  return n;
}

/** Parses a request; a malformed one is EINVAL with what is wrong. */
export function parseBlockRequest(url: string, range: string | undefined): BlockRequest {
  if (!url.startsWith(BLOCK_PATH)) throw new WharfError('ENOENT', `no such route: ${url.split('?')[0]}`);
  const u = new URL(url, 'http://node');
  let source: string;
  try {
    source = decodeURIComponent(u.pathname.slice(BLOCK_PATH.length));
  } catch {
    throw new WharfError('EINVAL', 'the source name is not valid percent-encoding');
  }
  const key = u.searchParams.get('key');
  const fingerprint = u.searchParams.get('fp');
  if (!source) throw new WharfError('EINVAL', 'no source named');
  if (!key) throw new WharfError('EINVAL', 'no key given');
  // A file written through Wharf but not yet in the store has no fingerprint: nothing to fetch.
  if (!fingerprint) throw new WharfError('EINVAL', 'no fingerprint given');
  const blockSize = count(u.searchParams.get('bs'), 'bs', 4096);
  const size = count(u.searchParams.get('size'), 'size', 0);
  const m = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
  if (!m) throw new WharfError('EINVAL', `a Range of bytes=first-last is required, not ${JSON.stringify(range ?? null)}`);
  const start = Number(m[1]);
  const end = Number(m[2]) + 1;
  if (!Number.isSafeInteger(end) || end <= start || end > size) throw new WharfError('EINVAL', `range ${m[1]}-${m[2]} is not within the file's ${size} bytes`);
  return { source, key, fingerprint, blockSize, size, start, end };
}

/** The error a refusal stands for. */
export function refusalError(status: number, errnoHeader: string | string[] | undefined, message: string): WharfError {
  const name = typeof errnoHeader === 'string' && isErrno(errnoHeader) ? errnoHeader : 'EIO';
  return new WharfError(name, `cache node answered ${status}: ${message}`);
}
