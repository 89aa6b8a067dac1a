// Group commit for `--fsync`: a mutation's batch is written (not synced) in its turn,
// and the mutation is acknowledged once a later sync write has ended. LevelDB appends
// every batch to one log and a sync write fsyncs that log, so one sync write after
// many batches makes all of them durable.
//
// A sync blocks the writes behind it inside LevelDB, so it is not issued while more
// mutations are queued (they are written first and share it) unless the oldest waiter
// has waited GROUP_WAIT_MS: under load one fsync acknowledges many mutations, and a
// lone mutation waits one fsync. A failed sync poisons the log: what reached the disk
// is unknown, so every waiter and every later write fails with EIO.
import { performance } from 'node:perf_hooks';
import { WharfError, logger } from '../common/index.js';
import { metaKey } from './keys.js';

const log = logger('meta');
const EMPTY = Buffer.alloc(0);
/** Longest a mutation waits for more to share its fsync while others are queued. */
const GROUP_WAIT_MS = 2;

interface SyncDb {
  put(key: Buffer, value: Buffer, options: { sync: boolean }): Promise<void>;
}

export class GroupCommit {
  private waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private oldestWaitMs = 0;
  private current: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failed: Error | undefined;
  /** Syncs done, and mutations acknowledged by them (their ratio is the group size). */
  readonly counters = { syncs: 0, waiters: 0 };

  /** `queued`: mutations waiting or running behind the one asking. `beforeSync`: tests inject a failure there. */
  constructor(private readonly db: SyncDb, private readonly queued: () => number, private readonly beforeSync?: () => void) {}

  /** EIO once a sync failed; else undefined. */
  get poisoned(): WharfError | undefined {
    return this.failed ? this.lost() : undefined;
  }

  /** Resolves when every batch written before this call is on stable storage. */
  durable(): Promise<void> {
    if (this.failed) return Promise.reject(this.lost());
    this.counters.waiters++;
    const p = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    if (this.waiting.length === 1) this.oldestWaitMs = performance.now();
    this.kick();
    return p;
  }

  /** Syncs for whoever still waits (at close). */
  async flush(): Promise<void> {
    await this.current?.catch(() => undefined);
    if (this.waiting.length > 0) await (this.current = this.syncNow()).catch(() => undefined);
    clearTimeout(this.timer);
  }

  private kick(): void {
    if (this.current || this.waiting.length === 0) return;
    if (this.queued() > 0 && performance.now() - this.oldestWaitMs < GROUP_WAIT_MS) {
      this.timer ??= setTimeout(() => { this.timer = undefined; this.kick(); }, GROUP_WAIT_MS);
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.current = this.syncNow();
  }

  private async syncNow(): Promise<void> {
    const group = this.waiting;
    this.waiting = [];
    try {
      this.beforeSync?.();
      await this.db.put(metaKey('sync'), EMPTY, { sync: true });
      this.counters.syncs++;
      for (const w of group) w.resolve();
    } catch (e) {
      this.failed ??= e instanceof Error ? e : new Error(String(e));
      log.error({ err: e }, 'a metadata fsync failed: no further write is acknowledged; restart the master (fsck first)');
      const err = this.lost();
      for (const w of [...group, ...this.waiting]) w.reject(err);
      this.waiting = [];
    } finally {
      this.current = undefined;
      this.kick();
    }
  }

  private lost(): WharfError {
    return new WharfError('EIO', `a metadata fsync failed (${this.failed?.message ?? 'unknown'}); what reached the disk is unknown, so no write is acknowledged: restart the master`);
  }
}
