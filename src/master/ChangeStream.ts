// The master's change stream and the invalidations it exchanges with other
// clusters (issue: several Wharf clusters mounting one store stay coherent).
//
//   publishing — the outbox (src/meta ChangeLog), written in each client
//     mutation's own batch, is relayed to the change topic (src/events
//     ChangeRelay). Each message says where its path lives in an under store (the
//     store's identity and the object key), so a cluster that mounts the same store
//     under another name or prefix finds its own path.
//   subscribing — other clusters' change topics are read (src/events
//     InvalidationFeed); each change marks the deepest existing directory above its
//     path (in every source on the same store) unlisted, so the next access lists
//     it from the store. A lost position marks every source stale (staleSinceMs):
//     each directory re-lists once on its next access, and `wharf status` says why.
//
// Discipline: the relay is the only reader and deleter of the outbox; the feed is
// the only writer of the invalidation position, in the same batch as its marks.
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { WharfError, logger, type Ino } from '../common/index.js';
import { ChangeRelay, InvalidationFeed, SequenceChains, type ChangeBody, type FeedBatch, type FeedStatus, type KafkaSettings, type OutboxRecord, type RelayStatus, type StoreRef } from '../events/index.js';
import { metaKey, type ChangeLog, type InodeTree, type NamespaceChange } from '../meta/index.js';
import { keyToPath, parseStoreUri, pathToKey } from '../ufs/index.js';
import type { SourceCatalog } from './SourceCatalog.js';

const log = logger('change-stream');
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const CLUSTER = /^[A-Za-z0-9._-]{1,64}$/;

export interface ChangeStreamOptions extends KafkaSettings {
  /** This cluster's name, in every message it publishes (default: the host name). */
  cluster?: string;
  /** Publish the namespace's changes on this topic. */
  topic?: string;
  /** Read other clusters' changes from these topics and invalidate what they name. */
  invalidateFrom?: string[];
  /** The invalidation feed's consumer group (default wharf-invalidations-<cluster>). */
  group?: string;
}

/** The options checked, with the cluster name settled. */
export function checkChangeStream(o: ChangeStreamOptions): ChangeStreamOptions & { cluster: string } {
  const cluster = o.cluster ?? hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
  if (!CLUSTER.test(cluster)) throw new WharfError('EINVAL', `cluster name ${JSON.stringify(cluster)} must be 1–64 of letters, digits, . _ -`);
  if (!o.topic && !o.invalidateFrom?.length) throw new WharfError('EINVAL', 'the change stream needs a topic to publish on (--change-topic) or topics to read invalidations from (--invalidate-from)');
  for (const t of [...(o.topic ? [o.topic] : []), ...(o.invalidateFrom ?? [])]) if (!TOPIC.test(t)) throw new WharfError('EINVAL', `topic ${JSON.stringify(t)} is not a Kafka topic name`);
  if (o.brokers.length === 0) throw new WharfError('EINVAL', 'the change stream needs at least one broker (--change-brokers host:9092)');
  for (const b of o.brokers) if (!/^[^\s:/]+:\d{1,5}$/.test(b) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(b)) throw new WharfError('EINVAL', `broker ${JSON.stringify(b)} is not host:port`);
  if (o.group !== undefined && !/^[A-Za-z0-9._-]{1,255}$/.test(o.group)) throw new WharfError('EINVAL', `consumer group ${JSON.stringify(o.group)} must be 1–255 of letters, digits, . _ -`);
  if (o.sasl?.mechanism === 'plain' && !o.tls) throw new WharfError('EINVAL', 'SASL PLAIN sends the password as it is: use it with TLS');
  return { ...o, cluster };
}

interface Mount {
  source: string;
  /** The source's mount path: '' for a source at '/', else '/a/b'. */
  path: string;
  rootIno: Ino;
  id: string;
  prefix: string;
}

/** What two clusters mounting the same store share: its bucket, or its directory. */
export function storeIdentity(uri: string): { id: string; prefix: string } {
  const loc = parseStoreUri(uri);
  if (loc.scheme === 's3') return { id: `s3://${loc.bucket}`, prefix: loc.prefix };
  return { id: pathToFileURL(loc.root).href, prefix: loc.prefix };
}

export class ChangeStream {
  private relay: ChangeRelay | undefined;
  private feed: InvalidationFeed | undefined;
  private closed = false;

  constructor(private readonly tree: InodeTree, private readonly catalog: SourceCatalog, private readonly o?: ChangeStreamOptions & { cluster: string }) {}

  /** Starts publishing and subscribing, in the background (brokers may be down). */
  async open(): Promise<void> {
    const o = this.o;
    const changes = this.tree.changes;
    if (!o) {
      if (changes?.pending) log.warn({ pending: changes.pending }, 'unpublished changes wait in the outbox: start the master with --change-topic to publish them');
      return;
    }
    if (o.topic) {
      if (!changes) throw new WharfError('EINVAL', 'publishing a change stream needs the namespace opened with its outbox');
      const epoch = await this.nextEpoch();
      this.relay = new ChangeRelay({ ...o, topic: o.topic }, epoch, this.outboxOf(changes));
      this.relay.start();
    }
    if (o.invalidateFrom?.length) {
      const chains = SequenceChains.parse(await this.tree.db.get(metaKey('invalidationFeed')));
      this.feed = new InvalidationFeed({ ...o, topics: o.invalidateFrom, group: o.group ?? `wharf-invalidations-${o.cluster}`, cluster: o.cluster }, chains, (b) => this.applyFeed(b));
      void this.keepStarting(this.feed);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.relay?.stop(), this.feed?.stop()]);
  }

  status(): { changes?: RelayStatus & { lastSeq: bigint }; invalidations?: FeedStatus } {
    return {
      ...(this.relay ? { changes: { ...this.relay.status(), lastSeq: this.tree.changes?.lastSeq ?? 0n } } : {}),
      ...(this.feed ? { invalidations: this.feed.status() } : {}),
    };
  }

  private async nextEpoch(): Promise<number> {
    return this.tree.write('change stream: epoch', async (tx) => {
      const raw = await tx.getRecordRaw(metaKey('changeEpoch'));
      const epoch = (raw ? Number(raw.readBigUInt64BE(0)) : 0) + 1;
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(epoch));
      tx.putRecord(metaKey('changeEpoch'), b);
      return epoch;
    });
  }

  private async keepStarting(feed: InvalidationFeed): Promise<void> {
    for (let delay = 1_000; ; delay = Math.min(delay * 2, 30_000)) {
      if (this.closed || this.feed !== feed) return;
      try {
        await feed.start();
        return;
      } catch (e) {
        log.warn({ err: (e as Error).message, retryInMs: delay }, 'invalidation feed could not start; retrying (wharf status)');
      }
      await new Promise((r) => setTimeout(r, delay).unref());
    }
  }

  // ---- publishing ---------------------------------------------------------------------

  private outboxOf(changes: ChangeLog) {
    return {
      read: async (limit: number): Promise<OutboxRecord[]> => {
        const recs = await changes.read(limit);
        if (recs.length === 0) return [];
        const mounts = await this.mounts();
        return recs.map((c) => ({ seq: c.seq, body: this.bodyOf(c, mounts) }));
      },
      done: async (seqs: readonly bigint[]): Promise<void> => {
        await this.tree.write('change stream: published', async (tx) => changes.remove(tx, seqs));
        changes.removed(seqs.length);
      },
      wait: (ms: number) => changes.wait(ms),
      get pending() { return changes.pending; },
    };
  }

  private bodyOf(c: NamespaceChange, mounts: readonly Mount[]): ChangeBody {
    const store = storeRefOf(c.path, c.type === 'directory', mounts);
    const toStore = c.toPath !== undefined ? storeRefOf(c.toPath, c.type === 'directory', mounts) : undefined;
    return {
      op: c.op, path: c.path, ino: c.ino.toString(), type: c.type, timeMs: c.timeMs,
      ...(c.toPath !== undefined ? { toPath: c.toPath } : {}), ...(c.size !== undefined ? { size: c.size.toString() } : {}),
      ...(c.changed ? { changed: c.changed } : {}), ...(store ? { store } : {}), ...(toStore ? { toStore } : {}),
    };
  }

  private async mounts(): Promise<Mount[]> {
    const out: Mount[] = [];
    for (const s of this.catalog.list()) {
      const parts = await this.tree.pathOf(BigInt(s.rootIno)).catch(() => undefined);
      if (!parts) continue;
      out.push({ source: s.name, path: parts.length ? '/' + parts.join('/') : '', rootIno: BigInt(s.rootIno), ...storeIdentity(s.uri) });
    }
    // Nested mounts: the deepest one owns a path.
    return out.sort((a, b) => b.path.length - a.path.length);
  }

  // ---- subscribing --------------------------------------------------------------------

  private async applyFeed(b: FeedBatch): Promise<void> {
    if (b.losses.length) await this.markAllStale(b.losses.join('; '));
    const mounts = await this.mounts();
    const marks: { rootIno: Ino; parts: string[] }[] = [];
    for (const c of b.changes) {
      for (const ref of [c.store, c.toStore]) {
        if (!ref) continue;
        for (const m of mounts) {
          if (m.id !== ref.id) continue;
          const mapped = keyToPath(m.prefix, ref.key);
          if (mapped.kind === 'skip' || mapped.parts.length === 0) continue;
          marks.push({ rootIno: m.rootIno, parts: mapped.parts.slice(0, -1) });
        }
      }
    }
    await this.tree.write(`invalidations: ${b.changes.length}`, async (tx) => {
      const done = new Set<Ino>();
      for (const mk of marks) {
        // The deepest directory there is above the path: a new directory's parent lists it.
        let at = mk.rootIno;
        for (const p of mk.parts) {
          const d = await tx.getDentry(at, p);
          if (!d || d.type !== 'directory') break;
          at = d.ino;
        }
        if (done.has(at)) continue;
        done.add(at);
        tx.putSyncTimes(at, { listedMs: 0, treeMs: 0 });
      }
      tx.putRecord(metaKey('invalidationFeed'), b.state);
    });
  }

  private async markAllStale(reason: string): Promise<void> {
    const now = Date.now();
    for (const s of this.catalog.list()) {
      await this.catalog.update(s.name, (r) => { r.staleSinceMs = now; r.staleReason = reason.slice(0, 500); });
    }
  }
}

function storeRefOf(path: string, isDir: boolean, mounts: readonly Mount[]): StoreRef | undefined {
  const m = mounts.find((x) => path === x.path || path.startsWith(x.path + '/'));
  if (!m) return undefined;
  const parts = path.slice(m.path.length).split('/').filter(Boolean);
  try {
    return { source: m.source, id: m.id, key: pathToKey(m.prefix, parts, isDir) };
  } catch {
    return undefined; // the mount root of a whole-bucket source has no key
  }
}
