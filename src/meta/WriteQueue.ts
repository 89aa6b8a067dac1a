// A FIFO mutex: the one write discipline of the namespace.
//
// Every mutation (read current state → validate → one atomic LevelDB batch) runs
// alone, in arrival order. Reads never enter the queue: because each mutation
// lands as a single batch, a read observes the tree before or after any mutation,
// never half of one. So reads never wait behind writes, and writes cannot
// interleave at an `await` inside each other's read-modify-write.
export class WriteQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(fn);
    // The chain continues whether `fn` succeeded or failed.
    this.tail = result.then(
      () => { this.pending--; },
      () => { this.pending--; },
    );
    return result;
  }

  /** Mutations queued or running; exported as a metric. */
  get depth(): number {
    return this.pending;
  }

  /** Resolves once everything queued so far has finished. */
  async drain(): Promise<void> {
    await this.tail;
  }
}
