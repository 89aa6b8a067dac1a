// BusyPoll keeps the event loop awake for its window after each request and lets it
// sleep after: a burst pays no thread wake-up per request, a mount at rest no CPU.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BusyPoll } from '../src/fuse/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('BusyPoll', () => {
  it('spins for its window after the last request, then stops and costs no CPU at rest', async () => {
    const poll = new BusyPoll(30);
    assert.equal(poll.active, false, 'asleep before any request');
    poll.touch();
    assert.equal(poll.active, true);
    // Requests keep coming: it stays awake past one window.
    for (let i = 0; i < 4; i++) {
      await sleep(15);
      poll.touch();
      assert.equal(poll.active, true, `still awake at request ${i}`);
    }
    await sleep(120);
    assert.equal(poll.active, false, 'asleep a window after the last request');
    const before = process.cpuUsage();
    await sleep(200);
    const used = process.cpuUsage(before);
    assert.ok(used.user + used.system < 50_000, `at rest it used ${used.user + used.system} µs of CPU in 200 ms`);
  });

  it('a window of 0 never spins', () => {
    const poll = new BusyPoll(0);
    poll.touch();
    assert.equal(poll.active, false);
  });
});
