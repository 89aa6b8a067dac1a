// Sync jobs: their records, their execution, their termination.
//
// A job is a full sync of one directory of one source. Jobs of one source run one
// at a time, in the order they were started (a per-source FIFO); a job waiting its
// turn is `starting`. Job records are persisted at every state change and every
// `progressEveryMs` while running, so `wharf sync job show` and a restarted master
// both see them. A job that was running when the master died is marked failed.
import { WharfError, logger, splitPath } from '../common/index.js';
import { WriteQueue, familyRange, jobKey, metaKey, type InodeTree, type Txn } from '../meta/index.js';
import { SyncCounters, runFullSync } from '../sync/index.js';
import { ACTIVE_JOB_STATES, decodeRecord, encodeRecord, type JobRecord, type JobState, type JobTrigger } from './records.js';
import type { SourceCatalog } from './SourceCatalog.js';

const log = logger('jobs');
const MAX_JOB_HISTORY = 2000;

interface Running {
  record: JobRecord;
  ctrl: AbortController;
  counters: SyncCounters;
  done: Promise<JobRecord>;
}

export interface JobListFilter {
  source?: string;
  rule?: string;
  limit?: number;
}

export class SyncJobs {
  private readonly running = new Map<string, Running>();
  private readonly queues = new Map<string, WriteQueue>();
  private nextId = 1n;
  private closing = false;

  constructor(private readonly tree: InodeTree, private readonly catalog: SourceCatalog, private readonly progressEveryMs = 1_000) {}

  /** Reads the job counter; marks jobs that were active when the master stopped as failed. */
  async load(): Promise<void> {
    const raw = await this.tree.db.get(metaKey('nextJob'));
    if (raw) this.nextId = raw.readBigUInt64BE(0);
    for await (const [, v] of this.tree.db.iterator(familyRange('job'))) {
      const j = decodeRecord<JobRecord>(v);
      if (ACTIVE_JOB_STATES.includes(j.state)) {
        await this.persist({ ...j, state: 'failed', endedMs: Date.now(), reason: `the master stopped while the job was ${j.state}` });
        log.warn({ job: j.id, source: j.source }, 'job was interrupted by a master stop; marked failed');
      }
    }
  }

  /** Records a new job as `starting` and runs it when its source's earlier jobs are done. */
  async start(source: string, opts: { rule?: string; trigger: JobTrigger; directory: string }): Promise<JobRecord> {
    if (this.closing) throw new WharfError('ENOTCONN', 'the master is stopping');
    this.catalog.get(source);
    const parts = splitPath(opts.directory);
    const id = this.nextId;
    this.nextId += 1n;
    const counters = new SyncCounters();
    const record: JobRecord = {
      id: id.toString(), source, ...(opts.rule ? { rule: opts.rule } : {}), trigger: opts.trigger, directory: '/' + parts.join('/'),
      state: 'starting', gen: '0', startedMs: Date.now(), counters: counters.snapshot(),
    };
    await this.tree.write('job create', async (tx) => {
      const b = Buffer.allocUnsafe(8);
      b.writeBigUInt64BE(this.nextId);
      tx.putRecord(metaKey('nextJob'), b);
      tx.putRecord(jobKey(id), encodeRecord(record));
      if (id > BigInt(MAX_JOB_HISTORY)) tx.delRecord(jobKey(id - BigInt(MAX_JOB_HISTORY)));
    });
    const ctrl = new AbortController();
    const run: Running = { record, ctrl, counters, done: Promise.resolve(record) };
    this.running.set(record.id, run);
    run.done = this.execute(run, parts);
    return { ...record };
  }

  private queueFor(source: string): WriteQueue {
    let q = this.queues.get(source);
    if (!q) this.queues.set(source, (q = new WriteQueue()));
    return q;
  }

  private async execute(run: Running, parts: string[]): Promise<JobRecord> {
    const { record, ctrl, counters } = run;
    try {
      return await this.queueFor(record.source).run(async () => {
        if (ctrl.signal.aborted) return this.finish(run, 'terminated', this.closing ? 'the master stopped before the job started' : 'terminated before it started');
        let source = this.catalog.get(record.source);
        // A periodic tick can race a `sync begin`: periodic rules pause while synchronizing.
        if (record.trigger === 'periodic' && source.mode === 'synchronizing') return this.finish(run, 'terminated', 'periodic rules pause while the source is synchronizing');
        // Each normal-mode job opens a new generation; during begin/end all jobs share the open one.
        if (source.mode === 'normal') source = await this.catalog.update(record.source, (s) => { s.gen = (BigInt(s.gen) + 1n).toString(); });
        record.gen = source.gen;
        record.state = 'executing';
        await this.persist(record);
        log.info({ job: record.id, source: record.source, directory: record.directory, gen: record.gen }, 'sync job executing');
        const timer = setInterval(() => { void this.persistProgress(run).catch(() => undefined); }, this.progressEveryMs);
        try {
          await runFullSync(await this.catalog.mountPoint(record.source), {
            dir: parts, gen: BigInt(record.gen), sweep: source.mode === 'normal', signal: ctrl.signal, counters,
            onPage: () => { run.record.counters = counters.snapshot(); },
          });
        } finally {
          clearInterval(timer);
        }
        const now = Date.now();
        await this.catalog.update(record.source, (s) => { s.lastSuccessMs = now; s.lastRefreshMs = now; });
        if (ctrl.signal.aborted) return this.finish(run, 'terminate_failed', 'the job finished before it could be stopped; its changes are in place');
        return this.finish(run, 'succeeded');
      });
    } catch (e) {
      if (ctrl.signal.aborted || (e instanceof WharfError && e.errno === 'ECANCELED')) return this.finish(run, 'terminated', this.closing ? 'the master stopped' : 'terminated on request');
      const reason = e instanceof WharfError ? `${e.errno}: ${e.message}` : String(e);
      run.counters.error(reason);
      if (!(e instanceof WharfError)) log.error({ err: e, job: record.id }, 'sync job failed unexpectedly');
      return this.finish(run, 'failed', reason);
    }
  }

  private async finish(run: Running, state: JobState, reason?: string): Promise<JobRecord> {
    const r = run.record;
    r.state = state;
    r.endedMs = Date.now();
    r.counters = run.counters.snapshot();
    r.rate = rateOf(r);
    if (reason) r.reason = reason;
    else delete r.reason;
    await this.persist(r);
    this.running.delete(r.id);
    log.info({ job: r.id, source: r.source, state, reason, ...r.counters, warnings: undefined, errorMessages: undefined }, 'sync job ended');
    return { ...r };
  }

  private async persistProgress(run: Running): Promise<void> {
    run.record.counters = run.counters.snapshot();
    run.record.rate = rateOf(run.record);
    await this.persist(run.record);
    const src = this.catalog.get(run.record.source);
    if (src.mode === 'synchronizing' && run.counters.listed > 0) await this.catalog.update(src.name, (s) => { s.lastRefreshMs = Date.now(); });
  }

  private persist(r: JobRecord): Promise<void> {
    return this.tree.write('job update', async (tx) => tx.putRecord(jobKey(BigInt(r.id)), encodeRecord(r)));
  }

  /** Asks a job to stop. Refused unless it is starting or executing. */
  async terminate(id: string): Promise<JobRecord> {
    const run = this.running.get(id);
    if (!run) throw new WharfError('EINVAL', `job ${id} is not running (it is ${(await this.get(id)).state})`);
    if (run.record.state === 'terminating') throw new WharfError('EBUSY', `job ${id} is already terminating`);
    // Ended, its final record being written: overwriting the state would record it as terminating forever.
    if (!ACTIVE_JOB_STATES.includes(run.record.state)) throw new WharfError('EINVAL', `job ${id} is not running (it is ${run.record.state})`);
    run.record.state = 'terminating';
    await this.persist(run.record);
    run.ctrl.abort();
    return { ...run.record };
  }

  async get(id: string): Promise<JobRecord> {
    const live = this.running.get(id);
    if (live) return { ...live.record, counters: live.counters.snapshot(), rate: rateOf(live.record) };
    if (!/^[0-9]{1,20}$/.test(id)) throw new WharfError('EINVAL', `job id ${JSON.stringify(id)} is not a number`);
    const raw = await this.tree.db.get(jobKey(BigInt(id)));
    if (!raw) throw new WharfError('ENOENT', `no job ${id}`);
    return decodeRecord<JobRecord>(raw);
  }

  /**
   * Makes the jobs of rule `from` name `to`, in the caller's transaction (a rule
   * rename, under the rule lock: no job of the rule is running, and one that is
   * writing its final record writes the new name).
   */
  async renameRule(tx: Txn, source: string, from: string, to: string): Promise<void> {
    for (const r of this.running.values()) if (r.record.source === source && r.record.rule === from) r.record.rule = to;
    for await (const [k, v] of this.tree.db.iterator(familyRange('job'))) {
      const j = decodeRecord<JobRecord>(v);
      if (j.source === source && j.rule === from) tx.putRecord(k, encodeRecord({ ...j, rule: to }));
    }
  }

  /** Newest first. */
  async list(f: JobListFilter = {}): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    const limit = f.limit ?? 50;
    for await (const [, v] of this.tree.db.iterator({ ...familyRange('job'), reverse: true })) {
      const j = decodeRecord<JobRecord>(v);
      if (f.source !== undefined && j.source !== f.source) continue;
      if (f.rule !== undefined && j.rule !== f.rule) continue;
      const live = this.running.get(j.id);
      out.push(live ? { ...live.record, counters: live.counters.snapshot() } : j);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The running job of a source (or of one of its rules), if any. */
  active(source: string, rule?: string): JobRecord | undefined {
    for (const r of this.running.values()) {
      // A job whose final record is being written has ended (showJob says so): it blocks nothing.
      if (!ACTIVE_JOB_STATES.includes(r.record.state)) continue;
      if (r.record.source === source && (rule === undefined || r.record.rule === rule)) return { ...r.record, counters: r.counters.snapshot() };
    }
    return undefined;
  }

  /** Resolves when the job has ended. */
  async wait(id: string): Promise<JobRecord> {
    const run = this.running.get(id);
    return run ? run.done : this.get(id);
  }

  /** Stops every job (they end `terminated`) and waits for them. */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.running.values()];
    for (const r of all) r.ctrl.abort();
    await Promise.all(all.map((r) => r.done.catch(() => undefined)));
  }
}

function rateOf(r: JobRecord): number {
  const secs = ((r.endedMs ?? Date.now()) - r.startedMs) / 1000;
  return secs > 0 ? Math.round(r.counters.listed / secs) : 0;
}
