// Cache instances (RapidFS model): a named pool of cache nodes with a capacity, to
// which data sources are bound. A bound source's blocks are placed on its instance's
// nodes only; a source bound to none uses the nodes in no instance.
//
//   create  name (1–65 of [A-Za-z0-9_-]), capacity > 0, nodes that are registered and
//           in no other instance, 0 < low < high ≤ 1
//   resize  capacity, watermarks, nodes added (same checks) or removed; a node that
//           changes instance empties its cache (its blocks are of sources it no
//           longer serves) — told at once, and again by its next heartbeat reply
//           if it could not be reached
//   delete  refused (EBUSY) while sources are bound unless forced — forced, they are
//           unbound (their reads go to the nodes in no instance, or the store); the
//           nodes are released and told to empty their caches. Never touches a store
//           or the namespace.
//
// The capacity is shared among the instance's nodes by their own capacity (a node's
// share never exceeds its disk); each node evicts from highWatermark × share to
// lowWatermark × share, and learns its share with every heartbeat reply (policyFor).
//
// Discipline: every change to instances, node membership and bindings runs on one
// FIFO (WriteQueue), so a delete's "no bound sources" check and a racing bind see
// each other; reads are synchronous over the in-memory maps.
import { WharfError, logger, splitPath } from '../common/index.js';
import { WriteQueue, familyRange, instanceKey, type InodeTree } from '../meta/index.js';
import type { CachePin, NodeControlClient, NodePolicy } from '../node/index.js';
import { parseStoreUri } from '../ufs/index.js';
import type { NodeRegistry, NodeView } from './NodeRegistry.js';
import type { PermissionGroups } from './PermissionGroups.js';
import { DEFAULT_HIGH_WATERMARK, DEFAULT_LOW_WATERMARK, MAX_INSTANCES, decodeRecord, encodeRecord, type InstanceRecord, type SourceRecord } from './records.js';
import type { SourceCatalog } from './SourceCatalog.js';

const log = logger('instances');
const NAME = /^[A-Za-z0-9_-]{1,65}$/;

export interface InstanceView extends InstanceRecord {
  nodes: string[];
  sources: string[];
  nodeCapacityBytes: number;
  usedBytes: number;
}

export interface InstanceSpec {
  name: string;
  description?: string;
  capacityBytes: number;
  nodes?: string[];
  highWatermark?: number;
  lowWatermark?: number;
}

export interface InstanceChanges {
  capacityBytes?: number;
  addNodes?: string[];
  removeNodes?: string[];
  highWatermark?: number;
  lowWatermark?: number;
}

export interface DeleteResult {
  unboundSources: string[];
  nodesFreed: number;
  /** Nodes that could not be told to empty their caches (they do when they next heartbeat). */
  unreachable: string[];
  bytesFreed: number;
}

export class CacheInstances {
  private readonly instances = new Map<string, InstanceRecord>();
  private readonly queue = new WriteQueue();

  constructor(
    private readonly tree: InodeTree, private readonly catalog: SourceCatalog, private readonly nodes: NodeRegistry,
    private readonly control: NodeControlClient, private readonly groups: PermissionGroups,
  ) {}

  has(name: string): boolean {
    return this.instances.has(name);
  }

  async load(): Promise<void> {
    for await (const [, v] of this.tree.db.iterator(familyRange('instance'))) {
      const r = decodeRecord<InstanceRecord>(v);
      this.instances.set(r.name, r);
    }
  }

  list(): InstanceView[] {
    return [...this.instances.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((r) => this.view(r));
  }

  get(name: string): InstanceView {
    return this.view(this.record(name));
  }

  private record(name: string): InstanceRecord {
    const r = this.instances.get(name);
    if (!r) throw new WharfError('ENOENT', `no cache instance ${JSON.stringify(name)}`);
    return r;
  }

  private view(r: InstanceRecord): InstanceView {
    const members = this.nodesOf(r.name);
    return {
      ...r, nodes: members.map((n) => n.id), sources: this.catalog.list().filter((s) => s.instance === r.name).map((s) => s.name),
      nodeCapacityBytes: members.reduce((a, n) => a + n.capacityBytes, 0), usedBytes: members.reduce((a, n) => a + n.usedBytes, 0),
    };
  }

  /** The registered nodes of an instance ('' the nodes in none). */
  nodesOf(instance: string): NodeView[] {
    return this.nodes.list().filter((n) => (n.instance ?? '') === instance);
  }

  /** The nodes that cache a source's blocks. */
  nodesFor(source: SourceRecord): NodeView[] {
    return this.nodesOf(source.instance ?? '');
  }

  async create(spec: InstanceSpec): Promise<InstanceView> {
    if (typeof spec.name !== 'string' || !NAME.test(spec.name)) throw new WharfError('EINVAL', `instance name ${JSON.stringify(spec.name)} must be 1–65 letters, digits, '-' or '_'`);
    checkCapacity(spec.capacityBytes);
    const { high, low } = checkWatermarks(spec.highWatermark ?? DEFAULT_HIGH_WATERMARK, spec.lowWatermark ?? DEFAULT_LOW_WATERMARK);
    return this.queue.run(async () => {
      if (this.instances.has(spec.name)) throw new WharfError('EEXIST', `cache instance ${spec.name} exists`);
      if (this.instances.size >= MAX_INSTANCES) throw new WharfError('ENOSPC', `there are ${MAX_INSTANCES} cache instances, the most allowed`);
      const nodes = this.checkFreeNodes(spec.nodes ?? []);
      const r: InstanceRecord = { name: spec.name, description: spec.description ?? '', capacityBytes: spec.capacityBytes, highWatermark: high, lowWatermark: low, createdMs: Date.now() };
      await this.persist(r);
      this.instances.set(r.name, r);
      for (const id of nodes) await this.nodes.setInstance(id, r.name);
      await this.emptyCaches(nodes, r.name); // their blocks are of sources they no longer serve
      log.info({ instance: r.name, capacity: r.capacityBytes, nodes: nodes.length }, 'cache instance created');
      return this.view(r);
    });
  }

  async resize(name: string, c: InstanceChanges): Promise<InstanceView> {
    if (c.capacityBytes !== undefined) checkCapacity(c.capacityBytes);
    return this.queue.run(async () => {
      const r = { ...this.record(name) };
      const { high, low } = checkWatermarks(c.highWatermark ?? r.highWatermark, c.lowWatermark ?? r.lowWatermark);
      const add = this.checkFreeNodes(c.addNodes ?? []);
      const remove = [...new Set(c.removeNodes ?? [])];
      for (const id of remove) {
        if (add.includes(id)) throw new WharfError('EINVAL', `node ${id} is both added and removed`);
        const n = this.nodes.find(id);
        if (!n) throw new WharfError('ENOENT', `no cache node ${JSON.stringify(id)}`);
        if (n.instance !== name) throw new WharfError('EINVAL', `cache node ${id} is not in instance ${name}`);
      }
      r.highWatermark = high;
      r.lowWatermark = low;
      if (c.capacityBytes !== undefined) r.capacityBytes = c.capacityBytes;
      await this.persist(r);
      this.instances.set(name, r);
      for (const id of add) await this.nodes.setInstance(id, name);
      for (const id of remove) await this.nodes.setInstance(id, undefined);
      await this.emptyCaches(add, name);
      await this.emptyCaches(remove, '');
      log.info({ instance: name, capacity: r.capacityBytes, added: add.length, removed: remove.length }, 'cache instance resized');
      return this.view(r);
    });
  }

  async delete(name: string, force = false): Promise<DeleteResult> {
    return this.queue.run(async () => {
      const v = this.view(this.record(name));
      if (v.sources.length && !force) {
        throw new WharfError('EBUSY', `cache instance ${name} has bound sources (${v.sources.join(', ')}): unbind them, or delete with force (they are then unbound)`);
      }
      // Unbound, they are judged by the '' instance's default group: a group name belongs to its instance.
      for (const s of v.sources) await this.catalog.update(s, (rec) => { delete rec.instance; delete rec.group; });
      await this.tree.write('instance delete', async (tx) => tx.delRecord(instanceKey(name)));
      this.instances.delete(name);
      await this.groups.forgetInstance(name);
      // What the nodes held by their last heartbeats: a heartbeat reply carrying the
      // change may empty a node before the eviction below arrives (which then frees 0).
      const held = v.nodes.reduce((a, id) => a + (this.nodes.find(id)?.usedBytes ?? 0), 0);
      for (const id of v.nodes) await this.nodes.setInstance(id, undefined);
      const freed = await this.emptyCaches(v.nodes, '');
      log.info({ instance: name, unbound: v.sources, nodes: v.nodes.length, ...freed }, 'cache instance deleted');
      return { unboundSources: v.sources, nodesFreed: v.nodes.length - freed.unreachable.length, unreachable: freed.unreachable, bytesFreed: Math.max(freed.bytes, held) };
    });
  }

  /** Binds a source to an instance ('' unbinds). Its blocks then live on that instance's nodes. */
  async bind(source: string, instance: string): Promise<SourceRecord> {
    return this.queue.run(async () => {
      const s = this.catalog.get(source);
      if (instance) this.record(instance);
      const was = s.instance ?? '';
      if (was === instance) return s;
      const next = await this.catalog.update(source, (rec) => {
        if (instance) rec.instance = instance;
        else delete rec.instance;
        delete rec.group; // group names are the instance's: the new one's default group applies
      });
      // Its blocks on the old nodes would never be read again: free them.
      await this.evictSource(this.nodesOf(was), source);
      log.info({ source, from: was || '(none)', to: instance || '(none)' }, 'source bound');
      return next;
    });
  }

  /** Pins (ttlMs 0) a directory of a source, gives it a TTL, or (remove) drops either. */
  async pin(source: string, directory: string, ttlMs: number, remove = false): Promise<SourceRecord> {
    const dir = '/' + splitPath(directory).join('/');
    if (dir.split('/').includes('..')) throw new WharfError('EINVAL', `directory ${dir} contains '..'`);
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) throw new WharfError('EINVAL', `ttl must be a whole number of ms ≥ 0, not ${ttlMs}`);
    return this.queue.run(async () => {
      const s = this.catalog.get(source);
      const has = (s.pins ?? []).some((p) => p.directory === dir);
      if (remove && !has) throw new WharfError('ENOENT', `source ${source} has no pin or TTL on ${dir}`);
      if (!remove && (s.pins ?? []).length >= 100 && !has) throw new WharfError('ENOSPC', `source ${source} has 100 pins, the most allowed`);
      return this.catalog.update(source, (rec) => {
        const rest = (rec.pins ?? []).filter((p) => p.directory !== dir);
        rec.pins = remove ? rest : [...rest, { directory: dir, ttlMs }];
        if (!rec.pins.length) delete rec.pins;
      });
    });
  }

  /** What a node is told with each heartbeat reply. */
  policyFor(nodeId: string): NodePolicy {
    const n = this.nodes.find(nodeId);
    const instance = n?.instance ?? '';
    const rec = instance ? this.instances.get(instance) : undefined;
    const pins: CachePin[] = [];
    for (const s of this.catalog.list()) {
      if ((s.instance ?? '') !== instance) continue;
      for (const p of s.pins ?? []) pins.push({ source: s.name, prefix: keyPrefixOf(s, p.directory), ttlMs: p.ttlMs });
    }
    const instanceVersion = n?.instanceVersion ?? 0;
    // The rules of each source's group, when any rule anywhere restricts (else every read is allowed).
    const access = this.groups.restrictive
      ? this.catalog.list().filter((s) => (s.instance ?? '') === instance).map((s) => ({ source: s.name, rules: this.groups.get(instance, s.group ?? 'default').rules }))
      : [];
    if (!rec || !n) return { instance, instanceVersion, limitBytes: 0, highWatermark: 1, lowWatermark: 1, pins, access };
    const total = this.nodesOf(instance).reduce((a, x) => a + x.capacityBytes, 0);
    const share = Math.min(n.capacityBytes, Math.floor((rec.capacityBytes * n.capacityBytes) / Math.max(1, total)));
    return { instance, instanceVersion, limitBytes: Math.max(1, share), highWatermark: rec.highWatermark, lowWatermark: rec.lowWatermark, pins, access };
  }

  /** Frees a removed source's blocks on the nodes that held them (best effort). */
  async forgetSource(s: SourceRecord): Promise<void> {
    await this.evictSource(this.nodesFor(s), s.name);
  }

  private async evictSource(nodes: NodeView[], source: string): Promise<void> {
    await Promise.all(nodes.filter((n) => n.readable).map((n) => this.control.evict(n.address, { source, prefix: '' }).catch((e: unknown) => {
      log.warn({ node: n.id, source, err: e instanceof Error ? e.message : String(e) }, 'could not free a source\'s blocks on a node');
    })));
  }

  /** Tells nodes to drop every block; a node that cannot be reached does so when its next heartbeat reply moves it. */
  private async emptyCaches(ids: string[], instance: string): Promise<{ bytes: number; unreachable: string[] }> {
    let bytes = 0;
    const unreachable: string[] = [];
    await Promise.all(ids.map(async (id) => {
      const n = this.nodes.find(id);
      if (!n) return;
      try {
        bytes += (await this.control.evict(n.address, { all: true, instance, instanceVersion: n.instanceVersion ?? 0 })).bytes;
      } catch (e) {
        unreachable.push(id);
        log.warn({ node: id, err: e instanceof Error ? e.message : String(e) }, 'could not empty a node\'s cache now; it will when it next heartbeats');
      }
    }));
    return { bytes, unreachable };
  }

  private checkFreeNodes(ids: string[]): string[] {
    const out = [...new Set(ids)];
    for (const id of out) {
      const n = this.nodes.find(id);
      if (!n) throw new WharfError('ENOENT', `no cache node ${JSON.stringify(id)}`);
      if (n.instance) throw new WharfError('EBUSY', `cache node ${id} is in instance ${n.instance}; remove it from there first`);
    }
    return out;
  }

  private persist(r: InstanceRecord): Promise<void> {
    return this.tree.write('instance', async (tx) => tx.putRecord(instanceKey(r.name), encodeRecord(r)));
  }
}

/** The store key prefix of everything under a source's directory ('' under a whole-bucket root). */
export function keyPrefixOf(s: SourceRecord, directory: string): string {
  const parts = splitPath(directory);
  const prefix = parseStoreUri(s.uri).prefix;
  return parts.length ? `${prefix}${parts.join('/')}/` : prefix;
}

function checkCapacity(n: number): void {
  if (!Number.isSafeInteger(n) || n <= 0) throw new WharfError('EINVAL', `instance capacity must be a positive number of bytes, not ${n}`);
}

function checkWatermarks(high: number, low: number): { high: number; low: number } {
  if (!(Number.isFinite(high) && Number.isFinite(low) && low > 0 && low < high && high <= 1)) {
    throw new WharfError('EINVAL', `watermarks must satisfy 0 < low < high ≤ 1 (low ${low}, high ${high})`);
  }
  return { high, low };
}
