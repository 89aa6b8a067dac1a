// The ordered key-value store the namespace is kept in: what InodeTree, Txn,
// fsck and the master's records use of it, and nothing more. Two engines: LevelDB
// (`level`, the default, embedded) and PostgreSQL (PostgresKv: one table of
// bytea keys, for a metadata database outside the master).
//
// Both order keys bytewise (LevelDB's comparator; PostgreSQL's bytea comparison),
// so the key layout in keys.ts — big-endian inode numbers, (parent, name) entry
// keys — gives the same range scans on both. A batch is atomic on both.
export interface KvRange {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  limit?: number;
  reverse?: boolean;
}

export interface KvIterator<T> extends AsyncIterable<T> {
  nextv(n: number): Promise<T[]>;
  all(): Promise<T[]>;
  close(): Promise<void>;
}

export type KvOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface KvChainedBatch {
  put(key: Buffer, value: Buffer): unknown;
  del(key: Buffer): unknown;
  write(options?: { sync?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export interface KvStore {
  get(key: Buffer): Promise<Buffer | undefined>;
  getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]>;
  put(key: Buffer, value: Buffer, options?: { sync?: boolean }): Promise<void>;
  del(key: Buffer): Promise<void>;
  batch(): KvChainedBatch;
  batch(ops: KvOp[], options?: { sync?: boolean }): Promise<void>;
  iterator(range?: KvRange): KvIterator<[Buffer, Buffer]>;
  keys(range?: KvRange): KvIterator<Buffer>;
  values(range?: KvRange): KvIterator<Buffer>;
  close(): Promise<void>;
}

/** A PostgreSQL database URL (the other engine's addresses are LevelDB directories). */
export function isPostgresUrl(where: string): boolean {
  return /^postgres(ql)?:\/\//.test(where);
}

/** A namespace location as the engines take it: `leveldb:DIR` is DIR; a URL or a directory as it is. */
export function metaTarget(where: string): string {
  return where.startsWith('leveldb:') ? where.slice('leveldb:'.length) : where;
}
