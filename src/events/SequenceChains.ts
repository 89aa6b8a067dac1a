// What an invalidation subscriber knows of its position, to tell a loss from a
// replay: the last offset it processed per topic-partition, and per publishing
// cluster and partition the last (epoch, seq) it saw. Pure: the feed persists it
// (as JSON, in the same namespace batch as the stale marks it led to).
//
//   - an offset past the last one + 1: messages were skipped (the group's offset
//     was reset to the end, or retention deleted them unread) → a loss
//   - a message whose prev is not the last seq seen from its publisher there (same
//     epoch), or a new epoch that does not start at prev 0 → a loss
//   - a seq not above the last seen (same epoch), or an older epoch → a duplicate
//   - the first message ever seen from a publisher on a partition → the baseline
export interface FeedState {
  /** "topic/partition" → the last offset processed. */
  offsets: Record<string, string>;
  /** "cluster/topic/partition" → the last message seen. */
  chains: Record<string, { epoch: number; seq: string }>;
}

export type Observation = { kind: 'new' } | { kind: 'duplicate' } | { kind: 'gap'; reason: string };

export class SequenceChains {
  private readonly s: FeedState;

  constructor(state?: FeedState) {
    this.s = state ? { offsets: { ...state.offsets }, chains: { ...state.chains } } : { offsets: {}, chains: {} };
  }

  static parse(raw: Buffer | undefined): SequenceChains {
    if (!raw) return new SequenceChains();
    const j = JSON.parse(raw.toString('utf8')) as Partial<FeedState>;
    return new SequenceChains({ offsets: j.offsets ?? {}, chains: j.chains ?? {} });
  }

  copy(): SequenceChains {
    return new SequenceChains(this.s);
  }

  serialize(): Buffer {
    return Buffer.from(JSON.stringify(this.s));
  }

  /** Records that the message at `offset` was processed; a loss's reason if offsets were skipped. */
  position(topic: string, partition: number, offset: bigint): string | undefined {
    const k = `${topic}/${partition}`;
    const last = this.s.offsets[k];
    const lastN = last === undefined ? undefined : BigInt(last);
    if (lastN === undefined || offset > lastN) this.s.offsets[k] = offset.toString();
    if (lastN !== undefined && offset > lastN + 1n) {
      return `${topic}[${partition}] jumped from offset ${lastN} to ${offset}: ${offset - lastN - 1n} message(s) were never read (offset reset or retention)`;
    }
    return undefined;
  }

  observe(topic: string, partition: number, m: { cluster: string; epoch: number; seq: bigint; prev: bigint }): Observation {
    const k = `${m.cluster}/${topic}/${partition}`;
    const cur = this.s.chains[k];
    const set = () => { this.s.chains[k] = { epoch: m.epoch, seq: m.seq.toString() }; };
    if (!cur) { set(); return { kind: 'new' }; }
    const last = BigInt(cur.seq);
    if (m.epoch < cur.epoch) return { kind: 'duplicate' };
    if (m.epoch > cur.epoch) {
      set();
      return m.prev === 0n ? { kind: 'new' } : { kind: 'gap', reason: `cluster ${m.cluster}'s epoch ${m.epoch} on ${topic}[${partition}] was first seen at seq ${m.seq}, after ${m.prev}` };
    }
    if (m.seq <= last) return { kind: 'duplicate' };
    set();
    if (m.prev === last) return { kind: 'new' };
    return { kind: 'gap', reason: `cluster ${m.cluster}'s messages on ${topic}[${partition}] after seq ${last} up to ${m.prev} are missing` };
  }
}
