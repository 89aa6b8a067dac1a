// The master → cache node control protocol, beside the block protocol on the same port:
//   POST /v1/warm   JSON WarmRequest  → 200, NDJSON: one WarmResult per entry as it
//                                        ends, then {"end":true}
//   POST /v1/evict  JSON EvictRequest → 200, JSON EvictResult
// A warmup streams its results so the master's progress moves as the node works,
// and closing the request stops the node's work (a terminated job). Refusals are
// answered as block refusals are (x-wharf-errno; blockProtocol).
import { WharfError } from '../common/index.js';

export const WARM_PATH = '/v1/warm';
export const EVICT_PATH = '/v1/evict';
/** Largest control request body. */
export const MAX_CONTROL_BODY = 16 * 1024 * 1024;

/** Blocks first..last of one object at one fingerprint. */
export interface WarmEntry {
  key: string;
  fingerprint: string;
  size: number;
  first: number;
  last: number;
}

export interface WarmRequest {
  source: string;
  blockSize: number;
  /** Bytes per second this node may fetch for this request; 0: no limit. */
  rateBytesPerSec: number;
  /** Drop what is cached of these files first (a warmup that does not skip cached blocks). */
  refresh: boolean;
  entries: WarmEntry[];
}

export type WarmResult =
  | { i: number; fetched: number; present: number; bytes: number }
  | { i: number; errno: string; message: string }
  | { end: true };

/** Which blocks to drop: every block (all), a source's under a key prefix, or a source's with these keys. */
export interface EvictRequest {
  all?: boolean;
  /** With all: the instance the node serves from now on ('' none) and the version of that assignment. */
  instance?: string;
  instanceVersion?: number;
  source?: string;
  prefix?: string;
  keys?: string[];
}

export interface EvictResult {
  files: number;
  blocks: number;
  bytes: number;
}

function isCount(v: unknown, min = 0): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new WharfError('EINVAL', 'the request body is not JSON');
  }
}

export function parseWarmRequest(body: string): WarmRequest {
  const r = parseJson(body) as Partial<WarmRequest> | null;
  if (!r || typeof r !== 'object') throw new WharfError('EINVAL', 'a warm request is a JSON object');
  if (typeof r.source !== 'string' || !r.source) throw new WharfError('EINVAL', 'a warm request names its source');
  if (!isCount(r.blockSize, 4096)) throw new WharfError('EINVAL', `blockSize must be an integer ≥ 4096, not ${JSON.stringify(r.blockSize)}`);
  if (!isCount(r.rateBytesPerSec)) throw new WharfError('EINVAL', 'rateBytesPerSec must be an integer ≥ 0');
  if (!Array.isArray(r.entries)) throw new WharfError('EINVAL', 'a warm request lists its entries');
  for (const [i, e] of r.entries.entries()) {
    const ok = e && typeof e === 'object' && typeof e.key === 'string' && e.key !== '' && typeof e.fingerprint === 'string' && e.fingerprint !== ''
      && isCount(e.size, 1) && isCount(e.first) && isCount(e.last) && e.first <= e.last && e.last * r.blockSize < e.size;
    if (!ok) throw new WharfError('EINVAL', `entry ${i} is not {key, fingerprint, size ≥ 1, first ≤ last} within the file`);
  }
  return { source: r.source, blockSize: r.blockSize, rateBytesPerSec: r.rateBytesPerSec, refresh: r.refresh === true, entries: r.entries };
}

export function parseEvictRequest(body: string): EvictRequest {
  const r = parseJson(body) as EvictRequest | null;
  if (!r || typeof r !== 'object') throw new WharfError('EINVAL', 'an evict request is a JSON object');
  if (r.all === true) {
    if (r.instance !== undefined && (typeof r.instance !== 'string' || !isCount(r.instanceVersion))) throw new WharfError('EINVAL', 'instance must be a string, with its instanceVersion');
    return { all: true, ...(r.instance !== undefined ? { instance: r.instance, instanceVersion: r.instanceVersion } : {}) };
  }
  if (typeof r.source !== 'string' || !r.source) throw new WharfError('EINVAL', 'an evict request names its source, or all');
  if (r.keys !== undefined) {
    if (!Array.isArray(r.keys) || !r.keys.every((k) => typeof k === 'string')) throw new WharfError('EINVAL', 'keys must be a list of strings');
    return { source: r.source, keys: r.keys };
  }
  if (r.prefix !== undefined && typeof r.prefix !== 'string') throw new WharfError('EINVAL', 'prefix must be a string');
  return { source: r.source, prefix: r.prefix ?? '' };
}
