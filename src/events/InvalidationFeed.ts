// The invalidation subscriber: a consumer group on other clusters' change topics.
// Each fetched batch is judged against what this cluster has seen (SequenceChains):
// its own cluster's messages are skipped, duplicates dropped, and the rest handed
// to `apply` with the new position, which writes the stale marks and the position
// in one namespace batch. Offsets are committed after that (a crash replays; the
// chains make a replay harmless).
//
// A loss — skipped offsets (a reset, retention), a gap in a publisher's chain, or
// a message that cannot be decoded (it may have named anything) — is reported with
// the batch, and the master marks every data source stale: its directories re-list
// on their next access. Never silently stale.
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { WharfError, logger } from '../common/index.js';
import { decodeChangeMessage, type ChangeMessage } from './ChangeMessage.js';
import { groupConsumer, kafkaClient, type KafkaSettings } from './kafkaClient.js';
import { SequenceChains } from './SequenceChains.js';
import type { StreamState } from './SourceStream.js';

const log = logger('invalidations');

export interface FeedConfig extends KafkaSettings {
  topics: string[];
  group: string;
  /** This cluster's name: its own messages are not invalidations. */
  cluster: string;
}

export interface FeedBatch {
  /** Other clusters' changes, new to this cluster, in partition order. */
  changes: ChangeMessage[];
  /** Why positions were lost, if they were (then every source is stale). */
  losses: string[];
  /** The position after this batch, to be written with the marks. */
  state: Buffer;
}

export interface FeedStatus {
  state: StreamState;
  topics: string[];
  group: string;
  messages: number;
  applied: number;
  own: number;
  duplicates: number;
  losses: number;
  /** The last batch's losses, joined. */
  lastLoss: string;
  lastLossMs: number;
  lastMessageMs: number;
  lag: number | undefined;
  error: string;
}

export class InvalidationFeed {
  private state: StreamState = 'inactive';
  private error = '';
  private consumer: Consumer | undefined;
  private readonly lags = new Map<string, number>();
  private readonly counters = { messages: 0, applied: 0, own: 0, duplicates: 0, losses: 0, lastLoss: '', lastLossMs: 0, lastMessageMs: 0 };

  constructor(
    readonly cfg: FeedConfig,
    private chains: SequenceChains,
    private readonly apply: (b: FeedBatch) => Promise<void>,
  ) {}

  status(): FeedStatus {
    const lag = this.lags.size ? [...this.lags.values()].reduce((a, b) => a + b, 0) : undefined;
    return { ...this.counters, state: this.state, topics: this.cfg.topics, group: this.cfg.group, lag, error: this.error };
  }

  async start(): Promise<void> {
    const kafka = await kafkaClient(`wharf-invalidations-${this.cfg.cluster}`, this.cfg);
    this.state = 'waiting';
    const consumer = groupConsumer(kafka, this.cfg.group, (e) => {
      if (e.kind === 'connected' && this.state === 'waiting') this.state = 'starting';
      if (e.kind === 'joined') { this.state = 'active'; this.error = ''; }
      if (e.kind === 'crashed') {
        this.state = 'error';
        this.error = e.error;
        log.warn({ err: e.error, restart: e.restart }, 'invalidation consumer crashed');
      }
    });
    this.consumer = consumer;
    try {
      await consumer.connect();
      // A new group starts at the end: what came before is in the store already, found by sync.
      await consumer.subscribe({ topics: this.cfg.topics, fromBeginning: false });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.batch(p) });
    } catch (e) {
      this.state = 'error';
      this.error = (e as Error).message;
      this.consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw new WharfError('ENOTCONN', `invalidations: cannot reach the brokers ${this.cfg.brokers.join(', ')}: ${(e as Error).message}`, e);
    }
    log.info({ topics: this.cfg.topics, group: this.cfg.group }, 'invalidation feed started');
  }

  async stop(): Promise<void> {
    const c = this.consumer;
    this.consumer = undefined;
    await c?.disconnect().catch(() => undefined);
    this.state = 'inactive';
  }

  private async batch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    // Judged on a copy: if the namespace write fails, kafkajs retries the batch against the old position.
    const next = this.chains.copy();
    const changes: ChangeMessage[] = [];
    const losses: string[] = [];
    let duplicates = 0;
    let own = 0;
    for (const m of batch.messages) {
      const lost = next.position(batch.topic, batch.partition, BigInt(m.offset));
      if (lost) losses.push(lost);
      let c: ChangeMessage;
      try {
        c = decodeChangeMessage(m.value);
      } catch (e) {
        losses.push(`${batch.topic}[${batch.partition}] offset ${m.offset} cannot be decoded (${(e as Error).message})`);
        continue;
      }
      if (c.cluster === this.cfg.cluster) { own++; continue; }
      const o = next.observe(batch.topic, batch.partition, c);
      if (o.kind === 'duplicate') { duplicates++; continue; }
      if (o.kind === 'gap') losses.push(o.reason);
      changes.push(c);
    }
    if (losses.length) log.warn({ topic: batch.topic, partition: batch.partition, losses }, 'invalidations lost: every data source is marked stale');
    await this.apply({ changes, losses, state: next.serialize() });
    this.chains = next;
    this.counters.messages += batch.messages.length;
    this.counters.applied += changes.length;
    this.counters.duplicates += duplicates;
    this.counters.own += own;
    if (losses.length) {
      this.counters.losses += losses.length;
      this.counters.lastLoss = losses.join('; ').slice(0, 2_000);
      this.counters.lastLossMs = Date.now();
    }
    this.counters.lastMessageMs = Date.now();
    const last = batch.messages[batch.messages.length - 1]!.offset;
    resolveOffset(last);
    await this.consumer?.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
    this.lags.set(`${batch.topic}/${batch.partition}`, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last) - 1n)));
    await heartbeat();
  }
}
