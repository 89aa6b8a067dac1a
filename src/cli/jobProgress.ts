// Waits for a sync or cache job to end, showing a live progress line in a terminal
// (entries/s; created, updated, deleted) and nothing but the result elsewhere.
import bytes from 'bytes';
import { SingleBar } from 'cli-progress';
import type { AdminClient, WireCacheJob, WireJob } from '../rpc/index.js';

const ENDED = new Set(['succeeded', 'failed', 'terminated', 'terminate_failed']);

export async function waitForJob(admin: AdminClient, id: string, pollMs = 500): Promise<WireJob> {
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new SingleBar({
      format: 'job {id} {state} | {listed} listed, {rate}/s | created {created} updated {updated} deleted {deleted}',
      hideCursor: true, stream: process.stderr, noTTYOutput: false,
    })
    : undefined;
  let job = await admin.showJob(id);
  bar?.start(1, 0, view(job));
  while (!ENDED.has(job.state)) {
    await new Promise((r) => setTimeout(r, pollMs));
    job = await admin.showJob(id);
    bar?.update(0, view(job));
  }
  bar?.update(1, view(job));
  bar?.stop();
  return job;
}

function view(j: WireJob): Record<string, string> {
  const c = j.counters;
  return { id: j.id, state: j.state, listed: c?.listed ?? '0', rate: j.rate, created: c?.created ?? '0', updated: c?.updated ?? '0', deleted: c?.deleted ?? '0' };
}

export function jobSucceeded(j: WireJob): boolean {
  return j.state === 'succeeded';
}

/** Waits for a cache job to end: a bar of files done of the total (once known) in a terminal. */
export async function waitForCacheJob(admin: AdminClient, id: string, pollMs = 500): Promise<WireCacheJob> {
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new SingleBar({
      format: 'cache job {id} {state} {phase} |{bar}| {value}/{total} files, {bytes} at {rate}/s, {failed} failed',
      hideCursor: true, stream: process.stderr, noTTYOutput: false,
    })
    : undefined;
  let job = await admin.showCacheJob(id);
  bar?.start(Number(job.progress?.files_total ?? 0) || 1, 0, cacheView(job));
  while (!ENDED.has(job.state)) {
    await new Promise((r) => setTimeout(r, pollMs));
    job = await admin.showCacheJob(id);
    const p = job.progress;
    if (p?.files_total !== undefined && p.files_total !== null) bar?.setTotal(Math.max(1, Number(p.files_total)));
    bar?.update(Number(p?.files_done ?? 0), cacheView(job));
  }
  bar?.update(Number(job.progress?.files_done ?? 0), cacheView(job));
  bar?.stop();
  return job;
}

function cacheView(j: WireCacheJob): Record<string, string> {
  const p = j.progress;
  return { id: j.id, state: j.state, phase: p?.phase ?? '', bytes: bytes(Number(p?.bytes_done ?? 0)) ?? '0B', rate: bytes(Number(p?.bytes_per_sec ?? 0)) ?? '0B', failed: p?.files_failed ?? '0' };
}
