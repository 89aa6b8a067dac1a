// Decodes S3 event notifications as the real producers write them, tolerantly:
//   AWS        {"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name"},"object":{"key","size","eTag","sequencer","versionId"}}}]}
//   MinIO      {"EventName":"s3:ObjectCreated:Put","Key":"bucket/key","Records":[…as AWS…]}
//   Ceph RGW   Records with "eventSource":"ceph:s3" (and eventName with or without "s3:")
// Object keys arrive form-encoded (AWS, MinIO, Ceph alike): "+" is a space and
// "%2B" a plus. AWS's s3:TestEvent (sent when notifications are configured) and
// events of other kinds (restore, replication, tagging…) decode to nothing.
// Anything that is not such a message throws EventDecodeError with the reason (the
// consumer sends it to the dead-letter topic and goes on).

export type StoreEventOp = 'put' | 'delete';

export interface StoreEvent {
  bucket: string;
  key: string;
  op: StoreEventOp;
  /** Absent when the producer did not say (a put without one is ambiguous). */
  size?: bigint;
  etag?: string;
  /** S3's per-key ordering token (hex; compare after left-padding to one length). */
  sequencer?: string;
  versionId?: string;
  /** The event's time (ms since the epoch), 0 if absent. */
  timeMs: number;
  /** e.g. "ObjectCreated:Put", without the "s3:" prefix. */
  name: string;
}

export class EventDecodeError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An S3 form-encoded key: "+" is a space, %XX a byte of UTF-8. */
export function decodeEventKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    throw new EventDecodeError(`object key ${JSON.stringify(raw.slice(0, 200))} is not valid form encoding`);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function opOf(name: string): StoreEventOp | undefined {
  if (name.startsWith('ObjectCreated:')) return 'put';
  if (name.startsWith('ObjectRemoved:')) return 'delete';
  return undefined;
}

function record(r: unknown, i: number): StoreEvent | undefined {
  if (!isObject(r)) throw new EventDecodeError(`Records[${i}] is not an object`);
  const rawName = str(r['eventName']);
  if (!rawName) throw new EventDecodeError(`Records[${i}] has no eventName`);
  const name = rawName.replace(/^s3:/, '');
  const op = opOf(name);
  if (!op) return undefined; // another kind of event: nothing for the namespace
  const s3 = r['s3'];
  if (!isObject(s3) || !isObject(s3['bucket']) || !isObject(s3['object'])) throw new EventDecodeError(`Records[${i}] has no s3.bucket and s3.object`);
  const bucket = str(s3['bucket']['name']);
  const rawKey = str(s3['object']['key']);
  if (!bucket || rawKey === undefined) throw new EventDecodeError(`Records[${i}] has no bucket name or object key`);
  const o = s3['object'];
  const size = o['size'];
  const etag = str(o['eTag']) ?? str(o['etag']);
  const e: StoreEvent = { bucket, key: decodeEventKey(rawKey), op, name, timeMs: Date.parse(String(r['eventTime'] ?? '')) || 0 };
  if (typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) e.size = BigInt(size);
  else if (typeof size === 'string' && /^\d+$/.test(size)) e.size = BigInt(size);
  if (etag) e.etag = etag.replace(/^"|"$/g, '');
  const seq = str(o['sequencer']);
  if (seq) {
    if (!/^[0-9A-Fa-f]+$/.test(seq)) throw new EventDecodeError(`Records[${i}] has a sequencer that is not hex: ${JSON.stringify(seq.slice(0, 64))}`);
    e.sequencer = seq.toUpperCase();
  }
  const version = str(o['versionId']);
  if (version) e.versionId = version;
  return e;
}

/** The store events in one message (none for a test event or other kinds). */
export function decodeS3Events(value: Buffer | null): StoreEvent[] {
  if (value === null || value.length === 0) throw new EventDecodeError('empty message');
  let doc: unknown;
  try {
    doc = JSON.parse(value.toString('utf8'));
  } catch (e) {
    throw new EventDecodeError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new EventDecodeError('not a JSON object');
  if (doc['Event'] === 's3:TestEvent') return [];
  const records = doc['Records'];
  if (!Array.isArray(records)) throw new EventDecodeError('no Records array (AWS, MinIO and Ceph notifications all carry one)');
  const out: StoreEvent[] = [];
  records.forEach((r, i) => {
    const e = record(r, i);
    if (e) out.push(e);
  });
  return out;
}

/**
 * Orders two sequencers of one key: S3's are hex strings of varying length,
 * compared after right-padding the shorter with zeros (AWS's documented rule;
 * MinIO's are fixed-width hex nanoseconds, where padding never applies).
 * Negative: a before b.
 */
export function compareSequencers(a: string, b: string): number {
  const n = Math.max(a.length, b.length);
  const pa = a.padEnd(n, '0');
  const pb = b.padEnd(n, '0');
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}
