// The gRPC face of event streams (part of wharf.v1.Admin): set, clear, show; the
// change stream's and invalidation feed's part of the status.
import type { AdminHandlers } from '../rpc/gen/wharf/v1/Admin.js';
import type { StreamStatus } from '../rpc/gen/wharf/v1/StreamStatus.js';
import { WharfError } from '../common/index.js';
import type { EventStreams } from './EventStreams.js';
import type { ChangeStream } from './ChangeStream.js';
import type { StatusReply } from '../rpc/gen/wharf/v1/StatusReply.js';
import type { StreamRecord } from './records.js';
import type { ServiceMetrics } from './ServiceMetrics.js';
import { unary } from './unary.js';
import { sourceToWire } from './wire.js';

type Names = 'SetSourceStream' | 'ClearSourceStream' | 'ShowSourceStream';
const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

export function streamToWire(s: ReturnType<EventStreams['status']>): StreamStatus {
  return {
    state: s.state, topics: s.topics, group: s.group, lag: String(s.lag ?? -1), last_event_ms: String(s.lastEventMs),
    messages: String(s.messages), applied: String(s.applied), dropped: String(s.dropped), stale: String(s.stale), skipped: String(s.skipped),
    dead_lettered: String(s.deadLettered), error: s.error, dead_letter_topic: s.deadLetterTopic, brokers: s.brokers, bucket: s.bucket,
  };
}

/** The change stream and invalidation feed, for StatusReply (absent when off). */
export function changeStatusToWire(st: ReturnType<ChangeStream['status']>): Pick<StatusReply, 'changes' | 'invalidations'> {
  const c = st.changes;
  const f = st.invalidations;
  return {
    ...(c ? {
      changes: {
        state: c.state, topic: c.topic, cluster: c.cluster, epoch: String(c.epoch), partitions: c.partitions, published: String(c.published),
        last_published_seq: c.lastPublishedSeq.toString(), last_published_ms: String(c.lastPublishedMs), pending: String(c.pending), error: c.error, last_seq: c.lastSeq.toString(),
      },
    } : {}),
    ...(f ? {
      invalidations: {
        state: f.state, topics: f.topics, group: f.group, messages: String(f.messages), applied: String(f.applied), own: String(f.own), duplicates: String(f.duplicates),
        losses: String(f.losses), last_loss: f.lastLoss, last_loss_ms: String(f.lastLossMs), last_message_ms: String(f.lastMessageMs), lag: String(f.lag ?? -1), error: f.error,
      },
    } : {}),
  };
}

export function streamHandlers(streams: EventStreams, metrics: ServiceMetrics): Pick<AdminHandlers, Names> {
  const u = <Req, Res>(m: string, fn: (r: Req) => Promise<Res>) => unary<Req, Res>(`Admin.${m}`, metrics, fn);
  return {
    SetSourceStream: u('SetSourceStream', async (r) => {
      const w = r.stream;
      if (!w) throw new WharfError('EINVAL', 'no stream settings');
      if (w.sasl_mechanism && !(MECHANISMS as readonly string[]).includes(w.sasl_mechanism)) throw new WharfError('EINVAL', `SASL mechanism ${JSON.stringify(w.sasl_mechanism)} is not one of ${MECHANISMS.join(', ')}`);
      if (w.sasl_mechanism && !w.sasl_username) throw new WharfError('EINVAL', 'SASL needs a user name (--sasl-username)');
      const rec: Partial<StreamRecord> = {
        brokers: w.brokers, topics: w.topics, group: w.group, bucket: w.bucket, fromBeginning: !w.from_latest,
        ...(w.dead_letter_topic ? { deadLetterTopic: w.dead_letter_topic } : {}),
        ...(w.sasl_mechanism ? { sasl: { mechanism: w.sasl_mechanism as (typeof MECHANISMS)[number], username: w.sasl_username } } : {}),
        ...(w.tls_ca_file ? { tls: w.tls_ca_file } : w.tls ? { tls: true as const } : {}),
      };
      await streams.set(r.source, rec);
      return streamToWire(streams.status(r.source));
    }),
    ClearSourceStream: u('ClearSourceStream', async (r) => sourceToWire(await streams.clear(r.name))),
    ShowSourceStream: u('ShowSourceStream', async (r) => streamToWire(streams.status(r.name))),
  };
}
