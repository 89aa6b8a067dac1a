// What the files behind a cache node's blocks are. A block's name is a hash of its
// file's (source, key, fingerprint, block size): enough to find a block, not to say
// which blocks lie under a directory. The catalog keeps that reverse map, so an
// eviction rule, a pin or a TTL on a directory (a key prefix) finds its blocks
// without the master listing anything.
//
// Persisted as JSON lines in <cacheDir>/files.jsonl, appended when a file is first
// seen (before its first block is stored, so a stored block always has its entry);
// rewritten at open with only the files that still have blocks.
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../common/index.js';

const log = logger('node');

export interface CatalogFile {
  id: string;
  source: string;
  key: string;
  fingerprint: string;
  blockSize: number;
  /** When this node first cached the file (a TTL counts from here). */
  firstMs: number;
}

export class FileCatalog {
  private readonly files = new Map<string, CatalogFile>();
  private readonly path: string;

  private constructor(dir: string) {
    this.path = join(dir, 'files.jsonl');
  }

  /** Loads the catalog, keeping the files in `live` (those with blocks on the disk). */
  static open(dir: string, live: ReadonlySet<string>): FileCatalog {
    const c = new FileCatalog(dir);
    let text = '';
    try {
      text = readFileSync(c.path, 'utf8');
    } catch {
      // none yet
    }
    let bad = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const f = JSON.parse(line) as CatalogFile;
        if (typeof f.id === 'string' && typeof f.key === 'string' && live.has(f.id)) c.files.set(f.id, f);
      } catch {
        bad++; // a line cut by a crash
      }
    }
    if (bad) log.warn({ bad }, 'skipped damaged lines of the cache node file catalog');
    const tmp = `${c.path}.tmp`;
    writeFileSync(tmp, [...c.files.values()].map((f) => JSON.stringify(f) + '\n').join(''));
    renameSync(tmp, c.path);
    return c;
  }

  /** Records a file the first time it is seen. */
  note(f: Omit<CatalogFile, 'firstMs'>, now = Date.now()): void {
    if (this.files.has(f.id)) return;
    const entry: CatalogFile = { ...f, firstMs: now };
    this.files.set(f.id, entry);
    try {
      appendFileSync(this.path, JSON.stringify(entry) + '\n');
    } catch (e) {
      // Without its entry the file's blocks age out by LRU only; serving goes on.
      log.warn({ err: e instanceof Error ? e.message : String(e) }, 'cannot append to the file catalog');
    }
  }

  get(id: string): CatalogFile | undefined {
    return this.files.get(id);
  }

  /** Files of `source` whose key starts with `prefix` (every file of the source for ''). */
  matching(source: string, prefix: string): CatalogFile[] {
    return [...this.files.values()].filter((f) => f.source === source && f.key.startsWith(prefix));
  }

  /** Files of `source` with exactly these keys (any fingerprint or block size). */
  withKeys(source: string, keys: ReadonlySet<string>): CatalogFile[] {
    return [...this.files.values()].filter((f) => f.source === source && keys.has(f.key));
  }

  forget(ids: Iterable<string>): void {
    for (const id of ids) this.files.delete(id);
  }

  forgetAll(): void {
    this.files.clear();
  }

  get size(): number {
    return this.files.size;
  }
}
