// Counting semaphore with two classes of holders: urgent (realtime) and normal (bulk). Normal holders
// fit within `limit`; urgent ones may also use `urgentReserve` permits above it, so an urgent request
// never waits while normal work holds every regular permit. Waiting urgent requests are served before
// waiting normal ones; within a class, in arrival order. With `normalYieldsToUrgent`, no normal holder
// starts while an urgent one holds a permit: on a CPU-bound host the urgent work then shares the cores
// only with normal work already running.
export type Release = () => void;

/** What a DynamicBatcher needs from a limiter. A release may be called more than once; only the first counts. */
export interface PermitSource {
  acquire(): Promise<Release>;
}

export class ConcurrencyLimiter {
  private active = 0;
  private urgentActive = 0;
  private readonly urgentWaiters: ((release: Release) => void)[] = [];
  private readonly normalWaiters: ((release: Release) => void)[] = [];

  constructor(readonly limit: number, readonly urgentReserve = 0, readonly normalYieldsToUrgent = false) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
    if (!Number.isInteger(urgentReserve) || urgentReserve < 0) throw new RangeError(`urgent reserve must be an integer >= 0, got ${urgentReserve}`);
  }

  /** Resolves with a release function once a permit is free; call it exactly once (extra calls are ignored). */
  acquire(urgent = false): Promise<Release> {
    if (this.hasRoom(urgent)) return Promise.resolve(this.take(urgent));
    return new Promise((resolve) => (urgent ? this.urgentWaiters : this.normalWaiters).push(resolve));
  }

  /** A view that always acquires as `urgent`. */
  lane(urgent: boolean): PermitSource {
    return { acquire: () => this.acquire(urgent) };
  }

  get inUse(): number {
    return this.active;
  }

  private hasRoom(urgent: boolean): boolean {
    if (urgent) return this.active < this.limit + this.urgentReserve;
    return this.active < this.limit && !(this.normalYieldsToUrgent && this.urgentActive > 0);
  }

  private take(urgent: boolean): Release {
    this.active++;
    if (urgent) this.urgentActive++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      if (urgent) this.urgentActive--;
      for (const [waiters, urgentWaiter] of [[this.urgentWaiters, true], [this.normalWaiters, false]] as const) {
        while (waiters.length > 0 && this.hasRoom(urgentWaiter)) waiters.shift()!(this.take(urgentWaiter));
      }
    };
  }
}
