// ListingAhead: the store lists ahead of the sync into a bounded buffer; the sync
// takes every page ready at once; a failure surfaces after the pages before it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ListingAhead } from '../src/sync/ListingAhead.js';
import type { ListPage } from '../src/ufs/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store of `pages` pages of one key each; `failAt` makes that page's listing fail. */
function fakeList(pages: number, o: { failAt?: number; delayMs?: number } = {}) {
  const asked: (string | undefined)[] = [];
  const list = async (token: string | undefined): Promise<ListPage> => {
    asked.push(token);
    const i = token === undefined ? 0 : Number(token);
    if (o.delayMs) await sleep(o.delayMs);
    if (i === o.failAt) throw new Error(`page ${i} failed`);
    return { objects: [{ key: `k${i}`, size: 1n, etag: 'e', mtimeMs: 0 }], prefixes: [], ...(i + 1 < pages ? { nextToken: String(i + 1) } : {}) };
  };
  return { list, asked };
}

describe('ListingAhead', () => {
  it('lists every page once, in order, each with the previous token', async () => {
    const { list, asked } = fakeList(5);
    const ahead = new ListingAhead(list, 2);
    const keys: string[] = [];
    for (let pages = await ahead.take(); pages; pages = await ahead.take()) keys.push(...pages.flatMap((p) => p.objects.map((o) => o.key)));
    assert.deepEqual(keys, ['k0', 'k1', 'k2', 'k3', 'k4']);
    assert.deepEqual(asked, [undefined, '1', '2', '3', '4']);
  });

  it('never lists more than maxPages ahead of what was taken, and hands over all that are ready at once', async () => {
    const { list, asked } = fakeList(10);
    const ahead = new ListingAhead(list, 3);
    await sleep(50);
    assert.equal(asked.length, 3, 'stopped at three unread pages');
    const pages = await ahead.take();
    assert.equal(pages?.length, 3, 'all three ready pages in one take');
    await sleep(50);
    assert.equal(asked.length, 6, 'three more once there was room');
    ahead.stop();
  });

  it('a failed listing is thrown after the pages listed before it were taken', async () => {
    const { list } = fakeList(10, { failAt: 2, delayMs: 5 });
    const ahead = new ListingAhead(list, 8);
    const keys: string[] = [];
    await assert.rejects(async () => {
      for (let pages = await ahead.take(); pages; pages = await ahead.take()) keys.push(...pages.flatMap((p) => p.objects.map((o) => o.key)));
    }, /page 2 failed/);
    assert.deepEqual(keys, ['k0', 'k1']);
  });

  it('stop ends the listing: nothing more is asked of the store', async () => {
    const { list, asked } = fakeList(100, { delayMs: 2 });
    const ahead = new ListingAhead(list, 2);
    await ahead.take();
    ahead.stop();
    const n = asked.length;
    await sleep(50);
    assert.ok(asked.length <= n + 1, `asked ${asked.length - n} more pages after stop`);
  });
});
