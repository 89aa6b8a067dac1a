// src/events — change events over Kafka (kafkajs): decoding the S3 event
// notifications of AWS, MinIO and Ceph; the per-key ledger that makes at-least-once,
// unordered delivery safe; one consumer group per data source.
//
// Invariants:
//   - An offset is committed only after every event before it is in the namespace.
//   - An event not newer than what was applied for its key changes nothing; one
//     that cannot be ordered or lacks its size/ETag marks the path for on-access
//     sync instead of being guessed at.
//   - A message that cannot be decoded goes to the dead-letter topic; the stream goes on.
//   - Brokers are whatever the configuration names (several bootstrap addresses,
//     SASL, TLS): the tests' broker is a fixture, never a dependency.
export { EventDecodeError, compareSequencers, decodeEventKey, decodeS3Events, type StoreEvent, type StoreEventOp } from './S3EventDecoder.js';
export { EventLedger, decide, type LedgerEntry, type Verdict } from './EventLedger.js';
export { STREAM_STATES, SourceStream, deadLetterTopicOf, type ApplyResult, type StreamConfig, type StreamCounters, type StreamState, type StreamStatus } from './SourceStream.js';
