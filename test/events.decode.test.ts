// Store event notifications decoded as AWS, MinIO and Ceph write them (keys with
// spaces, "+", "%", UTF-8), test and other events ignored, poison refused with a
// reason; and the per-key ordering rule checked against a model: whatever order
// and duplication at-least-once delivery brings, the key ends as its newest event
// says, and a delete outlives a late put.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EventDecodeError, compareSequencers, decide, decodeEventKey, decodeS3Events, type LedgerEntry, type StoreEvent } from '../src/events/index.js';

const aws = (records: object[]) => Buffer.from(JSON.stringify({ Records: records }));
const rec = (eventName: string, key: string, extra: Record<string, unknown> = {}) => ({
  eventVersion: '2.1', eventSource: 'aws:s3', awsRegion: 'us-east-1', eventTime: '2026-12-07T10:00:00.123Z', eventName,
  s3: { s3SchemaVersion: '1.0', bucket: { name: 'lake', arn: 'arn:aws:s3:::lake' }, object: { key, size: 1234, eTag: '0123abcd', sequencer: '0055AED6DCD90281E5', ...extra } },
});

describe('S3 event decoding', () => {
  it('AWS: created and removed events with their size, ETag, sequencer and time', () => {
    const [put, del] = decodeS3Events(aws([rec('ObjectCreated:Put', 'a/b.txt'), rec('ObjectRemoved:Delete', 'a/c.txt', { size: undefined, eTag: undefined })]));
    assert.deepEqual(put, { bucket: 'lake', key: 'a/b.txt', op: 'put', size: 1234n, etag: '0123abcd', sequencer: '0055AED6DCD90281E5', timeMs: Date.parse('2026-12-07T10:00:00.123Z'), name: 'ObjectCreated:Put' });
    assert.equal(del!.op, 'delete');
    assert.equal(del!.size, undefined);
  });

  it('MinIO: the EventName/Key envelope and the s3: prefix', () => {
    const msg = { EventName: 's3:ObjectCreated:CompleteMultipartUpload', Key: 'lake/x/y.bin', Records: [{ ...rec('s3:ObjectCreated:CompleteMultipartUpload', 'x/y.bin'), eventSource: 'minio:s3' }] };
    const [e] = decodeS3Events(Buffer.from(JSON.stringify(msg)));
    assert.equal(e!.op, 'put');
    assert.equal(e!.name, 'ObjectCreated:CompleteMultipartUpload');
    assert.equal(e!.key, 'x/y.bin');
  });

  it('Ceph RGW: eventSource ceph:s3, eventName with or without s3:, quoted ETags', () => {
    const [a, b] = decodeS3Events(aws([
      { ...rec('ObjectCreated:Post', 'k1', { eTag: '"feed"' }), eventSource: 'ceph:s3' },
      { ...rec('s3:ObjectRemoved:DeleteMarkerCreated', 'k2'), eventSource: 'ceph:s3' },
    ]));
    assert.equal(a!.etag, 'feed');
    assert.equal(b!.op, 'delete');
  });

  it('keys are form-encoded: "+" is a space, %2B a plus, %25 a percent, UTF-8 bytes', () => {
    assert.equal(decodeEventKey('my+file+name.txt'), 'my file name.txt');
    assert.equal(decodeEventKey('a%2Bb'), 'a+b');
    assert.equal(decodeEventKey('100%25+done'), '100% done');
    assert.equal(decodeEventKey('caf%C3%A9/%E6%97%A5%E6%9C%AC.csv'), 'café/日本.csv');
    const [e] = decodeS3Events(aws([rec('ObjectCreated:Put', 'dir+one/x%2By')]));
    assert.equal(e!.key, 'dir one/x+y');
    assert.throws(() => decodeEventKey('bad%E6'), EventDecodeError);
  });

  it('a test event and other kinds decode to nothing', () => {
    assert.deepEqual(decodeS3Events(Buffer.from(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'lake' }))), []);
    assert.deepEqual(decodeS3Events(aws([rec('ObjectRestore:Completed', 'k'), rec('ObjectTagging:Put', 'k')])), []);
  });

  it('poison is refused with the reason', () => {
    const reason = (v: Buffer | null) => { try { decodeS3Events(v); } catch (e) { assert.ok(e instanceof EventDecodeError); return e.reason; } return 'decoded'; };
    assert.match(reason(null), /empty/);
    assert.match(reason(Buffer.from('{not json')), /not JSON/);
    assert.match(reason(Buffer.from('[1,2]')), /not a JSON object/);
    assert.match(reason(Buffer.from('{"foo":1}')), /no Records/);
    assert.match(reason(aws([{ eventName: 'ObjectCreated:Put' }])), /no s3\.bucket/);
    assert.match(reason(aws([rec('ObjectCreated:Put', 'k', { sequencer: 'zz-not-hex' })])), /not hex/);
  });

  it('sequencers compare as hex after right-padding the shorter with zeros (AWS\'s rule)', () => {
    assert.ok(compareSequencers('0A', 'B') < 0);
    assert.ok(compareSequencers('FF', 'FE00') > 0);
    assert.equal(compareSequencers('ABC', 'ABC000'), 0);
    assert.ok(compareSequencers('0055AED6DCD90281E5', '0055AED6DCD90281E6') < 0);
    assert.ok(compareSequencers('0055AED6DCD90281E5', '0055AED6DCD90281E500') === 0);
  });
});

describe('per-key ordering (decide) against a model', () => {
  it('any delivery order with duplicates ends in the newest event\'s state; no sequencer: duplicates drop, the rest are stale', () => {
    fc.assert(fc.property(
      fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), // true put, false delete, in true order
      fc.array(fc.nat(), { maxLength: 30 }),
      (ops, shuffle) => {
        const events: StoreEvent[] = ops.map((put, i) => ({
          bucket: 'b', key: 'k', op: put ? 'put' : 'delete', name: put ? 'ObjectCreated:Put' : 'ObjectRemoved:Delete', timeMs: i,
          sequencer: (1000 + i * 7).toString(16).toUpperCase(), ...(put ? { size: BigInt(i), etag: `e${i}` } : {}),
        }));
        // Delivery: every event at least once, in an order and with duplicates picked by `shuffle`.
        const delivery = [...events, ...shuffle.map((n) => events[n % events.length]!)];
        for (let i = delivery.length - 1; i > 0; i--) { const j = (shuffle[i % (shuffle.length || 1)] ?? i) % (i + 1); [delivery[i], delivery[j]] = [delivery[j]!, delivery[i]!]; }
        let ledger: LedgerEntry | undefined;
        let state: 'absent' | 'present' = 'absent';
        for (const e of delivery) {
          const v = decide(ledger, e);
          assert.notEqual(v, 'stale');
          if (v === 'apply') { ledger = { seq: e.sequencer!, ...(e.etag ? { etag: e.etag } : {}), deleted: e.op === 'delete', atMs: 0 }; state = e.op === 'put' ? 'present' : 'absent'; }
        }
        assert.equal(state, ops[ops.length - 1] ? 'present' : 'absent');
        assert.equal(ledger!.seq, events[events.length - 1]!.sequencer);
      },
    ), { numRuns: 300 });
  });

  it('a delete then a late put (an older sequencer) stays deleted; a put without size or ETag is stale', () => {
    const put = (seq: string, etag = 'x'): StoreEvent => ({ bucket: 'b', key: 'k', op: 'put', name: 'ObjectCreated:Put', timeMs: 0, sequencer: seq, size: 1n, etag });
    const tomb: LedgerEntry = { seq: '20', deleted: true, atMs: 0 };
    assert.equal(decide(tomb, put('1F')), 'drop');
    assert.equal(decide(tomb, put('21')), 'apply');
    assert.equal(decide(undefined, { bucket: 'b', key: 'k', op: 'put', name: 'ObjectCreated:Put', timeMs: 0 }), 'stale');
    const noSeq = (e: StoreEvent): StoreEvent => { const { sequencer: _s, ...rest } = e; return rest; };
    assert.equal(decide({ etag: 'x', deleted: false, atMs: 0 }, noSeq(put('0', 'x'))), 'drop', 'the same ETag again: a duplicate');
    assert.equal(decide({ etag: 'x', deleted: false, atMs: 0 }, noSeq(put('0', 'y'))), 'stale', 'cannot tell which is newer');
  });
});
