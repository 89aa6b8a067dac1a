// One store request for a run of consecutive blocks, cut into blocks as the bytes
// arrive: each block is handed on as soon as it is complete, so the first reader
// waits no longer than for a single-block request.
import type { Readable } from 'node:stream';
import { WharfError } from '../common/index.js';
import type { BlockSource, CachedFile } from './BlockSource.js';

export interface SpanFetch {
  source: BlockSource;
  file: CachedFile;
  /** Index of the first block; offsets are first * blockSize. */
  first: number;
  /** Where the request starts, if not at the first block's start (a range read). */
  start?: number;
  blockSize: number;
  /** Bytes of each block of the run (all blockSize but possibly the file's last). */
  lengths: number[];
  /** Each block must arrive within this long of the previous one (or of the request). */
  timeoutMs: number;
  /**
   * When the first block is due (ms since the epoch), if the request waited for its
   * turn: a reader's wait counts from its read, not from when a slot freed up.
   */
  firstDueMs?: number;
  /** A buffer to read the next block into, at `dataAt` (default: its last blockSize bytes). */
  take: () => Buffer;
  dataAt?: number;
  /** Called once per complete block, in order. */
  onBlock: (i: number, raw: Buffer, data: Buffer) => void;
}

/** Resolves when every block was handed on; otherwise rejects with EIO or ESTALE (blocks before the failure were handed on). */
export async function fetchSpan(f: SpanFetch): Promise<void> {
  const total = f.lengths.reduce((a, b) => a + b, 0);
  const at0 = f.start ?? f.first * f.blockSize;
  const ctrl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let i = 0;
  let stream: Readable | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const arm = (ms: number) => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          ctrl.abort();
          reject(new WharfError('EIO', `${f.file.key}: the store did not deliver block ${f.first + i} within ${f.timeoutMs} ms`));
        }, ms);
      };
      arm(f.firstDueMs === undefined ? f.timeoutMs : Math.max(0, f.firstDueMs - Date.now()));
      let raw = f.take();
      const place = (r: Buffer) => r.subarray(f.dataAt ?? r.length - f.blockSize, (f.dataAt ?? r.length - f.blockSize) + f.blockSize);
      let data = place(raw);
      let at = 0;
      // 'data' events, not an async iterator: a promise per 64 KiB chunk cost a tenth
      // of a cold read's CPU.
      const onData = (chunk: Buffer) => {
        let pos = 0;
        while (pos < chunk.length) {
          if (i >= f.lengths.length) return reject(new WharfError('EIO', `${f.file.key}: the store sent more than the ${total} bytes asked for at ${at0} (changed in the store)`));
          const want = f.lengths[i]!;
          const n = chunk.copy(data, at, pos, pos + Math.min(want - at, chunk.length - pos));
          at += n;
          pos += n;
          if (at === want) {
            f.onBlock(i, raw, data.subarray(0, want));
            i++;
            at = 0;
            arm(f.timeoutMs);
            if (i < f.lengths.length) {
              raw = f.take();
              data = place(raw);
            }
          }
        }
      };
      f.source.open(f.file, at0, total, ctrl.signal).then((s) => {
        stream = s;
        if (ctrl.signal.aborted) {
          // Timed out while opening: nobody reads it. A stream aborted by our signal
          // errors as it dies; unheard, that error would end the process.
          s.on('error', () => undefined);
          s.destroy();
          return;
        }
        s.on('data', onData);
        s.once('error', reject);
        s.once('end', () => {
          if (i < f.lengths.length) {
            const got = f.lengths.slice(0, i).reduce((a, b) => a + b, 0) + at;
            reject(new WharfError('EIO', `${f.file.key}: got ${got} of ${total} bytes at ${at0} (changed or truncated in the store)`));
          } else resolve();
        });
      }, reject);
    });
  } catch (e) {
    ctrl.abort();
    throw e instanceof WharfError
      // A refusal (a cache node applying the source's permission group) reaches the reader as it is.
      ? e.errno === 'ENOENT' ? new WharfError('ESTALE', `${f.file.key} is gone from the store`, e) : e.errno === 'EIO' || e.errno === 'EACCES' || e.errno === 'ESTALE' ? e : new WharfError('EIO', e.message, e)
      : new WharfError('EIO', e instanceof Error ? e.message : String(e), e);
  } finally {
    clearTimeout(timer);
    stream?.on('error', () => undefined); // its error, if any, was handled above
    stream?.destroy();
  }
}
