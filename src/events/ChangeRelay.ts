// Publishes a master's change-stream outbox on the change topic, oldest first, at
// least once: a batch of outbox records is sent (acks from all in-sync replicas,
// one request in flight so retries cannot reorder) and only then deleted from the
// outbox. A crash in between sends the batch again; its seqs tell the duplicates.
//
// The relay picks each message's partition itself (FNV-1a of the key — the path —
// modulo the topic's partitions), so that it can chain each partition's messages
// (`prev`, ChangeMessage.ts) and a subscriber can tell a gap from a duplicate. A
// batch that fails is sent again with the same chain. The chains start afresh with
// every epoch (every start of the master).
//
// States: inactive → waiting (connecting) → active ; error (the last attempt
// failed: retried with backoff from 1 s to 30 s, the outbox keeps the changes).
import type { Producer } from 'kafkajs';
import { logger } from '../common/index.js';
import { encodeChangeMessage, type ChangeBody } from './ChangeMessage.js';
import { kafkaClient, type KafkaSettings } from './kafkaClient.js';

const log = logger('change-relay');

export interface OutboxRecord {
  seq: bigint;
  body: ChangeBody;
}

/** The relay's view of the outbox (src/master ChangeStream over src/meta ChangeLog). */
export interface Outbox {
  read(limit: number): Promise<OutboxRecord[]>;
  /** The records are published: delete them. */
  done(seqs: readonly bigint[]): Promise<void>;
  /** Resolves when something new is in the outbox, or after `ms`. */
  wait(ms: number): Promise<void>;
  readonly pending: number;
}

export interface RelayConfig extends KafkaSettings {
  topic: string;
  cluster: string;
}

export type RelayState = 'inactive' | 'waiting' | 'active' | 'error';

export interface RelayStatus {
  state: RelayState;
  topic: string;
  cluster: string;
  epoch: number;
  partitions: number;
  published: number;
  lastPublishedSeq: bigint;
  lastPublishedMs: number;
  pending: number;
  error: string;
}

/** Records published per send. */
const BATCH = 500;
/**
 * After a short batch, how long to let changes gather before the next (Kafka's
 * linger.ms): fewer sends and outbox deletes per change. Creates over gRPC with the
 * relay running went from 80% to 86% of a master without a change stream (one
 * noisy run each, benchmarks/changes).
 */
const LINGER_MS = 5;

export class ChangeRelay {
  private state: RelayState = 'inactive';
  private error = '';
  private published = 0;
  private lastSeq = 0n;
  private lastMs = 0;
  private partitions = 0;
  /** Per partition: the seq of this epoch's last message there (0n: none yet). */
  private chain: bigint[] = [];
  private producer: Producer | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(private readonly cfg: RelayConfig, readonly epoch: number, private readonly outbox: Outbox) {}

  status(): RelayStatus {
    return {
      state: this.state, topic: this.cfg.topic, cluster: this.cfg.cluster, epoch: this.epoch, partitions: this.partitions,
      published: this.published, lastPublishedSeq: this.lastSeq, lastPublishedMs: this.lastMs, pending: this.outbox.pending, error: this.error,
    };
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    // A connect to brokers that are down retries for a minute in kafkajs: a stop does
    // not wait for it (the outbox keeps everything; nothing is half-published).
    await Promise.race([this.running, new Promise((r) => setTimeout(r, 2_000).unref())]);
    await this.disconnect();
    this.state = 'inactive';
  }

  private async run(): Promise<void> {
    let delay = 1_000;
    while (!this.stopped) {
      try {
        if (!this.producer) await this.connect();
        const recs = await this.outbox.read(BATCH);
        if (recs.length === 0) {
          await this.outbox.wait(1_000);
          continue;
        }
        await this.publish(recs);
        await this.outbox.done(recs.map((r) => r.seq));
        delay = 1_000;
        if (recs.length < BATCH) await new Promise((r) => setTimeout(r, LINGER_MS));
      } catch (e) {
        if (this.stopped) break;
        this.state = 'error';
        this.error = (e as Error).message;
        log.warn({ topic: this.cfg.topic, err: this.error, retryInMs: delay, pending: this.outbox.pending }, 'change stream: cannot publish; the outbox keeps the changes, retrying');
        await this.disconnect();
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.wake = () => { clearTimeout(t); resolve(); };
        });
        this.wake = undefined;
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  private async connect(): Promise<void> {
    this.state = 'waiting';
    // No retries inside kafkajs: this loop retries with its own backoff, and a stop is not held up by a minute of them.
    const kafka = await kafkaClient(`wharf-changes-${this.cfg.cluster}`, this.cfg, 0);
    const producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: 1 });
    const admin = kafka.admin();
    try {
      await producer.connect();
      await admin.connect();
      const meta = await admin.fetchTopicMetadata({ topics: [this.cfg.topic] });
      const n = meta.topics[0]?.partitions.length ?? 0;
      if (n < 1) throw new Error(`topic ${this.cfg.topic} has no partitions`);
      // A topic that grew: partitions are chosen anew, and the chains restart (subscribers see a gap, and re-sync).
      if (n !== this.partitions) this.chain = new Array<bigint>(n).fill(0n);
      this.partitions = n;
    } catch (e) {
      await producer.disconnect().catch(() => undefined);
      throw e;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (this.stopped) {
      await producer.disconnect().catch(() => undefined);
      return;
    }
    this.producer = producer;
    this.state = 'active';
    this.error = '';
    log.info({ topic: this.cfg.topic, partitions: this.partitions, epoch: this.epoch, pending: this.outbox.pending }, 'change stream publishing');
  }

  private async disconnect(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await p?.disconnect().catch(() => undefined);
  }

  private async publish(recs: readonly OutboxRecord[]): Promise<void> {
    const before = [...this.chain];
    const messages = recs.map((r) => {
      const partition = fnv1a(r.body.path) % this.partitions;
      const prev = this.chain[partition]!;
      this.chain[partition] = r.seq;
      return { key: r.body.path, partition, value: encodeChangeMessage({ v: 1, cluster: this.cfg.cluster, epoch: this.epoch, seq: r.seq, prev, ...r.body }) };
    });
    try {
      await this.producer!.send({ topic: this.cfg.topic, acks: -1, messages });
    } catch (e) {
      // Sent again as it was: the same partitions, the same chain.
      this.chain = before;
      throw e;
    }
    this.published += recs.length;
    this.lastSeq = recs[recs.length - 1]!.seq;
    this.lastMs = Date.now();
  }
}

/** FNV-1a, 32 bits, over the UTF-8 bytes: a stable partition for a path. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}
