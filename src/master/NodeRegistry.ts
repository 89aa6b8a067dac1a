// The cache nodes the master knows: registration, heartbeats, and the state each
// node is in, from which the placement members that mounts follow are derived.
//
//   JOINING  registered, no heartbeat yet          not in placement
//   ONLINE   heartbeating                          in placement, read from
//   SUSPECT  no heartbeat for suspectMs             in placement (a GC pause remaps nothing), not read from
//   LOST     no heartbeat for lostMs                out of placement (its blocks remap)
//   DRAINING set by the operator                   weight 0 (owns nothing new), still read from while heartbeating
// A node that heartbeats again comes back ONLINE (or DRAINING); `remove` forgets it
// (only once DRAINING or LOST, unless forced) and leaves a tombstone: the removed
// process's heartbeats are answered ESTALE (it stops heartbeating) rather than
// inviting it to register again; only a new start of the node (register) rejoins. Every change of the members (who,
// weight, readable) bumps the placement epoch.
//
// Persisted (the 'C' family): id, address, capacity, draining, registration time.
// Heartbeat times are memory only: after a master restart every known node is
// given a full lostMs to heartbeat again before its blocks remap.
// Discipline: every method runs synchronously between its awaits on the state it
// changes, and LevelDB writes of one node are serialised by a per-registry chain,
// so concurrent heartbeats and drains cannot interleave a read-modify-write.
import { WharfError } from '../common/index.js';
import { familyRange, nodeKey, type InodeTree } from '../meta/index.js';

export const NODE_STATES = ['JOINING', 'ONLINE', 'SUSPECT', 'LOST', 'DRAINING'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export const NODE_ACTIONS = ['drain', 'remove'] as const;
export type NodeAction = (typeof NODE_ACTIONS)[number];

/**
 * Why `action` is refused for a node in `state` (undefined: accepted). Drain is
 * accepted in every state (again: nothing changes) but only offered before it;
 * remove needs a drained or lost node, unless forced.
 */
export function nodeRefusal(action: NodeAction, id: string, state: NodeState): WharfError | undefined {
  if (action === 'remove' && state !== 'DRAINING' && state !== 'LOST') return new WharfError('EBUSY', `cache node ${id} is ${state}: drain it first (or remove with force)`);
  return undefined;
}

/** The actions worth offering for a node in `state`. */
export function nodeActions(id: string, state: NodeState): NodeAction[] {
  return NODE_ACTIONS.filter((a) => !(a === 'drain' && state === 'DRAINING') && !nodeRefusal(a, id, state));
}

interface NodeRecord {
  id: string;
  address: string;
  capacityBytes: number;
  draining: boolean;
  registeredMs: number;
  /** Set on a tombstone: removed by the operator at this time. */
  removedMs?: number;
  /** The cache instance the node belongs to (CacheInstances); absent: none. */
  instance?: string;
  /** Bumped at every change of `instance`: orders the policies the node is sent. */
  instanceVersion?: number;
}

export interface NodeView extends NodeRecord {
  state: NodeState;
  lastHeartbeatMs: number;
  usedBytes: number;
  blocks: number;
  /** Its weight in placement (0: draining or out of it). */
  weight: number;
  inPlacement: boolean;
  readable: boolean;
}

export interface NodeRegistryOptions {
  heartbeatMs?: number;
  suspectMs?: number;
  lostMs?: number;
  now?: () => number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

interface Live {
  rec: NodeRecord;
  lastHeartbeatMs: number;
  heartbeats: number;
  usedBytes: number;
  blocks: number;
}

export class NodeRegistry {
  private readonly nodes = new Map<string, Live>();
  /** Removed nodes: id → when. */
  private readonly removed = new Map<string, number>();
  private readonly o: Required<NodeRegistryOptions>;
  private signature = '';
  /** Starts from the clock (×1000) so it grows across master restarts without being stored. */
  private epochValue: bigint;
  private writes: Promise<unknown> = Promise.resolve();

  constructor(private readonly tree: InodeTree, o: NodeRegistryOptions = {}) {
    const heartbeatMs = o.heartbeatMs ?? 3_000;
    this.o = { heartbeatMs, suspectMs: o.suspectMs ?? heartbeatMs * 2 + 1_000, lostMs: o.lostMs ?? 15_000, now: o.now ?? Date.now };
    this.epochValue = BigInt(this.o.now()) * 1000n;
  }

  get heartbeatMs(): number {
    return this.o.heartbeatMs;
  }

  async load(): Promise<void> {
    const now = this.o.now();
    for await (const [, v] of this.tree.db.iterator(familyRange('node'))) {
      const rec = JSON.parse(v.toString('utf8')) as NodeRecord;
      if (rec.removedMs !== undefined) {
        this.removed.set(rec.id, rec.removedMs);
        continue;
      }
      // Known before the restart: placed at once, as if it had just heartbeated.
      this.nodes.set(rec.id, { rec, lastHeartbeatMs: now, heartbeats: 1, usedBytes: 0, blocks: 0 });
    }
    this.epoch();
  }

  /** A node announces itself (at every start). Its id is what it is; its address may change. */
  async register(r: { id: string; address: string; capacityBytes: number; instanceVersion?: number }): Promise<NodeView> {
    if (!UUID.test(r.id)) throw new WharfError('EINVAL', `node id ${JSON.stringify(r.id)} is not a UUID`);
    const m = ADDRESS.exec(r.address);
    if (!m || Number(m[2]) === 0 || Number(m[2]) > 65535) throw new WharfError('EINVAL', `node address ${JSON.stringify(r.address)} is not host:port`);
    if (!Number.isSafeInteger(r.capacityBytes) || r.capacityBytes <= 0) throw new WharfError('EINVAL', `node capacity must be a positive number of bytes, not ${r.capacityBytes}`);
    const known = this.nodes.get(r.id);
    const rec: NodeRecord = {
      id: r.id, address: r.address, capacityBytes: r.capacityBytes, draining: known?.rec.draining ?? false, registeredMs: known?.rec.registeredMs ?? this.o.now(),
      ...(known?.rec.instance ? { instance: known.rec.instance } : {}),
    };
    const version = Math.max(known?.rec.instanceVersion ?? 0, r.instanceVersion ?? 0);
    if (version > 0) rec.instanceVersion = version;
    // A restarted node keeps its place: it stays in placement (no JOINING) if it was.
    this.removed.delete(r.id);
    const live: Live = known ? { ...known, rec } : { rec, lastHeartbeatMs: this.o.now(), heartbeats: 0, usedBytes: 0, blocks: 0 };
    this.nodes.set(r.id, live);
    await this.persist(rec);
    return this.view(live);
  }

  heartbeat(r: { id: string; usedBytes: number; blocks: number }): NodeView {
    const live = this.nodes.get(r.id);
    const removedMs = this.removed.get(r.id);
    if (!live && removedMs !== undefined) throw new WharfError('ESTALE', `cache node ${r.id} was removed at ${new Date(removedMs).toISOString()}; restart it to rejoin`);
    if (!live) throw new WharfError('ENOENT', `no cache node ${r.id} is registered (the master lost it): register again`);
    live.lastHeartbeatMs = this.o.now();
    live.heartbeats++;
    live.usedBytes = r.usedBytes;
    live.blocks = r.blocks;
    return this.view(live);
  }

  async drain(id: string): Promise<NodeView> {
    const live = this.get(id);
    if (!live.rec.draining) {
      live.rec = { ...live.rec, draining: true };
      await this.persist(live.rec);
    }
    return this.view(live);
  }

  /** Puts a node in a cache instance (undefined: in none). The caller (CacheInstances) holds the instance lock. */
  async setInstance(id: string, instance: string | undefined): Promise<NodeView> {
    const live = this.get(id);
    const rec = { ...live.rec, instanceVersion: (live.rec.instanceVersion ?? 0) + 1 };
    if (instance) rec.instance = instance;
    else delete rec.instance;
    live.rec = rec;
    await this.persist(rec);
    return this.view(live);
  }

  /** The node if it is registered. */
  find(id: string): NodeView | undefined {
    const live = this.nodes.get(id);
    return live ? this.view(live) : undefined;
  }

  /** Forgets a node: only a DRAINING or LOST one unless forced (removing a live owner remaps its blocks at once). */
  async remove(id: string, force = false): Promise<void> {
    const live = this.get(id);
    const refused = force ? undefined : nodeRefusal('remove', id, this.view(live).state);
    if (refused) throw refused;
    this.nodes.delete(id);
    const removedMs = this.o.now();
    this.removed.set(id, removedMs);
    await this.persist({ ...live.rec, removedMs });
  }

  list(): NodeView[] {
    return [...this.nodes.values()].map((l) => this.view(l)).sort((a, b) => (a.registeredMs - b.registeredMs) || (a.id < b.id ? -1 : 1));
  }

  /** The placement epoch: bumped whenever the members mounts place blocks on change. */
  epoch(): bigint {
    const sig = this.list().filter((n) => n.inPlacement).map((n) => `${n.id}@${n.address}/${n.weight}/${n.readable ? 'r' : '-'}/${n.instance ?? ''}`).join(',');
    if (sig !== this.signature) {
      this.signature = sig;
      this.epochValue++;
    }
    return this.epochValue;
  }

  private get(id: string): Live {
    const live = this.nodes.get(id);
    if (!live) throw new WharfError('ENOENT', `no cache node ${JSON.stringify(id)}`);
    return live;
  }

  private view(l: Live): NodeView {
    const silentMs = this.o.now() - l.lastHeartbeatMs;
    const state: NodeState = silentMs > this.o.lostMs ? 'LOST'
      : l.heartbeats === 0 ? 'JOINING'
      : silentMs > this.o.suspectMs ? 'SUSPECT'
      : l.rec.draining ? 'DRAINING' : 'ONLINE';
    const inPlacement = state === 'ONLINE' || state === 'SUSPECT' || state === 'DRAINING';
    return {
      ...l.rec, state, lastHeartbeatMs: l.lastHeartbeatMs, usedBytes: l.usedBytes, blocks: l.blocks,
      weight: inPlacement && !l.rec.draining ? l.rec.capacityBytes : 0,
      inPlacement, readable: state === 'ONLINE' || state === 'DRAINING',
    };
  }

  private persist(rec: NodeRecord): Promise<void> {
    return this.chain(() => this.tree.db.put(nodeKey(rec.id), Buffer.from(JSON.stringify(rec), 'utf8')));
  }

  private chain(fn: () => Promise<void>): Promise<void> {
    const p = this.writes.then(fn, fn);
    this.writes = p.catch(() => undefined);
    return p;
  }
}
