// One data source's stream of store events: a kafkajs consumer group on its
// topics. Each message is decoded (S3EventDecoder) and each event handed to
// `apply`; a message that cannot be decoded goes to the dead-letter topic with the
// reason, and the stream goes on. Offsets are committed only after every event of
// the messages before them was applied — `apply` resolves once the namespace write
// is in LevelDB (durable on disk with --fsync) — so a crash replays, never skips,
// and the event ledger makes a replay harmless.
//
// States, as `wharf status` shows them: inactive (no stream, or stopped) → waiting
// (connecting to the brokers) → starting (connected, joining the group) → active
// (assigned partitions, consuming) ; error (the last attempt failed; kafkajs
// retries and restarts the consumer, the state says why meanwhile).
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import { groupConsumer, kafkaClient, type KafkaSettings } from './kafkaClient.js';
import { WharfError, logger } from '../common/index.js';
import { EventDecodeError, decodeS3Events, type StoreEvent } from './S3EventDecoder.js';

const log = logger('events');

export const STREAM_STATES = ['inactive', 'waiting', 'starting', 'active', 'error'] as const;
export type StreamState = (typeof STREAM_STATES)[number];

export interface StreamConfig extends KafkaSettings {
  topics: string[];
  group: string;
  /** The bucket whose events apply (others are counted as skipped). */
  bucket: string;
  /** Where undecodable messages go (default: "<first topic>.dlq"). */
  deadLetterTopic?: string;
  /** A new group starts at the oldest message (default) or only new ones. */
  fromBeginning?: boolean;
}

/** What applying one event did. */
export type ApplyResult = 'applied' | 'dropped' | 'stale' | 'skipped';

export interface StreamCounters {
  messages: number;
  applied: number;
  /** Not newer than what was applied for the key (duplicates, late arrivals). */
  dropped: number;
  /** Ambiguous: the path was marked for on-access sync. */
  stale: number;
  /** Another bucket, or a key outside the source. */
  skipped: number;
  deadLettered: number;
}

export interface StreamStatus extends StreamCounters {
  state: StreamState;
  topics: string[];
  group: string;
  /** Messages behind the partitions' ends at the last batch (undefined before one). */
  lag: number | undefined;
  lastEventMs: number;
  error: string;
}

/** Messages decoded and applied together (one namespace transaction per 2,000 events). */
const MESSAGES_PER_CHUNK = 2_000;

export function deadLetterTopicOf(cfg: Pick<StreamConfig, 'topics' | 'deadLetterTopic'>): string {
  return cfg.deadLetterTopic ?? `${cfg.topics[0]}.dlq`;
}

export class SourceStream {
  private state: StreamState = 'inactive';
  private error = '';
  private lastEventMs = 0;
  private readonly lags = new Map<string, number>();
  private readonly counters: StreamCounters = { messages: 0, applied: 0, dropped: 0, stale: 0, skipped: 0, deadLettered: 0 };
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;

  constructor(
    readonly source: string,
    readonly cfg: StreamConfig,
    /** Applies events in order; resolves once they are in the namespace, with one result each. */
    private readonly apply: (events: StoreEvent[]) => Promise<ApplyResult[]>,
  ) {}

  status(): StreamStatus {
    const lag = this.lags.size ? [...this.lags.values()].reduce((a, b) => a + b, 0) : undefined;
    return { ...this.counters, state: this.state, topics: this.cfg.topics, group: this.cfg.group, lag, lastEventMs: this.lastEventMs, error: this.error };
  }

  async start(): Promise<void> {
    const kafka = await kafkaClient(`wharf-${this.source}`, this.cfg);
    this.state = 'waiting';
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    this.producer = producer;
    const consumer = groupConsumer(kafka, this.cfg.group, (e) => {
      if (e.kind === 'connected' && this.state === 'waiting') this.state = 'starting';
      if (e.kind === 'joined') { this.state = 'active'; this.error = ''; }
      if (e.kind === 'crashed') {
        this.state = 'error';
        this.error = e.error;
        log.warn({ source: this.source, err: e.error, restart: e.restart }, 'event stream consumer crashed');
      }
    });
    this.consumer = consumer;
    consumer.on(consumer.events.STOP, () => { this.state = 'inactive'; });
    try {
      await producer.connect();
      await consumer.connect();
      await consumer.subscribe({ topics: this.cfg.topics, fromBeginning: this.cfg.fromBeginning ?? true });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.batch(p) });
    } catch (e) {
      this.state = 'error';
      this.error = (e as Error).message;
      // Nothing half-connected stays behind: the caller retries with a fresh start.
      this.consumer = undefined;
      this.producer = undefined;
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      throw new WharfError('ENOTCONN', `event stream of ${this.source}: cannot reach the brokers ${this.cfg.brokers.join(', ')}: ${(e as Error).message}`, e);
    }
    log.info({ source: this.source, topics: this.cfg.topics, group: this.cfg.group }, 'event stream started');
  }

  async stop(): Promise<void> {
    const c = this.consumer;
    const p = this.producer;
    this.consumer = undefined;
    this.producer = undefined;
    await c?.disconnect().catch(() => undefined);
    await p?.disconnect().catch(() => undefined);
    this.state = 'inactive';
  }

  /**
   * A fetched batch of one partition, in chunks: the chunk's messages decoded
   * (poison to the dead-letter topic), their events applied together, then the
   * offset after the chunk committed. A crash between apply and commit replays the
   * chunk, which the ledger makes harmless.
   */
  private async batch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    for (let at = 0; at < batch.messages.length; at += MESSAGES_PER_CHUNK) {
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(at, at + MESSAGES_PER_CHUNK);
      const events: StoreEvent[] = [];
      for (const m of chunk) events.push(...(await this.decode(batch.topic, batch.partition, m)));
      const mine = events.filter((e) => e.bucket === this.cfg.bucket);
      this.counters.skipped += events.length - mine.length;
      if (mine.length) {
        // A failure (the namespace, the disk) throws: kafkajs retries the batch, nothing is committed.
        for (const r of await this.apply(mine)) this.counters[r]++;
        this.lastEventMs = Date.now();
      }
      const last = chunk[chunk.length - 1]!.offset;
      resolveOffset(last);
      // After every event up to `last` is in the namespace: a crash before this replays them.
      await this.consumer?.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      this.lags.set(`${batch.topic}/${batch.partition}`, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last) - 1n)));
      await heartbeat();
    }
  }

  /** A message's events; an undecodable one goes to the dead-letter topic and yields none. */
  private async decode(topic: string, partition: number, m: KafkaMessage): Promise<StoreEvent[]> {
    this.counters.messages++;
    try {
      return decodeS3Events(m.value);
    } catch (e) {
      if (!(e instanceof EventDecodeError)) throw e;
      await this.deadLetter(topic, partition, m, e.reason);
      return [];
    }
  }

  private async deadLetter(topic: string, partition: number, m: KafkaMessage, reason: string): Promise<void> {
    const dlq = deadLetterTopicOf(this.cfg);
    log.warn({ source: this.source, topic, partition, offset: m.offset, reason, deadLetterTopic: dlq }, 'undecodable event message sent to the dead-letter topic');
    // If this fails the batch is retried: the message is never dropped silently.
    await this.producer!.send({
      topic: dlq,
      messages: [{
        key: m.key, value: m.value,
        headers: { 'wharf-reason': reason.slice(0, 1000), 'wharf-source': this.source, 'wharf-topic': topic, 'wharf-partition': String(partition), 'wharf-offset': m.offset },
      }],
    });
    this.counters.deadLettered++;
  }
}
