// The one interface every under-store (object store or local directory) implements.
// Callers above src/ufs see only this; they never learn which store backs a mount.
import type { Readable } from 'node:stream';

/** One object as a listing or a head reports it. */
export interface ObjectInfo {
  /** The full key in the store (not relative to any mount prefix). */
  key: string;
  size: bigint;
  /**
   * An opaque fingerprint that changes whenever the content changes, without
   * quotes. Stores compute it differently (S3: MD5 or MD5-of-parts; LocalStore:
   * inode/size/mtime), so etags are only comparable within one store.
   */
  etag: string;
  /** Last modification, ms since the epoch (S3 and s3rver: one-second resolution). */
  mtimeMs: number;
  /**
   * User metadata, only from head(): names are lower case without the
   * `x-amz-meta-` prefix (e.g. `mode`, `uid`, `gid`, `mtime`), values printable ASCII.
   */
  metadata?: Record<string, string>;
}

export interface ListPage {
  /** Objects on this page. Byte order of keys on LocalStore and real S3; not on s3rver. */
  objects: ObjectInfo[];
  /** Common prefixes (each ends with the delimiter), only with a delimiter. */
  prefixes: string[];
  /** Set when there is more: pass it back as `token` for the next page. Opaque. */
  nextToken?: string;
}

export interface ListOptions {
  /** Only '/' is supported: the namespace splits on nothing else. */
  delimiter?: '/';
  token?: string;
  /** Page size upper bound (the store may return fewer); 1..1000, default 1000. */
  maxKeys?: number;
  signal?: AbortSignal;
}

/** Byte range of a get; `end` is inclusive, as in HTTP. Suffix ranges are not offered. */
export interface ByteRange {
  start: bigint;
  end?: bigint;
}

export interface PutOptions {
  /** The body's length when known in advance; a body of another length fails with EIO. */
  size?: bigint;
  /** User metadata; see ObjectInfo.metadata for the allowed names and values. */
  metadata?: Record<string, string>;
  /**
   * On a store that can choose (a local directory): on stable storage before the put
   * returns (fsync). Default: the store's own setting. S3 stores are always durable.
   */
  durable?: boolean;
  signal?: AbortSignal;
}

export interface PutResult {
  etag: string;
  /** The object's time as a listing or head will report it, when the put knows it (S3 does not: head it). */
  mtimeMs?: number;
}

export interface UnderStore {
  /**
   * Every put is on stable storage once it returns, whatever PutOptions.durable says
   * (S3: an acknowledged PUT is stored). An unchanged object then never needs to be
   * uploaded again for fsync(2).
   */
  readonly putsAreDurable?: boolean;
  /**
   * One page of keys starting with `prefix` (a plain string prefix, not a path).
   * With `delimiter`, keys with a further '/' after the prefix roll up into `prefixes`.
   */
  list(prefix: string, opts?: ListOptions): Promise<ListPage>;
  /** The object's info with its user metadata, or undefined when it does not exist. */
  head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined>;
  /**
   * The object's bytes (or a range of them) as a stream. A missing key rejects
   * with ENOENT; a range starting at or past the end yields an empty stream.
   * Errors while streaming are WharfErrors emitted by the stream.
   */
  get(key: string, range?: ByteRange, opts?: { signal?: AbortSignal }): Promise<Readable>;
  /** Stores the body under `key`, replacing any object there; atomic for readers. */
  put(key: string, body: Readable | Buffer, opts?: PutOptions): Promise<PutResult>;
  /** Removes the object; a missing key is not an error. */
  delete(key: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /** Copies content and user metadata; a missing source rejects with ENOENT. */
  copy(srcKey: string, dstKey: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /** A URI for logs and messages; never contains credentials. */
  describe(): string;
  /** Releases connections; calls after close fail. */
  close(): Promise<void>;
}

/** Operation names, as FaultyStore and logs use them. */
export const STORE_OPS = ['list', 'head', 'get', 'put', 'delete', 'copy'] as const;
export type StoreOp = (typeof STORE_OPS)[number];
