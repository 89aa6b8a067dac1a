// Listings of local directories, walked in one worker thread shared by every
// LocalStore of the process (see localListWorker.ts). The worker is unref'd: it
// never keeps a process alive, and it is started on the first listing.
import { Worker } from 'node:worker_threads';
import { isErrno, WharfError } from '../common/index.js';
import type { ListReply, ListRequest } from './localListWorker.js';
import type { ListPage } from './UnderStore.js';

type Pending = { resolve: (p: ListPage) => void; reject: (e: unknown) => void; worker: Worker };

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

/** Fails what worker `w` owed (not what a newer worker was asked meanwhile). */
function failAll(w: Worker, e: unknown): void {
  for (const [id, p] of pending) {
    if (p.worker !== w) continue;
    pending.delete(id);
    p.reject(e);
  }
}

function theWorker(): Worker {
  if (worker) return worker;
  // A small young generation: the walk makes short-lived garbage (a stat per entry), and
  // the default one let the worker alone take ~50 MB of a sync's memory. The old
  // generation is left unbounded: one directory's entries are held at once, and a
  // directory of millions of files must not kill the worker.
  const w = new Worker(new URL('./localListWorker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
  w.unref();
  w.on('message', (m: ListReply) => {
    const p = pending.get(m.id);
    if (!p) return; // its caller gave up (aborted)
    pending.delete(m.id);
    if ('page' in m) p.resolve(m.page);
    else if (m.error.errno !== undefined && isErrno(m.error.errno)) p.reject(new WharfError(m.error.errno, m.error.message));
    else p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
  });
  // A worker that dies fails what it owed; the next listing starts a new one.
  w.on('error', (e) => { if (worker === w) worker = undefined; failAll(w, new WharfError('EIO', `the listing worker failed: ${e.message}`, e)); });
  w.on('exit', () => { if (worker === w) worker = undefined; failAll(w, new WharfError('EIO', 'the listing worker exited')); });
  worker = w;
  return w;
}

/** One page of a local listing, walked in the worker. Rejects with what listLocal would throw (fs errors carry their code). */
export function listInWorker(req: Omit<ListRequest, 'id'>, signal?: AbortSignal): Promise<ListPage> {
  return new Promise<ListPage>((resolve, reject) => {
    const id = nextId++;
    const onAbort = () => {
      pending.delete(id);
      reject(new WharfError('EINTR', 'list aborted'));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const w = theWorker();
    pending.set(id, {
      resolve: (p) => { signal?.removeEventListener('abort', onAbort); resolve(p); },
      reject: (e) => { signal?.removeEventListener('abort', onAbort); reject(e); },
      worker: w,
    });
    // Only listings in flight hold the process open.
    if (pending.size === 1) w.ref();
    w.postMessage({ id, ...req } satisfies ListRequest);
  }).finally(() => { if (pending.size === 0) worker?.unref(); });
}
