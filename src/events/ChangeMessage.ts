// The change stream's message: one namespace mutation a Wharf cluster made, as it
// travels on the change topic (key = the path, so one path's changes share a
// partition and keep their order). Other clusters read it as an invalidation.
//
//   cluster  the publishing cluster's name (a subscriber ignores its own)
//   epoch    the publisher's relay epoch: one more at every start of its master
//   seq      the publisher's outbox sequence: monotonic, never reused — a consumer
//            that has seen a seq has seen that change (duplicates are at-least-once's)
//   prev     the seq of the publisher's previous message on the same partition in
//            the same epoch (0: its first): a subscriber that sees prev ≠ the last seq
//            it saw there has missed messages
//   store    where the path lives in an under store, when it is in a data source:
//            the store's identity (s3://bucket, file:///dir) and the object key
import { WharfError } from '../common/index.js';

export interface StoreRef {
  source: string;
  /** s3://bucket or file:///root: what two clusters mounting the same store share. */
  id: string;
  key: string;
}

export interface ChangeBody {
  op: string;
  path: string;
  toPath?: string;
  ino: string;
  type: string;
  timeMs: number;
  size?: string;
  changed?: string[];
  store?: StoreRef;
  toStore?: StoreRef;
}

export interface ChangeMessage extends ChangeBody {
  v: 1;
  cluster: string;
  epoch: number;
  seq: bigint;
  prev: bigint;
}

export function encodeChangeMessage(m: ChangeMessage): Buffer {
  return Buffer.from(JSON.stringify({ ...m, seq: m.seq.toString(), prev: m.prev.toString() }));
}

const str = (v: unknown): v is string => typeof v === 'string';

function storeRef(v: unknown, what: string): StoreRef | undefined {
  if (v === undefined) return undefined;
  const r = v as Partial<StoreRef> | null;
  if (!r || !str(r.source) || !str(r.id) || !str(r.key)) throw new WharfError('EINVAL', `${what} is not {source, id, key}`);
  return { source: r.source, id: r.id, key: r.key };
}

/** A change message, checked; EINVAL naming what is wrong. */
export function decodeChangeMessage(raw: Buffer | null): ChangeMessage {
  if (!raw) throw new WharfError('EINVAL', 'empty message');
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new WharfError('EINVAL', 'not JSON');
  }
  if (!j || typeof j !== 'object') throw new WharfError('EINVAL', 'not a JSON object');
  if (j.v !== 1) throw new WharfError('EINVAL', `version ${JSON.stringify(j.v)} is not 1`);
  if (!str(j.cluster) || j.cluster === '') throw new WharfError('EINVAL', 'no cluster');
  if (typeof j.epoch !== 'number' || !Number.isSafeInteger(j.epoch) || j.epoch < 1) throw new WharfError('EINVAL', 'epoch is not a positive integer');
  if (!str(j.seq) || !/^\d{1,20}$/.test(j.seq) || !str(j.prev) || !/^\d{1,20}$/.test(j.prev)) throw new WharfError('EINVAL', 'seq and prev must be decimal strings');
  if (!str(j.op) || !str(j.path) || !j.path.startsWith('/')) throw new WharfError('EINVAL', 'no op or absolute path');
  const store = storeRef(j.store, 'store');
  const toStore = storeRef(j.toStore, 'toStore');
  return {
    v: 1, cluster: j.cluster, epoch: j.epoch, seq: BigInt(j.seq), prev: BigInt(j.prev),
    op: j.op, path: j.path, ino: str(j.ino) ? j.ino : '0', type: str(j.type) ? j.type : 'file', timeMs: typeof j.timeMs === 'number' ? j.timeMs : 0,
    ...(str(j.toPath) ? { toPath: j.toPath } : {}), ...(str(j.size) ? { size: j.size } : {}),
    ...(Array.isArray(j.changed) ? { changed: j.changed.filter(str) } : {}),
    ...(store ? { store } : {}), ...(toStore ? { toStore } : {}),
  };
}
