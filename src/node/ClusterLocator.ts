// Where a mount's missing block comes from when there is a cache cluster: the
// block's owner node, then the next candidates by placement, then the under store.
// Each node hop has a bounded deadline (to its answer, and between its chunks); a
// stream cut mid-way goes on from the next hop at the byte where it stopped, so a
// reader gets correct bytes when a node dies mid-read. A node that fails twice in a
// row is skipped for a while, then tried again once (one slow read is not a dead
// node); one success clears it.
import type { IncomingMessage } from 'node:http';
import { NodeTransport, type NodeTls } from './NodeTls.js';
import { PassThrough, type Readable } from 'node:stream';
import { WharfError, logger } from '../common/index.js';
import { storeBlockSource, type BlockLocator, type BlockSource, type CachedFile } from '../cache/index.js';
import { CACHED_ONLY_HEADER, ERRNO_HEADER, blockUrlPath, refusalError } from './blockProtocol.js';
import { Placement } from './Placement.js';

const log = logger('cluster');

/** A node as the mount sees it: the registry's view. */
export interface ClusterMember {
  id: string;
  /** host:port of its block server. */
  address: string;
  /** Capacity in bytes; 0 when draining (owns nothing new). */
  weight: number;
  /** SUSPECT nodes keep their place in placement but are not read from. */
  readable: boolean;
  /** The cache instance it serves ('' or absent: none). */
  instance?: string;
}

export interface ClusterLocatorOptions {
  blockSize: number;
  /** A node's deadline for its answer and for each chunk after (default 2 s). */
  hopTimeoutMs?: number;
  /** Nodes tried per block before the store (default 2). */
  candidates?: number;
  /** Consecutive failures after which a node is skipped (default 2). */
  failuresToSkip?: number;
  /** How long a failing node is skipped before one read tries it again (default 10 s). */
  skipMs?: number;
  /** A node's locator for its peers: ask them for what they have cached, never to fetch it. */
  cachedOnly?: boolean;
  now?: () => number;
  /** Mutual TLS to the nodes (absent: plain HTTP). */
  tls?: NodeTls | undefined;
}

export interface ClusterCounters {
  nodeReads: number;
  nodeBytes: number;
  nodeFailures: number;
  /** Reads that went on from another node after a node failed. */
  fallbacks: number;
  /** Reads (or their rest) served by the under store. */
  storeReads: number;
  storeBytes: number;
  /** Blocks (whole or in part) asked of the under store. */
  storeBlocks: number;
  /** cachedOnly: peers that did not have the block. */
  peerMisses: number;
}

interface Health {
  failures: number;
  skipUntil: number;
}

export class ClusterLocator implements BlockLocator {
  /** One placement per cache instance ('' the nodes in none): a source's blocks live on its instance's nodes only. */
  private placements = new Map<string, Placement>();
  /** Source → the instance it is bound to (absent: none). */
  private bindings = new Map<string, string>();
  private members = new Map<string, ClusterMember>();
  private readonly sources = new Map<string, BlockSource>();
  private readonly health = new Map<string, Health>();
  private readonly transport: NodeTransport;
  private readonly o: Required<Omit<ClusterLocatorOptions, 'tls'>>;
  readonly counters: ClusterCounters = { nodeReads: 0, nodeBytes: 0, nodeFailures: 0, fallbacks: 0, storeReads: 0, storeBytes: 0, storeBlocks: 0, peerMisses: 0 };
  epoch = 0n;

  constructor(o: ClusterLocatorOptions, members: readonly ClusterMember[] = []) {
    const { tls, ...rest } = o;
    this.o = { hopTimeoutMs: 2_000, candidates: 2, failuresToSkip: 2, skipMs: 10_000, now: Date.now, cachedOnly: false, ...rest };
    this.transport = new NodeTransport(tls, 32);
    this.setMembers(members, 0n);
  }

  /** Follows the registry: a new member list at a new placement epoch. */
  setMembers(members: readonly ClusterMember[], epoch: bigint): void {
    this.members = new Map(members.map((m) => [m.id, m]));
    const by = new Map<string, ClusterMember[]>();
    for (const m of members) {
      const k = m.instance ?? '';
      by.set(k, [...(by.get(k) ?? []), m]);
    }
    this.placements = new Map([...by].map(([k, ms]) => [k, new Placement(ms.map((m) => ({ id: m.id, weight: m.weight })))]));
    this.epoch = epoch;
    for (const id of this.sources.keys()) if (!this.members.has(id)) this.sources.delete(id);
  }

  /** Follows the sources' bindings to cache instances. */
  setBindings(bindings: ReadonlyMap<string, string>): void {
    this.bindings = new Map(bindings);
  }

  private placementOf(source: string): Placement | undefined {
    return this.placements.get(this.bindings.get(source) ?? '');
  }

  /** The nodes to try for a block, owner first, unreadable and skipped ones left out. */
  hopsFor(file: CachedFile, index: number): ClusterMember[] {
    if (!file.source || !file.fingerprint) return [];
    const now = this.o.now();
    const placement = this.placementOf(file.source);
    if (!placement) return [];
    return placement.candidates(`${file.id}:${index}`, this.o.candidates)
      .map((p) => this.members.get(p.id)!)
      .filter((m) => m.readable && (this.health.get(m.id)?.skipUntil ?? 0) <= now);
  }

  sourceFor(file: CachedFile, index: number): BlockSource {
    // One source object per owner: the reader groups a run of blocks by source identity.
    const owner = file.source && file.fingerprint ? this.placementOf(file.source)?.owner(`${file.id}:${index}`) : undefined;
    if (!owner) return this.storeSource;
    let s = this.sources.get(owner.id);
    if (!s) {
      s = { open: (f, offset, length, signal) => this.open(f, offset, length, signal) };
      this.sources.set(owner.id, s);
    }
    return s;
  }

  close(): void {
    this.transport.close();
  }

  private readonly storeSource: BlockSource = {
    open: async (file, offset, length, signal) => {
      this.counters.storeReads++;
      this.counters.storeBytes += length;
      this.counters.storeBlocks += this.blocksIn(offset, offset + length);
      return storeBlockSource.open(file, offset, length, signal);
    },
  };

  /** Bytes [offset, offset + length) from the hops in turn, resuming where a failed one stopped. */
  private async open(file: CachedFile, offset: number, length: number, signal: AbortSignal): Promise<Readable> {
    const hops = this.hopsFor(file, Math.floor(offset / this.o.blockSize));
    const end = offset + length;
    let at = offset;
    let hop = 0;
    /** The next hop that answers from `at` on; the store when the nodes are exhausted. */
    const next = async (): Promise<{ stream: Readable; node?: ClusterMember }> => {
      while (hop < hops.length) {
        const node = hops[hop++]!;
        try {
          return { stream: await this.get(node, file, at, end, signal), node };
        } catch (e) {
          // Gone from the store, refused by the source's permission group, or the read was
          // given up: no other hop would do better (and the store must not undo a refusal).
          if ((e instanceof WharfError && (e.errno === 'ESTALE' || e.errno === 'EACCES')) || signal.aborted) throw e;
          // A peer without the block (cachedOnly) answered correctly: not a failure of that node.
          if (this.o.cachedOnly && e instanceof WharfError && e.errno === 'ENOENT') {
            this.counters.peerMisses++;
            continue;
          }
          this.failed(node, e);
          this.counters.fallbacks++;
        }
      }
      this.counters.storeReads++;
      this.counters.storeBytes += end - at;
      this.counters.storeBlocks += this.blocksIn(at, end);
      return { stream: await storeBlockSource.open(file, at, end - at, signal) };
    };
    // The first answer before returning: failing to open at all is the caller's error.
    const first = await next();
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    const pump = ({ stream: s, node }: { stream: Readable; node?: ClusterMember }) => {
      if (node) this.counters.nodeReads++;
      let idle: NodeJS.Timeout | undefined;
      const arm = () => {
        if (!node) return; // the store's own deadline is the reader's fetch timeout
        clearTimeout(idle);
        idle = setTimeout(() => s.destroy(new WharfError('ETIMEDOUT', `cache node ${node.address} sent nothing for ${this.o.hopTimeoutMs} ms`)), this.o.hopTimeoutMs);
      };
      let done = false;
      const onFail = (e: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(idle);
        s.removeAllListeners('data');
        s.on('error', () => undefined);
        s.destroy();
        if (!node || signal.aborted) return void out.destroy(e instanceof Error ? e : new Error(String(e)));
        this.failed(node, e);
        this.counters.fallbacks++;
        log.info({ node: node.address, at, end, err: e instanceof Error ? e.message : String(e) }, 'cache node read failed; going on from the next candidate');
        next().then(pump, (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
      };
      arm();
      s.on('data', (chunk: Buffer) => {
        arm();
        const n = Math.min(chunk.length, end - at);
        at += n;
        if (node) this.counters.nodeBytes += n;
        if (n > 0 && !out.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          s.pause();
          out.once('drain', () => s.resume());
        }
      });
      s.once('error', onFail);
      s.once('end', () => {
        if (at < end) return onFail(new WharfError('EIO', `${node ? `cache node ${node.address}` : 'the store'} ended at byte ${at} of ${end}`));
        done = true;
        clearTimeout(idle);
        if (node) this.healthy(node);
        out.end();
      });
    };
    pump(first);
    const abort = () => out.destroy();
    signal.addEventListener('abort', abort, { once: true });
    out.once('close', () => signal.removeEventListener('abort', abort));
    return out;
  }

  /** One ranged GET from a node: its 206 response, or the error it answered with (or a timeout). */
  private get(node: ClusterMember, file: CachedFile, start: number, end: number, signal: AbortSignal): Promise<IncomingMessage> {
    const i = node.address.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const req = this.transport.request({
        host: node.address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(node.address.slice(i + 1)), signal,
        path: blockUrlPath({ source: file.source!, key: file.key, fingerprint: file.fingerprint!, blockSize: this.o.blockSize, size: file.size }),
        headers: { range: `bytes=${start}-${end - 1}`, ...(this.o.cachedOnly ? { [CACHED_ONLY_HEADER]: '1' } : {}) },
      });
      const timer = setTimeout(() => req.destroy(new WharfError('ETIMEDOUT', `cache node ${node.address} did not answer within ${this.o.hopTimeoutMs} ms`)), this.o.hopTimeoutMs);
      req.once('error', (e) => { clearTimeout(timer); reject(e); });
      req.once('response', (res) => {
        clearTimeout(timer);
        if (res.statusCode === 206) return resolve(res);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { if (body.length < 1000) body += c; });
        res.once('end', () => reject(refusalError(res.statusCode ?? 0, res.headers[ERRNO_HEADER], body.trim())));
        res.once('error', reject);
      });
      req.end();
    });
  }

  private blocksIn(start: number, end: number): number {
    return end > start ? Math.floor((end - 1) / this.o.blockSize) - Math.floor(start / this.o.blockSize) + 1 : 0;
  }

  private failed(node: ClusterMember, e: unknown): void {
    this.counters.nodeFailures++;
    const h = this.health.get(node.id) ?? { failures: 0, skipUntil: 0 };
    h.failures++;
    if (h.failures >= this.o.failuresToSkip) {
      h.skipUntil = this.o.now() + this.o.skipMs;
      // One more failure after the skip ends skips it again at once: tried once, not twice.
      h.failures = this.o.failuresToSkip - 1;
      log.warn({ node: node.address, err: e instanceof Error ? e.message : String(e), skipMs: this.o.skipMs }, 'cache node skipped for reads');
    }
    this.health.set(node.id, h);
  }

  private healthy(node: ClusterMember): void {
    this.health.delete(node.id);
  }
}
