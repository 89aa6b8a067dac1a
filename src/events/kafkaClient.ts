// How every Wharf Kafka client is made: the brokers, SASL and TLS of a stream's
// (or the master's change stream's) settings, kafkajs's own logging silenced
// (Wharf logs what matters), quick retries (the callers keep their own backoff).
import { readFileSync } from 'node:fs';
import type { Consumer, Kafka, SASLOptions } from 'kafkajs';

export interface KafkaSettings {
  /** Bootstrap addresses, host:port. */
  brokers: string[];
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** TLS to the brokers: true for the system CAs, or a CA file. */
  tls?: boolean | { caFile: string };
}

/** `retries`: kafkajs's own retries of a request (8); 0 for callers whose loop retries with its own backoff. */
export async function kafkaClient(clientId: string, s: KafkaSettings, retries = 8): Promise<Kafka> {
  // Loaded here, not at import: every `wharf` command imports the master's modules,
  // and kafkajs would add ~0.15 s to each start of the CLI.
  const { Kafka, logLevel } = await import('kafkajs');
  return new Kafka({
    clientId,
    brokers: s.brokers,
    ...(s.sasl ? { sasl: s.sasl as SASLOptions } : {}),
    ...(s.tls ? { ssl: s.tls === true ? true : { ca: [readFileSync(s.tls.caFile, 'utf8')] } } : {}),
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 300, retries },
  });
}

export type ConsumerEvent = { kind: 'connected' } | { kind: 'joined' } | { kind: 'crashed'; error: string; restart: boolean };

/**
 * A consumer in `groupId` with Wharf's timings (a 10 s session, heartbeats every
 * second, restarts forever with backoff to 10 s), its life reported to `on`.
 */
export function groupConsumer(kafka: Kafka, groupId: string, on: (e: ConsumerEvent) => void): Consumer {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, rebalanceTimeout: 10_000, retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 10_000 } });
  consumer.on(consumer.events.CONNECT, () => on({ kind: 'connected' }));
  consumer.on(consumer.events.GROUP_JOIN, () => on({ kind: 'joined' }));
  consumer.on(consumer.events.CRASH, (e) => {
    const p = e.payload as { error?: Error; restart?: boolean };
    on({ kind: 'crashed', error: String(p.error?.message ?? 'crashed'), restart: p.restart ?? false });
  });
  return consumer;
}
