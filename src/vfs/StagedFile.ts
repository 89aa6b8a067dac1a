// A file being written through the mount: its bytes in a local staging file until
// they are uploaded on flush/fsync/close. A JSON sidecar names the inode, so a mount
// that died before uploading finds the staged data again at its next start.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { open, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ino } from '../common/index.js';

export interface StagedRecord {
  ino: string;
  path: string;
  createdMs: number;
}

/** Staging directories known to exist (a mkdir per new file cost a tenth of its create). */
const madeDirs = new Set<string>();

export class StagedFile {
  size = 0;
  /** Written since the last successful upload. */
  dirty = false;
  /** The last upload was made durable (fsync(2) asked for it). */
  durable = false;
  /** Uploaded at least once since staged. */
  uploaded = false;
  /** Handles using this staged file; it is removed when the last one goes and it is clean. */
  refs = 0;
  /**
   * The master knows bytes are on their way (SetAttrChanges.pendingWrite) and keeps
   * syncs off the file until the upload is committed. Set for a new file from the
   * start: it has no store state, so no sync touches it anyway.
   */
  pendingMarked = false;
  /** The master holds a pending mark this mount set and no upload's commit has cleared yet. */
  markSent = false;
  /** Counts changes begun and ended (FileIo.modify): an upload learns whether any overlapped it. */
  changes = 0;
  /** Set while an upload runs, so concurrent flushes wait for it rather than upload twice. */
  uploading: Promise<void> | undefined;

  private constructor(readonly dataPath: string, readonly ino: Ino, private fh: FileHandle, public path: string) {}

  static async create(dir: string, ino: Ino, path: string): Promise<StagedFile> {
    if (!madeDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      madeDirs.add(dir);
    }
    const id = `${ino}-${randomBytes(6).toString('hex')}`;
    const dataPath = join(dir, `${id}.data`);
    const rec: StagedRecord = { ino: ino.toString(), path, createdMs: Date.now() };
    const make = () => Promise.all([open(dataPath, 'w+'), writeFile(join(dir, `${id}.json`), JSON.stringify(rec))]);
    const [fh] = await make().catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dir, { recursive: true }); // removed under us: make it again
      return make();
    });
    return new StagedFile(dataPath, ino, fh, path);
  }

  /** Reopens staged data a previous run left (its size is the file's). */
  static async reopen(dataPath: string, ino: Ino, path: string): Promise<StagedFile> {
    const fh = await open(dataPath, 'r+');
    const s = new StagedFile(dataPath, ino, fh, path);
    s.size = (await fh.stat()).size;
    s.dirty = true;
    return s;
  }

  /** Staged files a previous run left behind (its uploads never finished). */
  static leftovers(dir: string): { record: StagedRecord; dataPath: string; recordPath: string }[] {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    const out = [];
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      const recordPath = join(dir, n);
      try {
        out.push({ record: JSON.parse(readFileSync(recordPath, 'utf8')) as StagedRecord, dataPath: recordPath.replace(/\.json$/, '.data'), recordPath });
      } catch {
        // An unreadable record: leave it for an operator rather than guess.
      }
    }
    return out;
  }

  async write(buf: Buffer, position: number): Promise<number> {
    const { bytesWritten } = await this.fh.write(buf, 0, buf.length, position);
    this.size = Math.max(this.size, position + bytesWritten);
    this.dirty = true;
    return bytesWritten;
  }

  async read(length: number, position: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.size - position));
    const buf = Buffer.alloc(n);
    if (n === 0) return buf;
    const { bytesRead } = await this.fh.read(buf, 0, n, position);
    return buf.subarray(0, bytesRead);
  }

  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
    this.size = size;
    this.dirty = true;
  }

  async sync(): Promise<void> {
    await this.fh.sync();
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }

  /** Closes and deletes the staged data and its record. */
  async remove(): Promise<void> {
    await this.close();
    // The record first: a crash in between leaves bytes without a record (ignored at
    // start), never a record without its bytes. unlink, not rm: rm lstats a path twice
    // before deleting it, on every close of a new file.
    for (const p of [this.dataPath.replace(/\.data$/, '.json'), this.dataPath]) {
      await unlink(p).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
  }
}
