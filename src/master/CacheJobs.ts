// Cache jobs: the runs of warmup and eviction rules, their records and progress.
//
// WARMUP  1. listing: the rule's directory is synced (names only, nothing swept), so
//            new objects are warmed too; metadata-only rules stop here.
//         2. the namespace below it is walked, filtered by the rule's globs, and each
//            file's blocks are split by owner (the placement mounts use: the block's
//            first readable candidate among its instance's nodes — WarmupPlan).
//         3. caching: each owner gets its entries in batches and pulls the blocks from
//            the store itself (no byte passes through the master), at its share of
//            the job's bandwidth limit; results stream back and move the progress.
// EVICT   every node of the source's instance drops the directory's blocks (a key
//         prefix; with globs, the exact keys), whoever placed them there.
//
// A job fails when more than 10% or more than 100 of its files fail (Alluxio's
// thresholds; a warmup stops at once past 100), else succeeds, with warnings when
// some failed. Terminate aborts the nodes' requests: a node stops starting entries at
// once. Two jobs on overlapping directories of one source never run together (EBUSY):
// a warmup and an eviction of the same blocks would undo each other.
//
// Discipline: job state changes are synchronous steps between awaits; a job's record
// is written by its progress timer and its end, in that order on the tree's write
// queue (the timer is stopped before the end is written).
import { Minimatch } from 'minimatch';
import { WharfError, logger, splitPath, type Ino } from '../common/index.js';
import { blockFileId } from '../cache/index.js';
import { cacheJobKey, familyRange, metaKey, type InodeTree, type Txn } from '../meta/index.js';
import { Placement, type NodeControlClient, type WarmEntry } from '../node/index.js';
import { SyncCounters, runFullSync } from '../sync/index.js';
import { pathToKey, parseStoreUri } from '../ufs/index.js';
import { keyPrefixOf, type CacheInstances } from './CacheInstances.js';
import type { NodeView } from './NodeRegistry.js';
import {
  ACTIVE_JOB_STATES, FAILED_FILES_MAX, FAILED_FILES_SHARE, MAX_LISTED_FAILURES, decodeRecord, encodeRecord,
  type CacheJobRecord, type CacheProgress, type CacheRuleSpec, type JobState, type JobTrigger, type RuleRecord,
} from './records.js';
import type { RuleJobs } from './RuleBook.js';
import type { SourceCatalog } from './SourceCatalog.js';

const log = logger('cache-jobs');
const MAX_JOB_HISTORY = 2000;
/** Entries per warm request to one node. */
const BATCH = 64;

interface Running {
  record: CacheJobRecord;
  ctrl: AbortController;
  counters: SyncCounters;
  done: Promise<CacheJobRecord>;
}

interface WarmFile {
  path: string;
  key: string;
  fingerprint: string;
  size: number;
}

export interface CacheJobsOptions {
  progressEveryMs?: number;
}

export class CacheJobs implements RuleJobs<CacheJobRecord> {
  private readonly running = new Map<string, Running>();
  private nextId = 1n;
  private closing = false;
  private readonly progressEveryMs: number;

  constructor(private readonly tree: InodeTree, private readonly catalog: SourceCatalog, private readonly instances: CacheInstances, private readonly control: NodeControlClient, o: CacheJobsOptions = {}) {
    this.progressEveryMs = o.progressEveryMs ?? 1_000;
  }

  async load(): Promise<void> {
    const raw = await this.tree.db.get(metaKey('nextCacheJob'));
    if (raw) this.nextId = raw.readBigUInt64BE(0);
    for await (const [, v] of this.tree.db.iterator(familyRange('cacheJob'))) {
      const j = decodeRecord<CacheJobRecord>(v);
      if (ACTIVE_JOB_STATES.includes(j.state)) {
        await this.persist({ ...j, state: 'failed', endedMs: Date.now(), reason: `the master stopped while the job was ${j.state}` });
        log.warn({ job: j.id, source: j.source }, 'cache job was interrupted by a master stop; marked failed');
      }
    }
  }

  async start(source: string, opts: { rule: string; trigger: JobTrigger; directory: string; spec: RuleRecord }): Promise<CacheJobRecord> {
    if (this.closing) throw new WharfError('ENOTCONN', 'the master is stopping');
    const spec = opts.spec.cache;
    if (!spec) throw new WharfError('EINVAL', `rule ${opts.rule} is not a cache rule`);
    this.catalog.get(source);
    const directory = '/' + splitPath(opts.directory).join('/');
    for (const r of this.running.values()) {
      const j = r.record;
      if (j.source === source && ACTIVE_JOB_STATES.includes(j.state) && overlaps(j.directory, directory)) {
        throw new WharfError('EBUSY', `rule ${j.rule}'s ${j.kind} job ${j.id} is running on ${j.directory}, which overlaps ${directory}; wait or terminate it`);
      }
    }
    const id = this.nextId;
    this.nextId += 1n;
    const counters = new SyncCounters();
    const record: CacheJobRecord = {
      id: id.toString(), source, rule: opts.rule, kind: spec.kind, trigger: opts.trigger, directory, state: 'starting', startedMs: Date.now(),
      progress: emptyProgress(spec.kind === 'warmup' ? 'listing' : 'evicting'), counters: counters.snapshot(),
    };
    await this.tree.write('cache job create', async (tx) => {
      const b = Buffer.allocUnsafe(8);
      b.writeBigUInt64BE(this.nextId);
      tx.putRecord(metaKey('nextCacheJob'), b);
      tx.putRecord(cacheJobKey(id), encodeRecord(record));
      if (id > BigInt(MAX_JOB_HISTORY)) tx.delRecord(cacheJobKey(id - BigInt(MAX_JOB_HISTORY)));
    });
    const run: Running = { record, ctrl: new AbortController(), counters, done: Promise.resolve(record) };
    this.running.set(record.id, run);
    run.done = this.execute(run, spec);
    return snapshot(run);
  }

  private async execute(run: Running, spec: CacheRuleSpec): Promise<CacheJobRecord> {
    const { record, ctrl } = run;
    const timer = setInterval(() => { void this.persist(snapshot(run)).catch(() => undefined); }, this.progressEveryMs);
    try {
      record.state = 'executing';
      await this.persist(snapshot(run));
      log.info({ job: record.id, source: record.source, rule: record.rule, kind: record.kind, directory: record.directory }, 'cache job executing');
      if (spec.kind === 'warmup') await this.warmup(run, spec);
      else await this.evict(run, spec);
      clearInterval(timer);
      if (ctrl.signal.aborted) return await this.finish(run, 'terminated', this.closing ? 'the master stopped' : 'terminated on request');
      const p = record.progress;
      const total = p.filesTotal ?? p.filesDone + p.filesFailed;
      if (p.filesFailed > FAILED_FILES_MAX || (total > 0 && p.filesFailed / total > FAILED_FILES_SHARE)) {
        return await this.finish(run, 'failed', `${p.filesFailed} of ${total} files failed (the limit is ${FAILED_FILES_SHARE * 100}% or ${FAILED_FILES_MAX}); the first: ${p.failures[0]?.path}: ${p.failures[0]?.reason}`);
      }
      if (p.filesFailed > 0) record.warnings = `${p.filesFailed} of ${total} files failed; see the failures`;
      return await this.finish(run, 'succeeded');
    } catch (e) {
      clearInterval(timer);
      if (ctrl.signal.aborted) return this.finish(run, 'terminated', this.closing ? 'the master stopped' : 'terminated on request');
      const reason = e instanceof WharfError ? `${e.errno}: ${e.message}` : String(e);
      if (!(e instanceof WharfError)) log.error({ err: e, job: record.id }, 'cache job failed unexpectedly');
      return this.finish(run, 'failed', reason);
    }
  }

  // ---- warmup ----------------------------------------------------------------------

  private async warmup(run: Running, spec: CacheRuleSpec): Promise<void> {
    const { record, ctrl, counters } = run;
    const src = this.catalog.get(record.source);
    const dirParts = splitPath(record.directory);
    await runFullSync(await this.catalog.mountPoint(record.source), { dir: dirParts, gen: BigInt(src.gen), sweep: false, signal: ctrl.signal, counters });
    if (spec.metadataOnly || ctrl.signal.aborted) {
      Object.assign(record.progress, { phase: 'done', filesTotal: 0, bytesTotal: 0 });
      return;
    }
    const files = await this.filesUnder(record.source, record.directory, spec, ctrl.signal);
    const p = record.progress;
    p.filesTotal = files.length;
    p.bytesTotal = files.reduce((a, f) => a + f.size, 0);
    p.phase = 'caching';
    const nodes = this.instances.nodesFor(src).filter((n) => n.inPlacement);
    const plan = planWarmup(record.source, files, nodes, spec.blockSize);
    for (const f of plan.unplaced) this.fail(p, f.path, 'no readable cache node owns its blocks');
    p.nodes = plan.byNode.size;
    if (files.length > 0 && plan.byNode.size === 0) throw new WharfError('ENOTCONN', `no readable cache node serves source ${record.source}${src.instance ? ` (instance ${src.instance})` : ''}`);
    // Files are done when all their entries are; failed at their first failed entry.
    const left = new Map<number, number>();
    const failed = new Set<number>();
    for (const entries of plan.byNode.values()) for (const e of entries) left.set(e.file, (left.get(e.file) ?? 0) + 1);
    const rate = spec.bandwidthBytesPerSec > 0 ? Math.max(1, Math.floor(spec.bandwidthBytesPerSec / plan.byNode.size)) : 0;
    const stopAt = new AbortController();
    const onAbort = () => stopAt.abort();
    ctrl.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all([...plan.byNode].map(async ([nodeId, entries]) => {
        const node = nodes.find((n) => n.id === nodeId)!;
        for (let b = 0; b < entries.length && !stopAt.signal.aborted; b += BATCH) {
          const batch = entries.slice(b, b + BATCH);
          const seen = new Set<number>();
          const settle = (i: number, error?: string) => {
            const e = batch[i];
            if (!e || seen.has(i)) return;
            seen.add(i);
            const f = files[e.file]!;
            if (error !== undefined) {
              if (!failed.has(e.file)) {
                failed.add(e.file);
                this.fail(p, f.path, error);
                if (p.filesFailed > FAILED_FILES_MAX) stopAt.abort();
              }
              return;
            }
            const n = left.get(e.file)! - 1;
            left.set(e.file, n);
            if (n === 0 && !failed.has(e.file)) {
              p.filesDone++;
              p.bytesDone += f.size;
            }
          };
          try {
            await this.control.warm(node.address, {
              source: record.source, blockSize: spec.blockSize, rateBytesPerSec: rate, refresh: !spec.skipCached,
              entries: batch.map((e) => e.entry),
            }, stopAt.signal, (x) => {
              if ('errno' in x) return settle(x.i, `${x.errno}: ${x.message}`);
              p.blocksFetched += x.fetched;
              p.blocksPresent += x.present;
              settle(x.i);
            });
          } catch (e) {
            if (stopAt.signal.aborted) return;
            const reason = `cache node ${node.address}: ${e instanceof Error ? e.message : String(e)}`;
            for (let i = 0; i < batch.length; i++) settle(i, reason);
          }
          // Entries the node never reported (it went away mid-batch).
          for (let i = 0; i < batch.length; i++) if (!seen.has(i) && !stopAt.signal.aborted) settle(i, `cache node ${node.address} did not report it`);
        }
      }));
    } finally {
      ctrl.signal.removeEventListener('abort', onAbort);
    }
    p.phase = 'done';
  }

  /** The store files under a source directory that the rule's globs select. */
  private async filesUnder(source: string, directory: string, spec: CacheRuleSpec, signal: AbortSignal): Promise<WarmFile[]> {
    const s = this.catalog.get(source);
    const prefix = parseStoreUri(s.uri).prefix;
    const dirParts = splitPath(directory);
    const dirIno = await this.tree.lookupPath(BigInt(s.rootIno), dirParts);
    if (dirIno === undefined) throw new WharfError('ENOENT', `${source}:${directory} does not exist`);
    const dir = await this.tree.getattr(dirIno);
    if (dir.type !== 'directory') throw new WharfError('ENOTDIR', `${source}:${directory} is not a directory`);
    const select = globFilter(spec);
    const out: WarmFile[] = [];
    const walk = async (ino: Ino, rel: string[]): Promise<void> => {
      let after: Buffer | undefined;
      do {
        if (signal.aborted) return;
        const page = await this.tree.readdirNames(ino, after, 1000);
        const states = await this.tree.getStoreStates(page.children.map((c) => c.ino));
        for (const [i, c] of page.children.entries()) {
          const path = [...rel, c.name];
          if (c.type === 'directory') await walk(c.ino, path);
          else if (c.type === 'file') {
            const state = states[i];
            if (!state?.fingerprint || !select(path.join('/'))) continue; // written through Wharf and not in the store yet: nothing to fetch
            const attr = await this.tree.getattr(c.ino);
            if (attr.size === 0n) continue;
            out.push({ path: '/' + [...dirParts, ...path].join('/'), key: pathToKey(prefix, [...dirParts, ...path], false), fingerprint: state.fingerprint, size: Number(attr.size) });
          }
        }
        after = page.next;
      } while (after);
    };
    await walk(dir.ino, []);
    return out;
  }

  // ---- eviction --------------------------------------------------------------------

  private async evict(run: Running, spec: CacheRuleSpec): Promise<void> {
    const { record, ctrl } = run;
    const src = this.catalog.get(record.source);
    const p = record.progress;
    const filtered = spec.include.length > 0 || spec.exclude.length > 0;
    const keys = filtered ? (await this.filesUnder(record.source, record.directory, spec, ctrl.signal)).map((f) => f.key) : undefined;
    if (keys) p.filesTotal = keys.length;
    const nodes = this.instances.nodesFor(src);
    p.nodes = nodes.length;
    const req = keys ? { source: record.source, keys } : { source: record.source, prefix: keyPrefixOf(src, record.directory) };
    let unreachable = 0;
    await Promise.all(nodes.map(async (n) => {
      if (!n.readable) {
        // A LOST node's blocks remap anyway; a SUSPECT one keeps them: say so.
        this.fail(p, `node ${n.id}`, `${n.state}: not asked to evict`);
        unreachable++;
        return;
      }
      try {
        const r = await this.control.evict(n.address, req, ctrl.signal);
        p.blocksEvicted += r.blocks;
        p.bytesEvicted += r.bytes;
      } catch (e) {
        if (ctrl.signal.aborted) return;
        unreachable++;
        this.fail(p, `node ${n.id}`, e instanceof Error ? e.message : String(e));
      }
    }));
    p.phase = 'done';
    // Eviction counts nodes, not files: a node left out fails the job.
    p.filesFailed = 0;
    if (unreachable > 0) throw new WharfError('EIO', `${unreachable} of ${nodes.length} nodes could not evict; their blocks of ${record.directory} remain (see failures)`);
    p.filesDone = keys ? keys.length : 0;
  }

  private fail(p: CacheProgress, path: string, reason: string): void {
    p.filesFailed++;
    if (p.failures.length < MAX_LISTED_FAILURES) p.failures.push({ path, reason });
  }

  // ---- records ---------------------------------------------------------------------

  private async finish(run: Running, state: JobState, reason?: string): Promise<CacheJobRecord> {
    const r = run.record;
    r.state = state;
    r.endedMs = Date.now();
    if (reason) r.reason = reason;
    const final = snapshot(run);
    await this.persist(final);
    this.running.delete(r.id);
    log.info({ job: r.id, source: r.source, rule: r.rule, state, reason, filesDone: final.progress.filesDone, filesFailed: final.progress.filesFailed, bytesDone: final.progress.bytesDone }, 'cache job ended');
    return final;
  }

  private persist(r: CacheJobRecord): Promise<void> {
    return this.tree.write('cache job update', async (tx) => tx.putRecord(cacheJobKey(BigInt(r.id)), encodeRecord(r)));
  }

  async terminate(id: string): Promise<CacheJobRecord> {
    const run = this.running.get(id);
    if (!run) throw new WharfError('EINVAL', `cache job ${id} is not running (it is ${(await this.get(id)).state})`);
    if (run.record.state === 'terminating') throw new WharfError('EBUSY', `cache job ${id} is already terminating`);
    if (!ACTIVE_JOB_STATES.includes(run.record.state)) throw new WharfError('EINVAL', `cache job ${id} is not running (it is ${run.record.state})`);
    run.record.state = 'terminating';
    await this.persist(snapshot(run));
    run.ctrl.abort();
    return snapshot(run);
  }

  async get(id: string): Promise<CacheJobRecord> {
    const live = this.running.get(id);
    if (live) return snapshot(live);
    if (!/^[0-9]{1,20}$/.test(id)) throw new WharfError('EINVAL', `job id ${JSON.stringify(id)} is not a number`);
    const raw = await this.tree.db.get(cacheJobKey(BigInt(id)));
    if (!raw) throw new WharfError('ENOENT', `no cache job ${id}`);
    return decodeRecord<CacheJobRecord>(raw);
  }

  async list(f: { source?: string; rule?: string; limit?: number } = {}): Promise<CacheJobRecord[]> {
    const out: CacheJobRecord[] = [];
    const limit = f.limit ?? 50;
    for await (const [, v] of this.tree.db.iterator({ ...familyRange('cacheJob'), reverse: true })) {
      const j = decodeRecord<CacheJobRecord>(v);
      if (f.source !== undefined && j.source !== f.source) continue;
      if (f.rule !== undefined && j.rule !== f.rule) continue;
      const live = this.running.get(j.id);
      out.push(live ? snapshot(live) : j);
      if (out.length >= limit) break;
    }
    return out;
  }

  active(source: string, rule?: string): CacheJobRecord | undefined {
    for (const r of this.running.values()) {
      if (!ACTIVE_JOB_STATES.includes(r.record.state)) continue;
      if (r.record.source === source && (rule === undefined || r.record.rule === rule)) return snapshot(r);
    }
    return undefined;
  }

  async wait(id: string): Promise<CacheJobRecord> {
    const run = this.running.get(id);
    return run ? run.done : this.get(id);
  }

  async renameRule(tx: Txn, source: string, from: string, to: string): Promise<void> {
    for (const r of this.running.values()) if (r.record.source === source && r.record.rule === from) r.record.rule = to;
    for await (const [k, v] of this.tree.db.iterator(familyRange('cacheJob'))) {
      const j = decodeRecord<CacheJobRecord>(v);
      if (j.source === source && j.rule === from) tx.putRecord(k, encodeRecord({ ...j, rule: to }));
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.running.values()];
    for (const r of all) r.ctrl.abort();
    await Promise.all(all.map((r) => r.done.catch(() => undefined)));
  }
}

/** Blocks of files split by the node a mount would read them from (WarmupPlan). */
export interface WarmupPlan {
  byNode: Map<string, { file: number; entry: WarmEntry }[]>;
  unplaced: { path: string }[];
}

/**
 * Splits files' blocks by owner: the first readable of a block's two candidates over
 * the nodes in placement, as ClusterLocator reads them; consecutive blocks with one
 * owner become one entry (one store request on the node). Pure.
 */
export function planWarmup(source: string, files: readonly WarmFile[], nodes: readonly NodeView[], blockSize: number): WarmupPlan {
  const placement = new Placement(nodes.map((n) => ({ id: n.id, weight: n.weight })));
  const readable = new Set(nodes.filter((n) => n.readable).map((n) => n.id));
  const byNode = new Map<string, { file: number; entry: WarmEntry }[]>();
  const unplaced: { path: string }[] = [];
  for (const [fi, f] of files.entries()) {
    const id = blockFileId(source, f.key, f.fingerprint, blockSize);
    const blocks = Math.ceil(f.size / blockSize);
    let run: { node: string; first: number; last: number } | undefined;
    const flush = () => {
      if (!run) return;
      let list = byNode.get(run.node);
      if (!list) byNode.set(run.node, (list = []));
      list.push({ file: fi, entry: { key: f.key, fingerprint: f.fingerprint, size: f.size, first: run.first, last: run.last } });
      run = undefined;
    };
    let lost = false;
    for (let b = 0; b < blocks; b++) {
      const node = placement.candidates(`${id}:${b}`, 2).find((c) => readable.has(c.id))?.id;
      if (!node) {
        lost = true;
        continue;
      }
      if (run && run.node === node && run.last === b - 1) run.last = b;
      else {
        flush();
        run = { node, first: b, last: b };
      }
    }
    flush();
    if (lost) unplaced.push({ path: f.path });
  }
  return { byNode, unplaced };
}

function snapshot(run: Running): CacheJobRecord {
  const r = run.record;
  const secs = ((r.endedMs ?? Date.now()) - r.startedMs) / 1000;
  return {
    ...r, counters: run.counters.snapshot(),
    progress: { ...r.progress, failures: [...r.progress.failures], bytesPerSec: secs > 0 ? Math.round(r.progress.bytesDone / secs) : 0 },
  };
}

function emptyProgress(phase: CacheProgress['phase']): CacheProgress {
  return { phase, filesDone: 0, bytesDone: 0, filesFailed: 0, blocksFetched: 0, blocksPresent: 0, blocksEvicted: 0, bytesEvicted: 0, nodes: 0, failures: [], bytesPerSec: 0 };
}

/** Whether one directory contains the other (or they are the same). */
function overlaps(a: string, b: string): boolean {
  const x = a === '/' ? '/' : a + '/';
  const y = b === '/' ? '/' : b + '/';
  return x.startsWith(y) || y.startsWith(x);
}

/** Include (any, or all when none) and exclude (none) globs over paths relative to the rule's directory. */
function globFilter(spec: CacheRuleSpec): (rel: string) => boolean {
  const inc = spec.include.map((g) => new Minimatch(g, { dot: true, matchBase: !g.includes('/') }));
  const exc = spec.exclude.map((g) => new Minimatch(g, { dot: true, matchBase: !g.includes('/') }));
  return (rel) => (inc.length === 0 || inc.some((m) => m.match(rel))) && !exc.some((m) => m.match(rel));
}
