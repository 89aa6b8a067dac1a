// Kafka wire-protocol codec for the in-memory test broker (./kafkaBroker.ts):
// the protocol primitives (big-endian ints, int16-length strings, int32-length
// bytes, int32-count arrays, zigzag varints) and the record batch (magic v2)
// layout. A test fixture only, not a runtime dependency of Wharf.
//
// Reference: https://kafka.apache.org/protocol and, for exactly what kafkajs
// encodes, node_modules/kafkajs/src/protocol/{encoder,decoder}.js and
// node_modules/kafkajs/src/protocol/recordBatch/.
import { gunzipSync } from 'node:zlib';

/** Thrown on a request that cannot be decoded; the broker closes the connection. */
export class KafkaDecodeError extends Error {}

/** Reads protocol primitives from a buffer, front to back. */
export class Reader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private take(n: number): number {
    if (n < 0 || this.pos + n > this.buf.length) throw new KafkaDecodeError(`truncated: need ${n} bytes at ${this.pos} of ${this.buf.length}`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  int8(): number { return this.buf.readInt8(this.take(1)); }
  int16(): number { return this.buf.readInt16BE(this.take(2)); }
  int32(): number { return this.buf.readInt32BE(this.take(4)); }
  int64(): bigint { return this.buf.readBigInt64BE(this.take(8)); }

  /** A nullable string (int16 length, -1 = null). */
  nullableString(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    const at = this.take(len);
    return this.buf.toString('utf8', at, at + len);
  }

  /** A string; a null one reads as ''. */
  string(): string {
    return this.nullableString() ?? '';
  }

  /** Nullable bytes (int32 length, -1 = null); the result shares memory with the frame. */
  bytes(): Buffer | null {
    const len = this.int32();
    if (len < 0) return null;
    const at = this.take(len);
    return this.buf.subarray(at, at + len);
  }

  /** An array (int32 count); a null array (-1) reads as null. */
  nullableArray<T>(item: (r: Reader) => T): T[] | null {
    const n = this.int32();
    if (n < 0) return null;
    if (n > this.remaining) throw new KafkaDecodeError(`array of ${n} items in ${this.remaining} bytes`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }

  /** An array; a null one reads as []. */
  array<T>(item: (r: Reader) => T): T[] {
    return this.nullableArray(item) ?? [];
  }

  /** A zigzag varlong (as used inside records). */
  varlong(): bigint {
    let raw = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.buf.readUInt8(this.take(1));
      raw |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return (raw >> 1n) ^ -(raw & 1n);
    }
    throw new KafkaDecodeError('varint longer than 10 bytes');
  }

  /** A zigzag varint (values fit a JS number). */
  varint(): number {
    return Number(this.varlong());
  }

  /** varint-length-prefixed bytes (-1 = null), as inside records. */
  varBytes(): Buffer | null {
    const len = this.varint();
    if (len < 0) return null;
    const at = this.take(len);
    return this.buf.subarray(at, at + len);
  }
}

/** Builds a message from protocol primitives. */
export class Writer {
  private readonly chunks: Buffer[] = [];

  private fixed(n: number, put: (b: Buffer) => void): this {
    const b = Buffer.allocUnsafe(n);
    put(b);
    this.chunks.push(b);
    return this;
  }

  int8(v: number): this { return this.fixed(1, (b) => b.writeInt8(v)); }
  int16(v: number): this { return this.fixed(2, (b) => b.writeInt16BE(v)); }
  int32(v: number): this { return this.fixed(4, (b) => b.writeInt32BE(v)); }
  int64(v: bigint): this { return this.fixed(8, (b) => b.writeBigInt64BE(v)); }
  bool(v: boolean): this { return this.int8(v ? 1 : 0); }

  /** A nullable string (int16 length, -1 = null). */
  string(v: string | null): this {
    if (v === null) return this.int16(-1);
    const b = Buffer.from(v, 'utf8');
    return this.int16(b.length).raw(b);
  }

  /** Nullable bytes (int32 length, -1 = null). */
  bytes(v: Buffer | null): this {
    if (v === null) return this.int32(-1);
    return this.int32(v.length).raw(v);
  }

  /** An array (int32 count), each item written by `item`. */
  array<T>(items: readonly T[], item: (w: this, v: T) => void): this {
    this.int32(items.length);
    for (const v of items) item(this, v);
    return this;
  }

  raw(b: Buffer): this {
    this.chunks.push(b);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

// ---------------------------------------------------------------------------
// Record batches (magic v2). Layout, by byte offset:
//   0 baseOffset int64 | 8 batchLength int32 (bytes after this field)
//   12 partitionLeaderEpoch int32 | 16 magic int8 | 17 crc uint32 (CRC-32C of
//   bytes 21..end) | 21 attributes int16 | 23 lastOffsetDelta int32
//   27 firstTimestamp int64 | 35 maxTimestamp int64 | 43 producerId int64
//   51 producerEpoch int16 | 53 baseSequence int32 | 57 recordCount int32
//   61 records (possibly compressed, per attributes & 7)
// ---------------------------------------------------------------------------

const BATCH_HEADER = 61;
const LOG_OVERHEAD = 12; // baseOffset + batchLength

export interface BatchHeader {
  baseOffset: bigint;
  magic: number;
  attributes: number;
  lastOffsetDelta: number;
  firstTimestamp: bigint;
  maxTimestamp: bigint;
  recordCount: number;
}

export interface DecodedRecord {
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}

/** Splits a produce record set into whole batches; throws if it ends mid-batch. */
export function splitBatches(recordSet: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < recordSet.length) {
    if (recordSet.length - at < LOG_OVERHEAD) throw new KafkaDecodeError('partial record batch header');
    const end = at + LOG_OVERHEAD + recordSet.readInt32BE(at + 8);
    if (end > recordSet.length || end - at < BATCH_HEADER) throw new KafkaDecodeError('partial or undersized record batch');
    out.push(recordSet.subarray(at, end));
    at = end;
  }
  return out;
}

/** The fixed header of one record batch (magic is not checked here). */
export function readBatchHeader(batch: Buffer): BatchHeader {
  return {
    baseOffset: batch.readBigInt64BE(0),
    magic: batch.readInt8(16),
    attributes: batch.readInt16BE(21),
    lastOffsetDelta: batch.readInt32BE(23),
    firstTimestamp: batch.readBigInt64BE(27),
    maxTimestamp: batch.readBigInt64BE(35),
    recordCount: batch.readInt32BE(57),
  };
}

/**
 * A copy of `batch` with its base offset set. The CRC covers only the bytes
 * from the attributes field on, so it stays valid.
 */
export function withBaseOffset(batch: Buffer, baseOffset: bigint): Buffer {
  const copy = Buffer.from(batch);
  copy.writeBigInt64BE(baseOffset, 0);
  return copy;
}

/** The records of one batch: uncompressed or gzip (other codecs throw). */
export function decodeBatch(batch: Buffer): DecodedRecord[] {
  const h = readBatchHeader(batch);
  const codec = h.attributes & 0x07;
  let body = batch.subarray(BATCH_HEADER);
  if (codec === 1) body = gunzipSync(body);
  else if (codec !== 0) throw new Error(`kafka test broker: cannot decode compression codec ${codec} (only none and gzip)`);
  const r = new Reader(body);
  const out: DecodedRecord[] = [];
  for (let i = 0; i < h.recordCount; i++) out.push(decodeRecord(r, h));
  return out;
}

/** One record: varint length, attributes, timestamp/offset deltas, key, value, headers. */
function decodeRecord(outer: Reader, h: BatchHeader): DecodedRecord {
  const r = new Reader(outer.varBytes() ?? Buffer.alloc(0));
  r.int8(); // record attributes: unused
  const timestamp = h.firstTimestamp + r.varlong();
  const offset = h.baseOffset + BigInt(r.varint());
  const key = r.varBytes();
  const value = r.varBytes();
  const headers: Record<string, Buffer> = {};
  const count = r.varint();
  for (let i = 0; i < count; i++) {
    const name = (r.varBytes() ?? Buffer.alloc(0)).toString('utf8');
    headers[name] = Buffer.from(r.varBytes() ?? Buffer.alloc(0));
  }
  return { offset, timestamp, key: key && Buffer.from(key), value: value && Buffer.from(value), headers };
}
