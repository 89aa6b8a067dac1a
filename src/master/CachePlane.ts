// The cache cluster's control on the master, as one surface for the Admin service:
// cache instances with their permission groups, cache rules (a RuleBook — the sync
// rules' state machine and gates) and their jobs, and the policy each node is told
// with its heartbeat replies.
import { Minimatch } from 'minimatch';
import { WharfError } from '../common/index.js';
import type { InodeTree } from '../meta/index.js';
import { NodeControlClient, type NodeTls } from '../node/index.js';
import { CacheInstances } from './CacheInstances.js';
import { CacheJobs } from './CacheJobs.js';
import { PermissionGroups } from './PermissionGroups.js';
import type { NodeRegistry } from './NodeRegistry.js';
import { CACHE_RULE_KINDS, type CacheJobRecord, type CacheRuleKind, type CacheRuleSpec } from './records.js';
import { RuleBook } from './RuleBook.js';
import type { SourceCatalog } from './SourceCatalog.js';

export const DEFAULT_WARM_BLOCK_SIZE = 4 * 1024 * 1024;
const MAX_GLOBS = 32;

export interface CachePlaneOptions {
  minuteMs?: number;
  progressEveryMs?: number;
  /** The clock periodic cache rules are timed by (tests move it). */
  now?: () => number;
  /** Mutual TLS to the cache nodes' control port (warmups, evictions). */
  nodeTls?: NodeTls;
}

export class CachePlane {
  readonly instances: CacheInstances;
  readonly jobs: CacheJobs;
  readonly rules: RuleBook<CacheJobRecord>;
  readonly groups: PermissionGroups;
  private readonly control: NodeControlClient;

  private constructor(tree: InodeTree, private readonly catalog: SourceCatalog, nodes: NodeRegistry, o: CachePlaneOptions) {
    this.control = new NodeControlClient(30_000, o.nodeTls);
    this.groups = new PermissionGroups(tree, catalog, (name) => this.instances.has(name));
    this.instances = new CacheInstances(tree, catalog, nodes, this.control, this.groups);
    this.jobs = new CacheJobs(tree, catalog, this.instances, this.control, { ...(o.progressEveryMs ? { progressEveryMs: o.progressEveryMs } : {}) });
    this.rules = new RuleBook(tree, catalog, this.jobs, {
      book: 'cache', cacheSpec: checkCacheSpec, ...(o.minuteMs ? { minuteMs: o.minuteMs } : {}), ...(o.now ? { now: o.now } : {}),
    });
  }

  static async open(tree: InodeTree, catalog: SourceCatalog, nodes: NodeRegistry, o: CachePlaneOptions = {}): Promise<CachePlane> {
    const p = new CachePlane(tree, catalog, nodes, o);
    await p.instances.load();
    await p.groups.load();
    await p.jobs.load();
    await p.rules.load();
    return p;
  }

  /**
   * Before a source is removed: its cache jobs end, its cache rules go (returned as
   * keys for the removal's batch), and its blocks are freed on its nodes.
   */
  async forgetSource(name: string): Promise<Buffer[]> {
    const s = this.catalog.get(name);
    for (const r of this.rules.list(name)) if (this.jobs.active(name, r.name)) await this.rules.terminate(name, r.name).catch(() => undefined);
    const active = this.jobs.active(name);
    if (active) await this.jobs.wait(active.id);
    const keys = this.rules.ruleKeys(name);
    this.rules.forgetSource(name);
    await this.instances.forgetSource(s);
    return keys;
  }

  async close(): Promise<void> {
    this.rules.close();
    await this.jobs.close();
    this.control.close();
  }
}

/** Validates and completes a cache rule's settings. */
export function checkCacheSpec(input: Partial<CacheRuleSpec> | undefined): CacheRuleSpec {
  if (!input) throw new WharfError('EINVAL', 'a cache rule needs its settings (kind: warmup or evict)');
  const kind = input.kind as CacheRuleKind;
  if (!(CACHE_RULE_KINDS as readonly string[]).includes(kind)) throw new WharfError('EINVAL', `cache rule kind ${JSON.stringify(input.kind)} is not warmup or evict`);
  const include = globs(input.include, 'include');
  const exclude = globs(input.exclude, 'exclude');
  const bandwidth = input.bandwidthBytesPerSec ?? 0;
  if (!Number.isSafeInteger(bandwidth) || bandwidth < 0) throw new WharfError('EINVAL', `bandwidth must be a whole number of bytes per second ≥ 0, not ${bandwidth}`);
  const blockSize = input.blockSize || DEFAULT_WARM_BLOCK_SIZE;
  if (!Number.isSafeInteger(blockSize) || blockSize < 64 * 1024 || blockSize > 64 * 1024 * 1024 || (blockSize & (blockSize - 1)) !== 0) {
    throw new WharfError('EINVAL', `block size ${blockSize} must be a power of two from 64 KiB to 64 MiB (the mounts' --block-size)`);
  }
  if (kind === 'evict' && (input.metadataOnly || bandwidth > 0)) throw new WharfError('EINVAL', 'metadata-only and bandwidth are warmup settings, not eviction ones');
  return { kind, include, exclude, metadataOnly: input.metadataOnly ?? false, skipCached: input.skipCached ?? true, bandwidthBytesPerSec: bandwidth, blockSize };
}

function globs(list: unknown, what: string): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list) || !list.every((g) => typeof g === 'string' && g.length > 0 && g.length <= 1024)) throw new WharfError('EINVAL', `${what} globs must be non-empty strings of at most 1,024 characters`);
  if (list.length > MAX_GLOBS) throw new WharfError('EINVAL', `at most ${MAX_GLOBS} ${what} globs`);
  for (const g of list as string[]) {
    if (new Minimatch(g).makeRe() === false) throw new WharfError('EINVAL', `${what} glob ${JSON.stringify(g)} is malformed`);
  }
  return list as string[];
}
