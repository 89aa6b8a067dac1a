// What was last applied for each key of a source's stream: its sequencer and ETag,
// or a tombstone for a delete. Delivery is at least once and unordered across
// partitions; an event not newer than what was applied for its key is dropped, so
// duplicates and late arrivals change nothing (a put arriving after its key's
// delete stays deleted). Entries are written in the namespace change's own
// transaction and expire after the retention window (default 7 days, a usual
// Kafka retention): an event older than that is treated as new.
//
// Discipline: one consumer per source applies its events one batch at a time, and
// it is the only writer of its source's entries besides expiry, which re-checks
// each entry inside its own transaction (the tree's write queue orders the two).
import type { InodeTree, Txn } from '../meta/index.js';
import { eventKey, eventRange } from '../meta/index.js';
import { compareSequencers, type StoreEvent } from './S3EventDecoder.js';

export interface LedgerEntry {
  seq?: string;
  etag?: string;
  deleted: boolean;
  atMs: number;
}

export type Verdict = 'apply' | 'drop' | 'stale';

/**
 * What to do with `e` given what was applied for its key. Orders by sequencer when
 * both have one; without, a put repeating the applied ETag is a duplicate and
 * anything else is ambiguous: marked stale for on-access sync, never guessed.
 */
export function decide(prev: LedgerEntry | undefined, e: StoreEvent): Verdict {
  const incomplete = e.op === 'put' && (e.size === undefined || e.etag === undefined);
  if (!prev) return incomplete ? 'stale' : 'apply';
  if (prev.seq !== undefined && e.sequencer !== undefined) {
    if (compareSequencers(e.sequencer, prev.seq) <= 0) return 'drop';
    return incomplete ? 'stale' : 'apply';
  }
  if (e.op === 'put' && !prev.deleted && e.etag !== undefined && e.etag === prev.etag) return 'drop';
  if (e.op === 'delete' && prev.deleted) return 'drop';
  return 'stale';
}

export class EventLedger {
  constructor(private readonly tree: InodeTree, readonly source: string, readonly retentionMs = 7 * 86_400_000, private readonly now: () => number = Date.now) {}

  async get(key: string): Promise<LedgerEntry | undefined> {
    const v = await this.tree.db.get(eventKey(this.source, key));
    if (v === undefined) return undefined;
    const e = JSON.parse(v.toString('utf8')) as LedgerEntry;
    return e.atMs + this.retentionMs <= this.now() ? undefined : e;
  }

  /** The entries of many keys at once (one LevelDB multi-get). */
  async getMany(keys: readonly string[]): Promise<Map<string, LedgerEntry | undefined>> {
    const vs = await this.tree.db.getMany(keys.map((k) => eventKey(this.source, k)));
    const now = this.now();
    return new Map(keys.map((k, i) => {
      const v = vs[i];
      const e = v === undefined ? undefined : (JSON.parse(v.toString('utf8')) as LedgerEntry);
      return [k, e && e.atMs + this.retentionMs > now ? e : undefined];
    }));
  }

  /** What recording `e` stores. */
  entryOf(e: StoreEvent): LedgerEntry {
    return { deleted: e.op === 'delete', atMs: this.now(), ...(e.sequencer ? { seq: e.sequencer } : {}), ...(e.etag ? { etag: e.etag } : {}) };
  }

  /** Records `e` as applied, inside the namespace change's transaction. */
  record(tx: Txn, e: StoreEvent): void {
    tx.putRecord(eventKey(this.source, e.key), Buffer.from(JSON.stringify(this.entryOf(e))));
  }

  /** Removes entries past the retention window; returns how many. */
  async expire(): Promise<number> {
    const old: Buffer[] = [];
    const cutoff = this.now() - this.retentionMs;
    for await (const [k, v] of this.tree.db.iterator(eventRange(this.source))) {
      if ((JSON.parse(v.toString('utf8')) as LedgerEntry).atMs <= cutoff) old.push(k);
    }
    let removed = 0;
    for (let i = 0; i < old.length; i += 1000) {
      const chunk = old.slice(i, i + 1000);
      await this.tree.write('event ledger expiry', async (tx) => {
        for (const k of chunk) {
          // Re-read inside the transaction: the stream may have recorded a newer event for the key since.
          const v = await tx.getRecordRaw(k);
          if (v && (JSON.parse(v.toString('utf8')) as LedgerEntry).atMs <= cutoff) { tx.delRecord(k); removed++; }
        }
      });
    }
    return removed;
  }

  /** Forgets the source's entries (the source was removed). */
  async clear(): Promise<void> {
    const keys: Buffer[] = [];
    for await (const k of this.tree.db.keys(eventRange(this.source))) keys.push(k);
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      await this.tree.write('event ledger clear', async (tx) => { for (const k of chunk) tx.delRecord(k); });
    }
  }
}
