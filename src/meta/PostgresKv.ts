// The namespace on PostgreSQL (`--meta postgres://…`): the same ordered keys as
// in LevelDB, in one table — wharf_kv (k bytea PRIMARY KEY, v bytea) — whose
// B-tree index gives the range scans the key layout is built for (a directory's
// entries are the keys 'D' <parent> …, so a listing is one index range; (parent,
// name) is unique because the key is). A batch is one transaction: the puts as
// one INSERT … ON CONFLICT over unnest()ed arrays, the deletes as one DELETE.
// Commits are durable when acknowledged (synchronous_commit on), so --fsync costs
// nothing more here.
//
// One master per database: a session-level advisory lock, held on a connection of
// its own for the master's life, is this engine's LevelDB LOCK file; a second
// master gets EBUSY. Every write transaction first checks that the lock is still
// held by that session, so a master that lost it without noticing (a half-open
// connection) cannot write beside one that took it: it takes the lock again, or is
// fenced (EROFS). (Several masters with a fenced leader lease: not built.)
//
// Migrations are versioned in wharf_schema; a database newer than this Wharf is
// refused.
import pg from 'pg';
import { WharfError, logger } from '../common/index.js';
import type { KvChainedBatch, KvIterator, KvOp, KvRange, KvStore } from './KvStore.js';

const log = logger('postgres');
const SCHEMA_VERSION = 1;
/** pg_advisory_lock key: "Whrf". */
const LOCK_KEY = 0x57687266;
const TRY_LOCK = 'SELECT pg_try_advisory_lock($1) AS ok';
/** The session holding the one-master lock (a single bigint key: classid 0, objid the key, objsubid 1). */
const LOCK_HOLDER = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = $1 AND objsubid = 1 AND granted";
const PAGE = 1_000;
const CHUNK = 5_000;

const MIGRATIONS: readonly string[] = [
  // 1: the key-value table. fillfactor leaves room for HOT updates of inode records.
  'CREATE TABLE wharf_kv (k bytea PRIMARY KEY, v bytea NOT NULL) WITH (fillfactor = 90)',
];

function pgError(e: unknown, what: string): WharfError {
  if (e instanceof WharfError) return e;
  const code = (e as { code?: string }).code ?? '';
  const msg = (e as Error).message;
  // Connection failures: the database is down or unreachable (the caller may retry).
  if (/^08|^57P0/.test(code) || /ECONNREFUSED|ECONNRESET|terminat|Connection terminated|timeout/i.test(msg)) return new WharfError('ENOTCONN', `${what}: the metadata database is unreachable: ${msg}`, e);
  if (code === '53100') return new WharfError('ENOSPC', `${what}: the metadata database is out of disk: ${msg}`, e);
  return new WharfError('EIO', `${what}: ${msg}${code ? ` (SQLSTATE ${code})` : ''}`, e);
}

function where(r: KvRange, params: Buffer[]): string {
  const c: string[] = [];
  const add = (op: string, v: Buffer) => { params.push(v); c.push(`k ${op} $${params.length}`); };
  if (r.gt) add('>', r.gt);
  if (r.gte) add('>=', r.gte);
  if (r.lt) add('<', r.lt);
  if (r.lte) add('<=', r.lte);
  return c.length ? `WHERE ${c.join(' AND ')}` : '';
}

/** The lock is no longer held by this master's lock session (writeBatch takes it again). */
class LockMoved extends Error {}

class PgIterator<T> implements KvIterator<T> {
  private range: KvRange;
  private left: number;
  private done = false;

  constructor(private readonly kv: PostgresKv, range: KvRange, private readonly pick: (k: Buffer, v: Buffer) => T, private readonly withValues = true) {
    this.range = { ...range };
    this.left = range.limit !== undefined && range.limit >= 0 ? range.limit : Infinity;
  }

  async nextv(n: number): Promise<T[]> {
    if (this.done || this.left <= 0) return [];
    const want = Math.min(n, this.left);
    const rows = await this.kv.scan(this.range, want, this.withValues);
    if (rows.length < want) this.done = true;
    this.left -= rows.length;
    const last = rows[rows.length - 1];
    if (last) {
      // Keyset paging: the next page starts past the last key seen.
      if (this.range.reverse) { delete this.range.lte; this.range.lt = last.k; } else { delete this.range.gte; this.range.gt = last.k; }
    }
    return rows.map((r) => this.pick(r.k, r.v));
  }

  async all(): Promise<T[]> {
    const out: T[] = [];
    for (;;) {
      const page = await this.nextv(PAGE);
      out.push(...page);
      if (page.length < PAGE) return out;
    }
  }

  async close(): Promise<void> {
    this.done = true;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const page = await this.nextv(PAGE);
      yield* page;
      if (page.length < PAGE) return;
    }
  }
}

class PgBatch implements KvChainedBatch {
  private readonly ops: KvOp[] = [];
  constructor(private readonly kv: PostgresKv) {}
  put(key: Buffer, value: Buffer): this {
    this.ops.push({ type: 'put', key, value });
    return this;
  }
  del(key: Buffer): this {
    this.ops.push({ type: 'del', key });
    return this;
  }
  write(): Promise<void> {
    return this.kv.batch(this.ops);
  }
  async close(): Promise<void> {
    this.ops.length = 0;
  }
}

export class PostgresKv implements KvStore {
  private closed = false;
  /** The lock's session died (the database restarted, the network cut): taken again before the next write. */
  private lockLost = false;
  /** Another master took the database meanwhile: this one never writes again. */
  private fenced: WharfError | undefined;
  /** The server process of the session holding the lock: every batch checks it still does. */
  private lockPid: number;
  /** One re-acquisition at a time: two racing writers must not fence each other. */
  private relocking: Promise<void> | undefined;

  private constructor(private readonly pool: pg.Pool, private lockClient: pg.PoolClient, lockPid: number, readonly location: string) {
    this.lockPid = lockPid;
    this.watchLock(lockClient);
  }

  private watchLock(c: pg.PoolClient): void {
    c.on('error', (e) => {
      if (this.closed || c !== this.lockClient) return;
      this.lockLost = true;
      log.warn({ err: e.message }, 'the metadata database\'s lock session ended; it is taken again before the next write');
    });
  }

  /** Before a write: the one-master lock is ours (taken again after a lost session), or the write is refused. */
  private async ensureLock(): Promise<void> {
    if (this.fenced) throw this.fenced;
    if (!this.lockLost) return;
    this.relocking ??= this.relock().finally(() => { this.relocking = undefined; });
    await this.relocking;
  }

  private async relock(): Promise<void> {
    const c = await this.pool.connect().catch((e: unknown) => { throw pgError(e, 'the one-master lock'); });
    c.on('error', () => undefined); // until it is the lock session (watchLock)
    let pid: number;
    try {
      pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      let got = Boolean((await c.query<{ ok: boolean }>(TRY_LOCK, [LOCK_KEY])).rows[0]?.ok);
      if (!got) {
        // Held by our own old session (a network cut the server has not noticed): end it and take the lock.
        const holder = (await c.query<{ pid: number }>(LOCK_HOLDER, [LOCK_KEY])).rows[0]?.pid;
        if (holder === this.lockPid) {
          await c.query('SELECT pg_terminate_backend($1)', [holder]);
          for (let i = 0; i < 50 && !got; i++) {
            got = Boolean((await c.query<{ ok: boolean }>(TRY_LOCK, [LOCK_KEY])).rows[0]?.ok);
            if (!got) await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
      if (!got) {
        this.fenced = new WharfError('EROFS', `another master took metadata database ${this.location} while this one could not reach it: this master writes nothing more; stop it`);
        log.error({ db: this.location }, this.fenced.message);
      }
    } catch (e) {
      c.release(true);
      throw pgError(e, 'the one-master lock');
    }
    if (this.fenced) {
      c.release(true);
      throw this.fenced;
    }
    const old = this.lockClient;
    this.lockClient = c;
    this.lockPid = pid;
    this.watchLock(c);
    this.lockLost = false;
    old.release(true);
    log.info({ db: this.location }, 'the one-master lock is taken again');
  }

  /** Connects, takes the one-master lock, migrates. EBUSY if another master holds the database. */
  static async open(url: string): Promise<PostgresKv> {
    const shown = url.replace(/\/\/[^@/]*@/, '//…@'); // never log a password
    // keepAlive: a half-open connection is found out instead of hanging writes.
    const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 10_000, keepAlive: true });
    // An idle client that loses its connection (the database restarted) must not crash the master.
    pool.on('error', (e) => log.warn({ err: e.message }, 'metadata database connection lost'));
    let lockClient: pg.PoolClient | undefined;
    try {
      lockClient = await pool.connect();
      lockClient.on('error', () => undefined); // replaced by watchLock once open
      const got = await lockClient.query<{ ok: boolean }>(TRY_LOCK, [LOCK_KEY]);
      const pid = (await lockClient.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      if (!got.rows[0]?.ok) throw new WharfError('EBUSY', `metadata database ${shown} is in use by another master (its advisory lock is held); stop that master first`);
      await lockClient.query('CREATE TABLE IF NOT EXISTS wharf_schema (version integer NOT NULL)');
      const v = await lockClient.query<{ version: number }>('SELECT version FROM wharf_schema');
      const at = v.rows[0]?.version ?? 0;
      if (at > SCHEMA_VERSION) throw new WharfError('EIO', `metadata database ${shown} has schema version ${at}; this Wharf knows up to ${SCHEMA_VERSION}`);
      for (let i = at; i < SCHEMA_VERSION; i++) {
        await lockClient.query('BEGIN');
        await lockClient.query(MIGRATIONS[i]!);
        await lockClient.query(at === 0 && i === 0 ? 'INSERT INTO wharf_schema (version) VALUES ($1)' : 'UPDATE wharf_schema SET version = $1', [i + 1]);
        await lockClient.query('COMMIT');
        log.info({ db: shown, version: i + 1 }, 'metadata database migrated');
      }
      return new PostgresKv(pool, lockClient, pid, shown);
    } catch (e) {
      lockClient?.release(true);
      await pool.end().catch(() => undefined);
      throw pgError(e, `cannot open metadata database ${shown}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lockClient.release(true); // ends the session: the lock goes with it
    await this.pool.end();
  }

  private async query<R extends pg.QueryResultRow>(what: string, text: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new WharfError('ENOTCONN', 'the metadata database is closed');
    try {
      return await this.pool.query<R>(text, params);
    } catch (e) {
      throw pgError(e, what);
    }
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const r = await this.query<{ v: Buffer }>('get', 'SELECT v FROM wharf_kv WHERE k = $1', [key]);
    return r.rows[0]?.v;
  }

  async getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    if (keys.length === 0) return [];
    const r = await this.query<{ k: Buffer; v: Buffer }>('getMany', 'SELECT k, v FROM wharf_kv WHERE k = ANY($1::bytea[])', [keys]);
    const by = new Map(r.rows.map((x) => [x.k.toString('latin1'), x.v]));
    return keys.map((k) => by.get(k.toString('latin1')));
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.writeBatch([{ type: 'put', key, value }]);
  }

  del(key: Buffer): Promise<void> {
    return this.writeBatch([{ type: 'del', key }]);
  }

  batch(): KvChainedBatch;
  batch(ops: KvOp[], options?: { sync?: boolean }): Promise<void>;
  batch(ops?: KvOp[]): KvChainedBatch | Promise<void> {
    if (!ops) return new PgBatch(this);
    return this.writeBatch(ops);
  }

  private async writeBatch(ops: readonly KvOp[]): Promise<void> {
    if (ops.length === 0) return;
    if (this.closed) throw new WharfError('ENOTCONN', 'the metadata database is closed');
    try {
      await this.writeOnce(ops);
    } catch (e) {
      if (!(e instanceof LockMoved)) throw e;
      // The lock's session is gone though no error said so: take it again (or be fenced), then once more.
      this.lockLost = true;
      await this.ensureLock();
      await this.writeOnce(ops);
    }
  }

  private async writeOnce(ops: readonly KvOp[]): Promise<void> {
    await this.ensureLock();
    // In order, the last operation on a key wins (as in a LevelDB batch).
    const last = new Map<string, KvOp>();
    for (const op of ops) last.set(op.key.toString('latin1'), op);
    const puts: KvOp[] = [];
    const dels: Buffer[] = [];
    for (const op of last.values()) (op.type === 'put' ? puts.push(op) : dels.push(op.key));
    const c = await this.pool.connect().catch((e: unknown) => { throw pgError(e, 'batch'); });
    // An error between queries (the server shutting down) comes as an event: the next query fails with it.
    const quiet = () => undefined;
    c.on('error', quiet);
    let broken = false;
    try {
      await c.query('BEGIN');
      // Only the lock's holder writes, checked inside the transaction: a master that lost the lock without
      // noticing (a half-open connection, a failover) cannot write beside the one that took it.
      const held = await c.query(`${LOCK_HOLDER} AND pid = $2`, [LOCK_KEY, this.lockPid]);
      if (held.rowCount === 0) throw new LockMoved();
      for (let i = 0; i < dels.length; i += CHUNK) await c.query('DELETE FROM wharf_kv WHERE k = ANY($1::bytea[])', [dels.slice(i, i + CHUNK)]);
      for (let i = 0; i < puts.length; i += CHUNK) {
        const part = puts.slice(i, i + CHUNK) as { key: Buffer; value: Buffer }[];
        await c.query('INSERT INTO wharf_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v', [part.map((p) => p.key), part.map((p) => p.value)]);
      }
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => { broken = true; });
      if (e instanceof LockMoved) throw e;
      throw pgError(e, 'batch');
    } finally {
      c.off('error', quiet);
      c.release(broken);
    }
  }

  /** One page of a range, in key order (or reversed). */
  async scan(r: KvRange, limit: number, withValues = true): Promise<{ k: Buffer; v: Buffer }[]> {
    const params: Buffer[] = [];
    // Keys alone (counting a family, fsck's key walks) do not fetch the values.
    const res = await this.query<{ k: Buffer; v: Buffer }>('scan', `SELECT k${withValues ? ', v' : ", ''::bytea AS v"} FROM wharf_kv ${where(r, params)} ORDER BY k ${r.reverse ? 'DESC' : 'ASC'} LIMIT ${Math.max(0, Math.floor(limit))}`, params);
    return res.rows;
  }

  iterator(range: KvRange = {}): KvIterator<[Buffer, Buffer]> {
    return new PgIterator(this, range, (k, v) => [k, v]);
  }

  keys(range: KvRange = {}): KvIterator<Buffer> {
    return new PgIterator(this, range, (k) => k, false);
  }

  values(range: KvRange = {}): KvIterator<Buffer> {
    return new PgIterator(this, range, (_k, v) => v);
  }
}
