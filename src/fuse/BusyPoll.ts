// Keeps the event loop awake for a moment after each FUSE request.
//
// fuse-native hands each request from its libfuse thread to the JS thread with
// uv_async_send. When the JS thread is asleep in epoll, waking it is most of a
// request's cost: `ls -l` of 10,000 entries spent 1.1 s, 95% of it idle in that
// handoff. While requests keep coming (a listing, a stat storm, a small-file copy)
// the loop instead spins with setImmediate, polling for I/O without sleeping, and
// picks the next request up at once; it goes back to sleep `windowMs` after the
// last request. The price is up to one core for that window after a burst of
// requests, nothing at rest.
import { performance } from 'node:perf_hooks';

export class BusyPoll {
  private last = 0;
  private spinning = false;

  constructor(private readonly windowMs: number) {}

  /** True while the loop is kept awake. */
  get active(): boolean {
    return this.spinning;
  }

  /** Notes a request; starts spinning if not already. */
  readonly touch = (): void => {
    if (this.windowMs <= 0) return;
    this.last = performance.now();
    if (!this.spinning) {
      this.spinning = true;
      setImmediate(this.spin);
    }
  };

  private readonly spin = (): void => {
    if (performance.now() - this.last > this.windowMs) {
      this.spinning = false;
      return;
    }
    setImmediate(this.spin);
  };
}
