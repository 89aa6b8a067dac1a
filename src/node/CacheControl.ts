// A cache node's side of cache rules and instances: warmups (fill blocks from the
// store, throttled, streaming a result per entry), evictions (drop a directory's or a
// source's blocks, found through the FileCatalog), and the policy the master hands
// out with every heartbeat reply — the instance's share of this disk with its
// watermarks, pinned directories (never evicted for capacity) and TTLs (evicted
// that long after they were first cached).
//
// A node moved to another instance (or out of one) drops every block it holds: they
// belong to sources it no longer serves. The instance it serves, with the version of
// that assignment, is kept in <cacheDir>/INSTANCE so a restart does not mistake its
// own blocks for a stranger's, and a policy older than the assignment it knows (a
// heartbeat reply computed before a move and delivered after) changes nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pLimit from 'p-limit';
import { WharfError, isWharfError, logger } from '../common/index.js';
import { blockFileId, type BlockCache, type BlockReader, type CachedFile } from '../cache/index.js';
import type { UnderStore } from '../ufs/index.js';
import { MAX_CONTROL_BODY, parseEvictRequest, parseWarmRequest, type EvictRequest, type EvictResult, type WarmRequest, type WarmResult } from './cacheProtocol.js';
import type { FileCatalog } from './FileCatalog.js';
import { AccessMatcher, peerAddress, type AccessRule } from '../access/index.js';

const log = logger('node');
/** Entries of one warm request worked on at once. */
const WARM_CONCURRENCY = 4;

export interface CachePin {
  source: string;
  /** Key prefix of the directory. */
  prefix: string;
  /** 0: pinned (never evicted for capacity); N: evicted N ms after first cached. */
  ttlMs: number;
}

export interface NodePolicy {
  /** '' for the nodes in no instance. */
  instance: string;
  /** Grows with every change of the node's instance (a stale policy is ignored). */
  instanceVersion: number;
  /** 0: no limit below the node's capacity. */
  limitBytes: number;
  highWatermark: number;
  lowWatermark: number;
  pins: CachePin[];
  /** Per source the node caches, its permission group's rules; a source not listed: every address may read. */
  access?: { source: string; rules: AccessRule[] }[];
}

export interface CacheControlCounters {
  warmEntries: number;
  warmFailures: number;
  warmBytes: number;
  evictedByRule: number;
  evictedByTtl: number;
}

/** A block read refused by a permission group. */
export interface DeniedRead {
  timeMs: number;
  address: string;
  source: string;
  key: string;
}

const MAX_DENIED_KEPT = 200;

export class CacheControl {
  private policy: NodePolicy | undefined;
  private matchers = new Map<string, AccessMatcher>();
  private readonly instancePath: string;
  /** What <cacheDir>/INSTANCE holds: read once at start, kept in step with every write. */
  private assigned: { instance: string; version: number } | undefined;
  private ttlTimer: NodeJS.Timeout | undefined;
  private denied: DeniedRead[] = [];
  private deniedDropped = 0;
  readonly counters: CacheControlCounters = { warmEntries: 0, warmFailures: 0, warmBytes: 0, evictedByRule: 0, evictedByTtl: 0 };

  constructor(
    cacheDir: string,
    private readonly cache: BlockCache,
    private readonly catalog: FileCatalog,
    private readonly reader: (blockSize: number) => BlockReader,
    private readonly storeFor: (source: string) => Promise<UnderStore>,
    private readonly now: () => number = Date.now,
  ) {
    this.instancePath = join(cacheDir, 'INSTANCE');
    this.assigned = readAssignment(this.instancePath);
    this.ttlTimer = setInterval(() => this.expire(), 5_000);
    this.ttlTimer.unref();
  }

  /** The instance this node serves and the version of that assignment, as last recorded. */
  get assignment(): { instance: string; version: number } | undefined {
    return this.assigned;
  }

  get instance(): string | undefined {
    return this.assignment?.instance;
  }

  /** The policy in force (the last one not stale). */
  get current(): NodePolicy | undefined {
    return this.policy;
  }

  /** Records a move to `instance` (emptying the cache if it is another); false if `version` is older than the one known. */
  private moveTo(instance: string, version: number): boolean {
    const was = this.assignment;
    if (was && version < was.version) return false;
    if (was && was.instance !== instance) {
      const freed = this.dropAll();
      log.info({ from: was.instance || '(none)', to: instance || '(none)', ...freed }, 'moved to another cache instance: cache emptied');
    }
    if (!was || was.instance !== instance || was.version !== version) {
      writeFileSync(this.instancePath, JSON.stringify({ instance, version }) + '\n');
      this.assigned = { instance, version };
    }
    return true;
  }

  /** The master's word on this node (from a heartbeat reply). */
  apply(p: NodePolicy): void {
    if (!this.moveTo(p.instance, p.instanceVersion)) return; // stale: a newer assignment was seen
    this.policy = p;
    this.matchers = new Map((p.access ?? []).map((a) => [a.source, new AccessMatcher(a.rules)]));
    const pins = p.pins.filter((x) => x.ttlMs === 0);
    this.cache.setLimit(p.limitBytes > 0 ? {
      limitBytes: p.limitBytes, high: p.highWatermark, low: p.lowWatermark,
      ...(pins.length ? { keep: (id: string) => this.pinned(id, pins) } : {}),
    } : undefined);
    this.expire();
  }

  /** Refuses (EACCES) a block read of `source` from an address its permission group forbids. */
  checkRead(source: string, remoteAddress: string | undefined, key = ''): void {
    const m = this.matchers.get(source);
    if (!m) return;
    const address = peerAddress(remoteAddress ?? '');
    if (m.modeFor(address) === 'Forbidden') {
      // Kept for the next heartbeat, which hands them to the master's audit log (bounded: a flood is counted, not kept).
      if (this.denied.length < MAX_DENIED_KEPT) this.denied.push({ timeMs: this.now(), address, source, key });
      else this.deniedDropped++;
      throw new WharfError('EACCES', `${address} is forbidden from source ${source} by its permission group`);
    }
  }

  /** The refused reads since the last call (for the heartbeat), and how many were not kept. */
  takeDenied(): { denied: DeniedRead[]; dropped: number } {
    const out = { denied: this.denied, dropped: this.deniedDropped };
    this.denied = [];
    this.deniedDropped = 0;
    return out;
  }

  /** Puts back what a failed heartbeat could not deliver (still bounded). */
  returnDenied(d: { denied: DeniedRead[]; dropped: number }): void {
    const room = MAX_DENIED_KEPT - this.denied.length;
    this.denied = [...d.denied.slice(0, room), ...this.denied];
    this.deniedDropped += d.dropped + Math.max(0, d.denied.length - room);
  }

  private pinned(id: string, pins: readonly CachePin[]): boolean {
    const f = this.catalog.get(id);
    return !!f && pins.some((p) => p.source === f.source && f.key.startsWith(p.prefix));
  }

  /** Drops files past their directory's TTL. */
  expire(): void {
    const ttls = this.policy?.pins.filter((p) => p.ttlMs > 0) ?? [];
    if (!ttls.length) return;
    const now = this.now();
    const ids = new Set<string>();
    for (const t of ttls) for (const f of this.catalog.matching(t.source, t.prefix)) if (f.firstMs + t.ttlMs <= now) ids.add(f.id);
    if (!ids.size) return;
    const freed = this.drop(ids);
    this.counters.evictedByTtl += freed.blocks;
    log.info({ files: ids.size, ...freed }, 'evicted files past their TTL');
  }

  close(): void {
    clearInterval(this.ttlTimer);
  }

  evict(r: EvictRequest): EvictResult {
    if (r.all) {
      const files = this.catalog.size;
      const freed = this.dropAll();
      if (r.instance !== undefined && r.instanceVersion !== undefined) this.moveTo(r.instance, r.instanceVersion);
      this.counters.evictedByRule += freed.blocks;
      return { files, ...freed };
    }
    const files = r.keys ? this.catalog.withKeys(r.source!, new Set(r.keys)) : this.catalog.matching(r.source!, r.prefix ?? '');
    const freed = this.drop(new Set(files.map((f) => f.id)));
    this.counters.evictedByRule += freed.blocks;
    return { files: files.length, ...freed };
  }

  private drop(ids: Set<string>): { blocks: number; bytes: number } {
    for (const id of ids) {
      const f = this.catalog.get(id);
      if (f) this.reader(f.blockSize).forget(id);
    }
    const freed = this.cache.dropFiles(ids);
    this.catalog.forget(ids);
    return freed;
  }

  private dropAll(): { blocks: number; bytes: number } {
    const ids = new Set(this.cache.fileIds());
    for (const id of ids) {
      const f = this.catalog.get(id);
      if (f) this.reader(f.blockSize).forget(id);
    }
    const freed = this.cache.dropFiles('all');
    this.catalog.forgetAll();
    return freed;
  }

  /** The file a block request or a warm entry names, noted in the catalog before any of its blocks is stored. */
  fileOf(source: string, key: string, fingerprint: string, blockSize: number, size: number, store: UnderStore): CachedFile {
    const id = blockFileId(source, key, fingerprint, blockSize);
    this.catalog.note({ id, source, key, fingerprint, blockSize });
    return { id, source, fingerprint, store, key, size };
  }

  // ---- HTTP ---------------------------------------------------------------------------

  handleEvict(req: IncomingMessage, res: ServerResponse, refuse: (res: ServerResponse, e: unknown) => void): void {
    readBody(req).then((body) => {
      const result = this.evict(parseEvictRequest(body));
      log.info({ ...result }, 'evicted on request');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
    }).catch((e: unknown) => refuse(res, e));
  }

  handleWarm(req: IncomingMessage, res: ServerResponse, refuse: (res: ServerResponse, e: unknown) => void): void {
    readBody(req).then(async (body) => {
      const r = parseWarmRequest(body);
      const store = await this.storeFor(r.source);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const ctrl = new AbortController();
      res.once('close', () => { if (!res.writableFinished) ctrl.abort(); });
      await this.warm(r, store, ctrl.signal, (line) => { if (!res.destroyed) res.write(JSON.stringify(line) + '\n'); });
      if (!res.destroyed) res.end(JSON.stringify({ end: true }) + '\n');
    }).catch((e: unknown) => refuse(res, e));
  }

  /**
   * Works through the entries, WARM_CONCURRENCY at a time, holding the request's rate
   * (an entry starts only once the bytes before it are within the rate). Stops starting
   * entries when `signal` aborts; entries under way finish (a fetch is not torn).
   */
  async warm(r: WarmRequest, store: UnderStore, signal: AbortSignal, emit: (line: WarmResult) => void): Promise<void> {
    const reader = this.reader(r.blockSize);
    const limit = pLimit(WARM_CONCURRENCY);
    const started = this.now();
    let planned = 0;
    await Promise.all(r.entries.map((e, i) => limit(async () => {
      if (signal.aborted) return;
      const bytes = Math.min(e.size, (e.last + 1) * r.blockSize) - e.first * r.blockSize;
      if (r.rateBytesPerSec > 0) {
        const wait = started + (planned * 1000) / r.rateBytesPerSec - this.now();
        planned += bytes;
        if (wait > 0) await sleep(wait, signal);
        if (signal.aborted) return;
      }
      const file = this.fileOf(r.source, e.key, e.fingerprint, r.blockSize, e.size, store);
      try {
        if (r.refresh) this.drop(new Set([file.id]));
        const got = await reader.fill(file, e.first, e.last);
        this.counters.warmEntries++;
        this.counters.warmBytes += got.bytes;
        emit({ i, ...got });
      } catch (err) {
        this.counters.warmFailures++;
        emit({ i, errno: isWharfError(err) ? err.errno : 'EIO', message: err instanceof Error ? err.message : String(err) });
      }
    })));
  }
}

function readAssignment(path: string): { instance: string; version: number } | undefined {
  try {
    const a = JSON.parse(readFileSync(path, 'utf8')) as { instance: string; version: number };
    return typeof a.instance === 'string' && Number.isSafeInteger(a.version) ? a : undefined;
  } catch {
    return undefined; // none yet, or from before assignments were versioned
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_CONTROL_BODY) {
        reject(new WharfError('EINVAL', `request body over ${MAX_CONTROL_BODY} bytes`));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.once('error', reject);
  });
}
