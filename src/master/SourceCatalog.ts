// The mount table: data sources, their records in LevelDB, their open stores, and
// which source an inode belongs to.
//
// Discipline: every change to a source record goes through InodeTree.write, so it
// is serialised with namespace mutations and lands in the same batch as the
// namespace change it goes with (an import's mount directory, a removal's subtree).
import { LRUCache } from 'lru-cache';
import { ROOT_INO, WharfError, checkName, logger, nowNs, splitPath, type Ino } from '../common/index.js';
import { familyRange, sourceKey, type InodeTree, type Txn } from '../meta/index.js';
import { SYNC_DEFAULTS, type MountPoint } from '../sync/index.js';
import { parseStoreUri, type UnderStore } from '../ufs/index.js';
import { decodeRecord, encodeRecord, type SourceRecord } from './records.js';

const log = logger('sources');

/** Opens the store a source names. Injected so the master's caller decides credentials and client options. */
export type StoreOpener = (source: SourceRecord) => Promise<UnderStore>;

export interface Location {
  source: SourceRecord;
  /** The directory's path below the mount root. */
  parts: string[];
  /** The directory and its ancestors up to the mount root, nearest first. */
  chain: Ino[];
}

export interface ImportRequest {
  name: string;
  uri: string;
  at: string;
  readOnly?: boolean;
  endpoint?: string;
  region?: string;
  syncIntervalMs?: number;
  objectMetadata?: boolean;
}

export class SourceCatalog {
  private readonly sources = new Map<string, SourceRecord>();
  private readonly stores = new Map<string, Promise<UnderStore>>();
  /** Mount root inode → source name. */
  private readonly roots = new Map<Ino, string>();
  /** Directory inode → where it is (null: outside every mount). Short-lived, and cleared when directories move. */
  private readonly located = new LRUCache<Ino, { where: Location | null }>({ max: 100_000, ttl: 5_000 });

  constructor(private readonly tree: InodeTree, private readonly openStore: StoreOpener) {}

  async load(): Promise<void> {
    for await (const [, v] of this.tree.db.iterator(familyRange('source'))) {
      const s = decodeRecord<SourceRecord>(v);
      this.sources.set(s.name, s);
      this.roots.set(BigInt(s.rootIno), s.name);
    }
  }

  list(): SourceRecord[] {
    return [...this.sources.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  get(name: string): SourceRecord {
    const s = this.sources.get(name);
    if (!s) throw new WharfError('ENOENT', `no data source named ${JSON.stringify(name)}`);
    return s;
  }

  /** The source's store, opened on first use and kept (one connection pool per source). */
  store(name: string): Promise<UnderStore> {
    let st = this.stores.get(name);
    if (!st) {
      st = this.openStore(this.get(name));
      this.stores.set(name, st);
      st.catch(() => this.stores.delete(name)); // a failed open is retried next time
    }
    return st;
  }

  async mountPoint(name: string): Promise<MountPoint> {
    const s = this.get(name);
    const loc = parseStoreUri(s.uri);
    return { tree: this.tree, store: await this.store(name), prefix: loc.prefix, rootIno: BigInt(s.rootIno), defaults: SYNC_DEFAULTS, objectMetadata: s.objectMetadata ?? false };
  }

  /** Records a new source and creates (or adopts an empty) directory at `at`. */
  async add(req: ImportRequest): Promise<SourceRecord> {
    checkName(req.name);
    const loc = parseStoreUri(req.uri); // EINVAL on a malformed URI
    const parts = splitPath(req.at);
    if (parts.includes('..')) throw new WharfError('EINVAL', `mount path ${req.at} contains '..'`);
    if (req.endpoint !== undefined) checkEndpoint(req.endpoint);
    const interval = req.syncIntervalMs ?? -1;
    if (!Number.isInteger(interval) || interval < -1) throw new WharfError('EINVAL', `sync interval ${interval} ms is not -1, 0 or a positive number of ms`);
    // Reach the store before recording anything: a wrong bucket, endpoint or credential fails the import now.
    const provisional: SourceRecord = {
      name: req.name, uri: loc.uri, at: req.at, rootIno: '0', readOnly: req.readOnly ?? false, syncIntervalMs: interval, createdMs: 0, mode: 'normal', gen: '0',
      ...(req.endpoint ? { endpoint: req.endpoint } : {}), ...(req.region ? { region: req.region } : {}),
    };
    const store = await this.openStore(provisional);
    try {
      await store.list(loc.prefix, { maxKeys: 1 });
    } catch (e) {
      await store.close().catch(() => undefined);
      throw e instanceof WharfError ? new WharfError(e.errno, `cannot list ${loc.uri}: ${e.message}`, e) : e;
    }
    let rec: SourceRecord;
    try {
      rec = await this.tree.write('source import', async (tx) => {
        if (await tx.getRecordRaw(sourceKey(req.name))) throw new WharfError('EEXIST', `a data source named ${JSON.stringify(req.name)} exists`);
        const rootIno = await mkdirsForMount(tx, parts);
        for (const other of this.sources.values()) {
          if (BigInt(other.rootIno) === rootIno) throw new WharfError('EBUSY', `${req.at} is already the mount of source ${other.name}`);
        }
        const s: SourceRecord = {
          name: req.name, uri: loc.uri, at: '/' + parts.join('/'), rootIno: rootIno.toString(), readOnly: req.readOnly ?? false,
          ...(req.endpoint ? { endpoint: req.endpoint } : {}), ...(req.region ? { region: req.region } : {}),
          syncIntervalMs: interval, createdMs: Date.now(), mode: 'normal', gen: '0',
          ...(req.objectMetadata ? { objectMetadata: true } : {}),
        };
        tx.putRecord(sourceKey(s.name), encodeRecord(s));
        return s;
      });
    } catch (e) {
      await store.close().catch(() => undefined);
      throw e;
    }
    this.sources.set(rec.name, rec);
    this.stores.set(rec.name, Promise.resolve(store));
    this.roots.set(BigInt(rec.rootIno), rec.name);
    this.located.clear();
    log.info({ source: rec.name, uri: rec.uri, at: rec.at }, 'data source imported');
    return rec;
  }

  /** Applies `change` to a source record and persists it (serialised with all writes). */
  async update(name: string, change: (s: SourceRecord) => SourceRecord | void): Promise<SourceRecord> {
    const apply = async (t: Txn) => {
      const draft = { ...this.get(name) };
      const next = change(draft) ?? draft;
      t.putRecord(sourceKey(name), encodeRecord(next));
      return next;
    };
    const next = await this.tree.write('source update', apply);
    this.sources.set(name, next);
    return next;
  }

  /** Forgets a source; its namespace subtree must already be gone (SyncControl removes it). */
  async remove(name: string): Promise<void> {
    const s = this.get(name);
    await this.tree.write('source remove', async (tx) => tx.delRecord(sourceKey(name)));
    this.sources.delete(name);
    this.roots.delete(BigInt(s.rootIno));
    this.located.clear();
    await this.stores.get(name)?.then((st) => st.close()).catch(() => undefined);
    this.stores.delete(name);
  }

  /**
   * The source a directory belongs to and the directory's path below the mount root,
   * by walking parent pointers up to a mount root. Undefined outside every mount.
   * Answers are cached for a few seconds; directory renames call forgetLocations().
   */
  async locate(dirIno: Ino): Promise<Location | undefined> {
    if (this.roots.size === 0) return undefined;
    const known = this.located.get(dirIno);
    // The record is looked up again on every hit: a cached location never carries a stale
    // source record (its binding, permission group or read-only flag may have changed).
    if (known) return known.where && this.sources.has(known.where.source.name) ? { ...known.where, source: this.get(known.where.source.name) } : undefined;
    const chain: Ino[] = [];
    for (let at = dirIno; ; ) {
      chain.push(at);
      const name = this.roots.get(at);
      if (name !== undefined) {
        const names = await this.tree.namesOf(chain.slice(0, -1));
        const where: Location = { source: this.get(name), parts: names.reverse(), chain };
        this.located.set(dirIno, { where });
        return where;
      }
      if (at === ROOT_INO) break;
      at = (await this.tree.getattr(at)).parent;
    }
    this.located.set(dirIno, { where: null });
    return undefined;
  }

  /** A directory moved or went away: cached locations below it may be wrong. */
  forgetLocations(): void {
    this.located.clear();
  }

  async close(): Promise<void> {
    await Promise.all([...this.stores.values()].map((s) => s.then((st) => st.close()).catch(() => undefined)));
    this.stores.clear();
  }
}

/** Walks (creating where missing) the directories of a mount path; the last must be new or empty. */
async function mkdirsForMount(tx: Txn, parts: string[]): Promise<Ino> {
  let at = ROOT_INO;
  // At "/": the whole namespace is the source (what `wharf up` does); only an empty one.
  if (parts.length === 0 && !(await tx.isEmptyDir(ROOT_INO))) throw new WharfError('ENOTEMPTY', 'the namespace is not empty; a source can be mounted at / only in an empty one');
  for (const [i, p] of parts.entries()) {
    const d = await tx.getDentry(at, p);
    if (d) {
      if (d.type !== 'directory') throw new WharfError('ENOTDIR', `/${parts.slice(0, i + 1).join('/')} is not a directory`);
      if (i === parts.length - 1 && !(await tx.isEmptyDir(d.ino))) throw new WharfError('ENOTEMPTY', `/${parts.join('/')} is not empty; a source must be mounted on a new or empty directory`);
      at = d.ino;
      continue;
    }
    const now = nowNs();
    const a = tx.addChild(at, p, { type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0n, atimeNs: now, mtimeNs: now, ctimeNs: now });
    await tx.touchDir(at, now, 1);
    at = a.ino;
  }
  return at;
}

/**
 * An S3 endpoint is an http(s) URL without credentials: it is recorded, logged and
 * shown by `source show`, so a user name or password in it would leak (keys come
 * from the environment or the configuration). The message never repeats the URL.
 */
function checkEndpoint(endpoint: string): void {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new WharfError('EINVAL', 'the endpoint is not a URL (expected http://host:port or https://host)');
  }
  if (u.username !== '' || u.password !== '') {
    throw new WharfError('EINVAL', 'the endpoint URL carries a user name or password; give credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the configuration, never in the endpoint');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new WharfError('EINVAL', `the endpoint must be http:// or https://, not ${u.protocol}//`);
}
