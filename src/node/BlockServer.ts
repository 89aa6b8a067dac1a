// A cache node's data plane: serves block ranges over HTTP/1.1 (blockProtocol) from
// its own block cache, fetching a missing block from the under store once however
// many mounts ask for it (BlockReader's shared loads), storing it, and streaming it
// on. Also /metrics (Prometheus), /v1/stats (JSON), /healthz, and the master's
// control requests (POST /v1/warm, /v1/evict: CacheControl).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as HttpsServer, createServer as createHttpsServer } from 'node:https';
import { checkExposure } from '../access/index.js';
import type { NodeTls } from './NodeTls.js';
import { join } from 'node:path';
import { Counter, Gauge, Registry } from 'prom-client';
import { WharfError, isWharfError, logger } from '../common/index.js';
import { BlockCache, BlockReader } from '../cache/index.js';
import type { UnderStore } from '../ufs/index.js';
import { CACHED_ONLY_HEADER, ERRNO_HEADER, httpStatusOf, parseBlockRequest, type BlockRequest } from './blockProtocol.js';
import { ClusterLocator, type ClusterMember } from './ClusterLocator.js';
import { CacheControl, type NodePolicy } from './CacheControl.js';
import { EVICT_PATH, WARM_PATH } from './cacheProtocol.js';
import { FileCatalog } from './FileCatalog.js';
import { nodeIdentity } from './NodeIdentity.js';

const log = logger('node');

export interface BlockServerOptions {
  cacheDir: string;
  /** host:port to listen on (port 0 picks one). */
  listen: string;
  capacityBytes: number;
  minFreeBytes?: number;
  directIo?: boolean;
  /** Each block fetched from the store must arrive within this long (default 30 s). */
  fetchTimeoutMs?: number;
  /** Store requests in flight at once (default 16). */
  maxFetches?: number;
  /** The under store of a data source, by name; rejects (ENOENT) for one the node does not know. */
  storeFor: (source: string) => Promise<UnderStore>;
  /** Mutual TLS: serve HTTPS and require client certificates of the cluster CA; peers are read the same way. */
  tls?: NodeTls;
  /** Serve a non-loopback address without TLS anyway. */
  insecure?: boolean;
}

export interface NodeStats {
  id: string;
  address: string;
  capacityBytes: number;
  usedBytes: number;
  blocks: number;
  requests: number;
  refused: number;
  bytesServed: number;
  /** Blocks served from memory or this node's disk (memoryHits: from memory). */
  hits: number;
  memoryHits: number;
  misses: number;
  storeFetches: number;
  storeBytes: number;
  evicted: number;
  /** Block reads this node's misses got from peers (bytes), and peers that did not have them. */
  peerReads: number;
  peerBytes: number;
  peerMisses: number;
  /** Requests from peers answered from this node's cache. */
  servedToPeers: number;
  /** Warmup entries done and failed, bytes they brought; blocks dropped by rules and by TTL. */
  warmEntries: number;
  warmFailures: number;
  warmBytes: number;
  evictedByRule: number;
  evictedByTtl: number;
  /** The cache instance served ('' none) and its share of this disk (0: the whole capacity). */
  instance: string;
  limitBytes: number;
  /** The placement epoch the node follows (its peers' list), as a decimal string. */
  peerEpoch: string;
}

export class BlockServer {
  /** One reader per block size (mounts of one cluster normally share one). */
  private readonly readers = new Map<number, BlockReader>();
  private readonly counters = { requests: 0, refused: 0, bytesServed: 0, servedToPeers: 0 };
  /** Per block size: how this node's misses ask a peer before the store (peerLocator). */
  private readonly peerLocators = new Map<number, ClusterLocator>();
  private peers: ClusterMember[] = [];
  /** The placement epoch of the peer list this node reads its misses through. */
  private peerEpoch = 0n;
  readonly registry = new Registry();
  readonly control: CacheControl;

  private constructor(readonly id: string, readonly cache: BlockCache, private readonly server: Server, private readonly o: BlockServerOptions, public address = '') {
    this.control = new CacheControl(o.cacheDir, cache, FileCatalog.open(o.cacheDir, cache.fileIds()), (bs) => this.reader(bs), o.storeFor);
    const self = this;
    const gauge = (name: string, help: string, value: (s: NodeStats) => number) =>
      new Gauge({ name, help, registers: [this.registry], collect() { this.set(value(self.stats())); } });
    gauge('wharf_node_capacity_bytes', 'Bytes of blocks this node may keep', (s) => s.capacityBytes);
    gauge('wharf_node_used_bytes', 'Bytes of blocks held', (s) => s.usedBytes);
    gauge('wharf_node_blocks', 'Blocks held', (s) => s.blocks);
    const counter = (name: string, help: string, value: (s: NodeStats) => number) => {
      const c = new Counter({ name, help, registers: [this.registry], collect() { c.reset(); c.inc(value(self.stats())); } });
    };
    counter('wharf_node_requests_total', 'Block range requests answered', (s) => s.requests);
    counter('wharf_node_refused_total', 'Block range requests refused or failed', (s) => s.refused);
    counter('wharf_node_served_bytes_total', 'Bytes served to mounts and peers', (s) => s.bytesServed);
    counter('wharf_node_hits_total', 'Blocks read from this node\'s disk', (s) => s.hits);
    counter('wharf_node_misses_total', 'Blocks not on this node\'s disk when asked for', (s) => s.misses);
    counter('wharf_node_store_fetches_total', 'Blocks fetched from the under store', (s) => s.storeFetches);
    counter('wharf_node_store_bytes_total', 'Bytes fetched from the under store', (s) => s.storeBytes);
    counter('wharf_node_peer_reads_total', 'Reads of this node\'s misses answered by a peer\'s cache', (s) => s.peerReads);
    counter('wharf_node_peer_bytes_total', 'Bytes this node got from peers', (s) => s.peerBytes);
    counter('wharf_node_served_to_peers_total', 'Requests of peers answered from this cache', (s) => s.servedToPeers);
    counter('wharf_node_evictions_total', 'Blocks evicted for capacity', (s) => s.evicted);
    counter('wharf_node_warm_entries_total', 'Warmup entries filled', (s) => s.warmEntries);
    counter('wharf_node_warm_failures_total', 'Warmup entries that failed', (s) => s.warmFailures);
    counter('wharf_node_warm_bytes_total', 'Bytes of blocks a warmup asked for', (s) => s.warmBytes);
    counter('wharf_node_rule_evictions_total', 'Blocks dropped by eviction rules and instance changes', (s) => s.evictedByRule);
    counter('wharf_node_ttl_evictions_total', 'Blocks dropped past their directory\'s TTL', (s) => s.evictedByTtl);
  }

  static async start(o: BlockServerOptions): Promise<BlockServer> {
    const exposure = checkExposure('cache node', o.listen, { tls: Boolean(o.tls), auth: Boolean(o.tls), insecure: o.insecure ?? false });
    if (exposure === 'insecure') log.warn({ listen: o.listen }, 'INSECURE: serving blocks on a non-loopback address without mutual TLS (--insecure): anyone who can reach it can read cached data');
    const id = nodeIdentity(o.cacheDir);
    const cache = BlockCache.open(join(o.cacheDir, 'cache'), { capacityBytes: o.capacityBytes, minFreeBytes: o.minFreeBytes ?? 0, directIo: o.directIo ?? true });
    let node!: BlockServer;
    const handler = (req: IncomingMessage, res: ServerResponse) => node.handle(req, res);
    const server: Server = o.tls ? createHttpsServer({ keepAlive: true, ...o.tls.serverOptions() }, handler) : createServer({ keepAlive: true }, handler);
    const unwatch = o.tls && server instanceof HttpsServer ? o.tls.watchServer(server) : undefined;
    server.once('close', () => unwatch?.());
    // Mounts keep connections open between reads: idle ones are not cut early.
    server.keepAliveTimeout = 60_000;
    node = new BlockServer(id, cache, server, o);
    const i = o.listen.lastIndexOf(':');
    const host = o.listen.slice(0, i);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(o.listen.slice(i + 1)), host.replace(/^\[|\]$/g, ''), () => resolve());
    });
    const a = server.address();
    node.address = `${host}:${typeof a === 'object' && a ? a.port : 0}`;
    log.info({ id, address: node.address, blocks: cache.stats().blocks }, 'cache node serving');
    return node;
  }

  stats(): NodeStats {
    const c = this.cache.stats();
    let storeFetches = 0;
    let storeBytes = 0;
    let memoryHits = 0;
    // Every block this node fetches goes through its peer locator: the peer, else the store.
    let peerReads = 0;
    let peerBytes = 0;
    let peerMisses = 0;
    for (const r of this.readers.values()) {
      memoryHits += r.counters.memoryHits;
    }
    for (const l of this.peerLocators.values()) {
      peerReads += l.counters.nodeReads;
      peerBytes += l.counters.nodeBytes;
      peerMisses += l.counters.peerMisses;
      storeFetches += l.counters.storeBlocks;
      storeBytes += l.counters.storeBytes;
    }
    return {
      id: this.id, address: this.address, capacityBytes: this.o.capacityBytes, usedBytes: c.bytes, blocks: c.blocks,
      ...this.counters, hits: c.hits + memoryHits, memoryHits, misses: c.misses, storeFetches, storeBytes, evicted: c.evicted,
      peerReads, peerBytes, peerMisses,
      ...this.control.counters, instance: this.control.instance ?? '', limitBytes: this.control.current?.limitBytes ?? 0, peerEpoch: String(this.peerEpoch),
    };
  }

  /**
   * The other nodes of this node's instance, with their capacity as weight — draining
   * ones too: on a miss this node first asks the block's first candidate other than
   * itself, from its cache only. After a drain or a join that is where the block was
   * (rendezvous: a block that moved to this node came from its next candidate).
   */
  setPeers(members: readonly ClusterMember[], epoch: bigint): void {
    this.peers = members.filter((m) => m.id !== this.id);
    this.peerEpoch = epoch;
    for (const l of this.peerLocators.values()) l.setMembers(this.peers, epoch);
  }

  /** What the master says this node is for (from each heartbeat reply). */
  applyPolicy(p: NodePolicy): void {
    this.control.apply(p);
  }

  /** Stops serving: open connections are cut (mounts fall back to the next candidate). */
  async close(): Promise<void> {
    this.control.close();
    for (const l of this.peerLocators.values()) l.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private reader(blockSize: number): BlockReader {
    let r = this.readers.get(blockSize);
    if (!r) {
      const peers = new ClusterLocator({ blockSize, candidates: 1, cachedOnly: true, hopTimeoutMs: 2_000, tls: this.o.tls });
      peers.setMembers(this.peers, 0n);
      this.peerLocators.set(blockSize, peers);
      // No read-ahead of its own: a mount asks for the runs it wants.
      r = new BlockReader(this.cache, { blockSize, fetchTimeoutMs: this.o.fetchTimeoutMs ?? 30_000, prefetchBlocks: 0, maxFetches: this.o.maxFetches ?? 16, locator: peers });
      this.readers.set(blockSize, r);
    }
    return r;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    if (url === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (url === '/v1/stats') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.stats()));
    if (url === '/metrics') {
      this.registry.metrics().then((t) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(t), (e: unknown) => res.writeHead(500).end(String(e)));
      return;
    }
    if (req.method === 'POST' && url === WARM_PATH) return this.control.handleWarm(req, res, (r, e) => this.refuse(r, e));
    if (req.method === 'POST' && url === EVICT_PATH) return this.control.handleEvict(req, res, (r, e) => this.refuse(r, e));
    if (req.method !== 'GET') return void res.writeHead(405, { [ERRNO_HEADER]: 'EINVAL' }).end(`${req.method} is not served\n`);
    let r: BlockRequest;
    try {
      r = { ...parseBlockRequest(url, req.headers.range), cachedOnly: req.headers[CACHED_ONLY_HEADER] === '1' };
      this.control.checkRead(r.source, req.socket.remoteAddress, r.key);
    } catch (e) {
      return this.refuse(res, e);
    }
    this.counters.requests++;
    this.serve(r, res).catch((e: unknown) => this.refuse(res, e));
  }

  private async serve(r: BlockRequest, res: ServerResponse): Promise<void> {
    const store = await this.o.storeFor(r.source);
    const file = this.control.fileOf(r.source, r.key, r.fingerprint, r.blockSize, r.size, store);
    const reader = this.reader(r.blockSize);
    const first = Math.floor(r.start / r.blockSize);
    const last = Math.floor((r.end - 1) / r.blockSize);
    if (r.cachedOnly) {
      for (let i = first; i <= last; i++) if (!reader.holds(file, i)) throw new WharfError('ENOENT', `block ${i} of ${r.key} is not cached here`);
      this.counters.servedToPeers++;
    }
    reader.warm(file, first, last);
    // Blocks are borrowed (pinned in the reader's memory) and written as they are, no
    // copy; each is released once the socket has taken it, or when the response closes.
    const held = new Set<() => void>();
    let aborted = false;
    res.once('close', () => {
      aborted = !res.writableFinished;
      for (const release of held) release();
      held.clear();
    });
    const borrow = (i: number) => reader.borrow(file, i).then((b) => {
      const from = Math.max(r.start, i * r.blockSize) - i * r.blockSize;
      const to = Math.min(r.end, (i + 1) * r.blockSize) - i * r.blockSize;
      if (b.data.length < to) {
        b.release();
        throw new WharfError('EIO', `${r.key}: block ${i} holds ${b.data.length} bytes, not ${to}`);
      }
      if (aborted) b.release();
      else held.add(b.release);
      return { data: b.data.subarray(from, to), release: b.release };
    });
    // Two blocks ahead of the one being written: disk and socket overlap.
    const AHEAD = 2;
    const pending: ReturnType<typeof borrow>[] = [];
    let next = first;
    const fill = () => {
      while (next <= last && pending.length < AHEAD + 1) {
        const p = borrow(next++);
        p.catch(() => undefined); // awaited in turn; unheard if the client went away
        pending.push(p);
      }
    };
    fill();
    try {
      while (pending.length > 0 && !aborted) {
        const b = await pending.shift()!;
        fill();
        if (!res.headersSent) res.writeHead(206, { 'content-length': r.end - r.start, 'content-range': `bytes ${r.start}-${r.end - 1}/${r.size}`, 'content-type': 'application/octet-stream' });
        this.counters.bytesServed += b.data.length;
        const release = b.release;
        const ok = res.write(b.data, () => { held.delete(release); release(); });
        if (!ok) await drained(res);
      }
    } finally {
      // Borrowed ahead and never written (failure or client gone): give them back.
      for (const p of pending) void p.then((b) => { held.delete(b.release); b.release(); }, () => undefined);
    }
    res.end();
  }

  /** Answers a refusal, or — once bytes were sent — cuts the connection so the mount sees a short body, never wrong bytes. */
  private refuse(res: ServerResponse, e: unknown): void {
    this.counters.refused++;
    const errno = isWharfError(e) ? e.errno : 'EIO';
    const message = e instanceof Error ? e.message : String(e);
    if (res.headersSent) {
      log.warn({ err: message }, 'block range failed mid-stream');
      res.destroy();
      return;
    }
    if (errno !== 'EINVAL') log.warn({ errno, err: message }, 'block request failed');
    res.writeHead(httpStatusOf(errno), { [ERRNO_HEADER]: errno, 'content-type': 'text/plain' }).end(`${message}\n`);
  }
}

/** Resolves when the response can take more, or is gone; leaves no listener behind. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
