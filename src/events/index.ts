// src/events — change events over Kafka (kafkajs): decoding the S3 event
// notifications of AWS, MinIO and Ceph; the per-key ledger that makes at-least-once,
// unordered delivery safe; one consumer group per data source; the namespace's own
// change stream (the relay that publishes the outbox) and the invalidation feed
// that reads other clusters' change streams.
//
// Invariants:
//   - An offset is committed only after every event before it is in the namespace.
//   - An event not newer than what was applied for its key changes nothing; one
//     that cannot be ordered or lacks its size/ETag marks the path for on-access
//     sync instead of being guessed at.
//   - A message that cannot be decoded goes to the dead-letter topic; the stream goes on.
//   - A change-stream message is deleted from the outbox only after the brokers
//     acknowledged it; its seq tells a consumer a duplicate.
//   - An invalidation subscriber that cannot prove it saw every message (skipped
//     offsets, a gap in a publisher's chain, an undecodable message) says so, and
//     the master marks its data sources stale.
//   - Brokers are whatever the configuration names (several bootstrap addresses,
//     SASL, TLS): the tests' broker is a fixture, never a dependency.
export { EventDecodeError, compareSequencers, decodeEventKey, decodeS3Events, type StoreEvent, type StoreEventOp } from './S3EventDecoder.js';
export { EventLedger, decide, type LedgerEntry, type Verdict } from './EventLedger.js';
export { STREAM_STATES, SourceStream, deadLetterTopicOf, type ApplyResult, type StreamConfig, type StreamCounters, type StreamState, type StreamStatus } from './SourceStream.js';
export { kafkaClient, type KafkaSettings } from './kafkaClient.js';
export { decodeChangeMessage, encodeChangeMessage, type ChangeBody, type ChangeMessage, type StoreRef } from './ChangeMessage.js';
export { ChangeRelay, type Outbox, type OutboxRecord, type RelayConfig, type RelayState, type RelayStatus } from './ChangeRelay.js';
export { SequenceChains, type FeedState, type Observation } from './SequenceChains.js';
export { InvalidationFeed, type FeedBatch, type FeedConfig, type FeedStatus } from './InvalidationFeed.js';
