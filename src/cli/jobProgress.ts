// Waits for a sync job to end, showing a live progress line in a terminal
// (entries/s; created, updated, deleted) and nothing but the result elsewhere.
import { SingleBar } from 'cli-progress';
import type { AdminClient, WireJob } from '../rpc/index.js';

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
