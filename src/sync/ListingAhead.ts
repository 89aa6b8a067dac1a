// A store listing read ahead of the sync applying it: pages are listed one after
// another (each needs the previous page's token) into a bounded buffer while the
// namespace writes what came before. The sync takes every page that is ready at
// once and writes them as one transaction: when the store lists faster than the
// namespace writes, transactions grow instead of the sync falling further behind
// (a local directory lists 150,000 keys/s; one transaction per 1,000-key page
// kept the sync at 40% of that).
import type { ListPage } from '../ufs/index.js';

export class ListingAhead {
  private readonly ready: ListPage[] = [];
  private failure: { error: unknown } | undefined;
  private finished = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private room: (() => void) | undefined;

  /** Starts listing at once; `list(token)` lists one page. At most `maxPages` wait unread. */
  constructor(list: (token: string | undefined) => Promise<ListPage>, private readonly maxPages: number) {
    void this.run(list);
  }

  private async run(list: (token: string | undefined) => Promise<ListPage>): Promise<void> {
    try {
      let token: string | undefined;
      do {
        while (this.ready.length >= this.maxPages && !this.stopped) await new Promise<void>((r) => { this.room = r; });
        if (this.stopped) return;
        const page = await list(token);
        this.ready.push(page);
        this.signal();
        token = page.nextToken;
      } while (token !== undefined);
      this.finished = true;
    } catch (e) {
      this.failure = { error: e };
    }
    this.signal();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /**
   * Every page listed and not yet taken (waiting for one if none is), or undefined
   * once the listing is complete. A listing failure is thrown after the pages listed
   * before it were taken.
   */
  async take(): Promise<ListPage[] | undefined> {
    while (this.ready.length === 0 && !this.finished && !this.failure) await new Promise<void>((r) => { this.wake = r; });
    if (this.ready.length > 0) {
      const pages = this.ready.splice(0);
      const r = this.room;
      this.room = undefined;
      r?.();
      return pages;
    }
    if (this.failure) throw this.failure.error;
    return undefined;
  }

  /** Stops listing further pages (the sync was cancelled or failed). */
  stop(): void {
    this.stopped = true;
    const r = this.room;
    this.room = undefined;
    r?.();
  }
}
