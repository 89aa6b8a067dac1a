// Stream plumbing shared by the stores: a returned stream only ever fails with a
// WharfError, aborts become EINTR, and bodies are read in bounded pieces.
import { PassThrough, Readable } from 'node:stream';
import { WharfError } from '../common/index.js';

/**
 * Pipes `src` into a fresh stream whose errors are mapped through `mapError`,
 * and which is destroyed with EINTR when `signal` fires. The source is destroyed
 * whenever the returned stream is, so an abandoned read releases its connection or fd.
 */
export function guardStream(src: Readable, mapError: (e: unknown) => WharfError, signal?: AbortSignal): Readable {
  const out = new PassThrough();
  let done = false;
  const finish = (err?: WharfError): void => {
    if (done) return;
    done = true;
    signal?.removeEventListener('abort', onAbort);
    if (err) {
      src.destroy();
      out.destroy(err);
    }
  };
  const onAbort = (): void => finish(new WharfError('EINTR', 'read aborted'));
  src.on('error', (e) => finish(e instanceof WharfError ? e : mapError(e)));
  src.on('end', () => finish());
  out.on('close', () => { if (!src.destroyed) src.destroy(); finish(); });
  src.pipe(out);
  if (signal) {
    if (signal.aborted) queueMicrotask(onAbort);
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  return out;
}

export function emptyStream(): Readable {
  return Readable.from([]);
}

/**
 * Yields the body in pieces of exactly `size` bytes (the last may be shorter, and
 * an empty body yields one empty piece). At most one piece is held at a time.
 */
export async function* pieces(body: Readable | Buffer, size: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) { yield body; return; }
    for (let off = 0; off < body.length; off += size) yield body.subarray(off, Math.min(off + size, body.length));
    return;
  }
  let chunks: Buffer[] = [];
  let held = 0;
  let yielded = false;
  for await (const raw of body) {
    let chunk = typeof raw === 'string' ? Buffer.from(raw) : (raw as Buffer);
    while (chunk.length > 0) {
      const take = Math.min(size - held, chunk.length);
      chunks.push(chunk.subarray(0, take));
      held += take;
      chunk = chunk.subarray(take);
      if (held === size) {
        yield chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, held);
        yielded = true;
        chunks = [];
        held = 0;
      }
    }
  }
  if (held > 0 || !yielded) yield Buffer.concat(chunks, held);
}

/** Resolves after `ms`, or rejects with EINTR when `signal` fires first. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(new WharfError('EINTR', 'aborted')); return; }
    const onAbort = (): void => { clearTimeout(timer); reject(new WharfError('EINTR', 'aborted')); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** True for the errors Node and the AWS SDK raise when an AbortSignal fires. */
export function isAbortError(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || (e as NodeJS.ErrnoException).code === 'ABORT_ERR');
}

/**
 * Drops the first `skip` bytes and stops after `limit` more (when given): for a
 * server that ignored or widened a Range (HTTP allows a 200 with the whole body;
 * s3rver answers bytes=0-0 with everything).
 */
export function sliceStream(src: Readable, skip: bigint, limit: bigint | undefined): Readable {
  async function* slice(): AsyncGenerator<Buffer> {
    let toSkip = skip;
    let left = limit;
    try {
      for await (const raw of src) {
        let chunk = raw as Buffer;
        if (toSkip > 0n) {
          const n = toSkip < BigInt(chunk.length) ? Number(toSkip) : chunk.length;
          chunk = chunk.subarray(n);
          toSkip -= BigInt(n);
        }
        if (left !== undefined && BigInt(chunk.length) > left) chunk = chunk.subarray(0, Number(left));
        if (chunk.length > 0) yield chunk;
        if (left !== undefined) {
          left -= BigInt(chunk.length);
          if (left === 0n) return;
        }
      }
    } finally {
      src.destroy();
    }
  }
  return Readable.from(slice(), { objectMode: false });
}
