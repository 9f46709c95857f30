// FIFO counting semaphore: at most `limit` holders at once; waiters are served in arrival order.
export type Release = () => void;

export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiters: ((release: Release) => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
  }

  /** Resolves with a release function once a permit is free; call it exactly once (extra calls are ignored). */
  acquire(): Promise<Release> {
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get inUse(): number {
    return this.active;
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The permit passes straight to the next waiter, so `active` stays the same.
      if (next) next(this.releaser());
      else this.active--;
    };
  }
}
