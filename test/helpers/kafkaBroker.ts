// A single-node, in-memory Kafka broker speaking the Kafka wire protocol on
// 127.0.0.1 — a TEST FIXTURE for kafkajs-based code, not a runtime dependency
// of Wharf (no real Kafka broker can be installed where these tests run).
//
// Node id 0 is the only broker: the controller, the leader of every
// partition and the coordinator of every group. Everything lives in memory.
//
// APIs answered, exactly one version each (advertised in ApiVersions as
// min = max; kafkajs 2.2.4 uses min(its highest, broker max) per API):
//   ApiVersions v0 (v1/v2 requests get UNSUPPORTED_VERSION in the v0 layout,
//   which makes kafkajs step down), Metadata v1, CreateTopics v0, Produce v3,
//   Fetch v4, ListOffsets v1, FindCoordinator v0, JoinGroup v0, SyncGroup v0,
//   Heartbeat v0, LeaveGroup v0, OffsetCommit v2 (carries generation and
//   member id, so stale members are fenced), OffsetFetch v1.
// A request for any other API or version closes the connection (as Kafka does)
// after a process warning.
//
// Behaviour and limits:
// - Record batches must be magic v2; they are stored as received with the base
//   offset patched (the CRC does not cover it) and are not CRC-checked.
//   records() decodes uncompressed and gzip batches only.
// - No replication, transactions, idempotence (InitProducerId), ACLs, SASL,
//   TLS, quotas, configs, DeleteTopics or DescribeGroups. isolation_level is
//   ignored (last stable offset = high watermark).
// - Fetch long-polls up to max_wait_time for min_bytes and is woken by produce.
// - Each partition keeps at most maxBytesPerPartition (default 64 MiB) of
//   batches: beyond it the oldest batches are dropped and the log start offset
//   advances. ListOffsets by timestamp is answered from the stored batches.
// - Groups: JoinGroup v0 has no rebalance timeout, so the join window is the
//   largest session timeout of the members; a rebalance completes at once when
//   every member has rejoined. Heartbeats during a rebalance get
//   REBALANCE_IN_PROGRESS; members silent for their session timeout are
//   expired (which rebalances). Offsets are kept forever (retention ignored).
// - Requests on one connection are answered in order, one at a time.
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { KafkaDecodeError, Reader, Writer, decodeBatch, readBatchHeader, splitBatches, withBaseOffset, type DecodedRecord } from './kafkaCodec.js';

export interface KafkaTestBroker {
  /** "127.0.0.1:PORT", for kafkajs `brokers`. */
  address: string;
  port: number;
  /** Closes the server and destroys every client socket. */
  stop(): Promise<void>;
  /** Messages of a topic/partition as stored (for assertions); [] for an unknown topic. */
  records(topic: string, partition?: number): { offset: bigint; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer> }[];
  /** Creates a topic (default: defaultPartitions partitions); a no-op if it exists. */
  createTopic(name: string, partitions?: number): void;
  /** Latest committed offset of a group for a topic-partition, or undefined. */
  committed(group: string, topic: string, partition: number): bigint | undefined;
}

export interface KafkaTestBrokerOptions {
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Bytes of batches kept per partition (default 64 MiB). */
  maxBytesPerPartition?: number;
  /** Metadata requests for unknown topics create them (default true). */
  autoCreateTopics?: boolean;
  /** Partitions of auto-created topics and of createTopic without a count (default 1). */
  defaultPartitions?: number;
}

const HOST = '127.0.0.1';
const NODE_ID = 0;
const MAX_FRAME = 256 * 1024 * 1024;
const EMPTY: Buffer = Buffer.alloc(0);

/** Kafka error codes used here. */
const E = {
  NONE: 0, OFFSET_OUT_OF_RANGE: 1, CORRUPT_MESSAGE: 2, UNKNOWN_TOPIC_OR_PARTITION: 3,
  INVALID_TOPIC: 17, INVALID_REQUIRED_ACKS: 21, ILLEGAL_GENERATION: 22, INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24, UNKNOWN_MEMBER_ID: 25, REBALANCE_IN_PROGRESS: 27, UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36, INVALID_PARTITIONS: 37, INVALID_REPLICATION_FACTOR: 38,
} as const;

/** API key → the one version answered. */
const VERSIONS: ReadonlyMap<number, number> = new Map([
  [0, 3], // Produce
  [1, 4], // Fetch
  [2, 1], // ListOffsets
  [3, 1], // Metadata
  [8, 2], // OffsetCommit
  [9, 1], // OffsetFetch
  [10, 0], // FindCoordinator
  [11, 0], // JoinGroup
  [12, 0], // Heartbeat
  [13, 0], // LeaveGroup
  [14, 0], // SyncGroup
  [18, 0], // ApiVersions
  [19, 0], // CreateTopics
]);
const API_VERSIONS = 18;

function validTopicName(name: string): boolean {
  return /^[a-zA-Z0-9._-]{1,249}$/.test(name) && name !== '.' && name !== '..';
}

// ---------------------------------------------------------------------------
// Partition logs
// ---------------------------------------------------------------------------

interface StoredBatch { baseOffset: bigint; lastOffset: bigint; maxTimestamp: bigint; data: Buffer }

/** One partition: its batches (with assigned offsets), log start offset and high watermark. */
class PartitionLog {
  private batches: StoredBatch[] = [];
  private bytes = 0;
  logStart = 0n;
  highWatermark = 0n;

  constructor(private readonly maxBytes: number) {}

  /** Appends validated magic-2 batches; returns the base offset of the first. */
  append(batches: readonly Buffer[]): bigint {
    const base = this.highWatermark;
    for (const raw of batches) {
      const h = readBatchHeader(raw);
      const baseOffset = this.highWatermark;
      const lastOffset = baseOffset + BigInt(h.lastOffsetDelta);
      this.batches.push({ baseOffset, lastOffset, maxTimestamp: h.maxTimestamp, data: withBaseOffset(raw, baseOffset) });
      this.bytes += raw.length;
      this.highWatermark = lastOffset + 1n;
    }
    this.trim();
    return base;
  }

  /** Drops the oldest batches while over the byte bound. */
  private trim(): void {
    let drop = 0;
    while (this.bytes > this.maxBytes && drop < this.batches.length) {
      this.bytes -= this.batches[drop]!.data.length;
      drop++;
    }
    if (drop === 0) return;
    this.batches = this.batches.slice(drop);
    this.logStart = this.batches[0]?.baseOffset ?? this.highWatermark;
  }

  /** Index of the first batch whose last offset is >= offset (binary search). */
  private indexOf(offset: bigint): number {
    let lo = 0;
    let hi = this.batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.batches[mid]!.lastOffset < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whole batches from the one holding `offset`, up to maxBytes (at least one if `atLeastOne`). */
  read(offset: bigint, maxBytes: number, atLeastOne: boolean): Buffer[] {
    const out: Buffer[] = [];
    let size = 0;
    for (let i = this.indexOf(offset); i < this.batches.length; i++) {
      const data = this.batches[i]!.data;
      if (size + data.length > maxBytes && !(atLeastOne && out.length === 0)) break;
      out.push(data);
      size += data.length;
    }
    return out;
  }

  /** The first offset whose record timestamp is >= ts (the high watermark if none). */
  offsetForTimestamp(ts: bigint): bigint {
    const batch = this.batches.find((b) => b.maxTimestamp >= ts);
    if (!batch) return this.highWatermark;
    try {
      return decodeBatch(batch.data).find((r) => r.timestamp >= ts)?.offset ?? batch.baseOffset;
    } catch {
      return batch.baseOffset; // a codec we cannot decode: batch granularity
    }
  }

  records(): DecodedRecord[] {
    return this.batches.flatMap((b) => decodeBatch(b.data));
  }
}

// ---------------------------------------------------------------------------
// Group coordinator
// ---------------------------------------------------------------------------

interface Protocol { name: string; metadata: Buffer }
interface JoinResult { error: number; generationId: number; protocol: string; leaderId: string; memberId: string; members: { memberId: string; metadata: Buffer }[] }
interface SyncResult { error: number; assignment: Buffer }
type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable';

class Member {
  lastSeen = Date.now();
  assignment = EMPTY;
  /** Set while the member's JoinGroup waits for the rebalance to complete. */
  awaitingJoin: ((r: JoinResult) => void) | null = null;
  /** Set while the member's SyncGroup waits for the leader's assignment. */
  awaitingSync: ((r: SyncResult) => void) | null = null;

  constructor(readonly id: string, public sessionTimeoutMs: number, public protocols: Protocol[]) {}

  supports(protocol: string): boolean {
    return this.protocols.some((p) => p.name === protocol);
  }
}

class Group {
  state: GroupState = 'Empty';
  generationId = 0;
  protocolType = '';
  protocol = '';
  leaderId = '';
  joinTimer: NodeJS.Timeout | null = null;
  readonly members = new Map<string, Member>();
  /** `${topic}\0${partition}` → committed offset and metadata. */
  readonly offsets = new Map<string, { offset: bigint; metadata: string | null }>();
}

const offsetKey = (topic: string, partition: number): string => `${topic}\0${partition}`;
const joinError = (error: number, memberId: string): JoinResult => ({ error, generationId: -1, protocol: '', leaderId: '', memberId, members: [] });

/** The classic (pre-KIP-848) group membership protocol, for one coordinator. */
class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  private readonly sweeper = setInterval(() => this.expireMembers(), 100).unref();

  stop(): void {
    clearInterval(this.sweeper);
    for (const g of this.groups.values()) if (g.joinTimer) clearTimeout(g.joinTimer);
  }

  private group(id: string): Group {
    let g = this.groups.get(id);
    if (!g) this.groups.set(id, (g = new Group()));
    return g;
  }

  join(groupId: string, clientId: string, memberId: string, sessionTimeoutMs: number, protocolType: string, protocols: Protocol[]): Promise<JoinResult> {
    if (!groupId) return Promise.resolve(joinError(E.INVALID_GROUP_ID, memberId));
    const g = this.group(groupId);
    let m = memberId ? g.members.get(memberId) : undefined;
    if (memberId && !m) return Promise.resolve(joinError(E.UNKNOWN_MEMBER_ID, memberId));
    const others = [...g.members.values()].filter((o) => o !== m);
    const compatible = others.length === 0 || (protocolType === g.protocolType && protocols.some((p) => others.every((o) => o.supports(p.name))));
    if (!compatible || protocols.length === 0) return Promise.resolve(joinError(E.INCONSISTENT_GROUP_PROTOCOL, memberId));
    if (!m) {
      m = new Member(`${clientId || 'member'}-${randomUUID()}`, sessionTimeoutMs, protocols);
      g.members.set(m.id, m);
    }
    if (others.length === 0) g.protocolType = protocolType;
    m.sessionTimeoutMs = sessionTimeoutMs;
    m.protocols = protocols;
    m.lastSeen = Date.now();
    m.awaitingJoin?.(joinError(E.REBALANCE_IN_PROGRESS, m.id)); // a superseded duplicate join
    const member = m;
    return new Promise((resolve) => {
      member.awaitingJoin = resolve;
      this.prepareRebalance(g);
      this.maybeCompleteJoin(g);
    });
  }

  sync(groupId: string, generationId: number, memberId: string, assignments: ReadonlyMap<string, Buffer>): Promise<SyncResult> {
    const g = this.groups.get(groupId);
    const m = g?.members.get(memberId);
    const fail = (error: number): Promise<SyncResult> => Promise.resolve({ error, assignment: EMPTY });
    if (!g || !m) return fail(E.UNKNOWN_MEMBER_ID);
    if (generationId !== g.generationId) return fail(E.ILLEGAL_GENERATION);
    if (g.state === 'PreparingRebalance') return fail(E.REBALANCE_IN_PROGRESS);
    m.lastSeen = Date.now();
    if (g.state !== 'CompletingRebalance') return Promise.resolve({ error: E.NONE, assignment: m.assignment });
    return new Promise((resolve) => {
      m.awaitingSync = resolve;
      if (memberId !== g.leaderId) return; // followers wait for the leader's assignment
      for (const x of g.members.values()) x.assignment = assignments.get(x.id) ?? EMPTY;
      g.state = 'Stable';
      for (const x of g.members.values()) {
        const reply = x.awaitingSync;
        x.awaitingSync = null;
        reply?.({ error: E.NONE, assignment: x.assignment });
      }
    });
  }

  heartbeat(groupId: string, generationId: number, memberId: string): number {
    const g = this.groups.get(groupId);
    const m = g?.members.get(memberId);
    if (!g || !m) return E.UNKNOWN_MEMBER_ID;
    m.lastSeen = Date.now();
    if (generationId !== g.generationId) return E.ILLEGAL_GENERATION;
    if (g.state === 'PreparingRebalance') return E.REBALANCE_IN_PROGRESS;
    return E.NONE;
  }

  leave(groupId: string, memberId: string): number {
    const g = this.groups.get(groupId);
    const m = g?.members.get(memberId);
    if (!g || !m) return E.UNKNOWN_MEMBER_ID;
    this.removeMember(g, m);
    return E.NONE;
  }

  /** The group-level error of an OffsetCommit (Kafka's rules), or NONE. */
  checkCommit(groupId: string, generationId: number, memberId: string): number {
    const g = this.group(groupId);
    if (generationId < 0 && g.state === 'Empty') return E.NONE; // a commit from outside the group
    if (g.state === 'CompletingRebalance') return E.REBALANCE_IN_PROGRESS;
    const m = g.members.get(memberId);
    if (!m) return E.UNKNOWN_MEMBER_ID;
    if (generationId !== g.generationId) return E.ILLEGAL_GENERATION;
    m.lastSeen = Date.now();
    return E.NONE;
  }

  storeOffset(groupId: string, topic: string, partition: number, offset: bigint, metadata: string | null): void {
    this.group(groupId).offsets.set(offsetKey(topic, partition), { offset, metadata });
  }

  committed(groupId: string, topic: string, partition: number): { offset: bigint; metadata: string | null } | undefined {
    return this.groups.get(groupId)?.offsets.get(offsetKey(topic, partition));
  }

  /** Starts a rebalance: pending syncs fail, members must rejoin within the join window. */
  private prepareRebalance(g: Group): void {
    if (g.state === 'PreparingRebalance') return;
    for (const m of g.members.values()) {
      const reply = m.awaitingSync;
      m.awaitingSync = null;
      reply?.({ error: E.REBALANCE_IN_PROGRESS, assignment: EMPTY });
    }
    g.state = 'PreparingRebalance';
    const windowMs = Math.max(0, ...[...g.members.values()].map((m) => m.sessionTimeoutMs));
    g.joinTimer = setTimeout(() => this.completeJoin(g), windowMs).unref();
  }

  private maybeCompleteJoin(g: Group): void {
    if (g.state === 'PreparingRebalance' && [...g.members.values()].every((m) => m.awaitingJoin)) this.completeJoin(g);
  }

  /** Ends the join phase: drops members that did not rejoin, starts a new generation. */
  private completeJoin(g: Group): void {
    if (g.joinTimer) clearTimeout(g.joinTimer);
    g.joinTimer = null;
    for (const m of g.members.values()) if (!m.awaitingJoin) g.members.delete(m.id);
    g.generationId++;
    const members = [...g.members.values()];
    const leader = g.members.get(g.leaderId) ?? members[0];
    if (!leader) {
      g.state = 'Empty';
      g.leaderId = g.protocol = g.protocolType = '';
      return;
    }
    g.state = 'CompletingRebalance';
    g.leaderId = leader.id;
    g.protocol = leader.protocols.find((p) => members.every((m) => m.supports(p.name)))?.name ?? '';
    const all = members.map((m) => ({ memberId: m.id, metadata: m.protocols.find((p) => p.name === g.protocol)?.metadata ?? EMPTY }));
    for (const m of members) {
      const reply = m.awaitingJoin;
      m.awaitingJoin = null;
      m.assignment = EMPTY;
      m.lastSeen = Date.now();
      reply?.({ error: E.NONE, generationId: g.generationId, protocol: g.protocol, leaderId: leader.id, memberId: m.id, members: m === leader ? all : [] });
    }
  }

  private removeMember(g: Group, m: Member): void {
    g.members.delete(m.id);
    m.awaitingJoin?.(joinError(E.UNKNOWN_MEMBER_ID, m.id));
    m.awaitingSync?.({ error: E.UNKNOWN_MEMBER_ID, assignment: EMPTY });
    m.awaitingJoin = m.awaitingSync = null;
    if (m.id === g.leaderId) g.leaderId = '';
    this.prepareRebalance(g);
    this.maybeCompleteJoin(g);
  }

  /** Members silent for their session timeout (and not waiting in a join) leave. */
  private expireMembers(): void {
    const now = Date.now();
    for (const g of this.groups.values()) {
      for (const m of [...g.members.values()]) {
        // (an earlier removal may have completed a rebalance that already dropped m)
        if (g.members.get(m.id) === m && !m.awaitingJoin && now - m.lastSeen > m.sessionTimeoutMs) this.removeMember(g, m);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Connections: int32-size-prefixed frames, answered in order
// ---------------------------------------------------------------------------

interface RequestContext { apiKey: number; version: number; clientId: string }
type Handler = (r: Reader, ctx: RequestContext) => Writer | null | Promise<Writer | null>;

/** Splits a socket's bytes into frames and answers them one at a time, in order. */
function serveConnection(socket: Socket, handle: (frame: Buffer) => Promise<Buffer | null>): void {
  let chunks: Buffer[] = [];
  let buffered = 0;
  let need = 4; // bytes needed before the next frame can be parsed
  let chain = Promise.resolve();

  const reply = async (frame: Buffer): Promise<void> => {
    if (socket.destroyed) return;
    try {
      const out = await handle(frame);
      if (out && !socket.destroyed) socket.write(out);
    } catch {
      socket.destroy(); // undecodable request or unsupported API: Kafka closes too
    }
  };

  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.on('data', (data: Buffer) => {
    chunks.push(data);
    buffered += data.length;
    while (buffered >= need) {
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks = [all];
      const size = all.readInt32BE(0);
      if (size < 0 || size > MAX_FRAME) return void socket.destroy();
      need = 4 + size;
      if (all.length < need) return;
      const frame = all.subarray(4, need);
      chunks = all.length > need ? [all.subarray(need)] : [];
      buffered = all.length - need;
      need = 4;
      chain = chain.then(() => reply(frame));
    }
  });
}

/** A response frame: int32 size, int32 correlation id, body. */
function responseFrame(correlationId: number, body: Buffer): Buffer {
  const head = Buffer.allocUnsafe(8);
  head.writeInt32BE(4 + body.length, 0);
  head.writeInt32BE(correlationId, 4);
  return Buffer.concat([head, body]);
}

// ---------------------------------------------------------------------------
// The broker
// ---------------------------------------------------------------------------

interface FetchPartition { partition: number; offset: bigint; maxBytes: number }
interface FetchTopic { name: string; partitions: FetchPartition[] }

class Broker implements KafkaTestBroker {
  address = '';
  port = 0;
  private readonly server = createServer();
  private readonly sockets = new Set<Socket>();
  private readonly topics = new Map<string, PartitionLog[]>();
  private readonly groups = new GroupCoordinator();
  /** Long-polling fetches, woken by produce and stop. */
  private readonly waiters = new Set<() => void>();
  private stopped = false;
  private readonly maxBytesPerPartition: number;
  private readonly autoCreateTopics: boolean;
  private readonly defaultPartitions: number;
  private readonly handlers: ReadonlyMap<number, Handler>;

  constructor(o: KafkaTestBrokerOptions) {
    this.maxBytesPerPartition = o.maxBytesPerPartition ?? 64 * 1024 * 1024;
    this.autoCreateTopics = o.autoCreateTopics ?? true;
    this.defaultPartitions = o.defaultPartitions ?? 1;
    this.handlers = new Map<number, Handler>([
      [0, (r) => this.produce(r)],
      [1, (r) => this.fetch(r)],
      [2, (r) => this.listOffsets(r)],
      [3, (r) => this.metadata(r)],
      [8, (r) => this.offsetCommit(r)],
      [9, (r) => this.offsetFetch(r)],
      [10, () => new Writer().int16(E.NONE).int32(NODE_ID).string(HOST).int32(this.port)],
      [11, (r, ctx) => this.joinGroup(r, ctx)],
      [12, (r) => new Writer().int16(this.groups.heartbeat(r.string(), r.int32(), r.string()))],
      [13, (r) => new Writer().int16(this.groups.leave(r.string(), r.string()))],
      [14, (r) => this.syncGroup(r)],
      [18, (_r, ctx) => this.apiVersions(ctx)],
      [19, (r) => this.createTopics(r)],
    ]);
    this.server.on('connection', (socket) => {
      if (this.stopped) return void socket.destroy();
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      serveConnection(socket, (frame) => this.handle(frame));
    });
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, HOST, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.address = `${HOST}:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.groups.stop();
    this.wake();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  records(topic: string, partition = 0): ReturnType<KafkaTestBroker['records']> {
    const log = this.topics.get(topic)?.[partition];
    return (log?.records() ?? []).map(({ offset, key, value, headers }) => ({ offset, key, value, headers }));
  }

  createTopic(name: string, partitions = this.defaultPartitions): void {
    if (!validTopicName(name)) throw new Error(`kafka test broker: invalid topic name ${JSON.stringify(name)}`);
    if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`kafka test broker: invalid partition count ${partitions}`);
    if (!this.topics.has(name)) this.topics.set(name, Array.from({ length: partitions }, () => new PartitionLog(this.maxBytesPerPartition)));
  }

  committed(group: string, topic: string, partition: number): bigint | undefined {
    return this.groups.committed(group, topic, partition)?.offset;
  }

  /** Decodes the request header, dispatches, frames the response (null: no response). */
  private async handle(frame: Buffer): Promise<Buffer | null> {
    const r = new Reader(frame);
    const ctx: RequestContext = { apiKey: r.int16(), version: r.int16(), clientId: '' };
    const correlationId = r.int32();
    ctx.clientId = r.string();
    const handler = this.handlers.get(ctx.apiKey);
    if (!handler || (ctx.apiKey !== API_VERSIONS && VERSIONS.get(ctx.apiKey) !== ctx.version)) {
      process.emitWarning(`kafka test broker: unsupported API ${ctx.apiKey} v${ctx.version}; closing the connection`);
      throw new KafkaDecodeError('unsupported API');
    }
    const body = await handler(r, ctx);
    return body && responseFrame(correlationId, body.toBuffer());
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves after ms, or earlier when data is produced or the broker stops. */
  private waitForData(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  /** ApiVersions: v0 answers the list; v1/v2 get UNSUPPORTED_VERSION (v0 layout) so kafkajs steps down. */
  private apiVersions(ctx: RequestContext): Writer {
    const error = ctx.version === 0 ? E.NONE : E.UNSUPPORTED_VERSION;
    return new Writer().int16(error).array([...VERSIONS], (w, [key, v]) => w.int16(key).int16(v).int16(v));
  }

  /** A topic's partitions; unknown topics are created if auto-creation is on. */
  private topicFor(name: string, autoCreate: boolean): { error: number; partitions: PartitionLog[] } {
    const existing = this.topics.get(name);
    if (existing) return { error: E.NONE, partitions: existing };
    if (!validTopicName(name)) return { error: E.INVALID_TOPIC, partitions: [] };
    if (!autoCreate) return { error: E.UNKNOWN_TOPIC_OR_PARTITION, partitions: [] };
    this.createTopic(name);
    return { error: E.NONE, partitions: this.topics.get(name) ?? [] };
  }

  private log(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.[partition];
  }

  /** Metadata v1: [topics] (null = all) → brokers, controller id, topics. */
  private metadata(r: Reader): Writer {
    const requested = r.nullableArray((x) => x.string());
    const names = requested ?? [...this.topics.keys()];
    const w = new Writer().array([NODE_ID], (w, id) => w.int32(id).string(HOST).int32(this.port).string(null)).int32(NODE_ID);
    return w.array(names, (w, name) => {
      const { error, partitions } = this.topicFor(name, this.autoCreateTopics && requested !== null);
      w.int16(error).string(name).bool(false);
      w.array(partitions.map((_, i) => i), (w, id) => w.int16(E.NONE).int32(id).int32(NODE_ID).array([NODE_ID], (w, n) => w.int32(n)).array([NODE_ID], (w, n) => w.int32(n)));
    });
  }

  /** CreateTopics v0: [topic partitions replication [assignment] [configs]] timeout → [topic error]. */
  private createTopics(r: Reader): Writer {
    const requests = r.array((t) => {
      const name = t.string();
      const partitions = t.int32();
      const replication = t.int16();
      const assignment = t.array((a) => (a.int32(), a.array((x) => x.int32())));
      t.array((c) => (c.string(), c.nullableString()));
      return { name, partitions: assignment.length > 0 ? assignment.length : partitions, replication };
    });
    r.int32(); // timeout
    return new Writer().array(requests, (w, t) => w.string(t.name).int16(this.createTopicError(t.name, t.partitions, t.replication)));
  }

  private createTopicError(name: string, partitions: number, replication: number): number {
    if (!validTopicName(name)) return E.INVALID_TOPIC;
    if (this.topics.has(name)) return E.TOPIC_ALREADY_EXISTS;
    if (partitions === 0 || partitions < -1) return E.INVALID_PARTITIONS;
    if (replication > 1 || replication === 0 || replication < -1) return E.INVALID_REPLICATION_FACTOR;
    this.createTopic(name, partitions === -1 ? this.defaultPartitions : partitions);
    return E.NONE;
  }

  /** Produce v3: txn id, acks, timeout, [topic [partition records]] → [topic [partition error base_offset log_append_time]] throttle. */
  private produce(r: Reader): Writer | null {
    r.nullableString(); // transactional id: transactions are not supported
    const acks = r.int16();
    r.int32(); // timeout
    const topics = r.array((t) => ({ name: t.string(), partitions: t.array((p) => ({ partition: p.int32(), records: p.bytes() })) }));
    const ackError = acks === 0 || acks === 1 || acks === -1 ? E.NONE : E.INVALID_REQUIRED_ACKS;
    const results = topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partition: p.partition, ...(ackError ? { error: ackError, baseOffset: -1n } : this.append(t.name, p.partition, p.records)) })),
    }));
    this.wake();
    if (acks === 0) return null;
    return new Writer()
      .array(results, (w, t) => w.string(t.name).array(t.partitions, (w, p) => w.int32(p.partition).int16(p.error).int64(p.baseOffset).int64(-1n)))
      .int32(0);
  }

  private append(topic: string, partition: number, records: Buffer | null): { error: number; baseOffset: bigint } {
    const log = this.log(topic, partition);
    if (!log) return { error: E.UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1n };
    let batches: Buffer[];
    try {
      batches = splitBatches(records ?? EMPTY);
    } catch {
      return { error: E.CORRUPT_MESSAGE, baseOffset: -1n };
    }
    const bad = batches.some((b) => {
      const h = readBatchHeader(b);
      return h.magic !== 2 || h.lastOffsetDelta < 0 || h.recordCount < 0;
    });
    if (bad) return { error: E.CORRUPT_MESSAGE, baseOffset: -1n };
    return { error: E.NONE, baseOffset: log.append(batches) };
  }

  /** Fetch v4: replica, max_wait, min_bytes, max_bytes, isolation, [topic [partition offset max_bytes]]; long-polls. */
  private async fetch(r: Reader): Promise<Writer> {
    r.int32(); // replica id
    const maxWaitMs = r.int32();
    const minBytes = r.int32();
    const maxBytes = r.int32();
    r.int8(); // isolation level: no transactions, so irrelevant
    const topics = r.array((t): FetchTopic => ({ name: t.string(), partitions: t.array((p) => ({ partition: p.int32(), offset: p.int64(), maxBytes: p.int32() })) }));
    const deadline = Date.now() + Math.max(0, maxWaitMs);
    for (;;) {
      const result = this.readFetch(topics, maxBytes);
      const left = deadline - Date.now();
      if (result.bytes >= minBytes || result.errors > 0 || left <= 0 || this.stopped) return result.writer;
      await this.waitForData(left);
    }
  }

  private readFetch(topics: readonly FetchTopic[], maxBytes: number): { writer: Writer; bytes: number; errors: number } {
    let bytes = 0;
    let errors = 0;
    const writer = new Writer().int32(0).array(topics, (w, t) => w.string(t.name).array(t.partitions, (w, p) => {
      const log = this.log(t.name, p.partition);
      let error: number = E.NONE;
      let data = EMPTY;
      if (!log) error = E.UNKNOWN_TOPIC_OR_PARTITION;
      else if (p.offset < log.logStart || p.offset > log.highWatermark) error = E.OFFSET_OUT_OF_RANGE;
      else data = Buffer.concat(log.read(p.offset, Math.min(p.maxBytes, maxBytes - bytes), bytes === 0));
      if (error) errors++;
      bytes += data.length;
      const hw = log?.highWatermark ?? -1n;
      w.int32(p.partition).int16(error).int64(hw).int64(hw).int32(0).bytes(data);
    }));
    return { writer, bytes, errors };
  }

  /** ListOffsets v1: replica, [topic [partition timestamp]] → [topic [partition error timestamp offset]]. */
  private listOffsets(r: Reader): Writer {
    r.int32(); // replica id
    const topics = r.array((t) => ({ name: t.string(), partitions: t.array((p) => ({ partition: p.int32(), timestamp: p.int64() })) }));
    return new Writer().array(topics, (w, t) => w.string(t.name).array(t.partitions, (w, p) => {
      const log = this.log(t.name, p.partition);
      if (!log) return void w.int32(p.partition).int16(E.UNKNOWN_TOPIC_OR_PARTITION).int64(-1n).int64(-1n);
      const offset = p.timestamp === -1n ? log.highWatermark : p.timestamp === -2n ? log.logStart : log.offsetForTimestamp(p.timestamp);
      w.int32(p.partition).int16(E.NONE).int64(-1n).int64(offset);
    }));
  }

  /** JoinGroup v0: group, session_timeout, member, protocol_type, [name metadata]. */
  private async joinGroup(r: Reader, ctx: RequestContext): Promise<Writer> {
    const groupId = r.string();
    const sessionTimeoutMs = r.int32();
    const memberId = r.string();
    const protocolType = r.string();
    const protocols = r.array((p) => ({ name: p.string(), metadata: Buffer.from(p.bytes() ?? EMPTY) }));
    const res = await this.groups.join(groupId, ctx.clientId, memberId, sessionTimeoutMs, protocolType, protocols);
    return new Writer().int16(res.error).int32(res.generationId).string(res.protocol).string(res.leaderId).string(res.memberId)
      .array(res.members, (w, m) => w.string(m.memberId).bytes(m.metadata));
  }

  /** SyncGroup v0: group, generation, member, [member assignment] → error, assignment. */
  private async syncGroup(r: Reader): Promise<Writer> {
    const groupId = r.string();
    const generationId = r.int32();
    const memberId = r.string();
    const assignments = new Map(r.array((a) => [a.string(), Buffer.from(a.bytes() ?? EMPTY)] as const));
    const res = await this.groups.sync(groupId, generationId, memberId, assignments);
    return new Writer().int16(res.error).bytes(res.assignment);
  }

  /** OffsetCommit v2: group, generation, member, retention, [topic [partition offset metadata]] → [topic [partition error]]. */
  private offsetCommit(r: Reader): Writer {
    const groupId = r.string();
    const generationId = r.int32();
    const memberId = r.string();
    r.int64(); // retention time: offsets are kept forever
    const topics = r.array((t) => ({ name: t.string(), partitions: t.array((p) => ({ partition: p.int32(), offset: p.int64(), metadata: p.nullableString() })) }));
    const groupError = this.groups.checkCommit(groupId, generationId, memberId);
    return new Writer().array(topics, (w, t) => w.string(t.name).array(t.partitions, (w, p) => {
      const error = groupError || (this.log(t.name, p.partition) ? E.NONE : E.UNKNOWN_TOPIC_OR_PARTITION);
      if (error === E.NONE) this.groups.storeOffset(groupId, t.name, p.partition, p.offset, p.metadata);
      w.int32(p.partition).int16(error);
    }));
  }

  /** OffsetFetch v1: group, [topic [partition]] → [topic [partition offset metadata error]] (-1: none). */
  private offsetFetch(r: Reader): Writer {
    const groupId = r.string();
    const topics = r.array((t) => ({ name: t.string(), partitions: t.array((p) => p.int32()) }));
    return new Writer().array(topics, (w, t) => w.string(t.name).array(t.partitions, (w, partition) => {
      const c = this.groups.committed(groupId, t.name, partition);
      w.int32(partition).int64(c?.offset ?? -1n).string(c?.metadata ?? '').int16(E.NONE);
    }));
  }
}

/** Starts an in-memory Kafka broker on 127.0.0.1 (see the top of this file). */
export async function startKafkaBroker(o: KafkaTestBrokerOptions = {}): Promise<KafkaTestBroker> {
  const broker = new Broker(o);
  await broker.listen(o.port ?? 0);
  return broker;
}
