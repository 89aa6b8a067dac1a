// Shared fixture of the sync tests: a real in-process Master (LevelDB, gRPC on
// 127.0.0.1:0) whose sources' stores are wrapped in a FaultyStore (so a test can
// count calls, add latency or inject failures), with a gRPC namespace client and
// an Admin client; and the two real stores a source can name: a local directory
// and an S3 bucket on s3rver. Plus walks that compare the namespace with the store.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { WharfError, type Attr, type Ino } from '../../src/common/index.js';
import { Master, storeOpener, type JobRecord, type SourceRecord } from '../../src/master/index.js';
import type { AccessOptions, DirPage } from '../../src/meta/index.js';
import { AdminClient, GrpcMetaClient, type WireJob } from '../../src/rpc/index.js';
import {
  FaultyStore, LocalStore, S3Store, mapKeys,
  type ByteRange, type FaultyStoreOptions, type ListOptions, type ListPage, type ObjectInfo, type PutOptions, type S3StoreOptions, type UnderStore,
} from '../../src/ufs/index.js';
import { startS3rver, type S3rver } from './s3rver.js';
import { tempDir } from './tmp.js';

export const FILE_INIT = { mode: 0o644, uid: 1000, gid: 1000 } as const;
export const DIR_INIT = { mode: 0o755, uid: 1000, gid: 1000 } as const;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` every 10 ms until it holds; fails after `timeoutMs` with `what`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

/** Asserts that `p` rejects with a WharfError of this errno (as it crosses gRPC: the errno rides in metadata). */
export async function rejectsErrno(p: Promise<unknown>, errno: string, what = ''): Promise<WharfError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof WharfError, `${what}: expected ${errno}, got ${caught === undefined ? 'success' : String(caught)}`);
  assert.equal(caught.errno, errno, `${what}: ${caught.message}`);
  return caught;
}

// ---- stores --------------------------------------------------------------------------

/** A real store as the tests fill it: directly, not through Wharf. */
export interface Backend {
  kind: 'local' | 's3';
  /** The store (no FaultyStore): for listing what is really there. */
  store: UnderStore;
  /** The source URI of a prefix ('' or 'a/b/'); for a local store, the subdirectory. */
  uri(prefix?: string): string;
  put(key: string, body?: string | Buffer): Promise<void>;
  /** Puts many objects, `width` at a time. */
  putMany(keys: readonly string[], body?: (key: string) => string | Buffer, width?: number): Promise<void>;
  remove(key: string): Promise<void>;
  /** Master options for s3:// sources (endpoint, credentials, checksum settings). */
  masterS3?: Omit<S3StoreOptions, 'bucket'>;
  close(): Promise<void>;
}

export async function localBackend(): Promise<Backend> {
  const dir = tempDir('wharf-sync-store-');
  const root = dir.path;
  const store = await LocalStore.open(root, { fsync: false });
  const pathOf = (key: string): string => join(root, ...key.split('/').filter((s) => s !== ''));
  const put = async (key: string, body: string | Buffer = ''): Promise<void> => {
    // A local store is a directory: fill it with the file system (fast; no fsync).
    if (key.endsWith('/')) { await mkdir(pathOf(key), { recursive: true }); return; }
    await mkdir(dirname(pathOf(key)), { recursive: true });
    await writeFile(pathOf(key), body);
  };
  return {
    kind: 'local', store,
    uri: (prefix = '') => `file://${prefix === '' ? root : join(root, prefix)}`,
    put,
    putMany: async (keys, body = () => '', width = 16) => pool(keys, width, (k) => put(k, body(k))),
    // Removes a file or a whole directory (a key ending in '/').
    remove: async (key) => rm(pathOf(key), { recursive: true, force: true }),
    close: async () => { await store.close(); dir.remove(); },
  };
}

export async function s3Backend(server: S3rver): Promise<Backend> {
  const options = server.storeOptions({ maxSockets: 32 });
  const store = new S3Store(options);
  const { bucket: _bucket, ...masterS3 } = options;
  return {
    kind: 's3', store, masterS3,
    uri: (prefix = '') => `s3://${server.bucket}/${prefix}`,
    put: async (key, body = '') => { await store.put(key, Buffer.from(body)); },
    putMany: async (keys, body = () => '', width = 32) => pool(keys, width, async (k) => { await store.put(k, Buffer.from(body(k))); }),
    remove: async (key) => store.delete(key),
    close: async () => store.close(),
  };
}

export { startS3rver, type S3rver };

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Every object of the store under `prefix`, all pages of a flat listing. */
export async function listAll(store: UnderStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  let token: string | undefined;
  do {
    const page: ListPage = await store.list(prefix, token ? { token } : {});
    out.push(...page.objects);
    token = page.nextToken;
  } while (token);
  return out;
}

/**
 * A real store plus objects that neither a local directory nor s3rver can hold
 * (keys with "//", "." or ".." segments, 256-byte segments: real S3 holds them).
 * Listings show them after the real store's last page, as a store in no
 * particular order would; head() answers for them. Nothing else is changed.
 */
export class ExtraKeysStore implements UnderStore {
  constructor(readonly inner: UnderStore, private readonly extra: readonly ObjectInfo[]) {}

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    const page = await this.inner.list(prefix, opts);
    if (page.nextToken) return page;
    const objects = [...page.objects];
    const prefixes = new Set(page.prefixes);
    for (const o of this.extra) {
      if (!o.key.startsWith(prefix)) continue;
      const slash = opts.delimiter ? o.key.indexOf('/', prefix.length) : -1;
      if (slash >= 0) prefixes.add(o.key.slice(0, slash + 1));
      else objects.push({ ...o });
    }
    return { objects, prefixes: [...prefixes] };
  }

  async head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined> {
    const o = this.extra.find((e) => e.key === key);
    return o ? { ...o } : this.inner.head(key, opts);
  }

  get(key: string, range?: ByteRange, opts?: { signal?: AbortSignal }): Promise<Readable> { return this.inner.get(key, range, opts); }
  put(key: string, body: Readable | Buffer, opts?: PutOptions): Promise<{ etag: string }> { return this.inner.put(key, body, opts); }
  delete(key: string, opts?: { signal?: AbortSignal }): Promise<void> { return this.inner.delete(key, opts); }
  copy(srcKey: string, dstKey: string, opts?: { signal?: AbortSignal }): Promise<void> { return this.inner.copy(srcKey, dstKey, opts); }
  describe(): string { return `extra+${this.inner.describe()}`; }
  close(): Promise<void> { return this.inner.close(); }
}

// ---- the master ----------------------------------------------------------------------

export interface SyncMasterOptions {
  /** S3 client settings for s3:// sources. */
  s3?: Omit<S3StoreOptions, 'bucket'>;
  sync?: { minuteMs?: number; progressEveryMs?: number; snapshotDeadlineMs?: number };
  /** Wraps a source's opened store before the FaultyStore (e.g. ExtraKeysStore). */
  wrap?: (source: SourceRecord, store: UnderStore) => UnderStore;
  /** FaultyStore options per source (latency, rules) from the moment its store is opened. */
  faults?: (source: SourceRecord) => FaultyStoreOptions | undefined;
}

/** A master with its clients; stop/start keep the data directory (a restart). */
export class SyncMaster {
  master!: Master;
  client!: GrpcMetaClient;
  admin!: AdminClient;
  /** The FaultyStore around each source's store, by source name (the one last opened). */
  readonly stores = new Map<string, FaultyStore>();
  private readonly dir = tempDir('wharf-sync-master-');
  readonly dataDir = join(this.dir.path, 'meta');
  private running = false;
  private ruleSeq = 0;

  private constructor(private readonly options: SyncMasterOptions) {}

  static async start(options: SyncMasterOptions = {}): Promise<SyncMaster> {
    const m = new SyncMaster(options);
    await m.startAgain();
    return m;
  }

  async startAgain(): Promise<void> {
    const open = storeOpener(this.options.s3);
    this.master = await Master.start({
      dataDir: this.dataDir, listen: '127.0.0.1:0', ...(this.options.s3 ? { s3: this.options.s3 } : {}),
      sync: { progressEveryMs: 100, ...this.options.sync },
      openStore: async (s) => {
        let inner = await open(s);
        if (this.options.wrap) inner = this.options.wrap(s, inner);
        const f = new FaultyStore(inner, this.options.faults?.(s) ?? {});
        this.stores.set(s.name, f);
        return f;
      },
    });
    this.client = new GrpcMetaClient(this.master.address, { deadlineMs: 30_000 });
    this.admin = new AdminClient(this.master.address, 30_000);
    this.running = true;
  }

  /** Stops the master (the data directory stays). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stores.clear();
    this.admin.close();
    await this.client.close();
    await this.master.stop(2_000);
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.dir.remove();
  }

  get address(): string {
    return this.master.address;
  }

  faulty(source: string): FaultyStore {
    const f = this.stores.get(source);
    assert.ok(f, `no store opened for source ${source}`);
    return f;
  }

  /** Imports through the Admin gRPC service and waits for the initial scan. */
  async importSource(req: { name: string; uri: string; at: string; syncIntervalMs?: number; readOnly?: boolean }, wait = true): Promise<{ source: SourceRecord; job: JobRecord }> {
    const r = await this.admin.importSource({
      name: req.name, uri: req.uri, at: req.at, read_only: req.readOnly ?? false,
      ...(req.syncIntervalMs !== undefined ? { sync_interval_ms: String(req.syncIntervalMs) } : {}),
    });
    assert.ok(r.job && r.source);
    const job = wait ? await this.waitJob(r.job.id) : await this.master.sync.jobs.get(r.job.id);
    return { source: this.master.sync.catalog.get(req.name), job };
  }

  /** Resolves when the job has ended; its record as the master keeps it. */
  waitJob(id: string): Promise<JobRecord> {
    return this.master.sync.jobs.wait(id);
  }

  /** Creates a manual rule on `directory` and starts it (a re-sync); returns the started job. */
  async startRule(source: string, directory = '/'): Promise<WireJob> {
    const r = await this.admin.createRule({ source, name: `manual-${++this.ruleSeq}`, type: 'manual', directory, description: '', execute_on_create: true });
    assert.ok(r.job);
    return r.job;
  }

  /** A manual re-sync of `directory`, waited for. */
  async resync(source: string, directory = '/'): Promise<JobRecord> {
    return this.waitJob((await this.startRule(source, directory)).id);
  }

  async ino(path: string, access: AccessOptions = {}): Promise<Ino> {
    return (await this.client.resolve(path, access)).ino;
  }

  /** The store state of a path (undefined: Wharf's own). */
  async storeState(path: string): Promise<{ gen: bigint; fingerprint: string } | undefined> {
    return this.master.tree.getStoreState((await this.client.resolve(path, { syncIntervalMs: -1 })).ino);
  }
}

// ---- namespace walks ----------------------------------------------------------------

export interface Node {
  type: Attr['type'];
  size: bigint;
  mtimeNs: bigint;
  ino: Ino;
  version: bigint;
}

/** Every entry of a directory over gRPC, page by page (only the first page may sync). */
export async function readdirAll(client: GrpcMetaClient, ino: Ino, access: AccessOptions = {}, pageSize = 1000): Promise<Map<string, Attr>> {
  const out = new Map<string, Attr>();
  let cursor: Buffer | null = null;
  do {
    const page: DirPage = await client.readdir(ino, cursor, pageSize, access);
    for (const e of page.entries) out.set(e.name, e.attr);
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}

export async function names(client: GrpcMetaClient, ino: Ino, access: AccessOptions = {}): Promise<string[]> {
  return [...(await readdirAll(client, ino, access)).keys()].sort();
}

/** The subtree below `ino` as relative path → node, over gRPC. */
export async function walk(client: GrpcMetaClient, ino: Ino, access: AccessOptions = {}): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const visit = async (dir: Ino, at: string): Promise<void> => {
    for (const [name, a] of await readdirAll(client, dir, access)) {
      const p = at === '' ? name : `${at}/${name}`;
      out.set(p, { type: a.type, size: a.size, mtimeNs: a.mtimeNs, ino: a.ino, version: a.version });
      if (a.type === 'directory') await visit(a.ino, p);
    }
  };
  await visit(ino, '');
  return out;
}

/** What the namespace should hold for a store prefix: KeyMapping over a flat listing, with sizes and mtimes. */
export async function expectedTree(store: UnderStore, prefix: string): Promise<Map<string, { type: 'file' | 'directory'; size: bigint; mtimeMs: number }>> {
  const objects = await listAll(store, prefix);
  const byKey = new Map(objects.map((o) => [o.key, o]));
  const mapped = mapKeys(prefix, objects.map((o) => o.key));
  const out = new Map<string, { type: 'file' | 'directory'; size: bigint; mtimeMs: number }>();
  for (const e of mapped.entries) {
    const o = e.key ? byKey.get(e.key) : undefined;
    out.set(e.parts.join('/'), e.kind === 'file' ? { type: 'file', size: o!.size, mtimeMs: o!.mtimeMs } : { type: 'directory', size: 0n, mtimeMs: 0 });
  }
  return out;
}

/** Asserts that the namespace below `ino` is exactly what the store holds: names, types, sizes, file mtimes. */
export async function assertMatchesStore(client: GrpcMetaClient, ino: Ino, store: UnderStore, prefix: string, what: string): Promise<Map<string, Node>> {
  const [got, want] = await Promise.all([walk(client, ino), expectedTree(store, prefix)]);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: the namespace's paths are the store's`);
  for (const [p, w] of want) {
    const g = got.get(p)!;
    assert.equal(g.type, w.type, `${what}: type of ${p}`);
    if (w.type === 'file') {
      assert.equal(g.size, w.size, `${what}: size of ${p}`);
      assert.equal(g.mtimeNs, BigInt(w.mtimeMs) * 1_000_000n, `${what}: mtime of ${p} is the store's`);
    }
  }
  return got;
}
