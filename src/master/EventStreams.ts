// The master's event streams: one SourceStream (src/events) per data source that
// has one, applying each store event through the event ledger (order, duplicates,
// tombstones) and applyStoreChanges (src/sync) in one transaction. Streams start
// with the master and follow `wharf source stream set|clear`; a stream that cannot
// reach its brokers keeps retrying in the background (backoff to 30 s) and says so
// in its state.
//
// Discipline: a source's events are applied one at a time by its own consumer
// (kafkajs runs one batch of one partition at a time: partitionsConsumedConcurrently
// 1), and nothing else writes its ledger; setting or clearing a stream goes through
// this class's one queue, so two changes never race to start consumers.
import { WharfError, logger } from '../common/index.js';
import { EventLedger, SourceStream, decide, deadLetterTopicOf, type ApplyResult, type StoreEvent, type StreamConfig, type StreamStatus } from '../events/index.js';
import { WriteQueue } from '../meta/index.js';
import { applyStoreChanges, type StoreChange } from '../sync/index.js';
import { parseStoreUri } from '../ufs/index.js';
import type { SourceRecord, StreamRecord } from './records.js';
import type { SourceCatalog } from './SourceCatalog.js';
import type { InodeTree } from '../meta/index.js';

const log = logger('events');
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

export interface EventStreamsOptions {
  /** The SASL password of every stream that uses SASL (the master's environment; never stored). */
  saslPassword?: string;
  /** How long the ledger keeps a key's last event and a delete's tombstone (default 7 days). */
  ledgerRetentionMs?: number;
}

/** A stream's settings checked: names, addresses, the bucket (s3 sources default to theirs). */
export function checkStream(source: SourceRecord, r: Partial<StreamRecord>): StreamRecord {
  const brokers = (r.brokers ?? []).map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) throw new WharfError('EINVAL', 'a stream needs at least one broker address (--brokers host:9092,host2:9092)');
  for (const b of brokers) if (!/^[^\s:/]+:\d{1,5}$/.test(b) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(b)) throw new WharfError('EINVAL', `broker ${JSON.stringify(b)} is not host:port`);
  const topics = r.topics ?? [];
  if (topics.length === 0) throw new WharfError('EINVAL', 'a stream needs a topic (--topic)');
  for (const t of [...topics, ...(r.deadLetterTopic ? [r.deadLetterTopic] : [])]) if (!TOPIC.test(t)) throw new WharfError('EINVAL', `topic ${JSON.stringify(t)} is not a Kafka topic name`);
  if (!r.group || !/^[A-Za-z0-9._-]{1,255}$/.test(r.group)) throw new WharfError('EINVAL', `consumer group ${JSON.stringify(r.group ?? '')} must be 1–255 of letters, digits, . _ -`);
  const loc = parseStoreUri(source.uri);
  const bucket = r.bucket || (loc.scheme === 's3' ? loc.bucket : '');
  if (!bucket) throw new WharfError('EINVAL', `source ${source.name} is not in a bucket (${source.uri}): say which bucket its events name (--bucket)`);
  if (loc.scheme === 's3' && r.bucket && r.bucket !== loc.bucket) throw new WharfError('EINVAL', `source ${source.name} is in bucket ${loc.bucket}, not ${r.bucket}`);
  return {
    brokers, topics, group: r.group, bucket, fromBeginning: r.fromBeginning ?? true,
    ...(r.deadLetterTopic ? { deadLetterTopic: r.deadLetterTopic } : {}), ...(r.sasl ? { sasl: r.sasl } : {}), ...(r.tls ? { tls: r.tls } : {}),
  };
}

export class EventStreams {
  private readonly streams = new Map<string, SourceStream>();
  private readonly expiryTimers = new Map<string, NodeJS.Timeout>();
  private readonly queue = new WriteQueue();
  private closed = false;

  constructor(private readonly tree: InodeTree, private readonly catalog: SourceCatalog, private readonly o: EventStreamsOptions = {}) {}

  /** Starts the streams of every source that has one (in the background: brokers may be down). */
  async open(): Promise<void> {
    for (const s of this.catalog.list()) if (s.stream) await this.queue.run(() => this.startStream(s));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue.run(async () => {
      for (const t of this.expiryTimers.values()) clearInterval(t);
      this.expiryTimers.clear();
      await Promise.all([...this.streams.values()].map((s) => s.stop()));
      this.streams.clear();
    });
  }

  status(source: string): StreamStatus & { deadLetterTopic: string; brokers: string[]; bucket: string } {
    const rec = this.catalog.get(source);
    const s = this.streams.get(source);
    const idle = (topics: string[], group: string): StreamStatus =>
      ({ state: 'inactive', topics, group, lag: undefined, lastEventMs: 0, error: '', messages: 0, applied: 0, dropped: 0, stale: 0, skipped: 0, deadLettered: 0 });
    if (!rec.stream) return { ...idle([], ''), deadLetterTopic: '', brokers: [], bucket: '' };
    const st = s?.status() ?? idle(rec.stream.topics, rec.stream.group);
    return { ...st, deadLetterTopic: deadLetterTopicOf(rec.stream), brokers: rec.stream.brokers, bucket: rec.stream.bucket };
  }

  /** Gives a source a stream (replacing one it had): recorded, then started. */
  async set(source: string, r: Partial<StreamRecord>): Promise<SourceRecord> {
    return this.queue.run(async () => {
      const rec = this.catalog.get(source);
      const stream = checkStream(rec, r);
      if (stream.sasl && !this.o.saslPassword) throw new WharfError('EINVAL', 'SASL needs the password in the master\'s environment ($WHARF_KAFKA_PASSWORD)');
      if (stream.sasl?.mechanism === 'plain' && !stream.tls) throw new WharfError('EINVAL', 'SASL PLAIN sends the password as it is: use it with TLS (--kafka-tls or --kafka-ca)');
      await this.stopStream(source);
      const next = await this.catalog.update(source, (s) => { s.stream = stream; });
      await this.startStream(next);
      return next;
    });
  }

  async clear(source: string): Promise<SourceRecord> {
    return this.queue.run(async () => {
      this.catalog.get(source);
      await this.stopStream(source);
      return this.catalog.update(source, (s) => { delete s.stream; });
    });
  }

  /** A source is going: its stream stops and its ledger is dropped. */
  async forget(source: string): Promise<void> {
    await this.queue.run(async () => {
      await this.stopStream(source);
      await new EventLedger(this.tree, source).clear();
    });
  }

  private configOf(r: StreamRecord): StreamConfig {
    return {
      brokers: r.brokers, topics: r.topics, group: r.group, bucket: r.bucket, fromBeginning: r.fromBeginning,
      ...(r.deadLetterTopic ? { deadLetterTopic: r.deadLetterTopic } : {}),
      ...(r.sasl ? { sasl: { ...r.sasl, password: this.o.saslPassword ?? '' } } : {}),
      ...(r.tls ? { tls: r.tls === true ? true : { caFile: r.tls } } : {}),
    };
  }

  private async startStream(rec: SourceRecord): Promise<void> {
    if (this.closed || !rec.stream) return;
    const ledger = new EventLedger(this.tree, rec.name, this.o.ledgerRetentionMs);
    let touched = 0;
    const stream = new SourceStream(rec.name, this.configOf(rec.stream), async (events) => {
      const r = await applyStoreEvents(this.catalog, ledger, rec.name, events);
      // During sync begin…end, events refresh the snapshot like listings do ("snapshot
      // complete" waits for them to stop); recorded at most once a second.
      if (r.includes('applied') && this.catalog.get(rec.name).mode === 'synchronizing' && Date.now() - touched >= 1_000) {
        touched = Date.now();
        await this.catalog.update(rec.name, (s) => { s.lastRefreshMs = touched; });
      }
      return r;
    });
    this.streams.set(rec.name, stream);
    void ledger.expire().catch((e: unknown) => log.warn({ source: rec.name, err: String(e) }, 'event ledger expiry failed'));
    // Not awaited: a stream whose brokers are down must not hold up the master; its state says so.
    void this.keepStarting(rec.name, stream);
    // The ledger's old entries go once an hour too, between the stream's own writes (expire re-checks each).
    this.expiryTimers.set(rec.name, setInterval(() => void ledger.expire().catch(() => undefined), 3_600_000).unref());
  }

  /** Starts `stream`, retrying with backoff (1 s doubling to 30 s) until it runs or is replaced or stopped. */
  private async keepStarting(source: string, stream: SourceStream): Promise<void> {
    for (let delay = 1_000; ; delay = Math.min(delay * 2, 30_000)) {
      if (this.closed || this.streams.get(source) !== stream) return;
      try {
        await stream.start();
        return;
      } catch (e) {
        log.warn({ source, err: (e as Error).message, retryInMs: delay }, 'event stream could not start; retrying (wharf source stream show)');
      }
      await new Promise((r) => setTimeout(r, delay).unref());
    }
  }

  private async stopStream(source: string): Promise<void> {
    const s = this.streams.get(source);
    this.streams.delete(source);
    clearInterval(this.expiryTimers.get(source));
    this.expiryTimers.delete(source);
    await s?.stop();
  }

}

/** How many events share one namespace transaction. */
const EVENTS_PER_TXN = 2_000;

/** One event of `source` (see applyStoreEvents). */
export async function applyStoreEvent(catalog: SourceCatalog, ledger: EventLedger, source: string, e: StoreEvent): Promise<ApplyResult> {
  return (await applyStoreEvents(catalog, ledger, source, [e]))[0]!;
}

/**
 * Events of `source` in order: each judged by its key's ledger entry (as updated
 * by the events before it), applied with the ledger entries in one transaction per
 * EVENTS_PER_TXN events.
 */
export async function applyStoreEvents(catalog: SourceCatalog, ledger: EventLedger, source: string, events: readonly StoreEvent[]): Promise<ApplyResult[]> {
  const results: ApplyResult[] = [];
  for (let at = 0; at < events.length; at += EVENTS_PER_TXN) {
    const chunk = events.slice(at, at + EVENTS_PER_TXN);
    const known = await ledger.getMany([...new Set(chunk.map((e) => e.key))]);
    const mp = await catalog.mountPoint(source);
    const gen = BigInt(catalog.get(source).gen);
    const out: ApplyResult[] = [];
    const changes: StoreChange[] = [];
    const changed: { index: number; stale: boolean }[] = [];
    const recorded: StoreEvent[] = [];
    for (const e of chunk) {
      const verdict = decide(known.get(e.key), e);
      out.push('dropped');
      if (verdict === 'drop') continue;
      if (verdict === 'apply') {
        known.set(e.key, ledger.entryOf(e));
        recorded.push(e);
      }
      changed.push({ index: out.length - 1, stale: verdict === 'stale' });
      changes.push(verdict === 'stale'
        ? { op: 'stale', key: e.key }
        : e.op === 'delete'
          ? { op: 'delete', key: e.key }
          // S3's LastModified has whole seconds: the event's time, cut to match, is what a later listing reports.
          : { op: 'put', key: e.key, size: e.size!, etag: e.etag!, mtimeMs: Math.floor((e.timeMs || Date.now()) / 1000) * 1000 });
    }
    if (changes.length) {
      const outcomes = await applyStoreChanges(mp, changes, gen, (tx) => { for (const e of recorded) ledger.record(tx, e); });
      changed.forEach((c, i) => { out[c.index] = outcomes[i] === 'skipped' ? 'skipped' : c.stale ? 'stale' : 'applied'; });
    }
    results.push(...out);
  }
  return results;
}
