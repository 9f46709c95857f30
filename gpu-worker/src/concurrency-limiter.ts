// Counting semaphore with two classes of holders: urgent (realtime) and normal (bulk). Normal holders
// fit within `limit`; urgent ones may also use `urgentReserve` permits above it, so an urgent request
// never waits while normal work holds every regular permit. Waiting urgent requests are served before
// waiting normal ones; within a class, in arrival order. With `normalYieldsToUrgent`, no normal holder
// starts while an urgent one holds a permit: on a CPU-bound host the urgent work then shares the cores
// only with normal work already running. With `lendReserveAfterMs`, normal holders may also use the
// urgent reserve once no urgent request has come or held a permit for that long (work-conserving: on a
// worker whose conveyor is idle, a re-scan gets every decode slot); an urgent request that comes then
// still starts at once, as if the lent permits were free, and no more are lent until urgent work has been
// idle that long again. Lending starts with the next release after that time (none is waited for).
export type Release = () => void;

export interface ConcurrencyLimiterOptions {
  /** Permits above `limit` only urgent holders may use (default 0). */
  urgentReserve?: number;
  /** No normal holder starts while an urgent one holds a permit (default false). */
  normalYieldsToUrgent?: boolean;
  /** Lend the urgent reserve to normal holders after this long without urgent work (default: never). */
  lendReserveAfterMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

/** What a DynamicBatcher needs from a limiter. A release may be called more than once; only the first counts. */
export interface PermitSource {
  acquire(): Promise<Release>;
}

export class ConcurrencyLimiter {
  private active = 0;
  private urgentActive = 0;
  private lastUrgentAt = Number.NEGATIVE_INFINITY;
  private readonly urgentWaiters: ((release: Release) => void)[] = [];
  private readonly normalWaiters: ((release: Release) => void)[] = [];
  readonly urgentReserve: number;
  private readonly normalYieldsToUrgent: boolean;
  private readonly lendReserveAfterMs: number;
  private readonly now: () => number;

  constructor(readonly limit: number, options: ConcurrencyLimiterOptions = {}) {
    const { urgentReserve = 0, normalYieldsToUrgent = false, lendReserveAfterMs = Number.POSITIVE_INFINITY, now = () => performance.now() } = options;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
    if (!Number.isInteger(urgentReserve) || urgentReserve < 0) throw new RangeError(`urgent reserve must be an integer >= 0, got ${urgentReserve}`);
    if (!(lendReserveAfterMs >= 0)) throw new RangeError(`lendReserveAfterMs must be >= 0, got ${lendReserveAfterMs}`);
    this.urgentReserve = urgentReserve;
    this.normalYieldsToUrgent = normalYieldsToUrgent;
    this.lendReserveAfterMs = lendReserveAfterMs;
    this.now = now;
  }

  /** Resolves with a release function once a permit is free; call it exactly once (extra calls are ignored). */
  acquire(urgent = false): Promise<Release> {
    if (urgent) this.lastUrgentAt = this.now();
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
    const normalActive = this.active - this.urgentActive;
    // Permits lent to normal holders (above the limit) count as free for urgent ones.
    if (urgent) return Math.min(normalActive, this.limit) + this.urgentActive < this.limit + this.urgentReserve;
    if (this.normalYieldsToUrgent && this.urgentActive > 0) return false;
    return this.active < this.limit + (this.reserveLendable() ? this.urgentReserve : 0);
  }

  private reserveLendable(): boolean {
    return Number.isFinite(this.lendReserveAfterMs) && this.urgentActive === 0 && this.urgentWaiters.length === 0
      && this.now() - this.lastUrgentAt >= this.lendReserveAfterMs;
  }

  private take(urgent: boolean): Release {
    this.active++;
    if (urgent) this.urgentActive++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      if (urgent) {
        this.urgentActive--;
        this.lastUrgentAt = this.now();
      }
      for (const [waiters, urgentWaiter] of [[this.urgentWaiters, true], [this.normalWaiters, false]] as const) {
        while (waiters.length > 0 && this.hasRoom(urgentWaiter)) waiters.shift()!(this.take(urgentWaiter));
      }
    };
  }
}
