// Data sources for sync tests: local directories (file:///tmp/...) to import, and a
// store opener that wraps each source's real store so a test can slow it down
// (FaultyStore latency), make it fail (FaultyStore rules), hold its listings at a
// gate (GatedStore: a job stays `executing` exactly as long as the test wants), or
// add keys the local file system cannot hold (to see them skipped).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Readable } from 'node:stream';
import { WharfError } from '../../src/common/index.js';
import type { SourceRecord, StoreOpener } from '../../src/master/index.js';
import {
  FaultyStore, openStore,
  type ByteRange, type FaultyStoreOptions, type ListOptions, type ListPage, type ObjectInfo, type PutOptions, type UnderStore,
} from '../../src/ufs/index.js';
import { tempDir } from './tmp.js';

export interface LocalSource {
  /** The directory (the store root). */
  path: string;
  /** file:///… URI to import it with. */
  uri: string;
  /** Writes a file (parents created) at a '/'-separated path below the root. */
  write: (rel: string, body?: string) => void;
  /** Writes `count` one-byte files `f0`…`f{count-1}` in directory `rel`. */
  writeMany: (rel: string, count: number) => void;
  unlink: (rel: string) => void;
  remove: () => void;
}

/** A new local directory to use as a data source, with `files` written in it. */
export function localSource(files: Record<string, string> = {}): LocalSource {
  const dir = tempDir('wharf-src-');
  const write = (rel: string, body = 'x'): void => {
    const p = join(dir.path, ...rel.split('/'));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, body);
  };
  for (const [rel, body] of Object.entries(files)) write(rel, body);
  return {
    path: dir.path,
    uri: pathToFileURL(dir.path).href,
    write,
    writeMany: (rel, count) => {
      const d = join(dir.path, ...rel.split('/').filter((p) => p !== ''));
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < count; i++) writeFileSync(join(d, `f${i}`), 'x');
    },
    unlink: (rel) => rmSync(join(dir.path, ...rel.split('/'))),
    remove: dir.remove,
  };
}

/**
 * Passes every call to `inner`, except that `list` waits while the gate is closed.
 * A waiting list gives up with EINTR when its caller aborts (as a real store does),
 * unless the gate was closed with `ignoreAbort` (a store that does not notice, so a
 * terminated job stays `terminating` until the gate opens).
 */
export class GatedStore implements UnderStore {
  /** Keys added to the first page of every flat listing whose prefix they start with. */
  extraKeys: string[] = [];
  private closed: { ignoreAbort: boolean } | undefined;
  private openers: (() => void)[] = [];
  private arrivals: (() => void)[] = [];
  /** Lists waiting at the gate now. */
  waiting = 0;

  constructor(readonly inner: UnderStore) {}

  hold(options: { ignoreAbort?: boolean } = {}): void {
    this.closed = { ignoreAbort: options.ignoreAbort ?? false };
  }

  /** Closed, and deaf to aborts. */
  get ignoringAbort(): boolean {
    return this.closed?.ignoreAbort ?? false;
  }

  release(): void {
    this.closed = undefined;
    const waiters = this.openers;
    this.openers = [];
    for (const open of waiters) open();
  }

  /** Resolves once a list is waiting at the (closed) gate. */
  async arrived(timeoutMs = 10_000): Promise<void> {
    if (this.waiting > 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listing reached the gate in ${timeoutMs} ms`)), timeoutMs);
      this.arrivals.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    if (this.closed) await this.wait(this.closed.ignoreAbort ? undefined : opts.signal);
    const page = await this.inner.list(prefix, opts);
    if (opts.delimiter || opts.token) return page;
    const extra: ObjectInfo[] = this.extraKeys.filter((k) => k.startsWith(prefix)).map((key) => ({ key, size: 1n, etag: `extra-${key}`, mtimeMs: 1_000_000 }));
    return extra.length === 0 ? page : { ...page, objects: [...page.objects, ...extra] };
  }

  private wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting++;
      const done = (): void => {
        this.waiting--;
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        this.openers = this.openers.filter((o) => o !== open);
        done();
        reject(new WharfError('EINTR', 'list: aborted'));
      };
      const open = (): void => { done(); resolve(); };
      this.openers.push(open);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const arrivals = this.arrivals;
      this.arrivals = [];
      for (const a of arrivals) a();
    });
  }

  head(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined> { return this.inner.head(key, opts); }
  get(key: string, range?: ByteRange, opts?: { signal?: AbortSignal }): Promise<Readable> { return this.inner.get(key, range, opts); }
  put(key: string, body: Readable | Buffer, opts?: PutOptions): Promise<{ etag: string }> { return this.inner.put(key, body, opts); }
  delete(key: string, opts?: { signal?: AbortSignal }): Promise<void> { return this.inner.delete(key, opts); }
  copy(srcKey: string, dstKey: string, opts?: { signal?: AbortSignal }): Promise<void> { return this.inner.copy(srcKey, dstKey, opts); }
  describe(): string { return `gated+${this.inner.describe()}`; }
  async close(): Promise<void> {
    this.release();
    await this.inner.close();
  }
}

/**
 * A StoreOpener for Master.start: each source's real store (from its URI), inside
 * a GatedStore, inside a FaultyStore. The latest wrappers opened for a source are
 * kept by source name, for the test to steer.
 */
export class TestStores {
  private readonly faulty = new Map<string, FaultyStore>();
  private readonly gated = new Map<string, GatedStore>();

  constructor(private readonly options: (source: string) => FaultyStoreOptions = () => ({})) {}

  readonly opener: StoreOpener = async (s: SourceRecord) => {
    const g = new GatedStore((await openStore(s.uri)).store);
    const f = new FaultyStore(g, this.options(s.name));
    this.gated.set(s.name, g);
    this.faulty.set(s.name, f);
    return f;
  };

  /** The FaultyStore of a source (latency, injected errors). */
  fault(source: string): FaultyStore {
    const f = this.faulty.get(source);
    if (!f) throw new Error(`no store opened for source ${source}`);
    return f;
  }

  /**
   * Opens the gates held with `ignoreAbort` (before a master stops: a job waiting
   * there would keep the stop waiting). Other gates stay closed: the stop aborts
   * their listings, as it would a real store's.
   */
  releaseDeaf(): void {
    for (const g of this.gated.values()) if (g.ignoringAbort) g.release();
  }

  /** The GatedStore of a source (hold and release its listings). */
  gate(source: string): GatedStore {
    const g = this.gated.get(source);
    if (!g) throw new Error(`no store opened for source ${source}`);
    return g;
  }
}
